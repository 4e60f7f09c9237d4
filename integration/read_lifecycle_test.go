package integration

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit waits for the daemon to exit after a signal (guarding against
// a hang) and returns its Wait error.
func waitExit(t *testing.T, d *daemon) error {
	t.Helper()
	select {
	case <-d.done:
		return d.err
	case <-time.After(30 * time.Second):
		d.kill()
		t.Fatalf("daemon did not exit within 30s\n%s", d.Log())
		return nil
	}
}

// unmountAtCleanup unmounts mnt at the end of the test (a --daemon or
// helper mount, whose daemon then exits by itself).
func unmountAtCleanup(t *testing.T, mnt string) {
	t.Cleanup(func() {
		for i := 0; i < 50 && isFUSE(mnt); i++ {
			if unix.Unmount(mnt, 0) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		if isFUSE(mnt) {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
}

// mountsAt counts the mounts whose mount point is mnt.
func mountsAt(t *testing.T, mnt string) int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mnt {
			n++
		}
	}
	return n
}

// TestReadLifecycleKilled SIGKILLs the daemon; a new mount at the same MNT
// detaches the dead mount and works.
func TestReadLifecycleKilled(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	mnt := t.TempDir()
	d := mountStore(t, store, mnt)
	read(t, d.Path("vm1", "status"))
	os.Stat(mnt) // the kernel may now answer a stat of MNT from its cache
	d.kill()
	if n := mountsAt(t, mnt); n != 1 {
		t.Fatalf("%d mounts at MNT after SIGKILL, want the dead one", n)
	}
	d2 := mountStore(t, store, mnt)
	// The dead mount was detached, not buried under the new one.
	if n := mountsAt(t, mnt); n != 1 {
		t.Errorf("%d mounts at MNT after the new mount, want 1\n%s", n, d2.Log())
	}
	if got := string(read(t, d2.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("vm1/status after remount = %q", got)
	}
	wantNames(t, mnt, "latest", "new", "vm1")
	d2.stop()
	if isFUSE(mnt) {
		t.Error("still a FUSE mount after SIGTERM")
	}
	if _, err := os.Stat(mnt); err != nil {
		t.Errorf("MNT after unmount: %v", err)
	}
}

// TestReadLifecycleSignals ends the daemon with SIGTERM while a file is
// open, and with SIGINT: exit 0 and MNT no longer a FUSE mount.
func TestReadLifecycleSignals(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			store := t.TempDir()
			makeSnap(t, store, "vm1", snapSpec{})
			d := mountStore(t, store, "")
			var open []*os.File
			if sig == syscall.SIGTERM {
				for _, f := range []string{"memory.bin", "manifest.json", "state/pit/value.bin"} {
					fh, err := os.Open(d.Path("vm1", f))
					if err != nil {
						t.Fatal(err)
					}
					io.ReadAll(io.LimitReader(fh, 100))
					open = append(open, fh)
				}
				// And a directory, as a shell's cwd would be.
				dh, err := os.Open(d.Path("vm1", "state"))
				if err != nil {
					t.Fatal(err)
				}
				open = append(open, dh)
			}
			d.cmd.Process.Signal(sig)
			if err := waitExit(t, d); err != nil {
				t.Errorf("daemon exit after %v with files open: %v\n%s", sig, err, d.Log())
			}
			if isFUSE(d.Mnt) {
				t.Errorf("MNT is still a FUSE mount after %v", sig)
			}
			for _, f := range open {
				f.Close()
			}
		})
	}
}

// TestReadLifecycleDaemon checks --daemon: it returns 0 once the mount is
// ready, and the mount works.
func TestReadLifecycleDaemon(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	mnt := t.TempDir()
	unmountAtCleanup(t, mnt)
	r := snapfs(t, "mount", "--daemon", store, mnt)
	if r.code != 0 {
		t.Fatalf("snapfs mount --daemon: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !isFUSE(mnt) {
		t.Fatal("--daemon returned before MNT was a FUSE mount")
	}
	if got := string(read(t, filepath.Join(mnt, "vm1", "status"))); got != "ok\n" {
		t.Errorf("vm1/status = %q", got)
	}
	wantNames(t, mnt, "latest", "new", "vm1")

	// A failing --daemon mount says why and exits 1.
	r = snapfs(t, "mount", "--daemon", filepath.Join(store, "nope"), t.TempDir())
	if r.code != 1 || r.stderr == "" {
		t.Errorf("--daemon with a missing STORE: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestReadLifecycleHelper runs snapfs as mount(8)'s helper: a link named
// mount.snapfs, `mount.snapfs STORE MNT -o ro`; and, where /sbin allows,
// `mount -t snapfs STORE MNT`.
func TestReadLifecycleHelper(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})

	t.Run("link", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		helper := filepath.Join(dir, "mount.snapfs")
		abs, _ := filepath.Abs(bin)
		if err := os.Symlink(abs, helper); err != nil {
			t.Fatal(err)
		}
		mnt := t.TempDir()
		unmountAtCleanup(t, mnt)
		out, err := exec.Command(helper, store, mnt, "-o", "ro").CombinedOutput()
		if err != nil {
			t.Fatalf("mount.snapfs STORE MNT -o ro: %v\n%s", err, out)
		}
		if !isFUSE(mnt) {
			t.Fatal("mount.snapfs returned before MNT was a FUSE mount")
		}
		if got := string(read(t, filepath.Join(mnt, "vm1", "status"))); got != "ok\n" {
			t.Errorf("vm1/status = %q", got)
		}
		// ro: no new/.
		wantNames(t, mnt, "latest", "vm1")
	})

	t.Run("mount-t", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("not root")
		}
		mountBin, err := exec.LookPath("mount")
		if err != nil {
			t.Skip("no mount(8)")
		}
		link := "/sbin/mount.snapfs"
		if _, err := os.Lstat(link); err == nil {
			t.Skipf("%s exists already; not replacing it", link)
		}
		abs, _ := filepath.Abs(bin)
		if err := os.Symlink(abs, link); err != nil {
			t.Skipf("cannot create %s: %v", link, err)
		}
		t.Cleanup(func() { os.Remove(link) })
		mnt := t.TempDir()
		unmountAtCleanup(t, mnt)
		out, err := exec.Command(mountBin, "-t", "snapfs", store, mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("mount -t snapfs: %v\n%s", err, out)
		}
		if !isFUSE(mnt) {
			t.Fatal("mount -t snapfs returned before MNT was a FUSE mount")
		}
		if got := string(read(t, filepath.Join(mnt, "vm1", "status"))); got != "ok\n" {
			t.Errorf("vm1/status = %q", got)
		}
		wantNames(t, mnt, "latest", "new", "vm1")
		// umount(8) ends it; the daemon exits by itself.
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
		if isFUSE(mnt) {
			t.Error("still mounted after umount")
		}

		// -t fuse.snapfs runs mount.fuse.snapfs, the same binary.
		link2 := "/sbin/mount.fuse.snapfs"
		if _, err := os.Lstat(link2); err == nil {
			t.Skipf("%s exists already; not replacing it", link2)
		}
		if err := os.Symlink(abs, link2); err != nil {
			t.Skipf("cannot create %s: %v", link2, err)
		}
		t.Cleanup(func() { os.Remove(link2) })
		out, err = exec.Command(mountBin, "-t", "fuse.snapfs", "-o", "ro", store, mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("mount -t fuse.snapfs: %v\n%s", err, out)
		}
		wantNames(t, mnt, "latest", "vm1") // ro: no new/
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}

		// An fstab line (here in a file of the test's, mount -T).
		fstab := filepath.Join(t.TempDir(), "fstab")
		writeFile(t, fstab, []byte(store+" "+mnt+" snapfs defaults 0 0\n"))
		out, err = exec.Command(mountBin, "-T", fstab, mnt).CombinedOutput()
		if err != nil {
			t.Fatalf("mount -T fstab MNT: %v\n%s", err, out)
		}
		wantNames(t, mnt, "latest", "new", "vm1")
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v\n%s", err, out)
		}
		if isFUSE(mnt) {
			t.Error("still mounted after umount")
		}
	})
}

