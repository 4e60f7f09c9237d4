package integration

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSecStagedBytesPerUser: --max-staged-bytes-per-user bounds what one
// user holds in new/ and in open restore clones; past it that user gets
// EDQUOT and every other user (and root) writes on.
func TestSecStagedBytesPerUser(t *testing.T) {
	e := secSetup(t, 0o1777)
	a, b := secNewUser(t, e.probe), secNewUser(t, e.probe)
	snap := makeSnap(t, e.store, "vm", snapSpec{})
	secChmodSnap(t, snap, 0o755, 0o644)
	d := e.mount(t, "--commit-delay", "0", "--max-staged-bytes-per-user", "1M")
	if !strings.Contains(d.Log(), "staged_passthrough=false") {
		t.Errorf("with a byte limit, staged files must be served by the daemon:\n%s", d.Log())
	}
	a.Want(t, "mkdir", d.Path("new", "a"), 0)
	b.Want(t, "mkdir", d.Path("new", "b"), 0)
	const k = 1 << 10
	written := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

	// A clone's bytes count while it is open: b's 768 KiB fallocate on
	// one leaves room for less than 512 KiB more in new/.
	errno, n := b.Do(t, "allocate", d.Path("vm", "memory.bin"), strconv.Itoa(768*k), d.Path("new", "b", "memory.bin"), strconv.Itoa(512*k))
	if errno != syscall.EDQUOT || written(n) > 256*k {
		t.Errorf("as %s, with a 768 KiB clone open: 512 KiB into new/b: %s after %s bytes, want EDQUOT within 256 KiB", b.Name, secErr(errno), n)
	}
	// Closed, the clone's bytes are gone.
	if errno, n := b.Do(t, "fill", d.Path("new", "b", "memory.bin"), strconv.Itoa(512*k)); errno != 0 {
		t.Errorf("as %s, the clone closed: 512 KiB more into new/b: %s after %s bytes", b.Name, secErr(errno), n)
	}

	// a is stopped at 1 MiB, in new/ and on a clone.
	errno, n = a.Do(t, "fill", d.Path("new", "a", "memory.bin"), strconv.Itoa(2048*k))
	if errno != syscall.EDQUOT || written(n) > 1024*k || written(n) < 768*k {
		t.Errorf("as %s: 2 MiB into new/a: %s after %s bytes, want EDQUOT after about 1 MiB", a.Name, secErr(errno), n)
	}
	if errno, _ := a.Do(t, "allocate", d.Path("vm", "memory.bin"), strconv.Itoa(256*k)); errno != syscall.EDQUOT {
		t.Errorf("as %s, at the limit: fallocate of 256 KiB on a restore clone: %s, want EDQUOT", a.Name, secErr(errno))
	}
	if errno, _ := a.Do(t, "fill", d.Path("vm", "memory.bin"), strconv.Itoa(256*k)); errno != syscall.EDQUOT {
		t.Errorf("as %s, at the limit: 256 KiB written to a restore clone: %s, want EDQUOT", a.Name, secErr(errno))
	}
	// ... and nobody else is.
	if errno, n := b.Do(t, "fill", d.Path("new", "b", "state.bin"), strconv.Itoa(128*k)); errno != 0 {
		t.Errorf("as %s, with %s at the limit: 128 KiB into new/b: %s after %s bytes", b.Name, a.Name, secErr(errno), n)
	}
	if err := os.Mkdir(d.Path("new", "r"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path("new", "r", "memory.bin"), make([]byte, 2048*k), 0o644); err != nil {
		t.Errorf("root, who is not limited: 2 MiB into new/r: %v", err)
	}

	// What a removes through the mount is room again.
	a.Want(t, "rm", d.Path("new", "a", "memory.bin"), 0)
	if errno, n := a.Do(t, "fill", d.Path("new", "a", "memory.bin"), strconv.Itoa(512*k)); errno != 0 {
		t.Errorf("as %s, after removing its file: 512 KiB into new/a: %s after %s bytes", a.Name, secErr(errno), n)
	}
}
