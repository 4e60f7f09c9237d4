package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The many-hosts rows of `make bench` (issue 11): snapfs over GlusterFS,
// one brick on this host, mounted twice, a daemon with default flags on
// each mount.

// benchReadMemoryGluster reads memory.bin through snapfs over GlusterFS
// against the same file read from the GlusterFS mount directly.
func benchReadMemoryGluster(b *testing.B, env *benchEnv) benchMeasured {
	v := newGluster(b)
	size := env.pick(512<<20, 16<<20)
	m := goodManifest(created)
	m.MemorySizeBytes = uint64(size)
	makeSnap(b, v.store[0], "big", snapSpec{Manifest: m, NoMemory: true})
	f, err := os.Create(filepath.Join(v.store[0], "big", "memory.bin"))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := f.WriteAt(buf, off); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	d := mountStore(b, v.store[0], "")
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchSeqRead(b, d.Path("big", "memory.bin")) },
		func() float64 { return benchSeqRead(b, filepath.Join(v.store[0], "big", "memory.bin")) })
	return benchMeasured{snapfs: s, baseline: bl, notes: map[string]any{"size_bytes": size}}
}

// benchVisibilityGluster times, per round, how long after host 1 makes a
// snapshot appear in STORE (a rename into place) host 2's mount shows it.
func benchVisibilityGluster(b *testing.B, env *benchEnv) benchMeasured {
	v := newGluster(b)
	d := glusterDaemons(b, v)
	round := 0
	s, _ := benchRounds(env.rounds, func() float64 {
		round++
		name := fmt.Sprintf("vis%d", round)
		tmp := "." + name
		makeSnap(b, v.store[0], tmp, snapSpec{})
		os.Stat(d[1].Path(name)) // a negative lookup first, as a waiting client would
		if err := os.Rename(filepath.Join(v.store[0], tmp), filepath.Join(v.store[0], name)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for !glExists(d[1].Path(name, "status")) {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("host 2 does not show %s after 30s\n%s", name, d[1].Log())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start).Seconds()
	}, nil)
	return benchMeasured{snapfs: s}
}
