package integration

// `make bench`: the figures of issue 5, each a ratio against a baseline
// measured interleaved with it. BenchmarkSnapfs runs one sub-benchmark per
// row of benchTable; testing.B is only the runner (every row runs its own
// rounds once, whatever b.N is). Each row prints
//
//	BENCH <name> ratio=<r> target=<t> <met|missed> snapfs=<v><unit> baseline=<v><unit>
//
// and all rows go to $BENCH_OUT as a JSON array when it is set. A ratio above
// 1 means snapfs is better: snapfs/baseline for throughput, baseline/snapfs
// for time per op. For the absolute rows (mount-ready, rss) the "baseline" is
// the fixed limit from the issue and ratio = limit/value, so the target ratio
// is 1.
//
// Environment: BENCH_ROUNDS (timed rounds, default and minimum 5),
// BENCH_SMALL=1 (tiny sizes and any number of rounds, to debug the harness).

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchKind says how a row's values turn into a ratio.
type benchKind int

const (
	benchThroughput benchKind = iota // higher is better: ratio = snapfs/baseline
	benchTime                        // lower is better: ratio = baseline/snapfs
	benchAbsolute                    // lower is better, fixed limit: ratio = limit/snapfs
)

// benchRow is one line of the table.
type benchRow struct {
	name   string
	what   string
	unit   string
	kind   benchKind
	target float64 // the ratio to reach; for benchAbsolute the limit in unit
	run    func(b *testing.B, env *benchEnv) benchMeasured
}

// benchMeasured is what a row's rounds produced.
type benchMeasured struct {
	snapfs, baseline []float64 // one value per timed round; baseline nil for benchAbsolute
	notes            map[string]any
}

var benchTable = []benchRow{
	{"read-memory", "sequential read of a 2 GiB memory.bin, warm, 1 MiB reads; baseline the same file in STORE",
		"MiB/s", benchThroughput, 0.9, benchReadMemory},
	{"read-memory-nopt", "the same with --no-passthrough; baseline bindfs over STORE",
		"MiB/s", benchThroughput, 1.0, benchReadMemoryNoPT},
	{"randread-memory", "4 KiB random preads, 4 threads; baseline the same file in STORE",
		"kop/s", benchThroughput, 0.8, benchRandReadMemory},
	{"mmap-memory", "touch every page of memory.bin through mmap; baseline the same file in STORE",
		"ms", benchTime, 0.8, benchMmapMemory},
	{"stat-tree", "second lstat walk of MNT with 1,000 snapshots, per entry; baseline walk of STORE",
		"us/entry", benchTime, 0.5, benchStatTree},
	{"cat-fields", "read every manifest/<field> of 1,000 snapshots; baseline as many small files in a native dir",
		"us/file", benchTime, 0.5, benchCatFields},
	{"tar-snapshot", "tar -cf - of one snapshot with a 1 GiB memory.bin, piped to cat; baseline the same from STORE",
		"s", benchTime, 0.8, benchTarSnapshot},
	{"create", "cp -r a snapshot with a 1 GiB memory.bin into new/ until published (--commit-delay 100ms); baseline cp -r into a native dir plus fsync of its files and dirs",
		"s", benchTime, 0.8, benchCreate},
	{"mount-ready", "start to first successful ls with 10,000 snapshots (absolute)",
		"s", benchAbsolute, 0.2, benchMountReady},
	{"rss", "daemon VmRSS after walking 10,000 snapshots and reading their views (absolute)",
		"MiB", benchAbsolute, 64, benchRSS},
	{"restore-ready-xfs", "open(O_RDWR)+fstat+mmap of a 4 GiB memory.bin (1 GiB data) on XFS; baseline cp --reflink=always + the same (1 GiB figures in the notes)",
		"s", benchTime, 0.5, benchRestoreReadyXFS},
	{"restore-ready-copy", "the same on ext4 (a sparse copy); baseline cp --sparse=always + the same",
		"s", benchTime, 0.9, benchRestoreReadyCopy},
	{"guest-write", "20,000 4 KiB stores at random pages of a restored memory.bin's shared mapping on XFS (msync untimed); baseline a native reflink copy",
		"kop/s", benchThroughput, 0.9, benchGuestWriteRow},
	{"big-dirs-new", "ls new/ with 50,000 staging directories, per entry, fresh mount; baseline the same with 1,000 (ratio 1: linear)",
		"us/entry", benchTime, 0.8, benchBigNew},
	{"big-dirs-state", "find state/ with 65,536 units, per entry, fresh mount; baseline the same with 1,000 (ratio 1: linear)",
		"us/entry", benchTime, 0.8, benchBigState},
	{"write-staged", "20,000 4 KiB pwrites at random offsets of a staged 256 MiB memory.bin; baseline the same in a directory of STORE's filesystem",
		"MiB/s", benchThroughput, 0.8, benchWriteStaged},
	{"verify-memory", "snapfs verify of a snapshot with a 2 GiB memory.bin of random data, warm; baseline sha256sum of the same memory.bin",
		"MiB/s", benchThroughput, 0.8, benchVerifyMemory},
	{"read-memory-gluster", "sequential read of a 512 MiB memory.bin through snapfs over GlusterFS (one local brick), warm; baseline the same file on the GlusterFS mount",
		"MiB/s", benchThroughput, 0.9, benchReadMemoryGluster},
	{"visibility-gluster", "delay until host 2's snapfs shows a snapshot host 1 renamed into a shared GlusterFS STORE, default flags (absolute)",
		"s", benchAbsolute, 1, benchVisibilityGluster},
}

