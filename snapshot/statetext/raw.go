package statetext

import (
	"errors"
	"fmt"
	"strconv"
)

// MaxValueSize bounds the bytes of one unit value that are decoded. A
// VM's device state is kilobytes; the bound keeps a hostile state.bin
// from costing the daemon much memory or time.
const MaxValueSize = 1 << 20

// MaxTextSize bounds the text made from one value. Indentation can make
// the text of deeply nested tiny fields far larger than the value.
const MaxTextSize = 16 << 20

// Limits of protoc 3.21 (the Debian protobuf-compiler), which DecodeRaw
// reproduces: groups nest at most 100 deep in the message, and at most
// unknownRecursion levels of length-delimited fields are shown as
// messages; deeper ones are shown as strings.
const (
	groupLimit       = 100
	unknownRecursion = 10
)

// ErrNotMessage is returned for bytes that protoc --decode_raw rejects.
var ErrNotMessage = errors.New("not a protobuf message")

// ErrTooLarge is returned for a value or text past the size caps.
var ErrTooLarge = errors.New("too large to decode")

// wire types
const (
	wtVarint   = 0
	wtFixed64  = 1
	wtBytes    = 2
	wtStart    = 3
	wtEnd      = 4
	wtFixed32  = 5
	maxVarint  = 10
	maxTagSize = 5
)

// parser reads a message the way protoc does. outer selects the rules of
// protoc's top-level parser (ParseContext: tags and lengths of at most 5
// bytes); embedded values are parsed by CodedInputStream, whose tags and
// lengths may take up to 10 bytes with the bits past 32 dropped.
type parser struct {
	b     []byte
	pos   int
	outer bool
	depth int // groups still allowed
}

// varint reads a varint of at most max bytes. Bits past 64 are dropped,
// as protoc does.
func (p *parser) varint(max int) (uint64, bool) {
	var v uint64
	for i := 0; i < max; i++ {
		if p.pos >= len(p.b) {
			return 0, false
		}
		c := p.b[p.pos]
		p.pos++
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c < 0x80 {
			return v, true
		}
	}
	return 0, false
}

func (p *parser) tag() (uint32, bool) {
	max := maxVarint
	if p.outer {
		max = maxTagSize
	}
	v, ok := p.varint(max)
	return uint32(v), ok
}

func (p *parser) length() (int, bool) {
	var v uint64
	var ok bool
	if p.outer {
		v, ok = p.varint(maxTagSize)
		if ok && v >= 1<<31 {
			return 0, false
		}
	} else {
		v, ok = p.varint(maxVarint)
		v = uint64(uint32(v))
	}
	if !ok || v > uint64(len(p.b)-p.pos) {
		return 0, false
	}
	return int(v), true
}

// walk reads fields up to the end of the bytes (endTag 0) or up to the
// end-group tag endTag, and reports false where protoc fails. With pr
// set it prints them; budget is how many more levels of length-delimited
// fields may be shown as messages. Nothing is kept: a value is walked
// once to check it and again to print it, so a large value costs only
// its text.
func (p *parser) walk(endTag uint32, pr *printer, budget int) bool {
	for {
		if p.pos == len(p.b) {
			return endTag == 0
		}
		tag, ok := p.tag()
		if !ok || tag == 0 {
			return false
		}
		typ := int(tag & 7)
		if typ == wtEnd {
			return endTag != 0 && tag == endTag
		}
		num := tag >> 3
		if num == 0 {
			return false
		}
		switch typ {
		case wtVarint:
			v, ok := p.varint(maxVarint)
			if !ok {
				return false
			}
			if pr != nil {
				pr.line(num, ": ", strconv.FormatUint(v, 10))
			}
		case wtFixed64, wtFixed32:
			n := 8
			if typ == wtFixed32 {
				n = 4
			}
			if len(p.b)-p.pos < n {
				return false
			}
			var v uint64
			for i := n - 1; i >= 0; i-- {
				v = v<<8 | uint64(p.b[p.pos+i])
			}
			p.pos += n
			if pr != nil {
				pr.line(num, ": ", fmt.Sprintf("0x%0*x", 2*n, v))
			}
		case wtBytes:
			n, ok := p.length()
			if !ok {
				return false
			}
			v := p.b[p.pos : p.pos+n]
			p.pos += n
			if pr != nil {
				pr.bytes(num, v, budget)
			}
		case wtStart:
			if p.depth == 0 {
				return false
			}
			p.depth--
			if pr != nil {
				pr.line(num, " {")
				pr.indent += 2
			}
			if !p.walk(tag&^7|wtEnd, pr, budget) {
				return false
			}
			if pr != nil {
				pr.indent -= 2
				pr.line(0, "}")
			}
			p.depth++
		default:
			return false
		}
		if pr != nil && pr.over {
			return true // the caller sees pr.over
		}
	}
}

