package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Things the docs state that no mount test shows.

// The staging-directory cap binds every user but root (docs/tree.md).
func TestStagingCapSparesRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give staging directories to another uid")
	}
	s, _ := newTestStager(t)
	s.t.opts.MaxStagingDirsPerUser = 2
	const uid = 4321
	for i := 0; i < 2; i++ {
		if err := s.mkdir(fmt.Sprint("u", i), 0o755, uid, uid, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.mkdir("u2", 0o755, uid, uid, 0); !errors.Is(err, syscall.EDQUOT) {
		t.Errorf("third staging directory of uid %d: %v, want EDQUOT", uid, err)
	}
	for i := 0; i < 3; i++ {
		if err := s.mkdir(fmt.Sprint("r", i), 0o755, 0, 0, 0); err != nil {
			t.Errorf("root's staging directory %d: %v", i, err)
		}
	}
}

// The default watch budget: 8192, or a quarter of max_user_watches when
// that is less (docs/operations.md).
func TestWatchBudgetDefault(t *testing.T) {
	want := DefaultWatchBudget
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n/4 < want {
			want = max(n/4, 16)
		}
	}
	if got := watchBudget(0); got != want {
		t.Errorf("watchBudget(0) = %d, want %d", got, want)
	}
	if got := watchBudget(5); got != 5 {
		t.Errorf("watchBudget(5) = %d", got)
	}
}

// An unforeseen error reaches the caller as EIO and is logged, naming
// the operation (docs/operations.md).
func TestUnexpectedErrorLogged(t *testing.T) {
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	defer slog.SetDefault(old)
	if got := toErrno(context.Background(), "readdir", errors.New("disk on fire")); got != syscall.EIO {
		t.Errorf("toErrno = %v, want EIO", got)
	}
	if l := buf.String(); !strings.Contains(l, `msg="unexpected error"`) || !strings.Contains(l, "op=readdir") || !strings.Contains(l, "disk on fire") {
		t.Errorf("log: %q", l)
	}
}
