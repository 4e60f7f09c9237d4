// Package digest makes, reads and checks a snapshot's digest record: the
// SHA-256 of manifest.bin, state.bin and memory.bin, and for memory.bin
// one SHA-256 per 1 MiB chunk of its data regions with the hole map. It
// also compares two snapshots (Diff). Every file is reached from a
// directory fd with openat(O_NOFOLLOW): nothing below it is resolved by
// path or followed.
//
// The record is a small text file, STORE/<name>/.snapfs-digest:
//
//	snapfs-digest 1
//	chunk-size 1048576
//	file manifest.bin <size> <sha256>
//	file state.bin <size> <sha256>
//	file memory.bin <size> <sha256>
//	data <offset> <length>
//	<sha256 of the chunk at offset>
//	<sha256 of the next chunk>
//	...
//	data <offset> <length>
//	...
//	end <sha256 of every byte above this line>
//
// Sizes and offsets are decimal, digests lower-case hex. Chunk i covers
// bytes [i*chunk-size, (i+1)*chunk-size) of memory.bin (the last one
// ends at its size). A `data` line is a run of chunks holding data
// (SEEK_DATA found some), chunk-aligned, in increasing order and not
// touching the previous run; it is followed by one digest per chunk of
// the run, of all the chunk's bytes (a hole inside reads as zeros).
// Chunks in no run are holes: all zeros. The last line guards the record
// itself against damage.
package digest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
)

// ChunkSize is the size of memory.bin's chunks.
const ChunkSize = 1 << 20

// RecordName is the record's file name in a snapshot directory, and
// ResultName the last verification's result beside it. Both are hidden
// (OpenVMM and snapfs's tree ignore them) and travel with the directory.
const (
	RecordName = ".snapfs-digest"
	ResultName = ".snapfs-verify.json"
)

// Files are the snapshot files a record covers, in its order.
var Files = [3]string{"manifest.bin", "state.bin", "memory.bin"}

const (
	FileManifest = 0
	FileState    = 1
	FileMemory   = 2
)

// Sum is a SHA-256 digest.
type Sum [sha256.Size]byte

func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// Header is the file lines of a record.
type Header [3]FileDigest

// FileDigest is one file's size and SHA-256.
type FileDigest struct {
	Size int64
	Sum  Sum
}

// Run is a run of data chunks of memory.bin: [Off, Off+Len).
type Run struct{ Off, Len int64 }

// Record is a snapshot's digest record.
type Record struct {
	Files  Header
	Runs   []Run // data runs of memory.bin, chunk-aligned
	Chunks []Sum // one per chunk of Runs, in order
	first  []int // index in Chunks of each run's first chunk
}

const (
	magic   = "snapfs-digest 1"
	maxSize = math.MaxInt64 - ChunkSize
	// MaxHeader is how much of a record holds its header (the file
	// lines): the daemon reads only that much for sha256sums.
	MaxHeader = 512
)

// chunks returns the number of chunks of a run.
func (r Run) chunks() int64 { return (r.Len + ChunkSize - 1) / ChunkSize }

// Encode renders r in the record format.
func (r *Record) Encode() []byte {
	var b bytes.Buffer
	b.Grow(200 + 30*len(r.Runs) + 65*len(r.Chunks))
	r.header(&b)
	k := 0
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "data %d %d\n", run.Off, run.Len)
		for i := int64(0); i < run.chunks(); i++ {
			b.WriteString(r.Chunks[k].String())
			b.WriteByte('\n')
			k++
		}
	}
	sum := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "end %x\n", sum)
	return b.Bytes()
}

func (r *Record) header(b *bytes.Buffer) {
	fmt.Fprintf(b, "%s\nchunk-size %d\n", magic, ChunkSize)
	for i, f := range r.Files {
		fmt.Fprintf(b, "file %s %d %s\n", Files[i], f.Size, f.Sum)
	}
}