// DecodeRaw returns what `protoc --decode_raw` (protoc 3.21) prints for
// b: every field by number, a length-delimited field as a nested message
// where its bytes parse as one and as an escaped string otherwise,
// fixed32 and fixed64 in hex. Bytes protoc rejects give ErrNotMessage.
func DecodeRaw(b []byte) ([]byte, error) {
	if len(b) > MaxValueSize {
		return nil, fmt.Errorf("%d bytes, more than %d: %w", len(b), MaxValueSize, ErrTooLarge)
	}
	if !(&parser{b: b, outer: true, depth: groupLimit}).walk(0, nil, 0) {
		return nil, ErrNotMessage
	}
	pr := &printer{}
	(&parser{b: b, outer: true, depth: groupLimit}).walk(0, pr, unknownRecursion)
	if pr.over {
		return nil, fmt.Errorf("text of more than %d bytes: %w", MaxTextSize, ErrTooLarge)
	}
	return pr.out, nil
}

type printer struct {
	out    []byte
	indent int
	over   bool
}

// line prints one indented line: the field number (unless 0) and the
// rest.
func (pr *printer) line(num uint32, parts ...string) {
	if pr.over {
		return
	}
	var nb [10]byte
	ns := nb[:0]
	if num != 0 {
		ns = strconv.AppendUint(ns, uint64(num), 10)
	}
	n := pr.indent + len(ns)
	for _, s := range parts {
		n += len(s)
	}
	if len(pr.out)+n+1 > MaxTextSize {
		pr.over = true
		return
	}
	for i := 0; i < pr.indent; i++ {
		pr.out = append(pr.out, ' ')
	}
	pr.out = append(pr.out, ns...)
	for _, s := range parts {
		pr.out = append(pr.out, s...)
	}
	pr.out = append(pr.out, '\n')
}

// bytes prints a length-delimited field: as a message when its bytes
// parse as one within the budget, else as a string.
func (pr *printer) bytes(num uint32, v []byte, budget int) {
	if len(v) > 0 && budget > 0 && (&parser{b: v, depth: budget}).walk(0, nil, 0) {
		pr.line(num, " {")
		pr.indent += 2
		(&parser{b: v, depth: budget}).walk(0, pr, budget-1)
		pr.indent -= 2
		pr.line(0, "}")
		return
	}
	pr.line(num, ": \"", cEscape(v), "\"")
}

// cEscape escapes b as absl::CEscape does: C escapes for \n \r \t \" \'
// and \\, three-digit octal for other bytes outside printable ASCII.
func cEscape(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case '\n':
			out = append(out, `\n`...)
		case '\r':
			out = append(out, `\r`...)
		case '\t':
			out = append(out, `\t`...)
		case '"':
			out = append(out, `\"`...)
		case '\'':
			out = append(out, `\'`...)
		case '\\':
			out = append(out, `\\`...)
		default:
			if c < 0x20 || c >= 0x7f {
				out = append(out, '\\', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
			} else {
				out = append(out, c)
			}
		}
	}
	return string(out)
}
