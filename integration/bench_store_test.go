package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchEnv holds the stores the benchmarks share, each made the first time
// a row asks for it and removed when BenchmarkSnapfs ends.
type benchEnv struct {
	dir    string // everything lives here, on one filesystem
	rounds int
	small  bool

	mu    sync.Mutex
	dense string         // the store with dense memory files, "" until made
	many  map[int]string // stores of N tiny snapshots, by N
}

func newBenchEnv(b *testing.B) *benchEnv {
	dir, err := os.MkdirTemp("", "snapfs-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("removing %s: %v", dir, err)
		}
	})
	env := &benchEnv{dir: dir, rounds: benchRoundsN(), small: benchSmall(), many: map[int]string{}}
	// Every figure of a run is of one binary, even if bin is rebuilt meanwhile.
	pinned := filepath.Join(dir, "snapfs")
	if out, err := exec.Command("cp", bin, pinned).CombinedOutput(); err != nil {
		b.Fatalf("copying %s: %v\n%s", bin, err, out)
	}
	orig := bin
	bin = pinned
	b.Cleanup(func() { bin = orig })
	out, _ := exec.Command(bin, "--version").Output()
	benchLogf("working in %s, %d timed rounds per figure after a warm-up round; %s (%s)",
		dir, env.rounds, orig, strings.TrimSpace(string(out)))
	return env
}

// Sizes of the table, shrunk with BENCH_SMALL.
func (e *benchEnv) bigMemory() int64 { return e.pick(2<<30, 64<<20) }
func (e *benchEnv) midMemory() int64 { return e.pick(1<<30, 32<<20) }
func (e *benchEnv) fewSnaps() int    { return int(e.pick(1000, 100)) }
func (e *benchEnv) manySnaps() int   { return int(e.pick(10000, 1000)) }

func (e *benchEnv) pick(full, small int64) int64 {
	if e.small {
		return small
	}
	return full
}

// Names of the snapshots in the dense store.
const (
	benchBig = "mem-big" // 2 GiB memory.bin: the read benchmarks
	benchMid = "mem-mid" // 1 GiB memory.bin: tar-snapshot and create
)

// denseStore is a store of two snapshots made by `snapfs sample` whose
// memory.bin is then filled with random data (so reads are real), its
// mtime kept so status stays "ok".
func (e *benchEnv) denseStore(b *testing.B) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dense != "" {
		return e.dense
	}
	store := filepath.Join(e.dir, "dense-store")
	if err := os.Mkdir(store, 0o755); err != nil {
		b.Fatal(err)
	}
	d := benchElapsed(func() {
		for _, s := range []struct {
			name string
			size int64
		}{{benchBig, e.bigMemory()}, {benchMid, e.midMemory()}} {
			tmp := filepath.Join(e.dir, "sample-"+s.name)
			if r := snapfs(b, "sample", "--count", "1", "--memory-size", fmt.Sprint(s.size), tmp); r.code != 0 {
				b.Fatalf("snapfs sample: %s", r.stderr)
			}
			dir := filepath.Join(store, s.name)
			if err := os.Rename(filepath.Join(tmp, "vm1"), dir); err != nil {
				b.Fatal(err)
			}
			os.RemoveAll(tmp)
			if err := benchFillRandom(filepath.Join(dir, "memory.bin")); err != nil {
				b.Fatal(err)
			}
		}
	})
	benchLogf("dense store: %s (%d MiB) and %s (%d MiB) of random data in %v",
		benchBig, e.bigMemory()>>20, benchMid, e.midMemory()>>20, d.Round(time.Millisecond))
	e.dense = store
	return store
}

// benchFillRandom overwrites the whole file with random bytes, keeping its
// size and mtime.
func benchFillRandom(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'s', 'n', 'a', 'p', 'f', 's'})
	buf := make([]byte, 4<<20)
	for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
		chunk := buf[:min(int64(len(buf)), fi.Size()-off)]
		rng.Read(chunk)
		if _, err := f.WriteAt(chunk, off); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, fi.ModTime(), fi.ModTime())
}

// manyStore is a store of n valid snapshots with sparse 64 MiB memory
// files, written directly (far faster than `snapfs sample`, which fsyncs):
// copies of 8 sample snapshots (both architectures, 5 to 8 state units),
// each with its own memory.bin.
func (e *benchEnv) manyStore(b *testing.B, n int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.many[n]; ok {
		return s
	}
	tmpl := filepath.Join(e.dir, fmt.Sprintf("templates-%d", n))
	if r := snapfs(b, "sample", "--count", "8", "--memory-size", "64MiB", tmpl); r.code != 0 {
		b.Fatalf("snapfs sample: %s", r.stderr)
	}
	defer os.RemoveAll(tmpl)
	type template struct {
		manifest, state []byte
		memSize         int64
		memTime         time.Time
	}
	var tmpls []template
	for i := 1; i <= 8; i++ {
		dir := filepath.Join(tmpl, fmt.Sprintf("vm%d", i))
		m, err1 := os.ReadFile(filepath.Join(dir, "manifest.bin"))
		s, err2 := os.ReadFile(filepath.Join(dir, "state.bin"))
		fi, err3 := os.Stat(filepath.Join(dir, "memory.bin"))
		for _, err := range []error{err1, err2, err3} {
			if err != nil {
				b.Fatal(err)
			}
		}
		tmpls = append(tmpls, template{m, s, fi.Size(), fi.ModTime()})
	}
	store := filepath.Join(e.dir, fmt.Sprintf("store-%d", n))
	if err := os.Mkdir(store, 0o755); err != nil {
		b.Fatal(err)
	}
	d := benchElapsed(func() {
		for i := range n {
			t := tmpls[i%len(tmpls)]
			dir := filepath.Join(store, fmt.Sprintf("vm%05d", i))
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "manifest.bin"), t.manifest, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "state.bin"), t.state, 0o644); err != nil {
				b.Fatal(err)
			}
			mem := filepath.Join(dir, "memory.bin")
			f, err := os.OpenFile(mem, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
			if err == nil {
				err = f.Truncate(t.memSize)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err == nil {
				err = os.Chtimes(mem, t.memTime, t.memTime)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	benchLogf("store of %d snapshots written in %v", n, d.Round(time.Millisecond))
	e.many[n] = store
	return store
}
