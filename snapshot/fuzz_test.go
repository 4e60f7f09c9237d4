package snapshot

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// vectorFiles returns the bytes of every vector of a kind, as fuzz seeds.
func vectorFiles(f *testing.F, kind string) [][]byte {
	var out [][]byte
	for _, v := range loadVectors(f) {
		if v.Kind == kind {
			b, err := os.ReadFile(filepath.Join("testdata", "openvmm", v.File))
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

func FuzzDecodeManifest(f *testing.F) {
	for _, b := range vectorFiles(f, "manifest") {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add((&Manifest{Version: 1, CreatedAt: Timestamp{-1, -1}}).Encode())
	f.Add([]byte{0x1a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		if ct, ok := ManifestCreatedAt(b); !ok || ct != m.CreatedAt {
			t.Fatalf("ManifestCreatedAt(%x) = %v, %v; DecodeManifest says %v", b, ct, ok, m.CreatedAt)
		}
		enc := m.Encode()
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if !m2.equal(m) || len(m2.Unknown) != 0 {
			t.Fatalf("decode→encode→decode changed %+v to %+v", m, m2)
		}
		if enc2 := m2.Encode(); !bytes.Equal(enc2, enc) {
			t.Fatalf("encoding not stable: %x vs %x", enc, enc2)
		}
		if canonicalManifest(b) && !bytes.Equal(enc, b) {
			t.Fatalf("canonical input %x re-encodes to %x", b, enc)
		}
		_ = m.JSON()
		for _, name := range ManifestFields {
			if _, ok := m.Field(name); !ok {
				t.Fatalf("Field(%s) missing", name)
			}
		}
		// JSON round-trips whenever the timestamp is representable.
		if m.CreatedAt.nanosValid() && m.CreatedAt.secondsValid() {
			p, _, err := ParseManifestJSON(m.JSON())
			if err != nil || !p.equal(m) {
				t.Fatalf("JSON round trip of %+v: %+v, %v\n%s", m, p, err, m.JSON())
			}
		}
	})
}

// canonicalManifest reports whether b is exactly what Encode writes for
// some manifest: known fields only, in order, each once, non-zero, with
// minimal varints and a canonical created_at. Test-only oracle.
func canonicalManifest(b []byte) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > fieldArchitecture || n != protowire.SizeTag(num) {
			return false
		}
		last = num
		b = b[n:]
		if typ == protowire.VarintType {
			v, vn := protowire.ConsumeVarint(b)
			if vn < 0 || v == 0 || vn != protowire.SizeVarint(v) {
				return false
			}
			if num != fieldMemorySize && v > 0xffffffff {
				return false
			}
			b = b[vn:]
			continue
		}
		v, vn := protowire.ConsumeBytes(b)
		if vn < 0 || len(v) == 0 || vn != protowire.SizeBytes(len(v)) {
			return false
		}
		if num == fieldCreatedAt && !canonicalTimestamp(v) {
			return false
		}
		b = b[vn:]
	}
	return true
}

func canonicalTimestamp(b []byte) bool {
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || num > 2 || typ != protowire.VarintType {
			return false
		}
		last = num
		v, vn := protowire.ConsumeVarint(b[n:])
		if vn < 0 || v == 0 || vn != protowire.SizeVarint(v) {
			return false
		}
		if num == 2 && uint64(int64(int32(v))) != v {
			return false // an int32 outside its range would be re-encoded differently
		}
		b = b[n+vn:]
	}
	return true
}

func FuzzIndexState(f *testing.F) {
	for _, b := range vectorFiles(f, "state") {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(EncodeState([]StateUnit{{}, {Name: "a/b"}, {"x", "t", []byte{1, 2, 3}}}))
	f.Add([]byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10})
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := IndexState(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		units := make([]StateUnit, len(x.Units))
		for i, u := range x.Units {
			if u.ValueOff < 0 || u.ValueLen < 0 || u.ValueOff+u.ValueLen > int64(len(b)) {
				t.Fatalf("unit %d out of bounds: %+v", i, u)
			}
			units[i] = StateUnit{u.Name, u.TypeURL, b[u.ValueOff : u.ValueOff+u.ValueLen]}
		}
		_ = x.Problems()
		enc := EncodeState(units)
		x2, err := IndexState(bytes.NewReader(enc), int64(len(enc)))
		if err != nil || len(x2.Units) != len(units) {
			t.Fatalf("re-index: %v", err)
		}
		for i, u := range x2.Units {
			v := enc[u.ValueOff : u.ValueOff+u.ValueLen]
			if u.Name != units[i].Name || u.TypeURL != units[i].TypeURL || !bytes.Equal(v, units[i].Value) {
				t.Fatalf("unit %d changed: %+v", i, u)
			}
		}
	})
}

func FuzzParseManifestJSON(f *testing.F) {
	for _, b := range vectorFiles(f, "manifest") {
		if m, err := DecodeManifest(b); err == nil {
			f.Add(m.JSON())
		}
	}
	f.Add([]byte(`{"version": 1, "memory_size_bytes": 18446744073709551615}`))
	f.Add([]byte(`{"created_at": "2025-11-28T16:04:05.5+01:00", "vp_count": 4294967295}`))
	f.Add([]byte(`{"vp_count": 1, "vp_count": 2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, has, err := ParseManifestJSON(b)
		if err != nil {
			return
		}
		p, has2, err := ParseManifestJSON(m.JSON())
		if err != nil || !p.equal(m) || !has2 {
			t.Fatalf("JSON→Parse changed %+v to %+v (%v)\n%s", m, p, err, m.JSON())
		}
		d, err := DecodeManifest(m.Encode())
		if err != nil || !d.equal(m) {
			t.Fatalf("Encode→Decode changed %+v to %+v (%v)", m, d, err)
		}
		_ = has
	})
}