// snapfsBounded is snapfs for a command that must end by itself: a
// foreground mount that wrongly succeeds would otherwise block the test
// forever. It is killed after 30s, which fails the test.
func snapfsBounded(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("snapfs %v did not exit within 30s", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// TestReadLifecycleRefusals checks that MNT inside STORE, STORE inside
// MNT and MNT == STORE are refused with exit 1, before mounting.
func TestReadLifecycleRefusals(t *testing.T) {
	t.Parallel()
	requireFUSE(t)
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	inside := filepath.Join(store, "mnt")
	os.Mkdir(inside, 0o755)
	outer := t.TempDir()
	innerStore := filepath.Join(outer, "store")
	os.Mkdir(innerStore, 0o755)
	// A symlink that leads into STORE counts as inside.
	linkDir := t.TempDir()
	viaLink := filepath.Join(linkDir, "l")
	os.Symlink(store, viaLink)

	for _, c := range []struct{ name, store, mnt string }{
		{"mnt-inside-store", store, inside},
		{"mnt-deep-inside-store", store, filepath.Join(store, "vm1")},
		{"store-inside-mnt", innerStore, outer},
		{"same", store, store},
		{"mnt-via-symlink", store, filepath.Join(viaLink, "mnt")},
	} {
		for _, daemonFlag := range []bool{false, true} {
			args := []string{"mount"}
			if daemonFlag {
				args = append(args, "--daemon")
			}
			r := snapfsBounded(t, append(args, c.store, c.mnt)...)
			if r.code != 1 {
				t.Errorf("%s (daemon %v): exit %d, want 1\n%s", c.name, daemonFlag, r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "inside") {
				t.Errorf("%s: stderr %q does not say what is inside what", c.name, r.stderr)
			}
			if isFUSE(c.mnt) {
				t.Errorf("%s: mounted anyway", c.name)
				unix.Unmount(c.mnt, unix.MNT_DETACH)
			}
		}
	}
	// Missing paths are refused too.
	if r := snapfsBounded(t, "mount", filepath.Join(store, "nope"), t.TempDir()); r.code != 1 {
		t.Errorf("missing STORE: exit %d", r.code)
	}
	if r := snapfsBounded(t, "mount", store, filepath.Join(outer, "nope")); r.code != 1 {
		t.Errorf("missing MNT: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(outer, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing MNT was created: %v", err)
	}
}
