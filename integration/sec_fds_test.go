package integration

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// secFdCap is the --max-fds-per-user of the fd tests.
const secFdCap = 64

// TestSecFdsPerUser checks that a user who opens a file more often than
// the per-user cap gets EMFILE, and that root and other users keep
// reading meanwhile; views need no daemon fd.
func TestSecFdsPerUser(t *testing.T) {
	e := secSetup(t, 0o755)
	hog := secNewUser(t, e.probe)
	other := secNewUser(t, e.probe)
	makeSnap(t, e.store, "vm", snapSpec{})
	for _, flags := range [][]string{nil, {"--no-passthrough"}} {
		name := "passthrough"
		if flags != nil {
			name = "no-passthrough"
		}
		t.Run(name, func(t *testing.T) {
			d := e.mount(t, append(flags, "--max-fds-per-user", strconv.Itoa(secFdCap))...)
			secFdsPerUser(t, d, hog, other)
		})
	}
}

func secFdsPerUser(t *testing.T, d *daemon, hog, other *secUser) {
	mem := d.Path("vm", "memory.bin")
	h, n, errno := hog.Hold(t, mem, 4*secFdCap)
	if n != secFdCap || errno != syscall.EMFILE {
		t.Errorf("the hog opened memory.bin %d times, then %s; want %d, then EMFILE",
			n, secErr(errno), secFdCap)
	}
	// The hog's other processes are over the cap too, except for views.
	hog.Want(t, "read", d.Path("vm", "state.bin"), syscall.EMFILE)
	for _, v := range []string{"manifest.json", "manifest/vp_count", "status"} {
		hog.Want(t, "read", d.Path("vm", v), 0)
	}
	// Root and another user are not.
	if out, err := exec.Command("cat", d.Path("vm", "manifest.bin")).Output(); err != nil || len(out) == 0 {
		t.Errorf("root: cat manifest.bin: %v (%d bytes)", err, len(out))
	}
	if _, err := os.ReadFile(mem); err != nil {
		t.Errorf("root: %v", err)
	}
	for _, f := range []string{"memory.bin", "state.bin", "manifest.bin", "manifest.json"} {
		other.Want(t, "read", d.Path("vm", f), 0)
	}
	// The other user has a cap of their own, all of it.
	oh, on, oerrno := other.Hold(t, mem, secFdCap)
	if on != secFdCap || oerrno != 0 {
		t.Errorf("the other user opened memory.bin %d times, then %s; want %d", on, secErr(oerrno), secFdCap)
	}
	oh.Release()
	// Once the hog closes its files, it may open again (the daemon hears
	// of the closes asynchronously).
	h.Release()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := hog.Do(t, "read", mem)
		if got == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hog still gets %s 20s after closing its files\n%s", secErr(got), d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSecFdsStaged checks that opens of staged files count against the
// same per-user cap, and leave other users' staging working.
func TestSecFdsStaged(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	hog := secNewUser(t, e.probe)
	other := secNewUser(t, e.probe)
	d := e.mount(t, "--commit-delay", "0", "--max-fds-per-user", strconv.Itoa(secFdCap))
	for _, u := range []*secUser{hog, other} {
		dir := d.Path("new", u.Name)
		if got, _ := u.Do(t, "mkdir", dir); got != 0 {
			t.Fatalf("mkdir new/%s: %s", u.Name, secErr(got))
		}
		u.Want(t, "write", dir+"/memory.bin", 0)
	}
	h, n, errno := hog.Hold(t, d.Path("new", hog.Name, "memory.bin"), 4*secFdCap)
	defer h.Release()
	if n != secFdCap || errno != syscall.EMFILE {
		t.Errorf("the hog opened its staged memory.bin %d times, then %s; want %d, then EMFILE",
			n, secErr(errno), secFdCap)
	}
	other.Want(t, "read", d.Path("new", other.Name, "memory.bin"), 0)
	other.Want(t, "write", d.Path("new", other.Name, "state.bin"), 0)
	if _, err := os.ReadFile(d.Path("new", hog.Name, "memory.bin")); err != nil {
		t.Errorf("root: %v", err)
	}
}
