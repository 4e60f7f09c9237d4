package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The bounds docs/format.md names, each at its edge: what is within it
// decodes, what passes it is an error that says so.

func TestLimitUnits(t *testing.T) {
	one := EncodeState([]StateUnit{{}}) // an empty unit: 2 bytes
	b := bytes.Repeat(one, MaxUnits)
	if x, err := IndexState(bytes.NewReader(b), int64(len(b))); err != nil || len(x.Units) != MaxUnits {
		t.Fatalf("%d units: %v", MaxUnits, err)
	}
	b = append(b, one...)
	_, err := IndexState(bytes.NewReader(b), int64(len(b)))
	if err == nil || !strings.Contains(err.Error(), "more than 65536 units") {
		t.Errorf("%d units: %v, want more than 65536 units", MaxUnits+1, err)
	}
}

func TestLimitUnitString(t *testing.T) {
	for _, c := range []struct {
		name, url string
		what      string
	}{
		{strings.Repeat("n", 64<<10+1), "t", "name"},
		{"n", strings.Repeat("u", 64<<10+1), "type_url"},
	} {
		b := EncodeState([]StateUnit{{Name: c.name, TypeURL: c.url}})
		_, err := IndexState(bytes.NewReader(b), int64(len(b)))
		if err == nil || !strings.Contains(err.Error(), c.what+" is too long (65537 bytes, limit 65536)") {
			t.Errorf("a %s of 65537 bytes: %v", c.what, err)
		}
	}
	b := EncodeState([]StateUnit{{Name: strings.Repeat("n", 64<<10), TypeURL: strings.Repeat("u", 64<<10)}})
	if _, err := IndexState(bytes.NewReader(b), int64(len(b))); err != nil {
		t.Errorf("a name and type URL of 64 KiB: %v", err)
	}
}

func TestLimitProblems(t *testing.T) {
	var units []Unit
	for i := 0; i < 20; i++ {
		units = append(units, Unit{Name: ""})
	}
	got := (&StateIndex{Units: units}).Problems()
	if len(got) != 17 || got[15] != "unit name is empty (unit #16)" || got[16] != "4 more unit name problems" {
		t.Errorf("Problems of 20 empty names = %q", got)
	}
}

func TestLimitManifestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "manifest.bin")
	// A valid manifest padded with an unknown field to exactly 1 MiB reads;
	// one byte more does not.
	m := (&Manifest{Version: 1}).Encode()
	pad := MaxManifestSize - len(m) - 1 - 4 // tag, 4-byte length
	m = protowire.AppendTag(m, 9, protowire.BytesType)
	m = append(m, byte(pad)|0x80, byte(pad>>7)|0x80, byte(pad>>14)|0x80, byte(pad>>21))
	m = append(m, make([]byte, pad)...)
	if len(m) != MaxManifestSize {
		t.Fatalf("test manifest is %d bytes", len(m))
	}
	os.WriteFile(p, m, 0o644)
	if b, err := ReadManifestFile(p); err != nil || len(b) != MaxManifestSize {
		t.Fatalf("1 MiB manifest.bin: %d bytes, %v", len(b), err)
	}
	if _, err := DecodeManifest(m); err != nil {
		t.Errorf("1 MiB manifest.bin: %v", err)
	}
	os.WriteFile(p, append(m, 0), 0o644)
	if _, err := ReadManifestFile(p); err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
		t.Errorf("1 MiB + 1 manifest.bin: %v", err)
	}
}
