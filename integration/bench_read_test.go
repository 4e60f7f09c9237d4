package integration

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Reads of STORE's files through MNT against the same files read directly
// (or, without passthrough, through bindfs). All warm: the warm-up round
// reads everything once, and the page cache (24 GiB here) holds it.

func benchReadMemory(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	d := mountStore(b, store, "")
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchSeqRead(b, d.Path(benchBig, "memory.bin")) },
		func() float64 { return benchSeqRead(b, filepath.Join(store, benchBig, "memory.bin")) })
	return benchMeasured{snapfs: s, baseline: bl}
}

func benchReadMemoryNoPT(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	d := mountStore(b, store, "", "--no-passthrough")
	bmnt := benchBindfs(b, store)
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchSeqRead(b, d.Path(benchBig, "memory.bin")) },
		func() float64 { return benchSeqRead(b, filepath.Join(bmnt, benchBig, "memory.bin")) })
	return benchMeasured{snapfs: s, baseline: bl}
}

func benchRandReadMemory(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	d := mountStore(b, store, "")
	ops := int(env.pick(100000, 10000)) // per thread
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchRandRead(b, d.Path(benchBig, "memory.bin"), 4, ops) },
		func() float64 { return benchRandRead(b, filepath.Join(store, benchBig, "memory.bin"), 4, ops) })
	return benchMeasured{snapfs: s, baseline: bl, notes: map[string]any{"ops_per_thread": ops, "threads": 4}}
}

func benchMmapMemory(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	d := mountStore(b, store, "")
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchMmapTouch(b, d.Path(benchBig, "memory.bin")) },
		func() float64 { return benchMmapTouch(b, filepath.Join(store, benchBig, "memory.bin")) })
	return benchMeasured{snapfs: s, baseline: bl}
}

// benchTarSnapshot archives one snapshot directory to a pipe read by cat:
// GNU tar does not read file data when the archive is /dev/null itself.
func benchTarSnapshot(b *testing.B, env *benchEnv) benchMeasured {
	store := env.denseStore(b)
	d := mountStore(b, store, "")
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchTar(b, d.Mnt, benchMid) },
		func() float64 { return benchTar(b, store, benchMid) })
	return benchMeasured{snapfs: s, baseline: bl}
}

var benchBuf = make([]byte, 1<<20)

// benchSeqRead reads path start to end in 1 MiB reads; MiB/s.
func benchSeqRead(b *testing.B, path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var n int64
	el := benchElapsed(func() {
		for {
			m, err := f.Read(benchBuf)
			n += int64(m)
			if err == io.EOF {
				return
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	return float64(n) / (1 << 20) / el.Seconds()
}

// benchRandRead does ops 4 KiB preads at random page offsets in each of
// threads goroutines, each with its own descriptor; thousands of ops/s.
func benchRandRead(b *testing.B, path string, threads, ops int) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	pages := uint64(fi.Size() / 4096)
	files := make([]*os.File, threads)
	for i := range files {
		if files[i], err = os.Open(path); err != nil {
			b.Fatal(err)
		}
		defer files[i].Close()
	}
	errs := make(chan error, threads)
	el := benchElapsed(func() {
		var wg sync.WaitGroup
		for i := range threads {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(i), 42))
				buf := make([]byte, 4096)
				fd := int(files[i].Fd())
				for range ops {
					off := int64(rng.Uint64N(pages)) * 4096
					if n, err := unix.Pread(fd, buf, off); err != nil || n != 4096 {
						errs <- fmt.Errorf("pread %s at %d: %d, %v", path, off, n, err)
						return
					}
				}
			})
		}
		wg.Wait()
	})
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return float64(threads*ops) / 1000 / el.Seconds()
}

var benchSink byte

// benchMmapTouch maps path and reads one byte of every 4 KiB page; ms,
// including open, mmap and munmap.
func benchMmapTouch(b *testing.B, path string) float64 {
	el := benchElapsed(func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			b.Fatalf("mmap %s: %v", path, err)
		}
		var x byte
		for off := 0; off < len(m); off += 4096 {
			x ^= m[off]
		}
		benchSink = x
		if err := unix.Munmap(m); err != nil {
			b.Fatal(err)
		}
	})
	return float64(el) / float64(time.Millisecond)
}

// benchTar runs `tar -cf - -C parent name | cat >/dev/null`; seconds.
func benchTar(b *testing.B, parent, name string) float64 {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", `tar -cf - -C "$1" "$2" | cat >/dev/null`, "bash", parent, name)
	var out []byte
	var err error
	el := benchElapsed(func() { out, err = cmd.CombinedOutput() })
	if err != nil {
		b.Fatalf("tar of %s/%s: %v\n%s", parent, name, err, out)
	}
	return el.Seconds()
}

// benchBindfs mounts bindfs over store for the no-passthrough baseline and
// unmounts it at the end of the benchmark.
func benchBindfs(b *testing.B, store string) string {
	if _, err := exec.LookPath("bindfs"); err != nil {
		b.Fatal("bindfs is not installed (make bench installs it from Debian)")
	}
	mnt := b.TempDir()
	run(b, "bindfs", store, mnt)
	b.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			b.Errorf("umount bindfs at %s: %v\n%s", mnt, err, out)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !isFUSE(mnt) {
		if time.Now().After(deadline) {
			b.Fatalf("bindfs at %s not mounted after 10s", mnt)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return mnt
}
