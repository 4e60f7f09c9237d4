package integration

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// visible is how long a test waits before it expects a change to STORE
// to show under MNT (docs/tree.md: "within about a second").
const visible = 1100 * time.Millisecond

// memSize is the guest RAM size of the snapshots the tests build: big
// enough for holes, small enough to read whole.
const memSize = 16 << 20

// memChunks are the data regions of a test memory.bin; the rest is holes.
var memChunks = []int64{0, 8 << 20}

// created is the default created_at of a test snapshot.
var created = time.Date(2025, 11, 28, 15, 4, 5, 123456789, time.UTC)

// snapSpec describes a snapshot directory to write straight into STORE.
// Zero fields take sensible defaults that make a valid snapshot.
type snapSpec struct {
	Manifest      *snapshot.Manifest   // default: goodManifest(created)
	ManifestBytes []byte               // raw manifest.bin; overrides Manifest
	Units         []snapshot.StateUnit // default: the units of state-basic.bin
	StateBytes    []byte               // raw state.bin; overrides Units
	NoState       bool                 // leave state.bin out
	NoMemory      bool                 // leave memory.bin out
	MemSize       int64                // memory.bin length; default the manifest's
	MemMtime      time.Time            // default: the manifest's created_at
}

// goodManifest is a valid manifest created at t.
func goodManifest(t time.Time) *snapshot.Manifest {
	return &snapshot.Manifest{
		Version:         1,
		CreatedAt:       snapshot.Timestamp{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())},
		OpenVMMVersion:  "0.1.0",
		MemorySizeBytes: memSize,
		VPCount:         2,
		PageSize:        4096,
		Architecture:    "x86_64",
	}
}

// vector is one entry of vectors.json.
type vector struct {
	File  string          `json:"file"`
	Kind  string          `json:"kind"`
	Hex   string          `json:"hex"`
	JSON  json.RawMessage `json:"json"`
	Error string          `json:"error"`
	Units []struct {
		Name     string `json:"name"`
		TypeURL  string `json:"type_url"`
		ValueHex string `json:"value_hex"`
	} `json:"units"`
}

// vectors reads the golden vectors.
func vectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(vectorPath("vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// vectorPath names a vector file.
func vectorPath(name string) string { return testdata(name) }

// basicUnits are the units of state-basic.bin.
func basicUnits(t testing.TB) []snapshot.StateUnit {
	t.Helper()
	for _, v := range vectors(t) {
		if v.File != "state-basic.bin" {
			continue
		}
		var out []snapshot.StateUnit
		for _, u := range v.Units {
			val, err := hex.DecodeString(u.ValueHex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, snapshot.StateUnit{Name: u.Name, TypeURL: u.TypeURL, Value: val})
		}
		return out
	}
	t.Fatal("state-basic.bin not in vectors.json")
	return nil
}

// makeSnap writes the snapshot directory store/name by hand and returns
// its path. memory.bin is sparse: data at memChunks, holes elsewhere.
func makeSnap(t testing.TB, store, name string, s snapSpec) string {
	t.Helper()
	dir := filepath.Join(store, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := s.Manifest
	if m == nil {
		m = goodManifest(created)
	}
	mb := s.ManifestBytes
	if mb == nil {
		mb = m.Encode()
	}
	writeFile(t, filepath.Join(dir, "manifest.bin"), mb)
	if !s.NoState {
		sb := s.StateBytes
		if sb == nil {
			units := s.Units
			if units == nil {
				units = basicUnits(t)
			}
			sb = snapshot.EncodeState(units)
		}
		writeFile(t, filepath.Join(dir, "state.bin"), sb)
	}
	if !s.NoMemory {
		size := s.MemSize
		if size == 0 {
			size = int64(m.MemorySizeBytes)
		}
		writeSparse(t, filepath.Join(dir, "memory.bin"), size)
		mt := s.MemMtime
		if mt.IsZero() {
			mt = m.CreatedAt.Time()
		}
		if err := os.Chtimes(filepath.Join(dir, "memory.bin"), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// memPattern is the data written at off in a test memory.bin.
func memPattern(off int64) []byte {
	return bytes.Repeat([]byte{byte(off>>20) + 1, 0xA5, 0x5A, byte(off >> 12)}, 1024)
}

// writeSparse creates a file of size bytes with 4 KiB of data at each of
// memChunks that fits and holes elsewhere.
func writeSparse(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range memChunks {
		p := memPattern(off)
		if off+int64(len(p)) > size {
			continue
		}
		if _, err := f.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
}

// read reads a file or fails the test.
func read(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// names lists a directory, sorted.
func names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name()
	}
	slices.Sort(out)
	return out
}

// wantNames fails unless dir lists exactly want (in any order).
func wantNames(t testing.TB, dir string, want ...string) {
	t.Helper()
	want = slices.Clone(want)
	slices.Sort(want)
	if got := names(t, dir); !slices.Equal(got, want) {
		t.Errorf("ls %s = %q, want %q", dir, got, want)
	}
}

// wantAbsent fails unless path does not exist (lstat gives ENOENT).
func wantAbsent(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lstat %s: %v, want ENOENT", path, err)
	}
}

// lstat returns the unix stat of path.
func lstat(t testing.TB, path string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", path, err)
	}
	return &st
}

// statusLines reads MNT/<name>/status as lines (the trailing newline
// required).
func statusLines(t testing.TB, d *daemon, name string) []string {
	t.Helper()
	b := read(t, d.Path(name, "status"))
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("%s/status %q does not end in a newline", name, b)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// readlink reads a symlink or fails.
func readlink(t testing.TB, path string) string {
	t.Helper()
	s, err := os.Readlink(path)
	if err != nil {
		t.Fatalf("readlink %s: %v", path, err)
	}
	return s
}

// withTimeout runs f, failing the test (instead of hanging the suite)
// when it does not return within a generous bound. It guards against
// hangs only; it measures nothing.
func withTimeout(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s hung (no answer in 30s)", what)
	}
}