// Sums is the sha256sums view: `sha256sum -c` format (text mode, two
// spaces) for the three files.
func (h *Header) Sums() []byte {
	var b bytes.Buffer
	for i, f := range h {
		fmt.Fprintf(&b, "%s  %s\n", f.Sum, Files[i])
	}
	return b.Bytes()
}

// lines splits b into lines; the last must end in a newline.
type lines struct {
	b    []byte
	n    int // line number of the last line returned
	prev int // offset of the last line
	off  int
}

func (l *lines) next() ([]byte, error) {
	if l.off >= len(l.b) {
		return nil, fmt.Errorf("line %d: unexpected end of record", l.n+1)
	}
	i := bytes.IndexByte(l.b[l.off:], '\n')
	if i < 0 {
		return nil, fmt.Errorf("line %d: no newline at the end", l.n+1)
	}
	l.n++
	line := l.b[l.off : l.off+i]
	l.prev, l.off = l.off, l.off+i+1
	return line, nil
}

func (l *lines) errorf(format string, a ...any) error {
	return fmt.Errorf("line %d: %s", l.n, fmt.Sprintf(format, a...))
}

// ParseHeader parses the file lines of a record from its first bytes (at
// least MaxHeader of them, or all of a shorter record). It does not check
// the rest: the daemon shows sha256sums from it.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	err := parseHeader(&lines{b: b}, &h)
	return h, err
}

func parseHeader(l *lines, h *Header) error {
	line, err := l.next()
	if err != nil {
		return err
	}
	if string(line) != magic {
		return l.errorf("not a snapfs digest record (want %q, got %q)", magic, clip(line))
	}
	if line, err = l.next(); err != nil {
		return err
	}
	if want := fmt.Sprintf("chunk-size %d", ChunkSize); string(line) != want {
		return l.errorf("want %q, got %q", want, clip(line))
	}
	for i := range h {
		if line, err = l.next(); err != nil {
			return err
		}
		f := bytes.Split(line, []byte(" "))
		if len(f) != 4 || string(f[0]) != "file" || string(f[1]) != Files[i] {
			return l.errorf("want \"file %s SIZE SHA256\", got %q", Files[i], clip(line))
		}
		if h[i].Size, err = parseInt(f[2], maxSize); err != nil {
			return l.errorf("size of %s: %v", Files[i], err)
		}
		if h[i].Sum, err = parseSum(f[3]); err != nil {
			return l.errorf("digest of %s: %v", Files[i], err)
		}
	}
	return nil
}

// Parse parses a whole record, checking that its runs are chunk-aligned,
// ordered, within memory.bin and complete, and that it is undamaged.
func Parse(b []byte) (*Record, error) {
	r := &Record{}
	l := &lines{b: b}
	if err := parseHeader(l, &r.Files); err != nil {
		return nil, err
	}
	size := r.Files[FileMemory].Size
	end := int64(-1) // end of the previous run
	for {
		line, err := l.next()
		if err != nil {
			return nil, err
		}
		if bytes.HasPrefix(line, []byte("end ")) {
			want, err := parseSum(line[4:])
			if err != nil {
				return nil, l.errorf("end: %v", err)
			}
			if sha256.Sum256(b[:l.prev]) != want {
				return nil, l.errorf("the record is damaged (its checksum does not match)")
			}
			if l.off != len(b) {
				return nil, fmt.Errorf("line %d: data after the end line", l.n+1)
			}
			return r, nil
		}
		f := bytes.Split(line, []byte(" "))
		if len(f) != 3 || string(f[0]) != "data" {
			return nil, l.errorf("want \"data OFFSET LENGTH\" or \"end SHA256\", got %q", clip(line))
		}
		var run Run
		if run.Off, err = parseInt(f[1], maxSize); err != nil {
			return nil, l.errorf("data offset: %v", err)
		}
		if run.Len, err = parseInt(f[2], maxSize); err != nil {
			return nil, l.errorf("data length: %v", err)
		}
		switch {
		case run.Off%ChunkSize != 0:
			return nil, l.errorf("data offset %d is not a multiple of the chunk size", run.Off)
		case run.Len == 0:
			return nil, l.errorf("data run at %d is empty", run.Off)
		case run.Off <= end:
			return nil, l.errorf("data run at %d does not follow the previous run (ending at %d) with a hole", run.Off, end)
		case run.Off > size || run.Len > size-run.Off:
			return nil, l.errorf("data run %d+%d goes past the end of memory.bin (%d bytes)", run.Off, run.Len, size)
		case run.Len%ChunkSize != 0 && run.Off+run.Len != size:
			return nil, l.errorf("data run %d+%d does not end at a chunk boundary or the end of memory.bin", run.Off, run.Len)
		}
		end = run.Off + run.Len
		r.first = append(r.first, len(r.Chunks))
		r.Runs = append(r.Runs, run)
		for i := int64(0); i < run.chunks(); i++ {
			line, err := l.next()
			if err != nil {
				return nil, err
			}
			s, err := parseSum(line)
			if err != nil {
				return nil, l.errorf("digest of the chunk at %d: %v", run.Off+i*ChunkSize, err)
			}
			r.Chunks = append(r.Chunks, s)
		}
	}
}

