package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
	"github.com/snapfs/snapfs/snapshot/digest"
)

// dfReference compares two files page by page, as the test's reference:
// the changed pages and their merged ranges.
func dfReference(t *testing.T, a, b string, page int64) (int64, []digest.Range) {
	t.Helper()
	x, y := read(t, a), read(t, b)
	end := int64(max(len(x), len(y)))
	part := func(s []byte, off int64) []byte {
		if off >= int64(len(s)) {
			return nil
		}
		return s[off:min(off+page, int64(len(s)))]
	}
	var n int64
	ranges := []digest.Range{}
	for off := int64(0); off < end; off += page {
		if bytes.Equal(part(x, off), part(y, off)) {
			continue
		}
		n++
		l := min(page, end-off)
		if k := len(ranges); k > 0 && ranges[k-1].Offset+ranges[k-1].Length == off {
			ranges[k-1].Length += l
		} else {
			ranges = append(ranges, digest.Range{Offset: off, Length: l})
		}
	}
	return n, ranges
}

// dfRun runs `snapfs diff --json a b`.
func dfRun(t *testing.T, a, b string) (int, *digest.Diff) {
	t.Helper()
	r := snapfs(t, "diff", "--json", a, b)
	if r.code > 1 {
		t.Fatalf("diff %s %s: exit %d\n%s%s", a, b, r.code, r.stdout, r.stderr)
	}
	var d digest.Diff
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("diff --json: %v\n%s", err, r.stdout)
	}
	return r.code, &d
}

// snapfs diff: manifest fields, units changed, added and removed, and
// memory's changed pages and ranges, equal to a page-by-page reference,
// whether read from both files or from both digest records; identical
// snapshots exit 0.
func TestDigestDiff(t *testing.T) {
	store := t.TempDir()
	const mib = 1 << 20
	m := goodManifest(created)
	m.MemorySizeBytes = 12 * mib
	units := basicUnits(t)
	makeSnap(t, store, "a", snapSpec{Manifest: m})
	writeSparse(t, filepath.Join(store, "a", "memory.bin"), 12*mib)
	nwSh(t, fmt.Sprintf("cp -r --sparse=always %q %q", filepath.Join(store, "a"), filepath.Join(store, "a-copy")))
	nwSh(t, fmt.Sprintf("cp -r --sparse=always %q %q", filepath.Join(store, "a"), filepath.Join(store, "b")))

	// b: one more VP, a unit changed, one removed, one added.
	mb := *m
	mb.VPCount++
	writeFile(t, filepath.Join(store, "b", "manifest.bin"), mb.Encode())
	ub := slices.Clone(units)
	changed, removed := ub[0].Name, ub[len(ub)-1].Name
	ub[0].Value = append(slices.Clone(ub[0].Value), 0x08, 0x01)
	ub = append(ub[:len(ub)-1], snapshot.StateUnit{Name: "added-unit", TypeURL: "type.googleapis.com/x.Added", Value: []byte{1}})
	writeFile(t, filepath.Join(store, "b", "state.bin"), snapshot.EncodeState(ub))
	// b's memory: a byte in data, pages in a hole, a page across a chunk
	// boundary, the last page.
	mem := filepath.Join(store, "b", "memory.bin")
	dgPatch(t, mem, 100, []byte{0xee})
	dgPatch(t, mem, 3*mib+4096, bytes.Repeat([]byte{7}, 3*4096))
	dgPatch(t, mem, 5*mib-10, bytes.Repeat([]byte{9}, 20))
	dgPatch(t, mem, 12*mib-1, []byte{1})

	wantN, wantR := dfReference(t, filepath.Join(store, "a", "memory.bin"), mem, int64(m.PageSize))
	check := func(method string) {
		t.Helper()
		code, d := dfRun(t, filepath.Join(store, "a"), filepath.Join(store, "b"))
		if code != 1 || d.Identical {
			t.Errorf("%s: exit %d identical=%v, want 1", method, code, d.Identical)
		}
		if d.Memory.Method != method {
			t.Errorf("method %q, want %q", d.Memory.Method, method)
		}
		if d.Memory.ChangedPages != wantN || !slices.Equal(d.Memory.Ranges, wantR) || d.Memory.PageSize != int64(m.PageSize) {
			t.Errorf("%s: memory %d pages %v (page %d), want %d %v", method, d.Memory.ChangedPages, d.Memory.Ranges, d.Memory.PageSize, wantN, wantR)
		}
		want := []digest.FieldChange{{Field: "vp_count", A: fmt.Sprint(m.VPCount), B: fmt.Sprint(mb.VPCount)}}
		if !slices.Equal(d.Manifest, want) {
			t.Errorf("manifest %+v, want %+v", d.Manifest, want)
		}
		u := d.Units
		if !slices.Equal(u.Changed, []string{changed}) || !slices.Equal(u.Removed, []string{removed}) || !slices.Equal(u.Added, []string{"added-unit"}) {
			t.Errorf("units %+v, want changed %s, removed %s, added added-unit", u, changed, removed)
		}
		for _, pair := range [][2]string{{"a", "a"}, {"a", "a-copy"}} {
			code, d := dfRun(t, filepath.Join(store, pair[0]), filepath.Join(store, pair[1]))
			if code != 0 || !d.Identical || d.Memory.ChangedPages != 0 {
				t.Errorf("%s: diff %s %s: exit %d %+v, want identical", method, pair[0], pair[1], code, d)
			}
		}
	}
	check("read")

	if r := snapfs(t, "digest", filepath.Join(store, "a"), filepath.Join(store, "b"), filepath.Join(store, "a-copy")); r.code != 0 {
		t.Fatalf("digest: %d %s", r.code, r.stderr)
	}
	check("digests")

	// Text output, with a schema that defines none of these units' types
	// (TestDiffSchema covers one that does).
	schema := testdata("schema")
	r := snapfs(t, "diff", "--schema", schema, filepath.Join(store, "a"), filepath.Join(store, "b"))
	if r.code != 1 {
		t.Fatalf("diff: exit %d\n%s", r.code, r.stderr)
	}
	for _, s := range []string{"manifest vp_count: ", "unit added: added-unit", "unit removed: " + removed, "unit changed: " + changed,
		fmt.Sprintf("memory: %d changed pages of 4096 bytes", wantN)} {
		nwContains(t, "diff's output", r.stdout, s)
	}
	if r := snapfs(t, "diff", filepath.Join(store, "a")); r.code != 2 {
		t.Errorf("diff with one argument: exit %d", r.code)
	}
	if r := snapfs(t, "diff", filepath.Join(store, "a"), filepath.Join(store, "nosuch")); r.code != 2 {
		t.Errorf("diff with a missing snapshot: exit %d", r.code)
	}
}

// diff through a mount reads both files (the records are not visible
// there) and agrees.
func TestDigestDiffThroughMount(t *testing.T) {
	store := t.TempDir()
	makeSnap(t, store, "a", snapSpec{})
	makeSnap(t, store, "b", snapSpec{})
	mem := filepath.Join(store, "b", "memory.bin")
	dgPatch(t, mem, 8<<20, []byte{0})
	d := mountStore(t, store, "")
	wantN, wantR := dfReference(t, filepath.Join(store, "a", "memory.bin"), mem, 4096)
	code, df := dfRun(t, d.Path("a"), d.Path("b"))
	if code != 1 || df.Memory.ChangedPages != wantN || !slices.Equal(df.Memory.Ranges, wantR) || len(df.Manifest) != 0 {
		t.Errorf("diff through the mount: exit %d %+v, want %d %v", code, df, wantN, wantR)
	}
}
