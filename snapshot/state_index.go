package snapshot

import (
	"fmt"
	"io"
	"os"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// maxStateString bounds a unit name or type URL. Real ones are under 100
// bytes; the bound keeps a damaged state.bin from costing much memory.
const maxStateString = windowSize

// IndexState reads state.bin (size bytes, through r) and returns its units
// in order. It reads in small chunks and keeps only names, type URLs and
// value offsets; every length is checked against the enclosing message
// before anything is read or allocated. Errors name the byte offset.
// Unknown fields are skipped; duplicate or empty names are not errors here
// (see Problems).
func IndexState(r io.ReaderAt, size int64) (*StateIndex, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative size %d", size)
	}
	w := &window{r: r, size: size}
	x := &StateIndex{}
	for off := int64(0); off < size; {
		f, err := w.field(off, size)
		if err != nil {
			return nil, err
		}
		if f.num == 1 {
			if f.typ != protowire.BytesType {
				return nil, fmt.Errorf("offset %d: field 1 (units): wrong wire type %d", off, f.typ)
			}
			if len(x.Units) == MaxUnits {
				return nil, fmt.Errorf("offset %d: more than %d units", off, MaxUnits)
			}
			u, err := indexUnit(w, f.valOff, f.end)
			if err != nil {
				return nil, fmt.Errorf("unit #%d: %w", len(x.Units)+1, err)
			}
			x.Units = append(x.Units, u)
		}
		off = f.end
	}
	return x, nil
}

// MaxStateStrings bounds the bytes of all unit names and type URLs of one
// state.bin, which the index keeps: real ones are a few kilobytes, and
// 65,536 units of 64 KiB names would otherwise cost the daemon 8 GiB.
const MaxStateStrings = 4 << 20

// MaxUnits bounds the units of one state.bin. A VM has tens of devices;
// the bound keeps a hostile file of tiny units from costing the daemon
// gigabytes of index.
const MaxUnits = 1 << 16

// IndexStateFile opens and indexes the state.bin at path.
func IndexStateFile(path string) (*StateIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return IndexState(f, fi.Size())
}

// indexUnit decodes a SavedStateUnit occupying [off, end).
func indexUnit(w *window, off, end int64) (Unit, error) {
	u := Unit{ValueOff: end}
	for off < end {
		f, err := w.field(off, end)
		if err != nil {
			return u, err
		}
		switch f.num {
		case 1:
			u.Name, err = w.str(f, "name")
		case 2:
			if f.typ != protowire.BytesType {
				return u, fmt.Errorf("offset %d: field 2 (state): wrong wire type %d", off, f.typ)
			}
			err = indexAny(w, &u, f.valOff, f.end)
		}
		if err != nil {
			return u, err
		}
		off = f.end
	}
	return u, nil
}

// indexAny decodes a google.protobuf.Any occupying [off, end) into u,
// merging like protobuf: fields present override earlier values.
func indexAny(w *window, u *Unit, off, end int64) error {
	for off < end {
		f, err := w.field(off, end)
		if err != nil {
			return err
		}
		switch f.num {
		case 1:
			if u.TypeURL, err = w.str(f, "type_url"); err != nil {
				return err
			}
		case 2:
			if f.typ != protowire.BytesType {
				return fmt.Errorf("offset %d: field 2 (value): wrong wire type %d", off, f.typ)
			}
			u.ValueOff, u.ValueLen = f.valOff, f.end-f.valOff
		}
		off = f.end
	}
	return nil
}

// field is one decoded tag with the extent of its value.
type field struct {
	off    int64 // offset of the tag
	num    protowire.Number
	typ    protowire.Type
	valOff int64 // offset of the value (after a length prefix, for bytes)
	end    int64 // offset just past the value
}

// field decodes the tag at off and finds the end of its value, which must
// not pass limit (the end of the enclosing message).
func (w *window) field(off, limit int64) (field, error) {
	f := field{off: off}
	tag, n, err := w.varint(off, limit)
	if err != nil {
		return f, fmt.Errorf("offset %d: field tag: %w", off, err)
	}
	num, typ := protowire.DecodeTag(tag)
	if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
		return f, fmt.Errorf("offset %d: invalid field number %d", off, int64(tag>>3))
	}
	f.num, f.typ, f.valOff = num, typ, off+int64(n)
	var size int64
	switch typ {
	case protowire.VarintType:
		_, vn, err := w.varint(f.valOff, limit)
		if err != nil {
			return f, fmt.Errorf("offset %d: field %d: %w", off, num, err)
		}
		size = int64(vn)
	case protowire.Fixed32Type:
		size = 4
	case protowire.Fixed64Type:
		size = 8
	case protowire.BytesType:
		l, ln, err := w.varint(f.valOff, limit)
		if err != nil {
			return f, fmt.Errorf("offset %d: field %d: length: %w", off, num, err)
		}
		f.valOff += int64(ln)
		if l > uint64(limit-f.valOff) {
			return f, fmt.Errorf("offset %d: field %d: length %d goes past the end of its message at offset %d", off, num, l, limit)
		}
		size = int64(l)
	default:
		// Groups are obsolete and never written by mesh.
		return f, fmt.Errorf("offset %d: field %d: unsupported wire type %d", off, num, typ)
	}
	if size > limit-f.valOff {
		return f, fmt.Errorf("offset %d: field %d: truncated input", off, num)
	}
	f.end = f.valOff + size
	return f, nil
}

// str reads a string field (a name or type URL): bytes type, bounded
// length, valid UTF-8.
func (w *window) str(f field, what string) (string, error) {
	if f.typ != protowire.BytesType {
		return "", fmt.Errorf("offset %d: field %d (%s): wrong wire type %d", f.off, f.num, what, f.typ)
	}
	n := f.end - f.valOff
	if n > maxStateString {
		return "", fmt.Errorf("offset %d: %s is too long (%d bytes, limit %d)", f.off, what, n, maxStateString)
	}
	if w.strs += n; w.strs > MaxStateStrings {
		return "", fmt.Errorf("offset %d: unit names and type URLs hold more than %d bytes in all (the limit of one state.bin)", f.off, MaxStateStrings)
	}
	b, err := w.bytesAt(f.valOff, int(n))
	if err == nil && int64(len(b)) < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return "", fmt.Errorf("offset %d: reading %s: %w", f.valOff, what, err)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("offset %d: %s is not valid UTF-8", f.off, what)
	}
	return string(b), nil
}
