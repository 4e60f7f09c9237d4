package snapshot

import (
	"encoding/binary"
	"errors"
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// windowSize is how much of state.bin is read at a time when decoding tags
// and lengths, so indexing costs a few syscalls per 64 KiB of metadata and
// skips over unit values without reading them.
const windowSize = 64 << 10

// window is a small read-through cache over an io.ReaderAt.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	base int64 // file offset of buf[0]
	strs int64 // bytes of the strings str returned so far
}

// bytesAt returns up to n bytes at off (n <= windowSize), fewer only at the
// end of the file. The slice is valid until the next call.
func (w *window) bytesAt(off int64, n int) ([]byte, error) {
	if off >= w.base && off+int64(n) <= w.base+int64(len(w.buf)) {
		return w.buf[off-w.base : off-w.base+int64(n)], nil
	}
	if w.buf == nil {
		w.buf = make([]byte, windowSize)
	}
	want := int64(windowSize)
	if rest := w.size - off; rest < want {
		want = rest
	}
	if want < 0 {
		want = 0
	}
	buf := w.buf[:cap(w.buf)][:want]
	got, err := w.r.ReadAt(buf, off)
	if err != nil && !(errors.Is(err, io.EOF) && got == len(buf)) {
		w.buf = w.buf[:0]
		if errors.Is(err, io.EOF) {
			return nil, errors.New("file shorter than its size (changed while reading?)")
		}
		return nil, err
	}
	w.buf, w.base = buf, off
	if n > len(buf) {
		n = len(buf)
	}
	return buf[:n], nil
}

// varint decodes the varint at off, which must end before limit.
func (w *window) varint(off, limit int64) (v uint64, n int, err error) {
	max := int64(binary.MaxVarintLen64)
	if limit-off < max {
		max = limit - off
	}
	p, err := w.bytesAt(off, int(max))
	if err != nil {
		return 0, 0, err
	}
	v, n = protowire.ConsumeVarint(p)
	if n < 0 {
		return 0, 0, wireError(n)
	}
	return v, n, nil
}
