package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot/digest"
)

// A snapshot published through new/ gets a digest record in the
// background: sha256sums appears, `sha256sum -c` passes in MNT/<name>,
// status stays ok, and the record survives a restart of the daemon.
func TestDigestPublished(t *testing.T) {
	store := t.TempDir()
	d := nwMount(t, store, "--commit-delay", "100ms")
	src := nwSource(t, "pub")
	nwSh(t, fmt.Sprintf("cp -r --preserve=timestamps --sparse=always %q %q", src, d.Path("new")))
	nwWaitPublished(t, d, "pub")
	dgWaitSums(t, d, "pub")
	if ok, out := dgSha256Check(t, d.Path("pub")); !ok {
		t.Fatalf("sha256sum -c in MNT/pub failed:\n%s", out)
	}
	if got := statusLines(t, d, "pub"); len(got) != 1 || got[0] != "ok" {
		t.Errorf("status %q, want ok", got)
	}
	wantNames(t, d.Path("pub"), "manifest.bin", "manifest.json", "manifest", "state.bin", "state", "memory.bin", "sha256sums", "status")
	if _, err := os.Stat(filepath.Join(store, "pub", digest.RecordName)); err != nil {
		t.Fatalf("no record in STORE: %v", err)
	}
	// The record is a view of memory.bin's owner and read bits.
	sums, mem := lstat(t, d.Path("pub", "sha256sums")), lstat(t, d.Path("pub", "memory.bin"))
	if sums.Uid != mem.Uid || sums.Mode&0o777 != mem.Mode&0o444 {
		t.Errorf("sha256sums mode %o uid %d, memory.bin %o uid %d", sums.Mode, sums.Uid, mem.Mode, mem.Uid)
	}
	if code, res := dgVerify(t, filepath.Join(store, "pub")); code != 0 || !res.Intact {
		t.Errorf("verify of a fresh snapshot: exit %d %+v", code, res)
	}

	d.stop()
	d = mountStore(t, store, "")
	if ok, out := dgSha256Check(t, d.Path("pub")); !ok {
		t.Fatalf("after a restart, sha256sum -c failed:\n%s", out)
	}
}

