package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonLog: a mount that detaches (--daemon, and so mount(8)'s
// helper, as from fstab) writes its log to --log / -o log= and to nothing
// else: the command that started it prints nothing on success.
func TestDaemonLog(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	store, logs := t.TempDir(), t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})

	for _, c := range []struct {
		name string
		run  func(mnt, log string) ([]byte, error)
	}{
		{"--daemon --log", func(mnt, log string) ([]byte, error) {
			return exec.Command(bin, "mount", "--daemon", "--log", log, store, mnt).CombinedOutput()
		}},
		{"mount.snapfs -o log=", func(mnt, log string) ([]byte, error) {
			helper := filepath.Join(t.TempDir(), "mount.snapfs")
			abs, _ := filepath.Abs(bin)
			if err := os.Symlink(abs, helper); err != nil {
				t.Fatal(err)
			}
			return exec.Command(helper, store, mnt, "-o", "ro,log="+log).CombinedOutput()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := t.TempDir()
			unmountAtCleanup(t, mnt)
			log := filepath.Join(logs, strings.NewReplacer(" ", "", "-", "", "=", "", ".", "").Replace(c.name)+".log")
			out, err := c.run(mnt, log)
			if err != nil || len(out) != 0 {
				t.Fatalf("%v: output %q", err, out)
			}
			if !isFUSE(mnt) {
				t.Fatal("returned before MNT was a FUSE mount")
			}
			if got := string(read(t, filepath.Join(mnt, "vm1", "status"))); got != "ok\n" {
				t.Errorf("vm1/status = %q", got)
			}
			b := string(read(t, log))
			for _, want := range []string{`msg="watching STORE"`, `msg="mounted"`, `store="` + store + `"`} {
				if !strings.Contains(b, want) {
					t.Errorf("log lacks %s:\n%s", want, b)
				}
			}
		})
	}
	// Without --log, a detached daemon's log goes nowhere the caller sees.
	mnt := t.TempDir()
	unmountAtCleanup(t, mnt)
	r := snapfs(t, "mount", "--daemon", store, mnt)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("--daemon without --log: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
