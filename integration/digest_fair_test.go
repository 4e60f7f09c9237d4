package integration

import (
	"os"
	"testing"
	"time"
)

// TestDigestFairness: background digests take turns, so a small snapshot
// published just after a huge sparse one (whose whole-file hash runs
// over 64 GiB of zeros) gets its sha256sums promptly, long before the
// huge one has its own.
func TestDigestFairness(t *testing.T) {
	store := t.TempDir()
	d := nwMount(t, store, "--commit-delay", "0")
	huge := goodManifest(created)
	huge.MemorySizeBytes = 64 << 30
	makeSnap(t, d.Path("new"), "huge", snapSpec{Manifest: huge})
	makeSnap(t, d.Path("new"), "small", snapSpec{})
	for _, n := range []string{"huge", "small"} {
		if err := os.Rename(d.Path("new", n), d.Path(n)); err != nil {
			t.Fatalf("mv new/%s %s: %v", n, n, err)
		}
	}
	start := time.Now()
	dgWaitSums(t, d, "small") // 30 s at most
	if _, err := os.Stat(d.Path("huge", "sha256sums")); err == nil {
		t.Fatalf("huge/sha256sums exists after %v: the test needs a snapshot that takes longer", time.Since(start))
	}
}
