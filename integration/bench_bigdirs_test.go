package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

// The big-dirs rows (issue 10): listing cost per entry must not grow with
// the size of a directory. Each round mounts afresh (nothing cached) and
// lists the small and the big directory; the figure is µs per entry, and
// the ratio small/big (1 when the cost is linear).

// benchListOnce mounts store, runs the lister over dir (relative to MNT)
// and returns µs per entry.
func benchListOnce(b *testing.B, store, rel string, entries int, cmd string) float64 {
	d := mountStore(b, store, "")
	defer d.stop()
	el := benchElapsed(func() {
		out, err := exec.Command("sh", "-c", fmt.Sprintf(cmd, d.Path(rel))).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", cmd, err, out)
		}
	})
	return float64(el.Microseconds()) / float64(entries)
}

func benchStagingStore(b *testing.B, env *benchEnv, n int) string {
	store := filepath.Join(env.dir, fmt.Sprintf("staging-%d", n))
	for i := range n {
		if err := os.MkdirAll(filepath.Join(store, ".snapfs-staging", fmt.Sprintf("s%06d", i)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	return store
}

func benchBigNew(b *testing.B, env *benchEnv) benchMeasured {
	small, big := 1000, 50000
	if env.small {
		big = 5000
	}
	ss, bs := benchStagingStore(b, env, small), benchStagingStore(b, env, big)
	var lsBig []float64
	s, bl := benchRounds(env.rounds,
		func() float64 {
			v := benchListOnce(b, bs, "new", big, "ls %s >/dev/null")
			lsBig = append(lsBig, v*float64(big)/1e6)
			return v
		},
		func() float64 { return benchListOnce(b, ss, "new", small, "ls %s >/dev/null") })
	benchLogf("big-dirs-new: ls of %d staging directories takes %.3fs (limit 1s)", big, benchMedian(lsBig))
	return benchMeasured{snapfs: s, baseline: bl, notes: map[string]any{"ls_big_s": benchMedian(lsBig), "big": big, "small": small}}
}

func benchUnitsStore(b *testing.B, env *benchEnv, n int) string {
	store := filepath.Join(env.dir, fmt.Sprintf("units-%d", n))
	units := make([]snapshot.StateUnit, n)
	for i := range units {
		units[i] = snapshot.StateUnit{Name: fmt.Sprintf("u%06d", i), TypeURL: "type.googleapis.com/t.U", Value: []byte{8, byte(i)}}
	}
	makeSnap(b, store, "vm", snapSpec{Units: units})
	return store
}

func benchBigState(b *testing.B, env *benchEnv) benchMeasured {
	small, big := 1000, 65536
	if env.small {
		big = 4096
	}
	ss, bs := benchUnitsStore(b, env, small), benchUnitsStore(b, env, big)
	s, bl := benchRounds(env.rounds,
		func() float64 { return benchListOnce(b, bs, "vm/state", big, "find %s >/dev/null") },
		func() float64 { return benchListOnce(b, ss, "vm/state", small, "find %s >/dev/null") })
	return benchMeasured{snapfs: s, baseline: bl, notes: map[string]any{"big": big, "small": small}}
}
