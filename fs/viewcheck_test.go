package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

func openTestDir(t *testing.T, p string) *os.File {
	t.Helper()
	d, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A sha256sums of many lines is refused as it is: were any file hashed,
// the missing snapshot files would be findings too.
func TestCheckSumsManyLinesRefusedUnhashed(t *testing.T) {
	p := t.TempDir()
	line := strings.Repeat("0", 64) + "  memory.bin\n"
	if err := os.WriteFile(filepath.Join(p, sumsFile), []byte(strings.Repeat(line, 10000)), 0o644); err != nil {
		t.Fatal(err)
	}
	got := checkSums(openTestDir(t, p))
	if len(got) != 1 || !strings.Contains(got[0], sumsFile) {
		t.Fatalf("findings %q, want one naming %s", got, sumsFile)
	}
}

func TestCheckSumsDuplicateLineRefusedUnhashed(t *testing.T) {
	p := t.TempDir()
	z := strings.Repeat("0", 64)
	b := z + "  memory.bin\n" + z + "  memory.bin\n" + z + "  state.bin\n"
	if err := os.WriteFile(filepath.Join(p, sumsFile), []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	got := checkSums(openTestDir(t, p))
	if len(got) != 1 || !strings.Contains(got[0], "second line for memory.bin") {
		t.Fatalf("findings %q, want one about the second memory.bin line", got)
	}
}

// A unit whose declared length is huge (a sparse state.bin) is compared
// without allocating its length.
func TestCheckUnitHugeDeclaredLength(t *testing.T) {
	p := t.TempDir()
	st, err := os.Create(filepath.Join(p, "state.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Truncate(1 << 40); err != nil {
		t.Fatal(err)
	}
	ud := filepath.Join(p, "unit")
	os.Mkdir(ud, 0o755)
	for _, f := range []string{"value.bin", "value.txt"} {
		if err := os.WriteFile(filepath.Join(ud, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u := &snapshot.Unit{Name: "u", ValueOff: 0, ValueLen: 1 << 40}
	got := checkUnit(openTestDir(t, ud), "state/u", u, st)
	if len(got) != 2 {
		t.Fatalf("findings %q, want two", got)
	}
	for _, g := range got {
		if !strings.Contains(g, "differs") && !strings.Contains(g, "more than") {
			t.Errorf("finding %q says neither differs nor more than", g)
		}
	}
}

// A written-back value.bin equal to the unit passes; one byte off does not.
func TestCheckUnitValueBinChunks(t *testing.T) {
	p := t.TempDir()
	val := make([]byte, 3*compareChunk+7)
	for i := range val {
		val[i] = byte(i * 7)
	}
	st, err := os.Create(filepath.Join(p, "state.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write([]byte("head"))
	st.Write(val)
	ud := filepath.Join(p, "unit")
	os.Mkdir(ud, 0o755)
	u := &snapshot.Unit{Name: "u", ValueOff: 4, ValueLen: int64(len(val))}
	os.WriteFile(filepath.Join(ud, "value.bin"), val, 0o644)
	if got := checkUnit(openTestDir(t, ud), "state/u", u, st); len(got) != 0 {
		t.Fatalf("equal value.bin: findings %q", got)
	}
	val[len(val)-1]++
	os.WriteFile(filepath.Join(ud, "value.bin"), val, 0o644)
	if got := checkUnit(openTestDir(t, ud), "state/u", u, st); len(got) != 1 || !strings.Contains(got[0], "differs") {
		t.Fatalf("changed value.bin: findings %q", got)
	}
}
