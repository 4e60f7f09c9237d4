package digest

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/snapfs/snapfs/snapshot"
)

// Diff is what differs from snapshot A to snapshot B.
type Diff struct {
	Identical bool          `json:"identical"`
	Manifest  []FieldChange `json:"manifest"`
	Units     UnitChanges   `json:"units"`
	// StateDiffers is set when state.bin's bytes differ, whether or not a
	// unit does (units reordered, unknown fields).
	StateDiffers bool       `json:"state_bin_differs"`
	Memory       MemoryDiff `json:"memory"`
}

// FieldChange is a manifest field whose value differs (as in manifest/).
type FieldChange struct {
	Field string `json:"field"`
	A     string `json:"a"`
	B     string `json:"b"`
}

// UnitChanges are the state units only in B (added), only in A (removed),
// and in both with a different type URL or value (changed), by name.
type UnitChanges struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// MemoryDiff is how memory.bin differs, in pages of PageSize bytes.
type MemoryDiff struct {
	PageSize     int64   `json:"page_size"`
	SizeA        int64   `json:"size_a"`
	SizeB        int64   `json:"size_b"`
	ChangedPages int64   `json:"changed_pages"`
	Ranges       []Range `json:"ranges"`
	// Method is "digests" when both records were used (only chunks whose
	// digests differ were read), "read" when both files were read (holes
	// skipped).
	Method string `json:"method"`
}

// Range is a run of changed bytes: whole pages, the last one possibly cut
// by the end of the longer file.
type Range struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// snap is one side of a diff.
type snap struct {
	dir      int
	manifest []byte
	m        *snapshot.Manifest
	state    *os.File
	stateSz  int64
	idx      *snapshot.StateIndex
	mem      *os.File
	memSz    int64
	rec      *Record // nil without a (usable) record
}

