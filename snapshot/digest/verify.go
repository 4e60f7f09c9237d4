package digest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Result is what a verification found. It is printed by `snapfs verify
// --json` and stored as ResultName beside the record, where the status
// view reads it.
type Result struct {
	Version   int          `json:"version"`
	Snapshot  string       `json:"snapshot"`
	CheckedAt string       `json:"checked_at"` // RFC 3339, UTC
	Intact    bool         `json:"intact"`
	Files     []FileResult `json:"files"`
	// Mismatches lists the first MaxListed differing regions: a whole
	// file (manifest.bin, state.bin) or one chunk of memory.bin.
	Mismatches    []Mismatch `json:"mismatches"`
	MismatchCount int        `json:"mismatch_count"`
}

// FileResult is one file's verdict.
type FileResult struct {
	Name       string `json:"name"`
	OK         bool   `json:"ok"`
	Size       int64  `json:"size"` // -1 when it cannot be read
	DigestSize int64  `json:"digest_size"`
	Error      string `json:"error,omitempty"` // why it cannot be read
}

// Mismatch is a region of a file that differs from its digest.
type Mismatch struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// MaxListed bounds the mismatches a Result lists (all are counted).
const MaxListed = 1000

// resultVersion is the format version of a stored Result.
const resultVersion = 1

// Verify re-reads the snapshot directory dirfd and compares it with rec:
// manifest.bin and state.bin whole, memory.bin chunk by chunk (its data
// chunks read in parallel, holes compared without reading).
func Verify(dirfd int, name string, rec *Record, o *Options) (*Result, error) {
	res := &Result{Version: resultVersion, Snapshot: name, CheckedAt: time.Now().UTC().Format(time.RFC3339Nano)}
	var all []Mismatch
	for i, fname := range Files[:FileMemory] {
		fr := FileResult{Name: fname, Size: -1, DigestSize: rec.Files[i].Size}
		f, _, err := openFile(dirfd, fname)
		if err == nil {
			var d FileDigest
			d, err = hashFile(f, o)
			f.Close()
			fr.Size = d.Size
			fr.OK = err == nil && d == rec.Files[i]
		}
		if err != nil {
			fr.Error = err.Error()
		}
		if !fr.OK {
			all = append(all, Mismatch{fname, 0, max(fr.Size, rec.Files[i].Size)})
		}
		res.Files = append(res.Files, fr)
	}
	mm, fr, err := verifyMemory(dirfd, rec, o)
	if err != nil {
		return nil, err
	}
	res.Files = append(res.Files, fr)
	all = append(all, mm...)
	res.MismatchCount = len(all)
	res.Intact = len(all) == 0
	if len(all) > MaxListed {
		all = all[:MaxListed]
	}
	res.Mismatches = all
	if res.Mismatches == nil {
		res.Mismatches = []Mismatch{}
	}
	return res, nil
}

func verifyMemory(dirfd int, rec *Record, o *Options) ([]Mismatch, FileResult, error) {
	want := rec.Files[FileMemory].Size
	fr := FileResult{Name: Files[FileMemory], Size: -1, DigestSize: want}
	f, st, err := openFile(dirfd, fr.Name)
	if err != nil {
		fr.Error = err.Error()
		return []Mismatch{{fr.Name, 0, want}}, fr, nil
	}
	defer f.Close()
	size := st.Size
	fr.Size = size
	runs, err := dataRuns(int(f.Fd()), size)
	if err != nil {
		return nil, fr, err
	}
	n := max(numChunks(size), rec.NumChunks())
	var (
		mu  sync.Mutex
		bad []Mismatch
	)
	check := func(i int64, got Sum) {
		exp, _, ok := rec.Chunk(i)
		off := i * ChunkSize
		if ok && off < size && chunkLen(i, size) == chunkLen(i, want) && got == exp {
			return
		}
		mu.Lock()
		bad = append(bad, Mismatch{fr.Name, off, max(chunkLen(i, size), chunkLen(i, want))})
		mu.Unlock()
	}
	nw := o.workers()
	work := make(chan int64, 4*nw)
	errs := make(chan error, nw)
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ferr error
			for i := range work {
				if ferr != nil {
					continue
				}
				l := chunkLen(i, size)
				bp, err := readChunk(f, i, l)
				if err != nil {
					ferr = err
					continue
				}
				check(i, sha256.Sum256((*bp)[:l]))
				bufPool.Put(bp)
				o.add(l)
			}
			errs <- ferr
		}()
	}
	run := 0
	for i := int64(0); i < n; i++ {
		off := i * ChunkSize
		for run < len(runs) && runs[run].Off+runs[run].Len <= off {
			run++
		}
		switch {
		case off >= size:
			check(i, Sum{}) // past the end: differs
		case run < len(runs) && runs[run].Off <= off:
			work <- i
		default:
			l := chunkLen(i, size)
			check(i, ZeroSum(l))
			o.add(l)
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, fr, err
		}
	}
	sort.Slice(bad, func(a, b int) bool { return bad[a].Offset < bad[b].Offset })
	fr.OK = len(bad) == 0
	return bad, fr, nil
}

// Problems are the status view's lines for a failed verification: one
// per differing file, naming the first differing offset of memory.bin.
func (r *Result) Problems() []string {
	if r.Intact {
		return nil
	}
	var out []string
	for _, f := range r.Files {
		if f.OK {
			continue
		}
		var first *Mismatch
		n := 0
		for i := range r.Mismatches {
			if r.Mismatches[i].File == f.Name {
				if first == nil {
					first = &r.Mismatches[i]
				}
				n++
			}
		}
		msg := f.Name + " differs from its digest"
		switch {
		case f.Error != "":
			msg += ": " + f.Error
		case f.Name == Files[FileMemory] && first != nil:
			msg += fmt.Sprintf(" at offset %d", first.Offset)
			if n > 1 {
				msg += fmt.Sprintf(" (and %d more chunks)", n-1)
			}
		case f.Size != f.DigestSize:
			msg += fmt.Sprintf(" (%d bytes, the digest is of %d)", f.Size, f.DigestSize)
		}
		out = append(out, msg+" (snapfs verify, "+r.CheckedAt+")")
	}
	return out
}

// MaxResult bounds what is read of a stored Result.
const MaxResult = 1 << 20

// ParseResult parses a stored Result.
func ParseResult(b []byte) (*Result, error) {
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", ResultName, err)
	}
	if r.Version != resultVersion {
		return nil, fmt.Errorf("%s: version %d is not %d", ResultName, r.Version, resultVersion)
	}
	return &r, nil
}

// ReadResult reads the stored Result of the snapshot directory dirfd;
// nil, nil when there is none.
func ReadResult(dirfd int) (*Result, error) {
	b, _, err := readSmall(dirfd, ResultName, MaxResult)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseResult(b)
}

// Store writes r beside the record of the directory dir.
func (r *Result) Store(dir *os.File) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteAt(dir, ResultName, append(b, '\n'), statRecord(int(dir.Fd())))
}

// statRecord lstats the record of dirfd, nil if it cannot.
func statRecord(dirfd int) *unix.Stat_t {
	var st unix.Stat_t
	if unix.Fstatat(dirfd, RecordName, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return nil
	}
	return &st
}
