package snapshot

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// vector is one entry of testdata/openvmm/vectors.json.
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

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openvmm", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// bytes returns the vector's file, checking it against its hex.
func (v vector) bytes(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openvmm", v.File))
	if err != nil {
		t.Fatal(err)
	}
	if h := hex.EncodeToString(b); h != v.Hex {
		t.Fatalf("%s: file is %s, vectors.json says %s", v.File, h, v.Hex)
	}
	return b
}

// wantJSON formats the vector's json like Manifest.JSON: 2-space indent,
// key order as in the file, trailing newline.
func (v vector) wantJSON(t testing.TB) []byte {
	t.Helper()
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, v.JSON); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestVectorsManifest(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "manifest" {
			continue
		}
		n++
		t.Run(v.File, func(t *testing.T) {
			b := v.bytes(t)
			m, err := DecodeManifest(b)
			if v.Error != "" {
				if err == nil {
					t.Fatalf("decoded, want error (%s)", v.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.JSON(), v.wantJSON(t); !bytes.Equal(got, want) {
				t.Errorf("JSON:\n%s\nwant:\n%s", got, want)
			}
			enc := m.Encode()
			if len(m.Unknown) == 0 {
				if !bytes.Equal(enc, b) {
					t.Errorf("Encode = %x, want %x", enc, b)
				}
			} else {
				// Unknown fields are dropped; the rest must be a prefix
				// here because the unknown fields come last.
				if !bytes.Equal(append(enc, m.Unknown...), b) {
					t.Errorf("Encode+Unknown = %x%x, want %x", enc, m.Unknown, b)
				}
				m2, err := DecodeManifest(enc)
				if err != nil || !m2.equal(m) {
					t.Errorf("re-decode: %+v, %v", m2, err)
				}
			}
			p, has, err := ParseManifestJSON(m.JSON())
			if err != nil || !has || !p.equal(m) {
				t.Errorf("ParseManifestJSON(JSON()) = %+v, %v, %v", p, has, err)
			}
		})
	}
	if n != 5 {
		t.Errorf("%d manifest vectors, want 5", n)
	}
}

func TestVectorsFields(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Kind != "manifest" || v.Error != "" {
			continue
		}
		m, err := DecodeManifest(v.bytes(t))
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		dec := json.NewDecoder(bytes.NewReader(v.JSON))
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			t.Fatal(err)
		}
		for _, name := range ManifestFields {
			got, ok := m.Field(name)
			if want := []byte(fmtAny(obj[name]) + "\n"); !ok || !bytes.Equal(got, want) {
				t.Errorf("%s: Field(%s) = %q, %v; want %q", v.File, name, got, ok, want)
			}
		}
	}
}

func fmtAny(v any) string {
	if n, ok := v.(json.Number); ok {
		return n.String()
	}
	return v.(string)
}

func TestVectorsState(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Kind != "state" {
			continue
		}
		b := v.bytes(t)
		x, err := IndexState(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if len(x.Units) != len(v.Units) {
			t.Fatalf("%d units, want %d", len(x.Units), len(v.Units))
		}
		var enc []StateUnit
		for i, w := range v.Units {
			u := x.Units[i]
			val := b[u.ValueOff : u.ValueOff+u.ValueLen]
			if u.Name != w.Name || u.TypeURL != w.TypeURL || hex.EncodeToString(val) != w.ValueHex {
				t.Errorf("unit %d = %q %q %x, want %q %q %s", i, u.Name, u.TypeURL, val, w.Name, w.TypeURL, w.ValueHex)
			}
			enc = append(enc, StateUnit{w.Name, w.TypeURL, val})
		}
		if p := x.Problems(); len(p) != 0 {
			t.Errorf("Problems = %q", p)
		}
		if got := EncodeState(enc); !bytes.Equal(got, b) {
			t.Errorf("EncodeState = %x\nwant          %x", got, b)
		}
	}
}

// ManifestCreatedAt agrees with DecodeManifest on every vector.
func TestManifestCreatedAtVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		if v.Kind != "manifest" {
			continue
		}
		b := v.bytes(t)
		m, err := DecodeManifest(b)
		got, ok := ManifestCreatedAt(b)
		if (err == nil) != ok {
			t.Errorf("%s: ManifestCreatedAt ok=%v, DecodeManifest err=%v", v.File, ok, err)
			continue
		}
		if ok && got != m.CreatedAt {
			t.Errorf("%s: ManifestCreatedAt = %v, DecodeManifest says %v", v.File, got, m.CreatedAt)
		}
	}
}
