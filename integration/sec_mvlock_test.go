package integration

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecListDuringHostileMv: while a user's `mv new/x x` is validated
// (the kernel holds MNT's and MNT/new's rename locks meanwhile), another
// user's `ls MNT` and `ls MNT/new` return within 1 s, though the staged
// memory.bin is a large sparse file and a written-back sha256sums names
// it (the 1 s bound).
func TestSecListDuringHostileMv(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	makeSnap(t, e.store, "vm1", snapSpec{})
	d := e.mount(t, "--commit-delay", "1h")
	m := goodManifest(created)
	m.MemorySizeBytes = 64 << 30
	src := makeSnap(t, e.dir, "src", snapSpec{Manifest: m})
	var sums strings.Builder
	for _, f := range []string{"manifest.bin", "state.bin"} {
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(read(t, filepath.Join(src, f))), f)
	}
	fmt.Fprintf(&sums, "%064x  memory.bin\n", 0) // needs the whole file to refute
	writeFile(t, filepath.Join(src, "sha256sums"), []byte(sums.String()))
	if r := a.Run(t, "sh", "-c", `mkdir "$1/new/x" && cp --sparse=always "$2"/* "$1/new/x/"`, "sh", d.Path(), src); r.code != 0 {
		t.Fatalf("staging as A: %s", r.stderr)
	}
	mv := a.command("mv", d.Path("new", "x"), d.Path("x"))
	if err := mv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mv.Process.Kill() }) // if it hangs
	time.Sleep(200 * time.Millisecond)      // the mv is under way
	for _, dir := range []string{d.Path(), d.Path("new")} {
		start := time.Now()
		r := b.Run(t, "timeout", "10", "ls", dir)
		if took := time.Since(start); r.code != 0 || took > time.Second {
			t.Errorf("as B: ls %s took %v (exit %d %s), want within 1 s during A's mv", dir, took.Round(time.Millisecond), r.code, r.stderr)
		}
	}
	// The mv does not wait for a 64 GiB hash: it is refused, and status
	// says why; nothing is published.
	var err error
	withTimeout(t, "mv", func() { err = mv.Wait() })
	if err == nil {
		t.Errorf("mv of a snapshot whose sha256sums cannot be checked yet succeeded")
	}
	wantAbsent(t, filepath.Join(e.store, "x"))
	st := a.Run(t, "cat", d.Path("new", "x", "status"))
	nwContains(t, "new/x/status", st.stdout, "sha256sums: memory.bin: is 68719476736 bytes")
	nwContains(t, "new/x/status", st.stdout, "being hashed in the background")
}
