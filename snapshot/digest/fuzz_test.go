package digest

import (
	"bytes"
	"testing"
)

// FuzzParseRecord: Parse never panics, a record it accepts encodes back
// to the same bytes, and ParseHeader agrees with it on the files.
func FuzzParseRecord(f *testing.F) {
	r := &Record{}
	r.Files[FileMemory].Size = 3*ChunkSize + 5
	r.Runs = []Run{{0, ChunkSize}, {2 * ChunkSize, ChunkSize + 5}}
	r.Chunks = make([]Sum, 3)
	r.Chunks[1][0] = 1
	f.Add(r.Encode())
	f.Add((&Record{}).Encode())
	f.Add([]byte("snapfs-digest 1\nchunk-size 1048576\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, herr := ParseHeader(b)
		r, err := Parse(b)
		if err != nil {
			return
		}
		if herr != nil || h != r.Files {
			t.Fatalf("Parse accepts what ParseHeader refuses: %v", herr)
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("accepted record does not round-trip:\n%q\n%q", b, r.Encode())
		}
		for i := int64(0); i < r.NumChunks() && i < 1<<16; i++ {
			r.Chunk(i)
		}
	})
}
