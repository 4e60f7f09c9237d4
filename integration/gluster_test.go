package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// smallSource is a valid snapshot directory outside any store with a
// 1 MiB memory.bin, quick to stage many times over GlusterFS.
func smallSource(t testing.TB, name string, at time.Time) string {
	t.Helper()
	m := goodManifest(at)
	m.MemorySizeBytes = 1 << 20
	return makeSnap(t, t.TempDir(), name, snapSpec{Manifest: m})
}

// TestGlusterManyHosts runs two snapfs daemons, with default flags, over
// two GlusterFS mounts of one volume ("hosts" 1 and 2) and checks what
// one host sees of the other's changes, racing publishes, restores
// across hosts and a killed daemon. The volume is removed at the end.
func TestGlusterManyHosts(t *testing.T) {
	v := newGluster(t)
	d := glusterDaemons(t, v)
	h1, h2 := d[0], d[1]

	t.Run("publish-visible", func(t *testing.T) {
		// A negative lookup first: the kernel must not keep it.
		if _, err := os.Stat(h2.Path("pub1", "status")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("host 2 stat pub1/status before publishing: %v", err)
		}
		stageCopy(t, h1, smallSource(t, "src", created), "pub1")
		if err := os.Rename(h1.Path("new", "pub1"), h1.Path("pub1")); err != nil {
			t.Fatalf("publish on host 1: %v\n%s", err, h1.Log())
		}
		took := waitFor(t, "host 2 sees host 1's publish", func() bool { return glExists(h2.Path("pub1", "status")) })
		t.Logf("host 2 saw the publish after %v", took)
		if got := string(read(t, h2.Path("pub1", "status"))); got != "ok\n" {
			t.Errorf("host 2 pub1/status = %q", got)
		}
		waitFor(t, "host 2 lists pub1", func() bool { return slices.Contains(names(t, h2.Mnt), "pub1") })
		waitFor(t, "host 2's latest follows", func() bool { l, _ := os.Readlink(h2.Path("latest")); return l == "pub1" })
	})

	t.Run("add-remove-visible", func(t *testing.T) {
		wantAbsent(t, h2.Path("added"))
		// Written straight into STORE on host 1, as OpenVMM does.
		makeSnap(t, v.store[0], "added", snapSpec{Manifest: goodManifest(created.Add(-time.Hour))})
		waitFor(t, "host 2 sees a snapshot added on host 1", func() bool { return glExists(h2.Path("added", "status")) })
		waitFor(t, "host 1 sees it", func() bool { return glExists(h1.Path("added", "status")) })
		// Removed through host 1's mount (into the trash).
		if err := os.Remove(h1.Path("added")); err != nil {
			t.Fatalf("rmdir on host 1: %v", err)
		}
		waitFor(t, "host 2 sees the removal", func() bool {
			return !glExists(h2.Path("added", "status")) && !slices.Contains(names(t, h2.Mnt), "added")
		})
		// A directory that becomes a snapshot when its manifest arrives.
		if err := os.Mkdir(filepath.Join(v.store[0], "late"), 0o755); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "host 2 lists STORE", func() bool { return !slices.Contains(names(t, h2.Mnt), "late") })
		time.Sleep(pollGrace)
		makeSnap(t, v.store[0], "late", snapSpec{})
		waitFor(t, "host 2 sees the manifest arrive", func() bool { return glExists(h2.Path("late", "status")) })
	})

	t.Run("staging-shared", func(t *testing.T) {
		if err := os.Mkdir(h1.Path("new", "shared"), 0o755); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "host 2's new/ shows host 1's staging directory", func() bool {
			return slices.Contains(names(t, h2.Path("new")), "shared")
		})
		// One staging name, one staging directory: a second mkdir is
		// refused on any host.
		if err := os.Mkdir(h2.Path("new", "shared"), 0o755); !errors.Is(err, syscall.EEXIST) {
			t.Errorf("host 2 mkdir new/shared = %v, want EEXIST", err)
		}
		// Written from both: one directory, the last write of each file
		// is what it holds.
		writeFile(t, h1.Path("new", "shared", "state.bin"), []byte("from host 1"))
		writeFile(t, h2.Path("new", "shared", "state.bin"), []byte("from host 2"))
		if got := string(read(t, h1.Path("new", "shared", "state.bin"))); got != "from host 2" {
			t.Errorf("host 1 reads %q from the shared staging directory, want the last write", got)
		}
		if err := os.Remove(h2.Path("new", "shared", "state.bin")); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(h2.Path("new", "shared")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "host 1 sees it go", func() bool { return !slices.Contains(names(t, h1.Path("new")), "shared") })
	})

	t.Run("racing-publishes", func(t *testing.T) {
		src := smallSource(t, "src", created.Add(time.Minute))
		for i := range 20 {
			name := fmt.Sprintf("race%d", i)
			s1, s2 := fmt.Sprintf("r%d-h1", i), fmt.Sprintf("r%d-h2", i)
			stageCopy(t, h1, src, s1)
			stageCopy(t, h2, src, s2)
			var errs [2]error
			var wg sync.WaitGroup
			for k, p := range [][2]string{{h1.Path("new", s1), h1.Path(name)}, {h2.Path("new", s2), h2.Path(name)}} {
				wg.Add(1)
				go func() { defer wg.Done(); errs[k] = os.Rename(p[0], p[1]) }()
			}
			wg.Wait()
			won := -1
			for k, err := range errs {
				if err == nil {
					if won >= 0 {
						t.Fatalf("trial %d: both hosts published %s", i, name)
					}
					won = k
				} else if !errors.Is(err, syscall.EEXIST) {
					t.Fatalf("trial %d: host %d: %v, want EEXIST for the loser", i, k+1, err)
				}
			}
			if won < 0 {
				t.Fatalf("trial %d: no host published %s: %v", i, name, errs)
			}
			// Each host's GlusterFS client checks what its own daemon did:
			// the other client may still cache the winner's claim (an
			// empty directory) for a moment.
			nwSameFiles(t, src, filepath.Join(v.store[won], name))
			loser := [2]string{s1, s2}[1-won]
			nwSameFiles(t, src, filepath.Join(v.store[1-won], ".snapfs-staging", loser))
			if err := os.RemoveAll(filepath.Join(v.store[1-won], ".snapfs-staging", loser)); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("restore-across-hosts", func(t *testing.T) {
		waitFor(t, "host 2 sees pub1", func() bool { return glExists(h2.Path("pub1", "status")) })
		before := storeDigest(t, filepath.Join(v.store[0], "pub1"))
		orig := read(t, filepath.Join(v.store[0], "pub1", "memory.bin"))
		_, ram, err := openvmmRestore(h2.Path("pub1"))
		if err != nil {
			t.Fatalf("restore on host 2: %v\n%s", err, h2.Log())
		}
		if !bytes.Equal(ram.mem, orig) {
			t.Error("the restore does not start from the snapshot's bytes")
		}
		restoreWrites(ram, 0, "HOST")
		ram.close()
		if after := storeDigest(t, filepath.Join(v.store[0], "pub1")); after != before {
			t.Errorf("the snapshot changed by a restore:\nbefore %s\nafter  %s", before, after)
		}
		if ents, _ := os.ReadDir(filepath.Join(v.store[0], ".snapfs-clones")); len(ents) != 0 {
			t.Errorf("clone files left in STORE: %v", ents)
		}
		if got := string(read(t, h1.Path("pub1", "status"))); got != "ok\n" {
			t.Errorf("host 1 pub1/status after host 2's restore: %q", got)
		}
	})

	t.Run("kill-one", func(t *testing.T) {
		h1.kill()
		t.Cleanup(func() { unix.Unmount(h1.Mnt, unix.MNT_DETACH) })
		stageCopy(t, h2, smallSource(t, "src", created.Add(2*time.Hour)), "after")
		if err := os.Rename(h2.Path("new", "after"), h2.Path("after")); err != nil {
			t.Fatalf("publish on host 2 with host 1 dead: %v\n%s", err, h2.Log())
		}
		if got := string(read(t, h2.Path("after", "status"))); got != "ok\n" {
			t.Errorf("after/status = %q", got)
		}
		if got := string(read(t, h2.Path("pub1", "status"))); got != "ok\n" {
			t.Errorf("pub1/status = %q", got)
		}
	})
}

// pollGrace lets a poll pass, so a change lands after one.
const pollGrace = 600 * time.Millisecond
