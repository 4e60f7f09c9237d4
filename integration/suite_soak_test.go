package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak is `make soak` (SNAPFS_SOAK=<duration>; skipped otherwise):
// parallel readers (tar and cat of views), a creator publishing through
// new/ (and deleting them again with rmdir), snapshots added to and
// removed from STORE directly, and a SIGKILL
// and remount every few minutes. At the end every published snapshot is
// its source byte for byte, none is half made, and the daemon's RSS,
// thread count and fd count are flat; it prints those figures.
func TestSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("SNAPFS_SOAK"))
	if err != nil {
		t.Skip("make soak runs this (SNAPFS_SOAK=10m)")
	}
	store, mnt := t.TempDir(), t.TempDir()
	scratch := t.TempDir() // on STORE's filesystem: direct additions are renamed in
	// A small source (1 MiB of memory), so the check at the end is quick.
	srcParent := t.TempDir()
	snapfs(t, "sample", "--count", "1", "--memory-size", "1MiB", srcParent)
	srcEnts, err := os.ReadDir(srcParent)
	if err != nil || len(srcEnts) != 1 {
		t.Fatalf("sample made %v (%v)", srcEnts, err)
	}
	src := filepath.Join(srcParent, srcEnts[0].Name())
	killEvery := min(3*time.Minute, dur/3)

	var mu sync.Mutex
	d := mountStore(t, store, mnt, "--commit-delay", "0")
	daemonNow := func() *daemon { mu.Lock(); defer mu.Unlock(); return d }

	var reads, readErrs, publishes, adds, removes, kills atomic.Int64
	var attempted []string
	deleted := map[string]bool{}
	var amu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loop := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	sh := func(line string) error {
		return exec.Command("bash", "-c", "set -e -o pipefail; "+line).Run()
	}
	published := func() []string {
		ents, _ := os.ReadDir(mnt)
		var names []string
		for _, e := range ents {
			if n := e.Name(); n != "new" && n != "latest" {
				names = append(names, n)
			}
		}
		return names
	}
	for r := range 2 { // readers
		loop(func(i int) {
			names := published()
			if len(names) == 0 {
				time.Sleep(50 * time.Millisecond)
				return
			}
			n := names[(i*7+r)%len(names)]
			var err error
			if (i+r)%2 == 0 {
				err = sh(fmt.Sprintf("tar -C %q -cf - %q | cat >/dev/null", mnt, n))
			} else {
				err = sh(fmt.Sprintf("cd %q && cat manifest.json status manifest/* state/*/type_url >/dev/null", filepath.Join(mnt, n)))
			}
			reads.Add(1)
			if err != nil {
				readErrs.Add(1) // a snapshot removed meanwhile, or the remount window
			}
		})
	}
	loop(func(i int) { // a creator through new/
		name := fmt.Sprintf("c%05d", i)
		dst := filepath.Join(mnt, "new", name)
		if os.Mkdir(dst, 0o755) != nil { // the remount window
			time.Sleep(100 * time.Millisecond)
			return
		}
		amu.Lock()
		attempted = append(attempted, name)
		amu.Unlock()
		if sh(fmt.Sprintf("cp -p --sparse=always %q/* %q/ && mv %q %q", src, dst, dst, filepath.Join(mnt, name))) == nil {
			publishes.Add(1)
		}
		// rmdir through the mount keeps the store from growing: the
		// daemon's figures can then be flat.
		if old := fmt.Sprintf("c%05d", i-10); i >= 10 && os.Remove(filepath.Join(mnt, old)) == nil {
			amu.Lock()
			deleted[old] = true
			amu.Unlock()
		}
		time.Sleep(20 * time.Millisecond)
	})
	loop(func(i int) { // STORE changed directly
		name := fmt.Sprintf("d%05d", i)
		tmp := filepath.Join(scratch, name)
		if err := sh(fmt.Sprintf("cp -a --sparse=always %q %q", src, tmp)); err == nil && os.Rename(tmp, filepath.Join(store, name)) == nil {
			adds.Add(1)
		}
		if i >= 5 && i%2 == 0 {
			if os.RemoveAll(filepath.Join(store, fmt.Sprintf("d%05d", i-5))) == nil {
				removes.Add(1)
			}
		}
		time.Sleep(100 * time.Millisecond)
	})

	var samples []soakSample
	start := time.Now()
	lastKill := start
	tick := time.NewTicker(5 * time.Second)
	for time.Since(start) < dur {
		<-tick.C
		cur := daemonNow()
		if s, ok := procFigures(cur.cmd.Process.Pid); ok {
			s.at, s.life = time.Since(start).Round(time.Second), int(kills.Load())
			samples = append(samples, s)
		}
		if time.Since(lastKill) >= killEvery && time.Since(start)+killEvery/2 < dur {
			cur.kill()
			kills.Add(1)
			nd := mountStore(t, store, mnt, "--commit-delay", "0")
			mu.Lock()
			d = nd
			mu.Unlock()
			lastKill = time.Now()
		}
	}
	tick.Stop()
	close(stop)
	wg.Wait()

	// Nothing half-published: every snapshot in STORE is whole and is
	// its source; every attempted publish is published or still staged.
	ents, _ := os.ReadDir(store)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		nwSameFiles(t, src, filepath.Join(store, e.Name()))
		if st, err := os.ReadFile(filepath.Join(mnt, e.Name(), "status")); err != nil || !strings.HasPrefix(string(st), "ok") {
			t.Errorf("%s: status %q %v", e.Name(), st, err)
		}
	}
	staged := 0
	for _, name := range attempted {
		if !deleted[name] && !exists(filepath.Join(store, name)) {
			staged++
			if !exists(filepath.Join(store, ".snapfs-staging", name)) {
				t.Errorf("%s is neither published nor staged", name)
			}
		}
	}

	// Flat: within the last daemon's life, after a warm-up sample, the
	// figures do not keep growing.
	var last []soakSample
	for _, s := range samples {
		if s.life == int(kills.Load()) {
			last = append(last, s)
		}
	}
	fmt.Printf("soak: %v, %d kills, %d publishes through new/ (%d deleted again, %d still staged), %d STORE additions, %d removals, %d reads (%d failed: removed or remounting)\n",
		dur, kills.Load(), publishes.Load(), len(deleted), staged, adds.Load(), removes.Load(), reads.Load(), readErrs.Load())
	fmt.Printf("soak: %-6s %-5s %-9s %-7s %s\n", "at", "life", "rss(KiB)", "threads", "fds")
	for _, s := range samples {
		fmt.Printf("soak: %-6v %-5d %-9d %-7d %d\n", s.at, s.life, s.rssKiB, s.thr, s.nfds)
	}
	if len(last) >= 3 {
		first, end := last[1], last[len(last)-1]
		fmt.Printf("soak: last daemon from %v to %v: rss %d -> %d KiB, threads %d -> %d, fds %d -> %d\n",
			first.at, end.at, first.rssKiB, end.rssKiB, first.thr, end.thr, first.nfds, end.nfds)
		if end.rssKiB > first.rssKiB*3/2+32<<10 || end.thr > first.thr+16 || end.nfds > first.nfds+16 {
			t.Errorf("the daemon grows: rss %d -> %d KiB, threads %d -> %d, fds %d -> %d",
				first.rssKiB, end.rssKiB, first.thr, end.thr, first.nfds, end.nfds)
		}
	} else {
		t.Errorf("only %d samples of the last daemon: run longer", len(last))
	}
}

// soakSample is the daemon's figures at one moment of the soak.
type soakSample struct {
	at                time.Duration
	life              int // how many kills before
	rssKiB, thr, nfds int
}

// procFigures reads a process's RSS (KiB), thread count and open fds.
func procFigures(pid int) (s soakSample, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKiB, _ = strconv.Atoi(f[1])
		case "Threads:":
			s.thr, _ = strconv.Atoi(f[1])
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, false
	}
	s.nfds = len(fds)
	return s, true
}
