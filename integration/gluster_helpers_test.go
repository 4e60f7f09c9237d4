package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// GlusterFS for the many-hosts tests (issue 11): glusterd on this host, a
// one-brick volume, mounted twice with mount -t glusterfs; each mount is
// one "host" with a snapfs of its own over it, with default flags.

// glusterVol is a started volume and its two client mounts.
type glusterVol struct {
	name  string
	mnts  [2]string // the GlusterFS client mounts
	store [2]string // STORE on each: the same directory of the volume
}

var glusterSeq atomic.Int64

// needGluster fails in CI and skips elsewhere when GlusterFS cannot run.
func needGluster(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("GlusterFS is required in CI: %s", why)
	}
	t.Skipf("GlusterFS: %s", why)
}

// glusterCLI runs the gluster CLI in script mode.
func glusterCLI(args ...string) (string, error) {
	out, err := exec.Command("gluster", append([]string{"--mode=script"}, args...)...).CombinedOutput()
	return string(out), err
}

// startedGlusterd records that the tests started glusterd, so TestMain
// stops it again: make test leaves the machine as it found it.
var startedGlusterd atomic.Bool

// stopGlusterd stops the glusterd the tests started, if they did.
func stopGlusterd() {
	if !startedGlusterd.Load() {
		return
	}
	if out, err := exec.Command("pkill", "-x", "glusterd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "stopping glusterd: %v\n%s", err, out)
	}
}

// startGlusterd makes sure glusterd answers, starting it if needed.
func startGlusterd(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"glusterd", "gluster", "mount.glusterfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			needGluster(t, tool+" not installed (make test installs glusterfs-server and glusterfs-client)")
		}
	}
	if os.Geteuid() != 0 {
		needGluster(t, "glusterd and mount -t glusterfs need root")
	}
	if _, err := glusterCLI("volume", "list"); err == nil {
		return
	}
	if out, err := exec.Command("glusterd").CombinedOutput(); err != nil {
		needGluster(t, fmt.Sprintf("glusterd: %v\n%s", err, out))
	}
	startedGlusterd.Store(true)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := glusterCLI("volume", "list")
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			needGluster(t, fmt.Sprintf("glusterd does not answer after 60s: %v\n%s", err, out))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// newGluster makes a one-brick volume on this host and mounts it twice.
// Everything is undone at the end of the test: mounts, volume, brick.
func newGluster(t testing.TB) *glusterVol {
	t.Helper()
	startGlusterd(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	v := &glusterVol{name: fmt.Sprintf("snapfs-test-%d-%d", os.Getpid(), glusterSeq.Add(1))}
	brick := filepath.Join(t.TempDir(), "brick")
	if out, err := glusterCLI("volume", "create", v.name, host+":"+brick, "force"); err != nil {
		t.Fatalf("gluster volume create: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := glusterCLI("volume", "delete", v.name); err != nil {
			t.Errorf("gluster volume delete %s: %v\n%s", v.name, err, out)
		}
		if _, err := glusterCLI("volume", "info", v.name); err == nil {
			t.Errorf("volume %s still exists after the test", v.name)
		}
	})
	if out, err := glusterCLI("volume", "start", v.name); err != nil {
		t.Fatalf("gluster volume start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := glusterCLI("volume", "stop", v.name, "force"); err != nil {
			t.Errorf("gluster volume stop %s: %v\n%s", v.name, err, out)
		}
	})
	for i := range v.mnts {
		v.mnts[i] = t.TempDir()
		// The brick's server may take a moment to listen.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := exec.Command("mount", "-t", "glusterfs", host+":/"+v.name, v.mnts[i]).CombinedOutput()
			if err == nil && isFUSE(v.mnts[i]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("mount -t glusterfs %s:/%s: %v\n%s", host, v.name, err, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		mnt := v.mnts[i]
		t.Cleanup(func() {
			if err := unix.Unmount(mnt, 0); err != nil {
				unix.Unmount(mnt, unix.MNT_DETACH)
			}
		})
		v.store[i] = filepath.Join(mnt, "store")
	}
	if err := os.Mkdir(v.store[0], 0o755); err != nil {
		t.Fatal(err)
	}
	return v
}

// glusterDaemons mounts snapfs over both hosts' STORE, with default flags.
func glusterDaemons(t testing.TB, v *glusterVol) [2]*daemon {
	t.Helper()
	var d [2]*daemon
	for i := range d {
		d[i] = mountStore(t, v.store[i], "")
		if !strings.Contains(d[i].Log(), `mode="poll"`) {
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(d[i].Log(), `mode="poll"`) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if !strings.Contains(d[i].Log(), `mode="poll"`) {
				t.Fatalf("snapfs over GlusterFS does not poll; log:\n%s", d[i].Log())
			}
		}
	}
	return d
}

// visibleBound is how long a test waits for another host's change: the
// issue asks for 1 s, measured in the bench (visibility-gluster); the
// tests fail only past a bound no healthy run comes near.
const visibleBound = 3 * time.Second

// waitFor polls cond until it holds and returns how long that took, or
// fails past visibleBound.
func waitFor(t testing.TB, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > visibleBound {
			t.Fatalf("%s: not within %v", what, visibleBound)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// glExists reports whether path can be stat'ed.
func glExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// stageCopy stages the snapshot files of src as new/name through d, the
// manifest last.
func stageCopy(t testing.TB, d *daemon, src, name string) {
	t.Helper()
	dir := d.Path("new", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("mkdir %s: %v", dir, err)
	}
	for _, f := range []string{"state.bin", "memory.bin", "manifest.bin"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatalf("staging %s: %v", f, err)
		}
		if fi, err := os.Stat(filepath.Join(src, f)); err == nil {
			os.Chtimes(filepath.Join(dir, f), fi.ModTime(), fi.ModTime())
		}
	}
}
