package digest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMakeRecord(t *testing.T) {
	dir := testSnap(t, 3*ChunkSize, []int64{0, 2*ChunkSize + 4096}, nil)
	d := dirfd(t, dir)
	rec, result := filepath.Join(dir, RecordName), filepath.Join(dir, ResultName)

	made, err := MakeRecord(d, false, nil)
	if err != nil || !made {
		t.Fatalf("MakeRecord = %v, %v; want a record made", made, err)
	}
	want, err := Make(int(d.Fd()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadRecord(int(d.Fd())); err != nil || string(got.Encode()) != string(want.Encode()) {
		t.Fatalf("ReadRecord after MakeRecord = %v; want the record Make makes", err)
	}

	// A record present is kept, whatever it says, and so is the result.
	if err := os.WriteFile(rec, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(result, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if made, err := MakeRecord(d, false, nil); err != nil || made {
		t.Fatalf("MakeRecord with a record = %v, %v; want nothing made", made, err)
	}
	if b, _ := os.ReadFile(rec); string(b) != "kept\n" {
		t.Errorf("record = %q after MakeRecord without force; want it kept", b)
	}
	if _, err := os.Stat(result); err != nil {
		t.Errorf("verification result gone without force: %v", err)
	}

	// Forced: made again, and the last verification forgotten.
	if made, err := MakeRecord(d, true, nil); err != nil || !made {
		t.Fatalf("MakeRecord forced = %v, %v; want a record made", made, err)
	}
	if got, err := ReadRecord(int(d.Fd())); err != nil || string(got.Encode()) != string(want.Encode()) {
		t.Errorf("ReadRecord after a forced MakeRecord = %v; want the record Make makes", err)
	}
	if _, err := os.Stat(result); !os.IsNotExist(err) {
		t.Errorf("verification result after a forced MakeRecord: %v; want it removed", err)
	}
	if made, err := MakeRecord(d, true, nil); err != nil || !made {
		t.Errorf("MakeRecord forced without a result = %v, %v; want a record made", made, err)
	}

	// A snapshot that cannot be hashed gets no record.
	if err := os.Remove(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "memory.bin")); err != nil {
		t.Fatal(err)
	}
	if made, err := MakeRecord(d, false, nil); err == nil || made {
		t.Errorf("MakeRecord without memory.bin = %v, %v; want an error", made, err)
	}
	if _, err := os.Lstat(rec); !os.IsNotExist(err) {
		t.Errorf("record after a failed MakeRecord: %v; want none", err)
	}
}
