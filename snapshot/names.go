package snapshot

import (
	"fmt"
	"strings"
	"syscall"
	"unicode"
)

// EncodeUnitName maps a unit name to a file name (docs/tree.md): "/" becomes
// %2F, NUL %00, "%" %25, and the whole names "." and ".." become %2E and
// %2E%2E; everything else is kept, so common names stay readable. The
// mapping is reversible with DecodeUnitName. The empty name maps to "",
// which is no file name: such a unit is an error (see Problems) and has no
// directory.
func EncodeUnitName(name string) string {
	switch name {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	if !strings.ContainsAny(name, "/%\x00") {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '/', '%', 0:
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// DecodeUnitName reverses EncodeUnitName. It accepts only what
// EncodeUnitName produces, so distinct files never map to the same unit.
func DecodeUnitName(file string) (string, error) {
	switch file {
	case "%2E":
		return ".", nil
	case "%2E%2E":
		return "..", nil
	case "", ".", "..":
		return "", fmt.Errorf("%q is not an encoded unit name", file)
	}
	var b strings.Builder
	for i := 0; i < len(file); i++ {
		c := file[i]
		switch {
		case c == '/' || c == 0:
			return "", fmt.Errorf("%q is not an encoded unit name: raw %q", file, c)
		case c != '%':
			b.WriteByte(c)
			continue
		}
		switch esc := file[i+1 : min(i+3, len(file))]; esc {
		case "2F":
			b.WriteByte('/')
		case "25":
			b.WriteByte('%')
		case "00":
			b.WriteByte(0)
		default:
			return "", fmt.Errorf("%q is not an encoded unit name: bad escape %q", file, "%"+esc)
		}
		i += 2
	}
	return b.String(), nil
}

// MaxNameLen is the longest snapshot name (a file name on Linux).
const MaxNameLen = 255

// ValidName checks a snapshot name (docs/tree.md, "Snapshot names"): 1 to 255
// bytes, no "/", NUL or control characters, not starting with "." (hidden
// names are snapfs's staging area), and not "new" or "latest" (reserved in
// the mount). Errors wrap syscall.ENAMETOOLONG or syscall.EINVAL, the errno
// a FUSE mkdir should return.
func ValidName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid snapshot name %q: %s: %w", name, why, syscall.EINVAL)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("invalid snapshot name: %d bytes, more than %d: %w", len(name), MaxNameLen, syscall.ENAMETOOLONG)
	case name[0] == '.':
		return bad("starts with '.'")
	case name == "new" || name == "latest":
		return bad("reserved")
	}
	for _, r := range name { // invalid UTF-8 is allowed, as in any Linux file name
		switch {
		case r == '/':
			return bad("contains '/'")
		case r == 0:
			return bad("contains NUL")
		case unicode.IsControl(r):
			return bad("contains a control character")
		}
	}
	return nil
}