func openSnap(dirfd int, which string) (*snap, error) {
	s := &snap{dir: dirfd}
	var err error
	if s.manifest, _, err = readSmall(dirfd, "manifest.bin", snapshot.MaxManifestSize); err != nil {
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	s.m, _ = snapshot.DecodeManifest(s.manifest)
	f, fst, err := openFile(dirfd, "state.bin")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	s.state, s.stateSz = f, fst.Size
	if s.idx, err = snapshot.IndexState(f, fst.Size); err != nil {
		s.close()
		return nil, fmt.Errorf("%s: state.bin: %w", which, err)
	}
	mf, mst, err := openFile(dirfd, "memory.bin")
	if err != nil {
		s.close()
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	s.mem, s.memSz = mf, mst.Size
	if r, err := ReadRecord(dirfd); err == nil && r.Files[FileMemory].Size == s.memSz {
		s.rec = r
	} else if err != nil && !errors.Is(err, ErrNoRecord) {
		return nil, fmt.Errorf("%s: %w", which, err)
	}
	return s, nil
}

func (s *snap) close() {
	if s.state != nil {
		s.state.Close()
	}
	if s.mem != nil {
		s.mem.Close()
	}
}

// Compare compares the snapshot directories a and b.
func Compare(a, b int, o *Options) (*Diff, error) {
	sa, err := openSnap(a, "A")
	if err != nil {
		return nil, err
	}
	defer sa.close()
	sb, err := openSnap(b, "B")
	if err != nil {
		return nil, err
	}
	defer sb.close()
	d := &Diff{Manifest: []FieldChange{}}
	d.Units = UnitChanges{Added: []string{}, Removed: []string{}, Changed: []string{}}
	diffManifest(d, sa, sb)
	if err := diffUnits(d, sa, sb); err != nil {
		return nil, err
	}
	if d.Memory, err = diffMemory(sa, sb, pageSize(sa, sb), o); err != nil {
		return nil, err
	}
	d.Identical = len(d.Manifest) == 0 && !d.StateDiffers && len(d.Units.Added)+len(d.Units.Removed)+len(d.Units.Changed) == 0 &&
		d.Memory.ChangedPages == 0
	return d, nil
}

func diffManifest(d *Diff, a, b *snap) {
	if bytes.Equal(a.manifest, b.manifest) {
		return
	}
	if a.m == nil || b.m == nil {
		d.Manifest = append(d.Manifest, FieldChange{"manifest.bin", manifestText(a), manifestText(b)})
		return
	}
	for _, f := range snapshot.ManifestFields {
		x, _ := a.m.Field(f)
		y, _ := b.m.Field(f)
		if !bytes.Equal(x, y) {
			d.Manifest = append(d.Manifest, FieldChange{f, strings.TrimSuffix(string(x), "\n"), strings.TrimSuffix(string(y), "\n")})
		}
	}
	if len(d.Manifest) == 0 { // fields this version does not know
		d.Manifest = append(d.Manifest, FieldChange{"unknown fields", fmt.Sprintf("%x", a.m.Unknown), fmt.Sprintf("%x", b.m.Unknown)})
	}
}

func manifestText(s *snap) string {
	if s.m == nil {
		return fmt.Sprintf("(undecodable, %d bytes)", len(s.manifest))
	}
	return fmt.Sprintf("(%d bytes)", len(s.manifest))
}

func diffUnits(d *Diff, a, b *snap) error {
	first := func(x *snapshot.StateIndex) map[string]snapshot.Unit {
		m := map[string]snapshot.Unit{}
		for _, u := range x.Units {
			if _, ok := m[u.Name]; !ok {
				m[u.Name] = u
			}
		}
		return m
	}
	ua, ub := first(a.idx), first(b.idx)
	for _, u := range b.idx.Units {
		if _, ok := ua[u.Name]; !ok && !contains(d.Units.Added, u.Name) {
			d.Units.Added = append(d.Units.Added, u.Name)
		}
	}
	for _, u := range a.idx.Units {
		v, ok := ub[u.Name]
		if !ok {
			if !contains(d.Units.Removed, u.Name) {
				d.Units.Removed = append(d.Units.Removed, u.Name)
			}
			continue
		}
		if ua[u.Name] != u || contains(d.Units.Changed, u.Name) {
			continue // a duplicate name: its first unit speaks for it
		}
		same := u.TypeURL == v.TypeURL && u.ValueLen == v.ValueLen
		if same {
			var err error
			if same, err = sameBytes(a.state, u.ValueOff, b.state, v.ValueOff, u.ValueLen); err != nil {
				return err
			}
		}
		if !same {
			d.Units.Changed = append(d.Units.Changed, u.Name)
		}
	}
	if a.stateSz != b.stateSz {
		d.StateDiffers = true
		return nil
	}
	if a.rec != nil && b.rec != nil && a.rec.Files[FileState].Size == a.stateSz && b.rec.Files[FileState].Size == b.stateSz {
		d.StateDiffers = a.rec.Files[FileState].Sum != b.rec.Files[FileState].Sum
		return nil
	}
	same, err := sameBytes(a.state, 0, b.state, 0, a.stateSz)
	d.StateDiffers = !same
	return err
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// sameBytes compares n bytes of fa at oa with n bytes of fb at ob.
func sameBytes(fa *os.File, oa int64, fb *os.File, ob int64, n int64) (bool, error) {
	ba, bb := make([]byte, min(n, ChunkSize)), make([]byte, min(n, ChunkSize))
	for done := int64(0); done < n; {
		l := min(n-done, ChunkSize)
		if _, err := fa.ReadAt(ba[:l], oa+done); err != nil {
			return false, fmt.Errorf("A: %s: %w", fa.Name(), err)
		}
		if _, err := fb.ReadAt(bb[:l], ob+done); err != nil {
			return false, fmt.Errorf("B: %s: %w", fb.Name(), err)
		}
		if !bytes.Equal(ba[:l], bb[:l]) {
			return false, nil
		}
		done += l
	}
	return true, nil
}

// pageSize is A's manifest page size when it is usable, else B's, else
// 4096.
func pageSize(a, b *snap) int64 {
	for _, s := range []*snap{a, b} {
		if s.m != nil && s.m.PageSize >= 4096 && bits.OnesCount32(s.m.PageSize) == 1 {
			return int64(s.m.PageSize)
		}
	}
	return 4096
}

// isData reports whether chunk i is in runs (sorted), advancing *k.
func isData(runs []Run, k *int, i int64) bool {
	off := i * ChunkSize
	for *k < len(runs) && runs[*k].Off+runs[*k].Len <= off {
		*k++
	}
	return *k < len(runs) && runs[*k].Off <= off
}

// diffMemory finds the changed pages of memory.bin.
func diffMemory(a, b *snap, page int64, o *Options) (MemoryDiff, error) {
	md := MemoryDiff{PageSize: page, SizeA: a.memSz, SizeB: b.memSz, Ranges: []Range{}}
	useDigests := a.rec != nil && b.rec != nil
	var runsA, runsB []Run
	if useDigests {
		md.Method = "digests"
		runsA, runsB = a.rec.Runs, b.rec.Runs
	} else {
		md.Method = "read"
		var err error
		if runsA, err = dataRuns(int(a.mem.Fd()), a.memSz); err != nil {
			return md, fmt.Errorf("A: %w", err)
		}
		if runsB, err = dataRuns(int(b.mem.Fd()), b.memSz); err != nil {
			return md, fmt.Errorf("B: %w", err)
		}
	}
	n := max(numChunks(a.memSz), numChunks(b.memSz))
	// Each chunk that may differ is compared by a worker, which records
	// the offsets of its differing units (pages, or the chunk when pages
	// are larger).
	unit := min(page, ChunkSize)
	changed := make([][]int64, n)
	type job struct {
		i            int64
		dataA, dataB bool
	}
	work := make(chan job, 4*o.workers())
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	for range o.workers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				offs, err := compareChunk(a, b, j.i, j.dataA, j.dataB, unit)
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					continue
				}
				changed[j.i] = offs
				o.add(ChunkSize)
			}
		}()
	}
	ka, kb := 0, 0
	for i := int64(0); i < n; i++ {
		da, db := isData(runsA, &ka, i), isData(runsB, &kb, i)
		la, lb := max(0, chunkLen(i, a.memSz)), max(0, chunkLen(i, b.memSz))
		if useDigests {
			sa, _, oka := a.rec.Chunk(i)
			sb, _, okb := b.rec.Chunk(i)
			if oka && okb && la == lb && sa == sb {
				continue
			}
		} else if !da && !db && la == lb {
			continue // holes in both
		}
		work <- job{i, da, db}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return md, firstErr
	}
	end := max(a.memSz, b.memSz)
	last := int64(-1)
	for _, offs := range changed {
		for _, off := range offs {
			p := off / page
			if p == last {
				continue
			}
			last = p
			md.ChangedPages++
			start := p * page
			l := min(page, end-start)
			if r := len(md.Ranges); r > 0 && md.Ranges[r-1].Offset+md.Ranges[r-1].Length == start {
				md.Ranges[r-1].Length += l
			} else {
				md.Ranges = append(md.Ranges, Range{start, l})
			}
		}
	}
	sort.Slice(md.Ranges, func(i, j int) bool { return md.Ranges[i].Offset < md.Ranges[j].Offset })
	return md, nil
}

