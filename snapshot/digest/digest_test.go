package digest

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// testSnap writes a snapshot directory whose memory.bin is size bytes
// with data at the given offsets (4 KiB each), holes elsewhere.
func testSnap(t *testing.T, size int64, data []int64, units []snapshot.StateUnit) string {
	t.Helper()
	dir := t.TempDir()
	m := &snapshot.Manifest{Version: 1, MemorySizeBytes: uint64(size), VPCount: 2, PageSize: 4096, Architecture: "x86_64",
		CreatedAt: snapshot.Timestamp{Seconds: 1700000000}}
	if err := os.WriteFile(filepath.Join(dir, "manifest.bin"), m.Encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if units == nil {
		units = []snapshot.StateUnit{{Name: "pit", TypeURL: "type.googleapis.com/pit.Saved", Value: []byte{1, 2, 3}},
			{Name: "rtc", TypeURL: "type.googleapis.com/rtc.Saved", Value: []byte{4, 5}}}
	}
	if err := os.WriteFile(filepath.Join(dir, "state.bin"), snapshot.EncodeState(units), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "memory.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range data {
		if _, err := f.WriteAt(pattern(off), off); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func pattern(off int64) []byte {
	r := rand.New(rand.NewPCG(uint64(off), 7))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(r.Uint32()) | 1
	}
	return b
}

func dirfd(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func sumFile(t *testing.T, path string) Sum {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestMakeMatchesSha256(t *testing.T) {
	size := int64(5*ChunkSize + 12288)
	dir := testSnap(t, size, []int64{0, 4096, 3*ChunkSize + 8192, 5 * ChunkSize}, nil)
	for _, workers := range []int{1, 3} {
		r, err := Make(int(dirfd(t, dir).Fd()), &Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range Files {
			if got, want := r.Files[i].Sum, sumFile(t, filepath.Join(dir, name)); got != want {
				t.Errorf("%s: %s, want %s", name, got, want)
			}
		}
		if r.Files[FileMemory].Size != size {
			t.Errorf("memory size %d", r.Files[FileMemory].Size)
		}
		mem, _ := os.ReadFile(filepath.Join(dir, "memory.bin"))
		for i := int64(0); i < r.NumChunks(); i++ {
			s, _, ok := r.Chunk(i)
			end := min((i+1)*ChunkSize, size)
			if !ok || s != sha256.Sum256(mem[i*ChunkSize:end]) {
				t.Errorf("chunk %d: %s ok=%v", i, s, ok)
			}
		}
		// Chunks 1, 2 and 4 are holes (on a filesystem with SEEK_HOLE).
		if len(r.Runs) == 3 {
			if r.Runs[0] != (Run{0, ChunkSize}) || r.Runs[2] != (Run{5 * ChunkSize, 12288}) {
				t.Errorf("runs %v", r.Runs)
			}
		}
		back, err := Parse(r.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Encode(), r.Encode()) {
			t.Error("record does not round-trip")
		}
		h, err := ParseHeader(r.Encode()[:MaxHeader])
		if err != nil || h != r.Files {
			t.Errorf("header %v %v", h, err)
		}
	}
}

func TestSums(t *testing.T) {
	var h Header
	h[0].Sum[0] = 0xab
	s := string(h.Sums())
	want := "ab" + strings.Repeat("0", 62) + "  manifest.bin\n"
	if !strings.HasPrefix(s, want) || strings.Count(s, "\n") != 3 || !strings.HasSuffix(s, "  memory.bin\n") {
		t.Errorf("sums %q", s)
	}
}

func TestParseRejects(t *testing.T) {
	dir := testSnap(t, 3*ChunkSize, []int64{ChunkSize}, nil)
	r, err := Make(int(dirfd(t, dir).Fd()), nil)
	if err != nil {
		t.Fatal(err)
	}
	good := string(r.Encode())
	reseal := func(body string) string {
		return body + "end " + Sum(sha256.Sum256([]byte(body))).String() + "\n"
	}
	body := good[:strings.LastIndex(good, "end ")]
	for name, rec := range map[string]string{
		"empty":       "",
		"magic":       strings.Replace(good, "snapfs-digest 1", "snapfs-digest 2", 1),
		"damaged":     strings.Replace(good, "data 1048576", "data 2097152", 1),
		"truncated":   good[:len(good)-1],
		"trailing":    good + "x",
		"unaligned":   reseal(strings.Replace(body, "data 1048576 1048576", "data 1048577 1048576", 1)),
		"past end":    reseal(strings.Replace(body, "data 1048576 1048576", "data 1048576 3145728", 1)),
		"leading 0":   reseal(strings.Replace(body, "data 1048576", "data 01048576", 1)),
		"upper hex":   reseal(upperFirstChunk(body)),
		"missing sum": reseal(body[:strings.LastIndex(body[:len(body)-1], "\n")+1]),
		"huge size":   reseal(strings.Replace(body, "file memory.bin 3145728", "file memory.bin 99999999999999999999", 1)),
	} {
		if _, err := Parse([]byte(rec)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if _, err := Parse([]byte(reseal(body))); err != nil {
		t.Errorf("resealed good record: %v", err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	f.ReadAt(b, off)
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestVerify(t *testing.T) {
	size := int64(4 * ChunkSize)
	for name, tc := range map[string]struct {
		damage func(t *testing.T, dir string)
		file   string
		offset int64
	}{
		"intact":         {func(*testing.T, string) {}, "", 0},
		"memory flip":    {func(t *testing.T, d string) { flip(t, filepath.Join(d, "memory.bin"), 2*ChunkSize+5) }, "memory.bin", 2 * ChunkSize},
		"memory in hole": {func(t *testing.T, d string) { flip(t, filepath.Join(d, "memory.bin"), ChunkSize+5) }, "memory.bin", ChunkSize},
		"state flip":     {func(t *testing.T, d string) { flip(t, filepath.Join(d, "state.bin"), 3) }, "state.bin", 0},
		"manifest flip":  {func(t *testing.T, d string) { flip(t, filepath.Join(d, "manifest.bin"), 1) }, "manifest.bin", 0},
		"punched hole": {func(t *testing.T, d string) {
			f, _ := os.OpenFile(filepath.Join(d, "memory.bin"), os.O_RDWR, 0)
			defer f.Close()
			if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 2*ChunkSize, 4096); err != nil {
				t.Skip("no hole punching:", err)
			}
		}, "memory.bin", 2 * ChunkSize},
		"grown": {func(t *testing.T, d string) { os.Truncate(filepath.Join(d, "memory.bin"), size+4096) }, "memory.bin", 4 * ChunkSize},
		"shrunk": {func(t *testing.T, d string) {
			os.Truncate(filepath.Join(d, "memory.bin"), size-4096)
		}, "memory.bin", 3 * ChunkSize},
		"missing": {func(t *testing.T, d string) { os.Remove(filepath.Join(d, "state.bin")) }, "state.bin", 0},
	} {
		t.Run(name, func(t *testing.T) {
			dir := testSnap(t, size, []int64{0, 2 * ChunkSize, 3*ChunkSize + 4096}, nil)
			r, err := Make(int(dirfd(t, dir).Fd()), nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			res, err := Verify(int(dirfd(t, dir).Fd()), "x", r, &Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if tc.file == "" {
				if !res.Intact || res.MismatchCount != 0 || res.Problems() != nil {
					t.Fatalf("intact snapshot: %+v", res)
				}
				return
			}
			if res.Intact || res.MismatchCount != 1 || res.Mismatches[0].File != tc.file || res.Mismatches[0].Offset != tc.offset {
				t.Fatalf("%+v", res)
			}
			p := res.Problems()
			if len(p) != 1 || !strings.HasPrefix(p[0], tc.file+" differs from its digest") {
				t.Fatalf("problems %q", p)
			}
			if tc.file == "memory.bin" && !strings.Contains(p[0], "at offset ") {
				t.Errorf("problem %q names no offset", p[0])
			}
		})
	}
}

func TestResultStoreAndRead(t *testing.T) {
	dir := testSnap(t, ChunkSize, []int64{0}, nil)
	d := dirfd(t, dir)
	r, err := Make(int(d.Fd()), nil)
	if err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	unix.Stat(dir, &before)
	if err := WriteAt(d, RecordName, r.Encode(), nil); err != nil {
		t.Fatal(err)
	}
	var after unix.Stat_t
	unix.Stat(dir, &after)
	if after.Mtim != before.Mtim {
		t.Errorf("directory mtime changed: %v -> %v", before.Mtim, after.Mtim)
	}
	back, err := ReadRecord(int(d.Fd()))
	if err != nil || back.Files != r.Files {
		t.Fatalf("read back: %v", err)
	}
	if got, _ := ReadResult(int(d.Fd())); got != nil {
		t.Fatal("result before any verification")
	}
	flip(t, filepath.Join(dir, "memory.bin"), 100)
	res, err := Verify(int(d.Fd()), "x", back, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Store(d); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResult(int(d.Fd()))
	if err != nil || got.Intact || got.Problems()[0] != res.Problems()[0] {
		t.Fatalf("stored result %+v %v", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 5 {
		t.Errorf("directory holds %d entries (temporary files left?)", len(ents))
	}
}

// pages is the reference diff: every page of both files compared.
func pages(t *testing.T, a, b string, page int64) (n int64, ranges []Range) {
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	end := int64(max(len(x), len(y)))
	for off := int64(0); off < end; off += page {
		if bytes.Equal(window(x, off, page), window(y, off, page)) {
			continue
		}
		n++
		l := min(page, end-off)
		if k := len(ranges); k > 0 && ranges[k-1].Offset+ranges[k-1].Length == off {
			ranges[k-1].Length += l
		} else {
			ranges = append(ranges, Range{off, l})
		}
	}
	return n, ranges
}

func TestCompare(t *testing.T) {
	size := int64(6 * ChunkSize)
	data := []int64{0, 8192, ChunkSize + 4096, 4 * ChunkSize}
	for _, withRecords := range []bool{false, true} {
		a := testSnap(t, size, data, nil)
		b := testSnap(t, size, data, []snapshot.StateUnit{
			{Name: "pit", TypeURL: "type.googleapis.com/pit.Saved", Value: []byte{1, 2, 9}},
			{Name: "vmbus", TypeURL: "type.googleapis.com/vmbus.Saved", Value: []byte{7}}})
		flip(t, filepath.Join(b, "memory.bin"), 8192+17)
		flip(t, filepath.Join(b, "memory.bin"), 3*ChunkSize+4096*3) // in a hole of both
		flip(t, filepath.Join(b, "memory.bin"), 4*ChunkSize+4096)   // the page after data
		fa, fb := dirfd(t, a), dirfd(t, b)
		if withRecords {
			for _, f := range []*os.File{fa, fb} {
				r, err := Make(int(f.Fd()), nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := WriteAt(f, RecordName, r.Encode(), nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		d, err := Compare(int(fa.Fd()), int(fb.Fd()), &Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		wantN, wantR := pages(t, filepath.Join(a, "memory.bin"), filepath.Join(b, "memory.bin"), 4096)
		if d.Memory.ChangedPages != wantN || len(d.Memory.Ranges) != len(wantR) {
			t.Fatalf("records=%v: %d pages %v, want %d %v", withRecords, d.Memory.ChangedPages, d.Memory.Ranges, wantN, wantR)
		}
		for i := range wantR {
			if d.Memory.Ranges[i] != wantR[i] {
				t.Errorf("range %d: %v, want %v", i, d.Memory.Ranges[i], wantR[i])
			}
		}
		if want := map[bool]string{false: "read", true: "digests"}[withRecords]; d.Memory.Method != want {
			t.Errorf("method %s, want %s", d.Memory.Method, want)
		}
		u := d.Units
		if d.Identical || strings.Join(u.Added, ",") != "vmbus" || strings.Join(u.Removed, ",") != "rtc" || strings.Join(u.Changed, ",") != "pit" || !d.StateDiffers {
			t.Errorf("units %+v", d)
		}
		if len(d.Manifest) != 0 {
			t.Errorf("manifest %+v", d.Manifest)
		}
		same, err := Compare(int(fa.Fd()), int(fa.Fd()), nil)
		if err != nil || !same.Identical {
			t.Errorf("a snapshot differs from itself: %+v %v", same, err)
		}
	}
}

func TestCompareSizesAndManifest(t *testing.T) {
	a := testSnap(t, 2*ChunkSize, []int64{0}, nil)
	b := testSnap(t, 2*ChunkSize+8192, []int64{0, 2 * ChunkSize}, nil)
	d, err := Compare(int(dirfd(t, a).Fd()), int(dirfd(t, b).Fd()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Manifest) != 1 || d.Manifest[0].Field != "memory_size_bytes" || d.Manifest[0].A != "2097152" {
		t.Errorf("manifest %+v", d.Manifest)
	}
	if d.Memory.ChangedPages != 2 || len(d.Memory.Ranges) != 1 || d.Memory.Ranges[0] != (Range{2 * ChunkSize, 8192}) {
		t.Errorf("memory %+v", d.Memory)
	}
}

// upperFirstChunk writes the first chunk digest of a record body in upper
// case.
func upperFirstChunk(body string) string {
	i := strings.Index(body, "\ndata ")
	i += strings.Index(body[i+1:], "\n") + 2
	return body[:i] + strings.ToUpper(body[i:i+64]) + body[i+64:]
}
