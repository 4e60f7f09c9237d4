package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// ParseManifestJSON parses a manifest.json written by a user, strictly: the
// top level must be one object whose keys are manifest field names, each at
// most once, with integers (exact, no fraction or exponent, in the field's
// range) for numeric fields and strings for the others; created_at must be
// RFC 3339. Anything else is an error naming the key and value. Missing keys
// are zero; hasCreatedAt reports whether created_at was given.
func ParseManifestJSON(b []byte) (m *Manifest, hasCreatedAt bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // exact integers above 2^53
	if err := expectDelim(dec, '{'); err != nil {
		return nil, false, err
	}
	m = &Manifest{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("manifest.json: %v", err)
		}
		key, _ := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, false, fmt.Errorf("manifest.json: duplicate key %q", key)
		}
		seen[key] = true
		val, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("manifest.json: %q: %v", key, err)
		}
		if err := m.setJSON(key, val); err != nil {
			return nil, false, fmt.Errorf("manifest.json: %q: %v", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, false, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = fmt.Errorf("%v", tok)
		}
		return nil, false, fmt.Errorf("manifest.json: trailing data after the object: %v", err)
	}
	return m, seen["created_at"], nil
}

// expectDelim reads one token that must be the delimiter d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("manifest.json: %v", err)
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("manifest.json: expected %q, found %s", string(d), describeToken(tok))
	}
	return nil
}

// setJSON sets field key from a JSON token.
func (m *Manifest) setJSON(key string, tok json.Token) error {
	switch key {
	case "version":
		return setUint(&m.Version, tok)
	case "memory_size_bytes":
		v, err := parseUint(tok, math.MaxUint64)
		m.MemorySizeBytes = v
		return err
	case "vp_count":
		return setUint(&m.VPCount, tok)
	case "page_size":
		return setUint(&m.PageSize, tok)
	case "openvmm_version":
		return setString(&m.OpenVMMVersion, tok)
	case "architecture":
		return setString(&m.Architecture, tok)
	case "created_at":
		var s string
		if err := setString(&s, tok); err != nil {
			return err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("invalid RFC 3339 time %q", s)
		}
		m.CreatedAt = timestampOf(t)
		return nil
	}
	return errors.New("unknown key")
}

func setUint(dst *uint32, tok json.Token) error {
	v, err := parseUint(tok, math.MaxUint32)
	*dst = uint32(v)
	return err
}

// parseUint accepts a JSON number that is an integer in [0, max].
func parseUint(tok json.Token, max uint64) (uint64, error) {
	n, ok := tok.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%s is not an integer", describeToken(tok))
	}
	v, err := strconv.ParseUint(string(n), 10, 64)
	if err != nil || v > max {
		return 0, fmt.Errorf("%s is not an integer from 0 to %d", n, max)
	}
	return v, nil
}

func setString(dst *string, tok json.Token) error {
	s, ok := tok.(string)
	if !ok {
		return fmt.Errorf("%s is not a string", describeToken(tok))
	}
	*dst = s
	return nil
}

// describeToken renders a token for an error message; an object or array
// shows as its opening delimiter.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Delim:
		return string(v)
	}
	return fmt.Sprint(tok)
}
