package snapshot

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func sampleManifest() *Manifest {
	return &Manifest{
		Version: 1, CreatedAt: Timestamp{1764342245, 123456789}, OpenVMMVersion: "0.1.0",
		MemorySizeBytes: 4 << 30, VPCount: 4, PageSize: 4096, Architecture: "x86_64",
	}
}

func TestDecodeManifestErrors(t *testing.T) {
	good := sampleManifest().Encode()
	tests := []struct {
		name, hex, want string
	}{
		{"truncated varint", "08", "truncated"},
		{"truncated tag", "80", "truncated"},
		{"truncated string", "1a05302e31", "truncated"},
		{"wrong type vp_count", "2a0100", "field 5 (vp_count): wrong wire type 2"},
		{"wrong type version", "0d00000000", "field 1 (version): wrong wire type 5"},
		{"wrong type created_at", "1001", "field 2 (created_at): wrong wire type 0"},
		{"wrong type architecture", "3801", "field 7 (architecture): wrong wire type 0"},
		{"wrong type in timestamp", "12020a00", "field 2 (created_at): field 1 (seconds): wrong wire type 2"},
		{"truncated timestamp", "12030880", "truncated"},
		{"timestamp inner truncated", "12020880", "field 2 (created_at): field 1 (seconds): truncated"},
		{"field zero", "0001", "invalid field number"},
		{"bad utf8", "3a01ff", "field 7 (architecture): invalid UTF-8"},
		{"huge length", "1a" + "ffffffffffffffff0f", "truncated"},
		{"truncated unknown", "4a05ab", "unknown field 9"},
	}
	for _, tt := range tests {
		b, _ := hex.DecodeString(tt.hex)
		_, err := DecodeManifest(b)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	for i := 0; i < len(good); i++ {
		if _, err := DecodeManifest(good[:i]); err == nil && i > 0 && !prefixIsFieldBoundary(good, i) {
			t.Errorf("prefix of %d bytes decoded", i)
		}
	}
}

// prefixIsFieldBoundary reports whether good[:i] ends between fields, where
// a shorter manifest is legitimately valid.
func prefixIsFieldBoundary(good []byte, i int) bool {
	for _, end := range []int{2, 15, 22, 28, 30, 33, 41} { // field ends of sampleManifest
		if i == end {
			return true
		}
	}
	return false
}

func TestDecodeHugeLengthDoesNotAllocate(t *testing.T) {
	// Field 3 claiming 2^60 bytes.
	b := []byte{0x1a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeManifest(b); err == nil {
			t.Fatal("decoded")
		}
	})
	if allocs > 10 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestDecodeMerges(t *testing.T) {
	// version twice (last wins), created_at in two parts (merged), an
	// unknown varint field, a version above 2^32 (truncated like mesh).
	b, _ := hex.DecodeString("0802" + "0801" + "12020805" + "12021007" + "5801" + "2080808080f0ffffffff01")
	m, err := DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.CreatedAt != (Timestamp{5, 7}) || !bytes.Equal(m.Unknown, []byte{0x58, 0x01}) {
		t.Errorf("got %+v", m)
	}
	b, _ = hex.DecodeString("2880808080f0ffffffff01") // vp_count 0xffffffff00000000 truncates to 0
	if m, err = DecodeManifest(b); err != nil || m.VPCount != 0 {
		t.Errorf("vp_count = %d, %v", m.VPCount, err)
	}
}

func TestEncodeRules(t *testing.T) {
	if got := (&Manifest{}).Encode(); len(got) != 0 {
		t.Errorf("zero manifest encodes to %x", got)
	}
	m := &Manifest{Version: 1, CreatedAt: Timestamp{-1, -1}}
	want := "0801" + "1216" + "08ffffffffffffffffff01" + "10ffffffffffffffffff01"
	if got := hex.EncodeToString(m.Encode()); got != want {
		t.Errorf("negative timestamp: %s, want %s", got, want)
	}
	m = &Manifest{CreatedAt: Timestamp{0, 5}}
	if got := hex.EncodeToString(m.Encode()); got != "12021005" {
		t.Errorf("nanos only: %s", got)
	}
	m = sampleManifest()
	m.Unknown = []byte{0x40, 0x07}
	if bytes.Contains(m.Encode(), []byte{0x40, 0x07}) {
		t.Error("Unknown was encoded")
	}
}

func TestTimestamp(t *testing.T) {
	if got := (Timestamp{}).RFC3339(); got != "1970-01-01T00:00:00Z" {
		t.Errorf("zero: %s", got)
	}
	if got := (Timestamp{1764342245, 120000000}).RFC3339(); got != "2025-11-28T15:04:05.12Z" {
		t.Errorf("got %s", got)
	}
	if (Timestamp{0, 1}).IsZero() || !(Timestamp{}).IsZero() {
		t.Error("IsZero")
	}
	if loc := (Timestamp{1, 0}).Time().Location(); loc != time.UTC {
		t.Errorf("location %v", loc)
	}
}

func TestField(t *testing.T) {
	m := sampleManifest()
	m.MemorySizeBytes = 1<<64 - 1
	for name, want := range map[string]string{
		"version": "1\n", "created_at": "2025-11-28T15:04:05.123456789Z\n", "openvmm_version": "0.1.0\n",
		"memory_size_bytes": "18446744073709551615\n", "vp_count": "4\n", "page_size": "4096\n", "architecture": "x86_64\n",
	} {
		if got, ok := m.Field(name); !ok || string(got) != want {
			t.Errorf("Field(%s) = %q, %v", name, got, ok)
		}
	}
	if _, ok := m.Field("nope"); ok {
		t.Error("unknown field ok")
	}
	if !strings.Contains(string(m.JSON()), `"memory_size_bytes": 18446744073709551615,`) {
		t.Errorf("JSON lost precision:\n%s", m.JSON())
	}
}

func TestParseManifestJSON(t *testing.T) {
	m := sampleManifest()
	m.MemorySizeBytes = 1<<53 + 1
	m.OpenVMMVersion = "a \"quoted\" <b> \u00e9\n"
	got, has, err := ParseManifestJSON(m.JSON())
	if err != nil || !has || !got.equal(m) {
		t.Fatalf("round trip: %+v %v %v", got, has, err)
	}
	got, has, err = ParseManifestJSON([]byte(`{"version": 1, "created_at": "2025-11-28T16:04:05+01:00"}`))
	if err != nil || !has || got.CreatedAt != (Timestamp{1764342245, 0}) {
		t.Errorf("offset time: %+v %v %v", got, has, err)
	}
	if _, has, err = ParseManifestJSON([]byte(` {"vp_count": 2} `)); err != nil || has {
		t.Errorf("no created_at: %v %v", has, err)
	}
	for _, tt := range []struct{ in, want string }{
		{`{"vp_count": "4"}`, `"vp_count": "4" is not an integer`},
		{`{"vp_count": -1}`, `"vp_count": -1 is not an integer`},
		{`{"vp_count": 1.5}`, `"vp_count": 1.5 is not an integer`},
		{`{"vp_count": 1e3}`, `1e3 is not an integer`},
		{`{"vp_count": 4294967296}`, `"vp_count": 4294967296 is not an integer from 0 to 4294967295`},
		{`{"memory_size_bytes": 18446744073709551616}`, `18446744073709551616 is not an integer`},
		{`{"vp_count": null}`, `"vp_count": null is not an integer`},
		{`{"vp_count": true}`, `"vp_count": true is not an integer`},
		{`{"architecture": 5}`, `"architecture": 5 is not a string`},
		{`{"architecture": {}}`, `"architecture": { is not a string`},
		{`{"created_at": "yesterday"}`, `"created_at": invalid RFC 3339 time "yesterday"`},
		{`{"colour": "red"}`, `"colour": unknown key`},
		{`{"vp_count": 1, "vp_count": 2}`, `duplicate key "vp_count"`},
		{`{"vp_count": 1} x`, `trailing data`},
		{`{"vp_count": 1} {}`, `trailing data`},
		{`{"vp_count": 1`, `manifest.json`},
		{`{"vp_count" 1}`, `manifest.json`},
		{`[1]`, `expected "{"`},
		{``, `manifest.json`},
	} {
		_, _, err := ParseManifestJSON([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestRestoreCheck(t *testing.T) {
	m := sampleManifest()
	if err := RestoreCheck(m, "x86_64", 4<<30, 4, 4096); err != nil {
		t.Error(err)
	}
	if err := RestoreCheck(m, "", 0, 0, 0); err != nil {
		t.Error(err)
	}
	for _, tt := range []struct {
		arch     string
		mem      uint64
		vp, page uint32
		version  uint32
		want     string
	}{
		{"aarch64", 0, 0, 0, 1, "snapshot architecture 'x86_64' doesn't match expected 'aarch64'"},
		{"", 1024, 0, 0, 1, "snapshot memory size (4294967296 bytes) doesn't match expected (1024 bytes)"},
		{"", 0, 2, 0, 1, "snapshot VP count (4) doesn't match expected (2)"},
		{"", 0, 0, 65536, 1, "snapshot page size (4096) doesn't match expected (65536)"},
		{"aarch64", 1, 1, 1, 2, "snapshot manifest version 2 is not supported (expected 1)"},
		{"x86_64", 1, 1, 1, 1, "snapshot memory size"}, // first mismatch wins
	} {
		mm := *m
		mm.Version = tt.version
		err := RestoreCheck(&mm, tt.arch, tt.mem, tt.vp, tt.page)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: %v", tt, err)
		}
	}
}
