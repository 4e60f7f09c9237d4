package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// threadCreds are the calling thread's filesystem uid, gid and groups.
func threadCreds() (uid, gid int, groups []int) {
	uid, _ = unix.SetfsuidRetUid(-1)
	gid, _ = unix.SetfsgidRetGid(-1)
	groups, _ = unix.Getgroups()
	return uid, gid, groups
}

// otherFsuids lists the threads of the process whose filesystem uid is
// not 0, the daemon's.
func otherFsuids(t *testing.T) []string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	var odd []string
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "Uid:"); ok {
				if f := strings.Fields(v); len(f) == 4 && f[3] != "0" {
					odd = append(odd, task+": fsuid "+f[3])
				}
			}
		}
	}
	return odd
}

func TestAsCaller(t *testing.T) {
	if os.Geteuid() != 0 {
		ctx := &fuse.Context{Caller: fuse.Caller{Owner: fuse.Owner{Uid: 1234, Gid: 4321}}}
		if wearsFor(1234) {
			t.Fatal("a daemon that is not root changes credentials")
		}
		asCaller(ctx, func() error { return nil })
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	ctx := &fuse.Context{Caller: fuse.Caller{Owner: fuse.Owner{Uid: 1234, Gid: 4321}}}
	d, err := os.Open(dir) // its parent is root's alone: work from the fd
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var uid, gid int
	var groups []int
	err = asCaller(ctx, func() error {
		uid, gid, groups = threadCreds()
		fd, err := unix.Openat(int(d.Fd()), "made", unix.O_CREAT|unix.O_WRONLY, 0o600)
		if err == nil {
			unix.Close(fd)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if uid != 1234 || gid != 4321 || len(groups) != 0 {
		t.Errorf("inside asCaller: fsuid %d fsgid %d groups %v, want 1234 4321 none", uid, gid, groups)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "made"), &st); err != nil || st.Uid != 1234 || st.Gid != 4321 {
		t.Errorf("a file made inside asCaller: %d:%d (%v), want 1234:4321", st.Uid, st.Gid, err)
	}
	if odd := otherFsuids(t); len(odd) > 0 {
		t.Errorf("after asCaller, threads keep the caller's credentials: %v", odd)
	}
}

func TestBecomeCaller(t *testing.T) {
	if os.Geteuid() != 0 {
		return // nothing changes (TestAsCaller)
	}
	owner := fuse.Owner{Uid: 1234, Gid: 4321}
	// Off an OPEN's own thread it refuses: the passthrough registration
	// would otherwise be root's.
	stray := &fuse.Context{Caller: fuse.Caller{Owner: owner}, Cancel: make(chan struct{})}
	if err := becomeCaller(stray, -1); !errors.Is(err, syscall.EIO) {
		t.Errorf("becomeCaller off a request thread: %v, want EIO", err)
	}
	cancel := make(chan struct{})
	var err error
	var uid int
	onRequestThread(cancel, func() {
		err = becomeCaller(&fuse.Context{Caller: fuse.Caller{Owner: owner}, Cancel: cancel}, -1)
		uid, _, _ = threadCreds() // what go-fuse's ioctl after the node sees
	})
	if err != nil || uid != 1234 {
		t.Errorf("becomeCaller on the request's thread: %v, fsuid %d, want 1234", err, uid)
	}
	// Root's open of a user's file registers as its owner: go-fuse
	// shares the registration with the user's own opens.
	f, err := os.Create(filepath.Join(t.TempDir(), "users"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Chown(1234, 4321); err != nil {
		t.Fatal(err)
	}
	onRequestThread(cancel, func() {
		err = becomeCaller(&fuse.Context{Cancel: cancel}, int(f.Fd()))
		uid, _, _ = threadCreds()
	})
	if err != nil || uid != 1234 {
		t.Errorf("becomeCaller for root on a file of uid 1234: %v, fsuid %d, want 1234", err, uid)
	}
	if odd := otherFsuids(t); len(odd) > 0 {
		t.Errorf("after the request, threads keep the caller's credentials: %v", odd)
	}
}
