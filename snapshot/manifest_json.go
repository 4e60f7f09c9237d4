package snapshot

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// JSON returns the manifest.json view: the seven fields in field-number
// order, keys as in the .proto, 2-space indent, exact integers, created_at in
// RFC 3339 (UTC), and a trailing newline. Unknown fields are not shown.
func (m *Manifest) JSON() []byte {
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, name := range ManifestFields {
		b.WriteString("  ")
		b.Write(jsonString(name))
		b.WriteString(": ")
		b.Write(m.jsonValue(name))
		if i < len(ManifestFields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// Field returns the manifest/<name> view: the value as in manifest.json
// (strings unquoted) and a newline; ok is false for an unknown name.
func (m *Manifest) Field(name string) (text []byte, ok bool) {
	var s string
	switch name {
	case "created_at":
		s = m.CreatedAt.RFC3339()
	case "openvmm_version":
		s = m.OpenVMMVersion
	case "architecture":
		s = m.Architecture
	default:
		v, isNum := m.number(name)
		if !isNum {
			return nil, false
		}
		s = strconv.FormatUint(v, 10)
	}
	return append([]byte(s), '\n'), true
}

// jsonValue is the JSON text of one known field.
func (m *Manifest) jsonValue(name string) []byte {
	if v, ok := m.number(name); ok {
		return strconv.AppendUint(nil, v, 10)
	}
	t, _ := m.Field(name)
	return jsonString(string(t[:len(t)-1]))
}

// number returns a numeric field's value; ok is false for other names.
func (m *Manifest) number(name string) (v uint64, ok bool) {
	switch name {
	case "version":
		return uint64(m.Version), true
	case "memory_size_bytes":
		return m.MemorySizeBytes, true
	case "vp_count":
		return uint64(m.VPCount), true
	case "page_size":
		return uint64(m.PageSize), true
	}
	return 0, false
}

// jsonString quotes s as a JSON string without HTML escaping (so "<" stays
// readable); decoded strings are valid UTF-8, so it round-trips.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
