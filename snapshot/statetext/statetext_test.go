package statetext

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// vector is one entry of testdata/openvmm/schema/vectors.json.
type vector struct {
	Unit      string          `json:"unit"`
	TypeURL   string          `json:"type_url"`
	ValueHex  string          `json:"value_hex"`
	JSON      json.RawMessage `json:"json"`
	DecodeRaw *string         `json:"decode_raw"`
}

const openvmmSchema = "../testdata/openvmm/schema"

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(openvmmSchema, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func (v *vector) value(t testing.TB) []byte {
	b, err := hex.DecodeString(v.ValueHex)
	if err != nil {
		t.Fatalf("%s: %v", v.Unit, err)
	}
	return b
}

// sameJSON compares two JSON texts as values.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: got\n%s\nwant\n%s", what, got, want)
	}
}

func TestVectorsDecodeRaw(t *testing.T) {
	for _, v := range loadVectors(t) {
		got, err := DecodeRaw(v.value(t))
		if v.DecodeRaw == nil {
			if !errors.Is(err, ErrNotMessage) {
				t.Errorf("%s: got %q, %v; want ErrNotMessage", v.Unit, got, err)
			}
			continue
		}
		if err != nil || string(got) != *v.DecodeRaw {
			t.Errorf("%s: got %q, %v; want %q", v.Unit, got, err, *v.DecodeRaw)
		}
	}
}

