package integration

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Staged data survives a restart of the daemon and shows up again under
// new/, and then publishes.
func TestNewSurvivesRestart(t *testing.T) {
	store := t.TempDir()
	src := nwSource(t, "keep")
	d := nwMount(t, store, "--commit-delay", "0")
	os.Mkdir(d.Path("new", "keep"), 0o755)
	nwSh(t, "cp "+src+"/manifest.bin "+src+"/state.bin "+d.Path("new", "keep")+"/")
	d.stop()

	d2 := nwMount(t, store, "--commit-delay", "200ms")
	wantNames(t, d2.Path("new"), "keep")
	nwContains(t, "status", nwStatus(t, d2, "keep"), "missing: memory.bin")
	nwSh(t, "cp --sparse=always "+src+"/memory.bin "+d2.Path("new", "keep")+"/")
	nwWaitPublished(t, d2, "keep")
	nwSameFiles(t, src, filepath.Join(store, "keep"))
}

// Two daemons on one store publishing the same name at once: exactly one
// wins, the other gets EEXIST or keeps its staging, nothing is mixed.
func TestNewTwoMountsRace(t *testing.T) {
	store := t.TempDir()
	a := nwMount(t, store, "--commit-delay", "0")
	b := nwMount(t, store, "--commit-delay", "0")
	for round := 0; round < 5; round++ {
		name := fmt.Sprintf("race%d", round)
		srcA, srcB := nwSource(t, "a"), nwSource(t, "b")
		// Each mount stages under its own name, then both publish as name.
		for _, x := range []struct {
			d   *daemon
			src string
			tag string
		}{{a, srcA, "a"}, {b, srcB, "b"}} {
			dst := x.d.Path("new", name+x.tag)
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			nwSh(t, "cp --sparse=always "+x.src+"/*.bin "+dst+"/")
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, x := range []*daemon{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = os.Rename(x.Path("new", name+string("ab"[i])), x.Path(name))
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else if e := errnoOf(err); e != syscall.EEXIST {
				t.Errorf("losing publish failed with %v, want EEXIST", err)
			}
		}
		if wins != 1 {
			t.Fatalf("round %d: %d publishes won, want exactly 1 (%v)", round, wins, errs)
		}
		winner := srcA
		if errs[0] != nil {
			winner = srcB
		}
		nwSameFiles(t, winner, filepath.Join(store, name))
		nwOnlyFiles(t, filepath.Join(store, name))
	}
}

// SIGKILL of the daemon at random moments of a copy into new/: STORE
// never holds a partial snapshot, and the staging is back after remount.
func TestNewKillDuringCopy(t *testing.T) {
	store := t.TempDir()
	parent := t.TempDir()
	snapfs(t, "sample", "--count", "1", "--memory-size", "64MiB", parent)
	src := filepath.Join(parent, names(t, parent)[0])
	// A dense memory.bin, so the copy takes a while.
	nwSh(t, "head -c 64M /dev/urandom > "+src+"/memory.bin")
	rng := rand.New(rand.NewSource(1))
	mnt := t.TempDir()
	for trial := 0; trial < 20; trial++ {
		name := fmt.Sprintf("k%d", trial)
		d := mountStore(t, store, mnt, "--commit-delay", "50ms")
		cp := exec.Command("cp", "-r", src, d.Path("new", name))
		if err := cp.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Intn(300)) * time.Millisecond)
		d.kill()
		cp.Wait()
		// Every snapshot STORE holds is whole and valid.
		for _, n := range names(t, store) {
			if strings.HasPrefix(n, ".") {
				continue
			}
			r := snapfs(t, "validate", filepath.Join(store, n))
			if r.code != 0 {
				t.Fatalf("trial %d: STORE/%s is not a whole snapshot:\n%s", trial, n, r.stdout)
			}
		}
		published := false
		if _, err := os.Stat(filepath.Join(store, name)); err == nil {
			published = true
		}
		// Remount on the same MNT (a dead mount is left there).
		d2 := mountStore(t, store, mnt, "--commit-delay", "0")
		_, err := os.Stat(d2.Path("new", name))
		if !published && err != nil {
			// The kill came before mkdir reached the daemon.
			if _, serr := os.Stat(filepath.Join(store, ".snapfs-staging", name)); serr == nil {
				t.Fatalf("trial %d: staging of %s in STORE but not under new/", trial, name)
			}
		}
		if published && err == nil {
			t.Fatalf("trial %d: %s both published and staged", trial, name)
		}
		d2.stop()
	}
}

// A full disk: the writer gets ENOSPC, nothing is published, nothing
// already staged is lost.
func TestNewENOSPC(t *testing.T) {
	requireFUSE(t)
	store := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", store).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { syscall.Unmount(store, syscall.MNT_DETACH) })
	d := nwMount(t, store, "--commit-delay", "100ms")
	src := nwSource(t, "full")
	nwSh(t, "head -c 16M /dev/urandom > "+src+"/memory.bin")
	dst := d.Path("new", "full")
	os.Mkdir(dst, 0o755)
	nwSh(t, "cp "+src+"/manifest.bin "+src+"/state.bin "+dst+"/")
	out, err := exec.Command("cp", src+"/memory.bin", dst+"/").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No space left on device") {
		t.Fatalf("copy onto a full store: %v %s, want ENOSPC", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(store, "full")); err == nil {
		t.Fatal("a snapshot was published from a full disk")
	}
	for _, f := range []string{"manifest.bin", "state.bin"} {
		nwSameFile(t, filepath.Join(src, f), filepath.Join(dst, f))
	}
	if err := os.Rename(dst, d.Path("full")); errnoOf(err) != syscall.EINVAL {
		t.Errorf("publishing a short memory.bin: %v, want EINVAL", err)
	}
}

func nwSameFile(t *testing.T, a, b string) {
	t.Helper()
	if string(read(t, a)) != string(read(t, b)) {
		t.Errorf("%s differs from %s", b, a)
	}
}

// Two daemons on one store see each other's staging directories: new/
// follows STORE/.snapfs-staging, not just what its own mount did.
func TestNewTwoMountsSeeStaging(t *testing.T) {
	store := t.TempDir()
	a := nwMount(t, store, "--commit-delay", "0")
	b := nwMount(t, store, "--commit-delay", "0")
	wantNames(t, b.Path("new")) // listed (and cached) while empty
	if err := os.Mkdir(a.Path("new", "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	wantNames(t, b.Path("new"), "shared")
	if err := os.Remove(a.Path("new", "shared")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	wantNames(t, b.Path("new"))
}
