package integration

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The restore rows of `make bench` (issue 9): how long until a restored
// guest can run, and how fast it writes its RAM, against the same on a
// native copy.

// benchRestoreSnap writes STORE/name with a memory.bin of size bytes, of
// which data bytes (spread in 64 MiB runs) are data and the rest holes.
func benchRestoreSnap(b *testing.B, store, name string, size, data int64) {
	m := goodManifest(created)
	m.MemorySizeBytes = uint64(size)
	makeSnap(b, store, name, snapSpec{Manifest: m, NoMemory: true})
	f, err := os.Create(filepath.Join(store, name, "memory.bin"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	run := min(int64(64<<20), data)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	step := size / (data / run)
	for off := int64(0); off+run <= size && data > 0; off += step {
		for o := off; o < off+run; o += int64(len(buf)) {
			if _, err := f.WriteAt(buf, o); err != nil {
				b.Fatal(err)
			}
		}
		data -= run
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// benchRestoreReady times open(O_RDWR) + fstat + mmap of path, after
// prepare (the native copy of the baseline); seconds.
func benchRestoreReady(b *testing.B, path string, prepare func()) float64 {
	el := benchElapsed(func() {
		if prepare != nil {
			prepare()
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			b.Fatal(err)
		}
		ram, err := mapShared(f, lstatSize(b, f))
		if err != nil {
			b.Fatal(err)
		}
		ram.close()
	})
	return el.Seconds()
}

func lstatSize(b *testing.B, f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// benchNativeCopy is the baseline's copy of src to dst with cp's flag.
func benchNativeCopy(b *testing.B, flag, src, dst string) func() {
	return func() {
		os.Remove(dst)
		if out, err := exec.Command("cp", flag, src, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp %s: %v\n%s", flag, err, out)
		}
	}
}

// benchRestoreSizes are the memory sizes and data of the restore rows.
func benchRestoreSizes(env *benchEnv) (size, data int64) {
	if env.small {
		return 64 << 20, 64 << 20
	}
	return 4 << 30, 1 << 30
}

func benchRestoreReadyXFS(b *testing.B, env *benchEnv) benchMeasured {
	store := xfsStore(b, 12<<30)
	size, data := benchRestoreSizes(env)
	benchRestoreSnap(b, store, "big", size, data)
	benchRestoreSnap(b, store, "small", size/4, data/4)
	d := mountStore(b, store, "")
	native := filepath.Join(store, ".native")
	notes := map[string]any{}
	for _, name := range []string{"small", "big"} {
		src := filepath.Join(store, name, "memory.bin")
		s, bl := benchRounds(env.rounds,
			func() float64 { return benchRestoreReady(b, d.Path(name, "memory.bin"), nil) },
			func() float64 {
				return benchRestoreReady(b, native, benchNativeCopy(b, "--reflink=always", src, native))
			})
		notes[name+"_bytes"] = size
		notes[name+"_snapfs_s"] = benchMedian(s)
		notes[name+"_baseline_s"] = benchMedian(bl)
		if name == "big" {
			benchLogf("restore-ready-xfs: 1/4 size %.4fs, full size %.4fs (limit 0.05s)", notes["small_snapfs_s"], benchMedian(s))
			return benchMeasured{snapfs: s, baseline: bl, notes: notes}
		}
	}
	return benchMeasured{}
}

func benchRestoreReadyCopy(b *testing.B, env *benchEnv) benchMeasured {
	store := filepath.Join(env.dir, "restore-ext4")
	if err := os.MkdirAll(store, 0o755); err != nil {
		b.Fatal(err)
	}
	size, data := benchRestoreSizes(env)
	benchRestoreSnap(b, store, "big", size, data)
	d := mountStore(b, store, "")
	native := filepath.Join(store, ".native")
	src := filepath.Join(store, "big", "memory.bin")
	// Each side's copy fills data bytes of fresh page cache: warm that
	// much first, as guest-write does (benchWarmMemory), or whichever
	// side draws memory the host took back loses 2-3x (the bimodal
	// 0.6 s / 1.5-2 s snapfs rounds against a steady native 0.6 s).
	warm := data + data/4
	s, bl := benchRounds(env.rounds,
		func() float64 {
			benchWarmMemory(b, warm)
			return benchRestoreReady(b, d.Path("big", "memory.bin"), nil)
		},
		func() float64 {
			os.Remove(native)
			benchWarmMemory(b, warm)
			sec := benchRestoreReady(b, native, benchNativeCopy(b, "--sparse=always", src, native))
			os.Remove(native) // as a clone goes at its close
			return sec
		})
	return benchMeasured{snapfs: s, baseline: bl}
}

// benchWarmMemory touches n bytes of anonymous memory in huge pages and
// frees them, so that the page cache a timed round allocates next is memory
// the machine has just used. This machine is a VM whose balloon takes back
// guest memory that stayed free for a while (virtio free page reporting);
// the first touch of such memory costs a fault in the host, and whichever
// side happened to draw it lost 3-5x (0.35 one run, 1.6 the next with the
// order swapped: the memset zeroing the holes of the mapping was all of the
// difference). Both sides warm the same amount the same way.
func benchWarmMemory(b *testing.B, n int64) {
	m, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		b.Fatal(err)
	}
	unix.Madvise(m, unix.MADV_HUGEPAGE)
	for i := 0; i < len(m); i += 4096 {
		m[i] = 1
	}
	if err := unix.Munmap(m); err != nil {
		b.Fatal(err)
	}
}

// benchGuestWrite stores 4 KiB at random pages of path's shared mapping,
// as a guest does (page faults and copy-on-write of shared blocks
// included); kop/s.
func benchGuestWrite(b *testing.B, path string) float64 {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	ram, err := mapShared(f, lstatSize(b, f))
	if err != nil {
		b.Fatal(err)
	}
	defer ram.close()
	pages := len(ram.mem) / 4096
	n := 20000
	rng := rand.New(rand.NewPCG(1, 2))
	page := make([]byte, 4096)
	el := benchElapsed(func() {
		for i := range n {
			page[0] = byte(i)
			copy(ram.mem[rng.IntN(pages)*4096:], page)
		}
	})
	// Writeback is the filesystem's, not the guest's: outside the timing
	// (it varied 2x between rounds on the loop-mounted XFS here).
	unix.Msync(ram.mem, unix.MS_SYNC)
	return float64(n) / el.Seconds() / 1000
}

func benchGuestWriteRow(b *testing.B, env *benchEnv) benchMeasured {
	store := xfsStore(b, 12<<30)
	size, data := benchRestoreSizes(env)
	benchRestoreSnap(b, store, "big", size, data)
	d := mountStore(b, store, "")
	native := filepath.Join(store, ".native")
	src := filepath.Join(store, "big", "memory.bin")
	// The stores reach every 2 MiB of the mapping, which the huge page
	// advice fills with 2 MiB folios: the page cache grows to the size.
	warm := size + size/8
	// The round-to-round spread is wide on this VM: more rounds than the
	// default for the median.
	rounds := env.rounds
	if !env.small {
		rounds = max(rounds, 9)
	}
	s, bl := benchRounds(rounds,
		func() float64 {
			benchWarmMemory(b, warm)
			return benchGuestWrite(b, d.Path("big", "memory.bin"))
		},
		func() float64 {
			benchNativeCopy(b, "--reflink=always", src, native)()
			benchWarmMemory(b, warm)
			kops := benchGuestWrite(b, native)
			os.Remove(native) // as a clone goes at its close
			return kops
		})
	return benchMeasured{snapfs: s, baseline: bl}
}