func TestVectorsJSON(t *testing.T) {
	s, err := LoadSchema(openvmmSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range loadVectors(t) {
		got, err := s.JSON(v.TypeURL, v.value(t))
		if string(v.JSON) == "null" {
			if err == nil {
				t.Errorf("%s: got %s, want no JSON", v.Unit, got)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", v.Unit, err)
		}
		if !bytes.HasSuffix(got, []byte("}\n")) || bytes.Contains(got, []byte(":  ")) {
			t.Errorf("%s: not indented with a final newline: %q", v.Unit, got)
		}
		sameJSON(t, v.Unit, got, v.JSON)
	}
}

func TestUnknownType(t *testing.T) {
	s, err := LoadSchema(openvmmSchema)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"type.googleapis.com/pit.SavedState", "", "type.googleapis.com/", "x/1bad..name"} {
		if _, err := s.JSON(u, nil); !errors.Is(err, ErrUnknownType) {
			t.Errorf("%q: %v, want ErrUnknownType", u, err)
		}
	}
}

// Encoding helpers for the constructs test.
func tagged(num protowire.Number, typ protowire.Type) []byte {
	return protowire.AppendTag(nil, num, typ)
}

func ld(num protowire.Number, parts ...[]byte) []byte {
	return protowire.AppendBytes(tagged(num, protowire.BytesType), bytes.Join(parts, nil))
}

func vi(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(tagged(num, protowire.VarintType), v)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestConstructs covers what OpenVMM's schemas use: cross-package names,
// nested messages, oneof, map, optional, packed repeated, enums and the
// well-known types Empty, UInt32Value and Any.
func TestConstructs(t *testing.T) {
	s, err := LoadSchema("testdata/schema")
	if err != nil {
		t.Fatal(err)
	}
	f32 := protowire.AppendFixed32(tagged(4, protowire.Fixed32Type), math.Float32bits(0.5))
	timer := cat(vi(1, 1), vi(2, 1<<40), ld(3, []byte("t0")), f32)
	port := cat(protowire.AppendFixed32(tagged(1, protowire.Fixed32Type), 0x3f8),
		protowire.AppendFixed64(tagged(2, protowire.Fixed64Type), uint64(math.MaxUint64-7)),
		ld(3, protowire.AppendVarint(protowire.AppendVarint(nil, protowire.EncodeZigZag(-1)), protowire.EncodeZigZag(2))))
	anyv := cat(ld(1, []byte("type.googleapis.com/pit.Timer")), ld(2, vi(1, 3)))
	ratio := protowire.AppendFixed64(tagged(8, protowire.Fixed64Type), math.Float64bits(1.5))
	counters := ld(9, protowire.AppendVarint(protowire.AppendVarint(nil, 1), 1<<63))
	full := cat(ld(1, timer), ld(1), vi(2, 0), ld(3, ld(1, []byte("com1")), ld(2, port)),
		ld(5, vi(1, 7)), ld(6, anyv), vi(7, 1), ratio, counters,
		ld(10, vi(1, uint64(math.MaxUint64-4)), ld(2, []byte{1, 2})),
		ld(11, vi(1, 1), ld(2, vi(1, 9))))
	cases := []struct {
		name  string
		value []byte
		want  string // "" when the value must not decode
	}{
		{"full", full, `{
  "timers": [{"channel": 1, "count": "1099511627776", "name": "t0", "rate": 0.5}, {}],
  "irq": 0,
  "ports": {"com1": {"base": 1016, "offset": "-8", "deltas": [-1, 2]}},
  "apic": 7,
  "extra": {"@type": "type.googleapis.com/pit.Timer", "channel": 3},
  "level": "LEVEL_HIGH",
  "ratio": 1.5,
  "counters": ["1", "9223372036854775808"],
  "blobs": {"-5": "AQI="},
  "flags": {"true": {"channel": 9}}
}`},
		{"legacy", ld(4), `{"legacy": {}}`},
		{"any-builtin", ld(6, ld(1, []byte("type.googleapis.com/google.protobuf.Duration")), ld(2, vi(1, 3))), `{"extra": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"}}`},
		{"unknown-enum", vi(7, 5), `{"level": 5}`},
		{"unknown-field", vi(99, 5), `{}`},
		{"bad-utf8", ld(1, ld(3, []byte{0xff})), ""},
		{"truncated", ld(1, timer)[:5], ""},
		{"any-unknown-type", ld(6, ld(1, []byte("type.googleapis.com/nope.T"))), ""},
	}
	url := "type.googleapis.com/chipset.SavedState"
	_, protocErr := exec.LookPath("protoc")
	for _, c := range cases {
		if protocErr == nil {
			checkAgainstProtoc(t, c.value) // value.txt of the same units
		}
		got, err := s.JSON(url, c.value)
		if c.want == "" {
			if err == nil || errors.Is(err, ErrUnknownType) {
				t.Errorf("%s: got %s, %v; want a decode error", c.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sameJSON(t, c.name, got, []byte(c.want))
	}
	if _, err := s.JSON("type.googleapis.com/chipset.SavedState.Port", port); err != nil {
		t.Errorf("nested type: %v", err)
	}
}

func TestBrokenSchema(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.proto"), []byte("syntax = \"proto3\";\npackage a;\nmessage M {\n  uint32 x = ;\n}\n"), 0o644)
	_, err := LoadSchema(dir)
	if err == nil || !strings.HasPrefix(err.Error(), filepath.Join(dir, "a.proto")+":4:") {
		t.Fatalf("got %v, want %s:4:col: ...", err, filepath.Join(dir, "a.proto"))
	}
	os.WriteFile(filepath.Join(dir, "a.proto"), []byte("syntax = \"proto3\";\npackage a;\nmessage M {\n  .b.N x = 1;\n}\n"), 0o644)
	if _, err = LoadSchema(dir); err == nil || !strings.Contains(err.Error(), "a.proto:4:") {
		t.Fatalf("unresolved type: got %v", err)
	}
	if _, err := LoadSchema(t.TempDir()); err == nil {
		t.Fatal("empty dir: no error")
	}
}

func TestCaps(t *testing.T) {
	big := make([]byte, MaxValueSize+1)
	if _, err := DecodeRaw(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeRaw of %d bytes: %v", len(big), err)
	}
	// 100 nested groups of one-byte fields: the text stays within its cap.
	deep := nestGroup(bytes.Repeat([]byte{0x08, 0x01}, 1000), 100)
	out, err := DecodeRaw(deep)
	if err != nil || len(out) > MaxTextSize {
		t.Errorf("deep groups: %d bytes, %v", len(out), err)
	}
	// Text past the cap is refused, not made.
	wide := nestGroup(bytes.Repeat([]byte{0x08, 0x01}, MaxValueSize/2-100), 99)
	if _, err := DecodeRaw(wide); !errors.Is(err, ErrTooLarge) {
		t.Errorf("wide deep groups: %v, want ErrTooLarge", err)
	}
}