var zeros = make([]byte, ChunkSize)

// compareChunk compares chunk i of both memory files in units of unit
// bytes and returns the offsets of those that differ. A hole is not read
// (in "read" mode the data maps say where they are; with digests every
// chunk compared is read, holes read as zeros).
func compareChunk(a, b *snap, i int64, dataA, dataB bool, unit int64) ([]int64, error) {
	load := func(s *snap, data bool, which string) ([]byte, *[]byte, error) {
		l := max(0, chunkLen(i, s.memSz))
		if l == 0 {
			return nil, nil, nil
		}
		if s.rec == nil && !data {
			return zeros[:l], nil, nil
		}
		bp, err := readChunk(s.mem, i, l)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", which, err)
		}
		return (*bp)[:l], bp, nil
	}
	ba, pa, err := load(a, dataA, "A")
	if err != nil {
		return nil, err
	}
	if pa != nil {
		defer bufPool.Put(pa)
	}
	bb, pb, err := load(b, dataB, "B")
	if err != nil {
		return nil, err
	}
	if pb != nil {
		defer bufPool.Put(pb)
	}
	var out []int64
	for p := int64(0); p < ChunkSize; p += unit {
		x, y := window(ba, p, unit), window(bb, p, unit)
		if len(x) == 0 && len(y) == 0 {
			break
		}
		if !bytes.Equal(x, y) {
			out = append(out, i*ChunkSize+p)
		}
	}
	return out, nil
}

func window(b []byte, off, n int64) []byte {
	if off >= int64(len(b)) {
		return nil
	}
	return b[off:min(off+n, int64(len(b)))]
}
