package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMountOverLiveMountRefused: a second `snapfs mount` at a MNT a live
// snapfs serves is refused with a clear message; the first keeps serving.
func TestMountOverLiveMountRefused(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	r := snapfsBounded(t, "mount", store, d.Mnt)
	if r.code == 0 || !strings.Contains(r.stderr, "already a live snapfs mount") {
		t.Fatalf("second mount: exit %d, stderr %q", r.code, r.stderr)
	}
	if n := mountsAt(t, d.Mnt); n != 1 {
		t.Errorf("%d mounts at MNT", n)
	}
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("first mount after the refusal: status %q", got)
	}
}

// TestKillDuringPublish kills the daemon at random moments of mv publishes
// racing snapshots written straight into STORE: every remount comes up
// within 5 s, and every snapshot is either published or still staged,
// whole.
func TestKillDuringPublish(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	mnt := t.TempDir()
	src := nwSource(t, "src")
	rng := rand.New(rand.NewPCG(7, 8))
	const rounds = 10
	const perRound = 5
	for round := range rounds {
		start := time.Now()
		d := mountStore(t, store, mnt, "--commit-delay", "0")
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("round %d: the remount took %v", round, el)
		}
		var names []string
		for i := range perRound {
			name := fmt.Sprintf("s%d-%d", round, i)
			names = append(names, name)
			nwSh(t, fmt.Sprintf("mkdir %q && cp %q/* %q/", d.Path("new", name), src, d.Path("new", name)))
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // STORE changes: a watcher notification for each
			defer wg.Done()
			for i := range 20 {
				makeSnap(t, store, fmt.Sprintf("direct%d-%d", round, i), snapSpec{})
			}
		}()
		go func() {
			defer wg.Done()
			for _, name := range names {
				os.Rename(d.Path("new", name), d.Path(name))
			}
		}()
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		d.kill()
		wg.Wait()
	}
	// Comes up; with --commit-delay 0 nothing publishes by itself while
	// the snapshots are checked below.
	mountStore(t, store, mnt, "--commit-delay", "0")
	for round := range rounds {
		for i := range perRound {
			name := fmt.Sprintf("s%d-%d", round, i)
			pub := filepath.Join(store, name)
			staged := filepath.Join(store, ".snapfs-staging", name)
			switch {
			case exists(pub):
				nwSameFiles(t, src, pub)
			case exists(staged):
				nwSameFiles(t, src, staged)
			default:
				t.Errorf("%s is neither published nor staged", name)
			}
		}
	}
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }
