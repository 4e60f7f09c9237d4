package snapshot

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goodInput is a CheckInput for a valid snapshot.
func goodInput() CheckInput {
	m := sampleManifest()
	return CheckInput{
		ManifestBytes: m.Encode(),
		State:         &StateIndex{Units: []Unit{{Name: "pit"}, {Name: "rtc"}}},
		MemorySize:    int64(m.MemorySizeBytes),
		MemoryMtime:   m.CreatedAt.Time().Add(time.Second),
	}
}

// withManifest returns goodInput with the manifest changed by f and
// memory.bin sized to match.
func withManifest(f func(*Manifest)) CheckInput {
	in := goodInput()
	m := sampleManifest()
	f(m)
	in.ManifestBytes = m.Encode()
	in.MemorySize = int64(m.MemorySizeBytes)
	return in
}

func TestCheckOK(t *testing.T) {
	r := Check(goodInput())
	if string(r.Text()) != "ok\n" || !r.Valid() || r.Manifest == nil || r.State == nil {
		t.Errorf("report %q %+v", r.Text(), r)
	}
}

func TestCheckFindings(t *testing.T) {
	tests := []struct {
		name string
		in   CheckInput
		want string // the whole status text
	}{
		{"manifest missing", func() CheckInput { in := goodInput(); in.ManifestErr = fs.ErrNotExist; return in }(),
			"error: manifest.bin is missing\n"},
		{"manifest undecodable", func() CheckInput { in := goodInput(); in.ManifestBytes = []byte{0x08}; return in }(),
			"error: failed to decode snapshot manifest: offset 0: field 1 (version): truncated input\n"},
		{"version", withManifest(func(m *Manifest) { m.Version = 2 }),
			"error: snapshot manifest version 2 is not supported (expected 1)\n"},
		{"architecture", withManifest(func(m *Manifest) { m.Architecture = "riscv" }),
			"error: manifest.bin: architecture \"riscv\" is not x86_64 or aarch64\n"},
		{"page size", withManifest(func(m *Manifest) { m.PageSize = 3000; m.MemorySizeBytes = 3000 }),
			"error: manifest.bin: page_size 3000 is not a power of two >= 4096\n"},
		{"small page size", withManifest(func(m *Manifest) { m.PageSize = 2048 }),
			"error: manifest.bin: page_size 2048 is not a power of two >= 4096\n"},
		{"vp count", withManifest(func(m *Manifest) { m.VPCount = 0 }),
			"error: manifest.bin: vp_count 0 is not >= 1\n"},
		{"memory zero", withManifest(func(m *Manifest) { m.MemorySizeBytes = 0 }),
			"error: manifest.bin: memory_size_bytes 0 is not > 0\n"},
		{"memory multiple", withManifest(func(m *Manifest) { m.MemorySizeBytes = 5000 }),
			"error: manifest.bin: memory_size_bytes 5000 is not a multiple of page_size 4096\n"},
		{"nanos", withManifest(func(m *Manifest) { m.CreatedAt.Nanos = 1e9 }),
			"error: manifest.bin: created_at nanos 1000000000 is not in [0, 999999999]\n"},
		{"negative nanos", withManifest(func(m *Manifest) { m.CreatedAt.Nanos = -1 }),
			"error: manifest.bin: created_at nanos -1 is not in [0, 999999999]\n"},
		{"seconds", withManifest(func(m *Manifest) { m.CreatedAt.Seconds = maxTimestampSeconds + 1 }),
			"error: manifest.bin: created_at seconds 253402300800 is outside years 0001 to 9999\n"},
		{"future", func() CheckInput {
			in := goodInput()
			m := sampleManifest()
			in.Now = m.CreatedAt.Time().Add(-MaxClockSkew - time.Second)
			return in
		}(),
			"error: manifest.bin: created_at 2025-11-28T15:04:05.123456789Z is later than the allowed maximum 2025-11-28T15:04:04Z (now plus 5m0s): a snapshot cannot be taken in the future; set created_at to when it was taken, or leave it out to get the moment of publishing\n"},
		{"skew allowed", func() CheckInput {
			in := goodInput()
			in.Now = sampleManifest().CreatedAt.Time().Add(-MaxClockSkew + time.Second)
			return in
		}(), "ok\n"},
		{"state missing", func() CheckInput { in := goodInput(); in.State, in.StateErr = nil, fs.ErrNotExist; return in }(),
			"error: state.bin is missing\n"},
		{"state undecodable", func() CheckInput {
			in := goodInput()
			in.State, in.StateErr = nil, errors.New("offset 0: field 1: truncated input")
			return in
		}(),
			"error: failed to decode saved state from snapshot: offset 0: field 1: truncated input\n"},
		{"unit names", func() CheckInput {
			in := goodInput()
			in.State = &StateIndex{Units: []Unit{{Name: "pit"}, {Name: ""}, {Name: "pit"}}}
			return in
		}(),
			"error: state.bin: unit name is empty (unit #2)\nerror: state.bin: duplicate unit name \"pit\"\n"},
		{"memory missing", func() CheckInput { in := goodInput(); in.MemoryErr = fs.ErrNotExist; return in }(),
			"error: memory.bin is missing\n"},
		{"memory size", func() CheckInput { in := goodInput(); in.MemorySize = 4096; return in }(),
			"error: memory.bin size (4096 bytes) doesn't match manifest (4294967296 bytes)\n"},
		{"created_at unset", withManifest(func(m *Manifest) { m.CreatedAt = Timestamp{} }),
			"warning: manifest.bin: created_at is not set\n"},
		{"memory modified", func() CheckInput {
			in := goodInput()
			in.MemoryMtime = sampleManifest().CreatedAt.Time().Add(time.Hour)
			return in
		}(),
			"warning: memory.bin modified after created_at (mtime 2025-11-28T16:04:05.123456789Z, created_at 2025-11-28T15:04:05.123456789Z): the snapshot was probably restored and run\n"},
		{"memory shared", func() CheckInput { in := goodInput(); in.MemorySharedWith = "vm0"; return in }(),
			"warning: memory.bin is the same file as snapshot \"vm0\"'s memory.bin\n"},
		{"everything missing", CheckInput{ManifestErr: fs.ErrNotExist, StateErr: fs.ErrNotExist, MemoryErr: fs.ErrNotExist},
			"error: manifest.bin is missing\nerror: state.bin is missing\nerror: memory.bin is missing\n"},
	}
	for _, tt := range tests {
		r := Check(tt.in)
		if got := string(r.Text()); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		if valid := !strings.Contains(tt.want, "error:"); r.Valid() != valid {
			t.Errorf("%s: Valid() = %v", tt.name, r.Valid())
		}
	}
}

func TestCheckMtimeSlack(t *testing.T) {
	in := goodInput()
	in.MemoryMtime = sampleManifest().CreatedAt.Time().Add(2 * time.Second)
	if r := Check(in); len(r.Findings) != 0 {
		t.Errorf("2s late: %q", r.Text())
	}
	in = withManifest(func(m *Manifest) { m.CreatedAt = Timestamp{} })
	in.MemoryMtime = time.Now()
	if r := Check(in); len(r.Findings) != 1 {
		t.Errorf("unset created_at: %q", r.Text())
	}
}

func TestCheckDir(t *testing.T) {
	store := t.TempDir()
	m := sampleManifest()
	m.MemorySizeBytes = 8192
	m.CreatedAt = timestampOf(time.Now().Add(time.Minute))
	mem := filepath.Join(store, "mem")
	if err := os.WriteFile(mem, make([]byte, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	state := EncodeState([]StateUnit{{"pit", "type.googleapis.com/chipset.pit.SavedState", []byte{8, 3}}})
	vm1 := filepath.Join(store, "vm1")
	if err := WriteSnapshot(vm1, m, state, mem); err != nil {
		t.Fatal(err)
	}
	// The backing file still links memory.bin, but it is no snapshot.
	if r := CheckDir(vm1); string(r.Text()) != "ok\n" {
		t.Errorf("vm1: %q", r.Text())
	}
	if err := os.Remove(mem); err != nil {
		t.Fatal(err)
	}
	if r := CheckDir(vm1); string(r.Text()) != "ok\n" || len(r.State.Units) != 1 {
		t.Errorf("vm1: %q", r.Text())
	}
	vm2 := filepath.Join(store, "vm2")
	if err := WriteSnapshot(vm2, m, state, filepath.Join(vm1, "memory.bin")); err != nil {
		t.Fatal(err)
	}
	if got := string(CheckDir(vm2).Text()); got != "warning: memory.bin is the same file as snapshot \"vm1\"'s memory.bin\n" {
		t.Errorf("vm2: %q", got)
	}
	if got := string(CheckDir(filepath.Join(store, "nope")).Text()); got !=
		"error: manifest.bin is missing\nerror: state.bin is missing\nerror: memory.bin is missing\n" {
		t.Errorf("missing dir: %q", got)
	}
	if err := os.WriteFile(filepath.Join(vm2, "state.bin"), []byte{0x0a}, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := string(CheckDir(vm2).Text()); !strings.HasPrefix(got, "error: failed to decode saved state from snapshot: offset 0: field 1: length: truncated input\n") {
		t.Errorf("bad state: %q", got)
	}
}
