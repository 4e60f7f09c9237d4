package statetext

import (
	"bytes"
	"testing"
)

// nestMsg wraps inner in n levels of field 1 messages.
func nestMsg(inner []byte, n int) []byte {
	b := inner
	for i := 0; i < n; i++ {
		b = append(append([]byte{0x0a}, varint(uint64(len(b)))...), b...)
	}
	return b
}

func varint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func nestGroup(inner []byte, n int) []byte {
	return append(append(bytes.Repeat([]byte{0x0b}, n), inner...), bytes.Repeat([]byte{0x0c}, n)...)
}

// edgeCases are inputs at protoc's limits and odd encodings.
func edgeCases() [][]byte {
	var cs [][]byte
	for _, n := range []int{9, 10, 11, 12} {
		cs = append(cs, nestMsg([]byte{0x08, 0x01}, n))
		cs = append(cs, nestMsg(nestGroup([]byte{0x08, 0x01}, 3), n-2))
	}
	for _, n := range []int{99, 100, 101} {
		cs = append(cs, nestGroup([]byte{0x08, 0x01}, n))
		cs = append(cs, nestMsg(nestGroup([]byte{0x08, 0x01}, n), 1))
		cs = append(cs, nestMsg(nestGroup(nil, n/10), 2))
	}
	for _, n := range []int{1, 2, 5, 8, 9, 10, 11} {
		cs = append(cs, nestMsg(nestGroup(nil, n), 1))
		cs = append(cs, nestMsg(nestMsg(nestGroup([]byte{0x10, 0x02}, n), 3), 1))
	}
	// Overlong tags and lengths, at the top level and embedded.
	for k := 1; k <= 11; k++ {
		tag := append([]byte{0x88}, bytes.Repeat([]byte{0x80}, k-1)...)
		tag[len(tag)-1] &^= 0x80
		if k == 1 {
			tag = []byte{0x08}
		}
		cs = append(cs, append(append([]byte(nil), tag...), 0x05))
		cs = append(cs, nestMsg(append(append([]byte(nil), tag...), 0x05), 1))
		ln := append([]byte{0x82}, bytes.Repeat([]byte{0x80}, k-1)...)
		ln[len(ln)-1] &^= 0x80
		if k == 1 {
			ln = []byte{0x02}
		}
		cs = append(cs, append(append([]byte{0x12}, ln...), 'h', 'i'))
		cs = append(cs, nestMsg(append(append([]byte{0x12}, ln...), 'h', 'i'), 1))
		// high bits set past 32 bits
		big := []byte{0x82, 0x80, 0x80, 0x80, 0x90, 0x01}
		cs = append(cs, nestMsg(append(append([]byte{0x12}, big...), 'h', 'i'), 1))
		bigTag := []byte{0x88, 0x80, 0x80, 0x80, 0x90, 0x01}
		cs = append(cs, append(bigTag, 0x01), nestMsg(append(bigTag, 0x01), 1))
		val := append(bytes.Repeat([]byte{0xff}, k), 0x7f)
		cs = append(cs, append([]byte{0x08}, val...))
	}
	cs = append(cs,
		[]byte{}, []byte{0x00}, []byte{0x0c}, []byte{0x08, 0x01, 0x0c}, []byte{0x0b, 0x14},
		[]byte{0x0a, 0x00}, []byte{0x0a, 0x01, 0x00}, []byte{0x0a, 0x01, 0x0c},
		[]byte{0x0a, 0x02, 0x08, 0x01, 0x00}, []byte{0x07, 0x01}, []byte{0x06, 0x01},
		[]byte{0x02, 0x00}, []byte{0x0a, 0x02, 0x02, 0x00}, []byte{0x0a, 0x02, 0x0b, 0x0c},
		[]byte{0x0a, 0x03, 0x0b, 0x14, 0x00}, []byte{0x0d, 1, 2, 3, 4}, []byte{0x09, 1, 2, 3, 4, 5, 6, 7, 8},
		[]byte{0x0d, 1, 2, 3}, []byte{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01},
		[]byte{0xf8, 0xff, 0xff, 0xff, 0x1f, 0x01}, []byte{0x80, 0x80, 0x80, 0x80, 0x10, 0x01},
	)
	return cs
}

func TestDecodeRawEdges(t *testing.T) {
	needProtoc(t)
	for _, b := range edgeCases() {
		checkAgainstProtoc(t, b)
	}
}
