package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchRandWrite writes 4 KiB at random offsets of a 256 MiB file at path
// (created anew); MiB/s.
func benchRandWrite(b *testing.B, path string) float64 {
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size := int64(256 << 20)
	if benchSmall() {
		size = 16 << 20
	}
	if err := f.Truncate(size); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(3, 4))
	n := 20000
	el := benchElapsed(func() {
		for i := range n {
			buf[0] = byte(i)
			if _, err := f.WriteAt(buf, rng.Int64N(size/4096)*4096); err != nil {
				b.Fatal(err)
			}
		}
	})
	return float64(n) * 4096 / (1 << 20) / el.Seconds()
}

func benchWriteStaged(b *testing.B, env *benchEnv) benchMeasured {
	store := filepath.Join(env.dir, "write-staged")
	native := filepath.Join(env.dir, "write-native")
	for _, d := range []string{store, native} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	d := mountStore(b, store, "", "--commit-delay", "0")
	if err := os.Mkdir(d.Path("new", "w"), 0o755); err != nil {
		b.Fatal(err)
	}
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchRandWrite(b, d.Path("new", "w", "memory.bin")) },
		func() float64 { return benchRandWrite(b, filepath.Join(native, "memory.bin")) })
	return benchMeasured{snapfs: s, baseline: bl}
}
