package snapshot

import "google.golang.org/protobuf/encoding/protowire"

// Encode writes m exactly as OpenVMM's mesh encoder does: fields in
// field-number order, zero scalars, empty strings and an empty created_at
// left out, Timestamp integers as plain varints (a negative one takes ten
// bytes). Unknown is not written.
func (m *Manifest) Encode() []byte {
	b := make([]byte, 0, 64)
	b = appendVarintField(b, fieldVersion, uint64(m.Version))
	if ts := m.CreatedAt.encode(); len(ts) > 0 {
		b = protowire.AppendTag(b, fieldCreatedAt, protowire.BytesType)
		b = protowire.AppendBytes(b, ts)
	}
	b = appendStringField(b, fieldOpenVMMVersion, m.OpenVMMVersion)
	b = appendVarintField(b, fieldMemorySize, m.MemorySizeBytes)
	b = appendVarintField(b, fieldVPCount, uint64(m.VPCount))
	b = appendVarintField(b, fieldPageSize, uint64(m.PageSize))
	b = appendStringField(b, fieldArchitecture, m.Architecture)
	return b
}

// encode returns the Timestamp message body (empty for the zero value).
func (t Timestamp) encode() []byte {
	var b []byte
	b = appendVarintField(b, 1, uint64(t.Seconds))
	b = appendVarintField(b, 2, uint64(int64(t.Nanos))) // sign-extend, as int32 varints are
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendStringField(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