// Damage to each file (a byte flip, a punched hole, a grown file) is
// caught by `snapfs verify` (exit 1, naming the chunk) and by
// `sha256sum -c`, and shown by status until a verification passes after
// the repair.
func TestDigestVerifyDamage(t *testing.T) {
	store := t.TempDir()
	d := nwMount(t, store, "--commit-delay", "100ms")
	src := nwSource(t, "vm")
	nwSh(t, fmt.Sprintf("cp -r --preserve=timestamps --sparse=always %q %q", src, d.Path("new")))
	nwWaitPublished(t, d, "vm")
	dgWaitSums(t, d, "vm")
	dir := filepath.Join(store, "vm")
	memSize := lstat(t, filepath.Join(dir, "memory.bin")).Size

	// A data offset of memory.bin, for the hole punch.
	f, err := os.Open(filepath.Join(dir, "memory.bin"))
	if err != nil {
		t.Fatal(err)
	}
	dataOff, err := unix.Seek(int(f.Fd()), 2<<20, unix.SEEK_DATA)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}

	const mib = 1 << 20
	cases := []struct {
		name, file string
		chunk      int64 // the differing chunk of memory.bin
		damage     func(t *testing.T) (repair func())
	}{
		{"manifest-flip", "manifest.bin", -1, func(t *testing.T) func() {
			p := filepath.Join(dir, "manifest.bin")
			old := dgPatch(t, p, 3, []byte{0xff})
			return func() { dgPatch(t, p, 3, old) }
		}},
		{"state-flip", "state.bin", -1, func(t *testing.T) func() {
			p := filepath.Join(dir, "state.bin")
			old := dgPatch(t, p, 20, []byte{0x5a})
			return func() { dgPatch(t, p, 20, old) }
		}},
		{"memory-flip", "memory.bin", 3 * mib, func(t *testing.T) func() {
			p := filepath.Join(dir, "memory.bin")
			old := dgPatch(t, p, 3*mib+4097, []byte{0x42})
			return func() { dgPatch(t, p, 3*mib+4097, old) }
		}},
		{"punched-hole", "memory.bin", dataOff &^ (mib - 1), func(t *testing.T) func() {
			p := filepath.Join(dir, "memory.bin")
			page := make([]byte, 4096)
			g, _ := os.Open(p)
			g.ReadAt(page, dataOff&^4095)
			g.Close()
			nwSh(t, fmt.Sprintf("fallocate --punch-hole --offset %d --length 4096 %q", dataOff&^4095, p))
			return func() { dgPatch(t, p, dataOff&^4095, page) }
		}},
		{"grown", "memory.bin", memSize, func(t *testing.T) func() {
			p := filepath.Join(dir, "memory.bin")
			if err := os.Truncate(p, memSize+4096); err != nil {
				t.Fatal(err)
			}
			return func() { os.Truncate(p, memSize) }
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repair := c.damage(t)
			if ok, out := dgSha256Check(t, d.Path("vm")); ok {
				t.Errorf("sha256sum -c passed a damaged %s:\n%s", c.file, out)
			}
			r := snapfs(t, "verify", dir)
			if r.code != 1 {
				t.Fatalf("verify: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			want := c.file + " differs from its digest"
			if c.chunk >= 0 {
				want = fmt.Sprintf("memory.bin differs from its digest at offset %d", c.chunk)
			}
			nwContains(t, "verify's output", r.stdout, want)
			code, res := dgVerify(t, dir)
			if code != 1 || res.Intact || res.MismatchCount != 1 || res.Mismatches[0].File != c.file {
				t.Errorf("verify --json: exit %d %+v", code, res)
			}
			dgStatusHas(t, d, "vm", "error: "+want, true)

			repair()
			if r := snapfs(t, "verify", dir); r.code != 0 || !strings.Contains(r.stdout, ": ok") {
				t.Fatalf("verify after the repair: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			dgStatusHas(t, d, "vm", "differs from its digest", false)
			if ok, out := dgSha256Check(t, d.Path("vm")); !ok {
				t.Errorf("sha256sum -c after the repair:\n%s", out)
			}
		})
	}
}

// `snapfs digest` makes the record of a snapshot written straight into
// STORE; the mount shows sha256sums once it exists. verify without a
// record exits 2.
func TestDigestCommand(t *testing.T) {
	store := t.TempDir()
	makeSnap(t, store, "direct", snapSpec{})
	d := mountStore(t, store, "")
	wantAbsent(t, d.Path("direct", "sha256sums")) // a negative entry the kernel may keep
	dir := filepath.Join(store, "direct")
	if r := snapfs(t, "verify", dir); r.code != 2 || !strings.Contains(r.stderr, "no digest record") {
		t.Errorf("verify without a record: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	before := lstat(t, dir)
	r := snapfs(t, "digest", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "digest record made") {
		t.Fatalf("digest: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("digest printed a progress bar to a pipe: %q", r.stderr)
	}
	if after := lstat(t, dir); after.Mtim != before.Mtim {
		t.Errorf("the record changed the snapshot directory's mtime")
	}
	dgWaitSums(t, d, "direct")
	if ok, out := dgSha256Check(t, d.Path("direct")); !ok {
		t.Fatalf("sha256sum -c:\n%s", out)
	}
	if r := snapfs(t, "digest", dir); r.code != 0 || !strings.Contains(r.stdout, "already") {
		t.Errorf("digest again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code, res := dgVerify(t, dir); code != 0 || !res.Intact {
		t.Errorf("verify: exit %d %+v", code, res)
	}
	if got := statusLines(t, d, "direct"); len(got) != 1 || got[0] != "ok" {
		t.Errorf("status %q", got)
	}
	if r := snapfs(t, "digest", filepath.Join(store, "nosuch")); r.code != 1 {
		t.Errorf("digest of a missing directory: exit %d", r.code)
	}
}
