package digest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Options tune Make, Verify and Diff.
type Options struct {
	// Workers hash (or compare) chunks in parallel; 0 means one per CPU.
	Workers int
	// Done, when set, is advanced by the bytes processed (holes count as
	// processed), for a progress bar; Total says what it goes up to.
	Done *atomic.Int64
	// Thread, when set, runs first in each goroutine that reads or
	// hashes (with its OS thread locked), e.g. to lower its priority.
	Thread func()
	// Turn, when set, is held while each chunk (ChunkSize bytes) is read
	// and hashed, so digests running side by side can take turns.
	Turn sync.Locker
}

// lock and unlock take and give back o.Turn, if any.
func (o *Options) lock() {
	if o != nil && o.Turn != nil {
		o.Turn.Lock()
	}
}

func (o *Options) unlock() {
	if o != nil && o.Turn != nil {
		o.Turn.Unlock()
	}
}

// thread runs o.Thread, if any, on the calling goroutine's own thread.
func (o *Options) thread() {
	if o != nil && o.Thread != nil {
		runtime.LockOSThread() // released when the goroutine ends
		o.Thread()
	}
}

func (o *Options) workers() int {
	if o == nil || o.Workers <= 0 {
		return runtime.NumCPU()
	}
	return o.Workers
}

func (o *Options) add(n int64) {
	if o != nil && o.Done != nil {
		o.Done.Add(n)
	}
}

// Total is the bytes Make or Verify of the directory dirfd processes: the
// sizes of its three files (0 for one that cannot be stat'ed).
func Total(dirfd int) int64 {
	var n int64
	for _, name := range Files {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			n += st.Size
		}
	}
	return n
}

// hashFile returns the size and SHA-256 of f.
func hashFile(f *os.File, o *Options) (FileDigest, error) {
	h := sha256.New()
	buf := make([]byte, ChunkSize)
	var d FileDigest
	for {
		o.lock()
		n, err := f.Read(buf)
		h.Write(buf[:n])
		o.unlock()
		d.Size += int64(n)
		o.add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, fmt.Errorf("%s: %w", f.Name(), err)
		}
	}
	copy(d.Sum[:], h.Sum(nil))
	return d, nil
}

// dataRuns maps the data of memory.bin (fd, size bytes) at chunk
// granularity: chunk-aligned runs holding every byte SEEK_DATA finds.
// A filesystem without SEEK_DATA is all data.
func dataRuns(fd int, size int64) ([]Run, error) {
	var runs []Run
	for off := int64(0); off < size; {
		d, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break
		}
		if err == unix.EINVAL || err == unix.EOPNOTSUPP {
			return []Run{{0, size}}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("memory.bin: SEEK_DATA: %w", err)
		}
		if d >= size {
			break
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("memory.bin: SEEK_HOLE: %w", err)
		}
		start := d &^ (ChunkSize - 1)
		end := min((h+ChunkSize-1)&^(ChunkSize-1), size)
		if n := len(runs); n > 0 && runs[n-1].Off+runs[n-1].Len >= start {
			runs[n-1].Len = end - runs[n-1].Off
		} else {
			runs = append(runs, Run{start, end - start})
		}
		off = end
	}
	return runs, nil
}

// chunkLen is the length of chunk i of a file of size bytes.
func chunkLen(i, size int64) int64 { return min(ChunkSize, size-i*ChunkSize) }

var bufPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// readChunk reads chunk i (n bytes) of f into a pooled buffer.
func readChunk(f *os.File, i, n int64) (*[]byte, error) {
	bp := bufPool.Get().(*[]byte)
	if _, err := f.ReadAt((*bp)[:n], i*ChunkSize); err != nil {
		bufPool.Put(bp)
		return nil, fmt.Errorf("%s: reading at offset %d: %w", f.Name(), i*ChunkSize, err)
	}
	return bp, nil
}

// Make reads the snapshot directory dirfd and returns its record. It
// fails if memory.bin changes meanwhile.
func Make(dirfd int, o *Options) (*Record, error) {
	r := &Record{}
	for i, name := range Files[:FileMemory] {
		f, _, err := openFile(dirfd, name)
		if err != nil {
			return nil, err
		}
		r.Files[i], err = hashFile(f, o)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	f, st, err := openFile(dirfd, Files[FileMemory])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size
	if r.Runs, err = dataRuns(int(f.Fd()), size); err != nil {
		return nil, err
	}
	r.index()
	nData := 0
	for _, run := range r.Runs {
		nData += int(run.chunks())
	}
	r.Chunks = make([]Sum, nData)

	// Workers read and hash data chunks; one goroutine feeds every chunk,
	// in order, to the whole-file hash (zeros for holes). The ordered
	// queue bounds the buffers in flight.
	type job struct {
		i, k int64 // chunk index, index in r.Chunks (-1: hole)
		buf  *[]byte
		err  error
		done chan struct{}
	}
	nw := o.workers()
	work := make(chan *job, nw)
	order := make(chan *job, 2*nw+2)
	var wg sync.WaitGroup
	for range nw {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.thread()
			for j := range work {
				n := chunkLen(j.i, size)
				o.lock()
				if j.buf, j.err = readChunk(f, j.i, n); j.err == nil {
					r.Chunks[j.k] = sha256.Sum256((*j.buf)[:n])
				}
				o.unlock()
				close(j.done)
			}
		}()
	}
	whole := sha256.New()
	hashed := make(chan error, 1)
	go func() {
		o.thread()
		var err error
		zeros := make([]byte, ChunkSize)
		for j := range order {
			<-j.done
			n := chunkLen(j.i, size)
			o.lock()
			switch {
			case err != nil:
			case j.err != nil:
				err = j.err
			case j.buf == nil:
				whole.Write(zeros[:n])
			default:
				whole.Write((*j.buf)[:n])
			}
			o.unlock()
			if j.buf != nil {
				bufPool.Put(j.buf)
			}
			o.add(n)
		}
		hashed <- err
	}()
	closed := make(chan struct{})
	close(closed)
	run, k := 0, int64(0)
	for i := int64(0); i < numChunks(size); i++ {
		off := i * ChunkSize
		for run < len(r.Runs) && r.Runs[run].Off+r.Runs[run].Len <= off {
			run++
		}
		if run < len(r.Runs) && r.Runs[run].Off <= off {
			j := &job{i: i, k: k, done: make(chan struct{})}
			k++
			order <- j
			work <- j
		} else {
			order <- &job{i: i, k: -1, done: closed}
		}
	}
	close(work)
	close(order)
	wg.Wait()
	if err := <-hashed; err != nil {
		return nil, err
	}
	r.Files[FileMemory] = FileDigest{Size: size}
	copy(r.Files[FileMemory].Sum[:], whole.Sum(nil))
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return nil, err
	}
	if after.Size != st.Size || after.Mtim != st.Mtim || after.Ctim != st.Ctim {
		return nil, fmt.Errorf("memory.bin changed while it was being digested")
	}
	return r, nil
}
