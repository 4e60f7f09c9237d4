package snapshot

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// fieldNames names manifest fields in errors, indexed by field number.
var fieldNames = map[protowire.Number]string{
	fieldVersion: "version", fieldCreatedAt: "created_at", fieldOpenVMMVersion: "openvmm_version",
	fieldMemorySize: "memory_size_bytes", fieldVPCount: "vp_count", fieldPageSize: "page_size",
	fieldArchitecture: "architecture",
}

// wantType is the wire type of each known manifest field.
var wantType = map[protowire.Number]protowire.Type{
	fieldVersion: protowire.VarintType, fieldCreatedAt: protowire.BytesType,
	fieldOpenVMMVersion: protowire.BytesType, fieldMemorySize: protowire.VarintType,
	fieldVPCount: protowire.VarintType, fieldPageSize: protowire.VarintType,
	fieldArchitecture: protowire.BytesType,
}

// DecodeManifest decodes manifest.bin. Like OpenVMM's decoder it accepts
// unknown fields, lets a repeated scalar's last value win, merges a repeated
// created_at, truncates oversized varints to the field's width, and fails on
// truncated input, a known field with the wrong wire type, and invalid UTF-8
// in a string. It never panics and never allocates a length it has not
// checked against len(b).
func DecodeManifest(b []byte) (*Manifest, error) {
	m := &Manifest{}
	all := b
	for len(b) > 0 {
		off := len(all) - len(b)
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("offset %d: field tag: %v", off, wireError(n))
		}
		want, known := wantType[num]
		if !known {
			vn := protowire.ConsumeFieldValue(num, typ, b[n:])
			if vn < 0 {
				return nil, fmt.Errorf("offset %d: unknown field %d: %v", off, num, wireError(vn))
			}
			m.Unknown = append(m.Unknown, b[:n+vn]...)
			b = b[n+vn:]
			continue
		}
		name := errLabel(num)
		if typ != want {
			return nil, fmt.Errorf("offset %d: %s: wrong wire type %d", off, name, typ)
		}
		b = b[n:]
		var err error
		if typ == protowire.VarintType {
			v, vn := protowire.ConsumeVarint(b)
			if vn < 0 {
				return nil, fmt.Errorf("offset %d: %s: %v", off, name, wireError(vn))
			}
			m.setVarint(num, v)
			b = b[vn:]
			continue
		}
		v, vn := protowire.ConsumeBytes(b)
		if vn < 0 {
			return nil, fmt.Errorf("offset %d: %s: %v", off, name, wireError(vn))
		}
		switch num {
		case fieldCreatedAt:
			err = decodeTimestamp(&m.CreatedAt, v)
		case fieldOpenVMMVersion:
			m.OpenVMMVersion, err = decodeString(v)
		case fieldArchitecture:
			m.Architecture, err = decodeString(v)
		}
		if err != nil {
			return nil, fmt.Errorf("offset %d: %s: %v", off, name, err)
		}
		b = b[vn:]
	}
	return m, nil
}

// setVarint stores a varint field, truncating to the field's width as
// protobuf (and mesh) do.
func (m *Manifest) setVarint(num protowire.Number, v uint64) {
	switch num {
	case fieldVersion:
		m.Version = uint32(v)
	case fieldMemorySize:
		m.MemorySizeBytes = v
	case fieldVPCount:
		m.VPCount = uint32(v)
	case fieldPageSize:
		m.PageSize = uint32(v)
	}
}

// decodeTimestamp merges a google.protobuf.Timestamp message into t.
func decodeTimestamp(t *Timestamp, b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return wireError(n)
		}
		if num != 1 && num != 2 {
			vn := protowire.ConsumeFieldValue(num, typ, b[n:])
			if vn < 0 {
				return fmt.Errorf("unknown field %d: %v", num, wireError(vn))
			}
			b = b[n+vn:]
			continue
		}
		name := "seconds"
		if num == 2 {
			name = "nanos"
		}
		if typ != protowire.VarintType {
			return fmt.Errorf("field %d (%s): wrong wire type %d", num, name, typ)
		}
		v, vn := protowire.ConsumeVarint(b[n:])
		if vn < 0 {
			return fmt.Errorf("field %d (%s): %v", num, name, wireError(vn))
		}
		if num == 1 {
			t.Seconds = int64(v)
		} else {
			t.Nanos = int32(v)
		}
		b = b[n+vn:]
	}
	return nil
}

// decodeString copies a proto3 string, which must be valid UTF-8.
func decodeString(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errors.New("invalid UTF-8")
	}
	return string(b), nil
}

// wireError turns a negative protowire length into an error, calling the
// common case by its plain name.
func wireError(n int) error {
	err := protowire.ParseError(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated input")
	}
	return err
}

// errLabel names a known field in an error ("field 5 (vp_count)"). It
// formats only when an error is printed: listing a store of 10,000
// snapshots decodes 10,000 manifests, and the happy path formats nothing.
type errLabel protowire.Number

func (l errLabel) String() string {
	return fmt.Sprintf("field %d (%s)", protowire.Number(l), fieldNames[protowire.Number(l)])
}

// ManifestCreatedAt reads just the created_at of a manifest.bin, without
// allocating: ordering a store of 10,000 snapshots by it (to find the
// latest) needs nothing else. ok is false for input DecodeManifest would
// refuse on its wire format (a bad tag, length or wire type, or a bad
// Timestamp); the rest of the checks are Check's.
func ManifestCreatedAt(b []byte) (t Timestamp, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Timestamp{}, false
		}
		if want, known := wantType[num]; known && typ != want {
			return Timestamp{}, false
		}
		vn := protowire.ConsumeFieldValue(num, typ, b[n:])
		if vn < 0 {
			return Timestamp{}, false
		}
		if num == fieldCreatedAt {
			v, _ := protowire.ConsumeBytes(b[n:])
			if decodeTimestamp(&t, v) != nil {
				return Timestamp{}, false
			}
		}
		b = b[n+vn:]
	}
	return t, true
}