// index builds first for a record made in memory.
func (r *Record) index() {
	r.first = r.first[:0]
	k := 0
	for _, run := range r.Runs {
		r.first = append(r.first, k)
		k += int(run.chunks())
	}
}

// NumChunks is the number of chunks of memory.bin as recorded.
func (r *Record) NumChunks() int64 { return numChunks(r.Files[FileMemory].Size) }

func numChunks(size int64) int64 { return (size + ChunkSize - 1) / ChunkSize }

// Chunk returns the recorded digest of chunk i of memory.bin (the digest
// of zeros for a hole) and whether it holds data; ok is false past the
// recorded size.
func (r *Record) Chunk(i int64) (sum Sum, data, ok bool) {
	size := r.Files[FileMemory].Size
	off := i * ChunkSize
	if i < 0 || off >= size {
		return sum, false, false
	}
	if len(r.first) != len(r.Runs) {
		r.index()
	}
	k := sort.Search(len(r.Runs), func(k int) bool { return r.Runs[k].Off+r.Runs[k].Len > off })
	if k < len(r.Runs) && r.Runs[k].Off <= off {
		return r.Chunks[r.first[k]+int((off-r.Runs[k].Off)/ChunkSize)], true, true
	}
	return ZeroSum(min(ChunkSize, size-off)), false, true
}

var zeroChunk = sha256.Sum256(make([]byte, ChunkSize))

// ZeroSum is the SHA-256 of n zero bytes (n <= ChunkSize).
func ZeroSum(n int64) Sum {
	if n == ChunkSize {
		return zeroChunk
	}
	return sha256.Sum256(make([]byte, n))
}

func parseInt(b []byte, limit int64) (int64, error) {
	if len(b) == 0 || len(b) > 1 && b[0] == '0' || b[0] == '+' || b[0] == '-' {
		return 0, fmt.Errorf("%q is not a decimal number", clip(b))
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || v > limit {
		return 0, fmt.Errorf("%q is not a number in [0, %d]", clip(b), limit)
	}
	return v, nil
}

func parseSum(b []byte) (Sum, error) {
	var s Sum
	if len(b) != 2*len(s) {
		return s, fmt.Errorf("%q is not 64 hex digits", clip(b))
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return s, fmt.Errorf("%q is not 64 lower-case hex digits", clip(b))
		}
	}
	_, err := hex.Decode(s[:], b)
	return s, err
}

// clip shortens what an error quotes.
func clip(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:77:77], "..."...)
	}
	return b
}

// ErrNoRecord is returned when a snapshot has no digest record.
var ErrNoRecord = errors.New("no digest record")
