package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fuseSuperMagic is statfs's f_type of a FUSE mount.
const fuseSuperMagic = 0x65735546

// requireFUSE skips a mount test where FUSE cannot work, except in CI,
// where that is a failure.
func requireFUSE(t testing.TB) {
	t.Helper()
	why := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		why = "no /dev/fuse: " + err.Error()
	} else if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			why = "not root and no fusermount3"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("FUSE is required in CI: %s", why)
	}
	t.Skip(why)
}

// daemon is one running `snapfs mount` subprocess.
type daemon struct {
	t     testing.TB
	Store string
	Mnt   string
	cmd   *exec.Cmd
	log   *syncBuffer
	done  chan struct{}
	err   error // Wait's result, after done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// mountStore runs the built binary as `snapfs mount [flags] store mnt`
// in the foreground and waits until MNT is a FUSE mount. A fresh MNT is
// made when mnt is "". The mount is torn down at the end of the test.
func mountStore(t testing.TB, store, mnt string, flags ...string) *daemon {
	t.Helper()
	requireFUSE(t)
	if mnt == "" {
		mnt = t.TempDir()
	}
	d := &daemon{t: t, Store: store, Mnt: mnt, log: &syncBuffer{}, done: make(chan struct{})}
	args := append([]string{"mount"}, flags...)
	d.cmd = exec.Command(bin, append(args, store, mnt)...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting snapfs mount: %v", err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for !isFUSE(mnt) || !serving(mnt) {
		select {
		case <-d.done:
			t.Fatalf("snapfs mount exited before the mount was ready: %v\n%s", d.err, d.log)
		default:
		}
		if time.Now().After(deadline) {
			d.kill()
			t.Fatalf("mount at %s not ready after 20s\n%s", mnt, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(d.stop)
	return d
}

// serving reports whether the daemon answers at mnt.
func serving(mnt string) bool {
	_, err := os.ReadDir(mnt)
	return err == nil
}

// isFUSE reports whether path is the root of a FUSE mount.
func isFUSE(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == fuseSuperMagic
}

// Path joins elem under the mount point.
func (d *daemon) Path(elem ...string) string {
	return filepath.Join(append([]string{d.Mnt}, elem...)...)
}

// stop ends the daemon with SIGTERM, as a user would, and expects exit 0.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		if d.err != nil {
			d.t.Errorf("snapfs mount exited with %v after SIGTERM\n%s", d.err, d.log)
		}
	case <-time.After(20 * time.Second):
		d.t.Errorf("snapfs mount did not exit within 20s of SIGTERM\n%s", d.log)
		d.kill()
	}
	unix.Unmount(d.Mnt, unix.MNT_DETACH)
}

// kill ends the daemon with SIGKILL and leaves its dead mount behind.
// A daemon killed while one of its threads waits in the kernel (a
// notification waiting for a directory lock held by a request only it
// could answer) cannot end: its connection is aborted, as the next
// `snapfs mount` would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	select {
	case <-d.done:
		return
	case <-time.After(3 * time.Second):
	}
	abortFUSE(d.t, d.Mnt)
	<-d.done
}

// abortFUSE aborts the FUSE connection of the mount at mnt.
func abortFUSE(t testing.TB, mnt string) {
	t.Helper()
	dev := ""
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 4 && f[4] == mnt {
				dev = f[2]
			}
		}
	}
	_, minor, ok := strings.Cut(dev, ":")
	if !ok {
		t.Fatalf("no mount at %s to abort", mnt)
	}
	ctl := "/sys/fs/fuse/connections"
	if ents, _ := os.ReadDir(ctl); len(ents) == 0 {
		unix.Mount("fusectl", ctl, "fusectl", 0, "")
	}
	if err := os.WriteFile(filepath.Join(ctl, minor, "abort"), []byte("1"), 0); err != nil {
		t.Fatalf("aborting the connection of %s: %v", mnt, err)
	}
}

// Log is what the daemon has logged so far.
func (d *daemon) Log() string { return d.log.String() }

// errnoOf extracts the errno from an error of an os call.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return 0
}

// run runs a command and fails the test with its output if it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