// BenchmarkSnapfs runs every row of benchTable as a sub-benchmark; the
// stores they share are made once and removed at the end.
func BenchmarkSnapfs(b *testing.B) {
	requireFUSE(b)
	env := newBenchEnv(b)
	for _, row := range benchTable {
		b.Run(row.name, func(b *testing.B) {
			if b.N > 1 {
				b.Skip("rounds already run at b.N=1") // testing.B is only the runner
			}
			m := row.run(b, env)
			benchReport(b, row, m)
		})
	}
}

// benchRoundsN is how many timed rounds each figure takes the median of.
func benchRoundsN() int {
	n := 5
	if s := os.Getenv("BENCH_ROUNDS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	if n < 5 && !benchSmall() {
		n = 5
	}
	return n
}

// benchSmall reports whether BENCH_SMALL asks for tiny sizes (debugging).
func benchSmall() bool { return os.Getenv("BENCH_SMALL") != "" }

// benchRounds runs a warm-up round and then n timed rounds, snapfs and the
// baseline alternating (and alternating which goes first) so both see the
// same machine. base may be nil for an absolute figure.
func benchRounds(n int, snap, base func() float64) (s, bl []float64) {
	snap()
	if base != nil {
		base()
	}
	for i := range n {
		if base == nil {
			s = append(s, snap())
			continue
		}
		if i%2 == 0 {
			s = append(s, snap())
			bl = append(bl, base())
		} else {
			bl = append(bl, base())
			s = append(s, snap())
		}
	}
	return s, bl
}

// benchElapsed times f.
func benchElapsed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func benchMedian(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchResult is one row of the $BENCH_OUT JSON array.
type benchResult struct {
	Name           string         `json:"name"`
	What           string         `json:"what"`
	Ratio          float64        `json:"ratio"`
	Target         float64        `json:"target"`
	Met            bool           `json:"met"`
	Unit           string         `json:"unit"`
	Snapfs         float64        `json:"snapfs"`
	Baseline       float64        `json:"baseline"`
	Absolute       bool           `json:"absolute,omitempty"` // baseline is the fixed limit
	Rounds         int            `json:"rounds"`
	SnapfsRounds   []float64      `json:"snapfs_rounds"`
	BaselineRounds []float64      `json:"baseline_rounds,omitempty"`
	Notes          map[string]any `json:"notes,omitempty"`
	Date           string         `json:"date"`
}

var (
	benchMu      sync.Mutex
	benchResults []benchResult
)

// benchReport computes a row's ratio, prints its BENCH line and rewrites
// $BENCH_OUT with every row so far. The ratio of a relative row is the
// median of the per-round ratios (each pair measured back to back); the
// values shown are the medians of each side.
func benchReport(b *testing.B, row benchRow, m benchMeasured) {
	r := benchResult{
		Name: row.name, What: row.what, Unit: row.unit, Target: row.target,
		Snapfs: benchMedian(m.snapfs), Rounds: len(m.snapfs),
		SnapfsRounds: m.snapfs, BaselineRounds: m.baseline, Notes: m.notes,
		Date: time.Now().UTC().Format(time.RFC3339),
	}
	var ratios []float64
	switch row.kind {
	case benchThroughput:
		for i := range m.snapfs {
			ratios = append(ratios, m.snapfs[i]/m.baseline[i])
		}
		r.Baseline = benchMedian(m.baseline)
	case benchTime:
		for i := range m.snapfs {
			ratios = append(ratios, m.baseline[i]/m.snapfs[i])
		}
		r.Baseline = benchMedian(m.baseline)
	case benchAbsolute:
		r.Absolute = true
		r.Baseline = row.target
		r.Target = 1
		ratios = []float64{row.target / r.Snapfs}
	}
	r.Ratio = benchMedian(ratios)
	r.Met = r.Ratio >= r.Target
	met := "missed"
	if r.Met {
		met = "met"
	}
	fmt.Printf("BENCH %s ratio=%.3g target=%.3g %s snapfs=%s%s baseline=%s%s\n",
		r.Name, r.Ratio, r.Target, met, benchFmt(r.Snapfs), r.Unit, benchFmt(r.Baseline), r.Unit)
	b.ReportMetric(r.Ratio, "ratio")

	benchMu.Lock()
	defer benchMu.Unlock()
	benchResults = append(benchResults, r)
	if out := os.Getenv("BENCH_OUT"); out != "" {
		data, err := json.MarshalIndent(benchResults, "", "  ")
		if err == nil {
			err = os.WriteFile(out, append(data, '\n'), 0o644)
		}
		if err != nil {
			b.Errorf("writing $BENCH_OUT: %v", err)
		}
	}
}

// benchFmt prints a value with 4 significant digits, without an exponent.
func benchFmt(v float64) string {
	return strconv.FormatFloat(v, 'f', min(6, max(0, 3-int(math.Floor(math.Log10(math.Abs(v)+1e-12))))), 64)
}

// benchLogf prints a progress or diagnostic line (stdout is streamed by
// go test -bench, b.Logf only at the end).
func benchLogf(format string, args ...any) {
	fmt.Printf("bench: "+format+"\n", args...)
}
