package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// secFiles reads every file of a STORE directory, by name.
func secFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names(t, dir) {
		out[n] = string(read(t, filepath.Join(dir, n)))
	}
	return out
}

// secSameFiles fails unless dir holds exactly the files of before.
func secSameFiles(t testing.TB, what, dir string, before map[string]string) {
	t.Helper()
	after := secFiles(t, dir)
	if len(after) != len(before) {
		t.Errorf("%s: %s holds %d files, was %d", what, dir, len(after), len(before))
	}
	for n, b := range before {
		if a, ok := after[n]; !ok {
			t.Errorf("%s: %s/%s is gone", what, dir, n)
		} else if a != b {
			t.Errorf("%s: %s/%s changed", what, dir, n)
		}
	}
}

// A manifest.json over the cap (1 MiB + 64 KiB), or one whose encoding is
// over OpenVMM's 1 MiB manifest limit, is refused and nothing published.
func TestSecOversizedManifest(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "0")
	for _, c := range []struct {
		name string
		size int
	}{{"json50MiB", 50 << 20}, {"encoded1MiB", 1<<20 + 100}} {
		t.Run(c.name, func(t *testing.T) {
			dst := d.Path("new", c.name)
			secWriteSnap(t, dst, "staged", true)
			m := secManifest(strings.Repeat("v", c.size))
			writeFile(t, filepath.Join(dst, "manifest.json"), m.JSON())
			before := secFiles(t, secStaging(d, c.name))
			var err error
			withTimeout(t, "mv", func() { err = os.Rename(dst, d.Path(c.name)) })
			if errnoOf(err) != syscall.EINVAL {
				t.Errorf("mv with an openvmm_version of %d bytes: %v, want EINVAL", c.size, err)
			}
			wantAbsent(t, filepath.Join(d.Store, c.name))
			wantAbsent(t, d.Path(c.name))
			secSameFiles(t, "rejected mv", secStaging(d, c.name), before)
			nwContains(t, "status", nwStatus(t, d, c.name), "manifest.json")
		})
	}
}

// mv while a staged file is open for writing answers EBUSY and leaves the
// staging directory as it was; once closed, mv publishes it.
func TestSecWriterAcrossMv(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "0")
	mem := secWriteSnap(t, d.Path("new", "x"), "staged", false)
	f, err := os.OpenFile(d.Path("new", "x", "memory.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	before := secFiles(t, secStaging(d, "x"))
	withTimeout(t, "mv", func() { err = os.Rename(d.Path("new", "x"), d.Path("x")) })
	if errnoOf(err) != syscall.EBUSY {
		t.Errorf("mv with a writer open: %v, want EBUSY", err)
	}
	wantAbsent(t, filepath.Join(d.Store, "x"))
	secSameFiles(t, "mv with a writer open", secStaging(d, "x"), before)
	f.Close()
	withTimeout(t, "mv", func() { err = os.Rename(d.Path("new", "x"), d.Path("x")) })
	if err != nil {
		t.Fatalf("mv after the writer closed: %v\n%s", err, nwStatus(t, d, "x"))
	}
	if !bytes.Equal(read(t, filepath.Join(d.Store, "x", "memory.bin")), mem) {
		t.Errorf("published memory.bin is not what was staged")
	}
}

// The automatic publish waits while a staged file is open for writing,
// and publishes once it is closed.
func TestSecWriterDelaysAutoPublish(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "300ms")
	dst := d.Path("new", "w")
	mem := secWriteSnap(t, dst, "staged", false)
	f, err := os.OpenFile(filepath.Join(dst, "memory.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second + visible)
	wantAbsent(t, filepath.Join(d.Store, "w"))
	if _, err := os.Stat(secStaging(d, "w", "memory.bin")); err != nil {
		t.Errorf("staged memory.bin while its writer is open: %v", err)
	}
	f.Close()
	nwWaitPublished(t, d, "w")
	if !bytes.Equal(read(t, filepath.Join(d.Store, "w", "memory.bin")), mem) {
		t.Errorf("published memory.bin is not what was staged")
	}
}

// An open for writing racing mv either comes first (mv waits for its
// close, or answers EBUSY) or fails: the published memory.bin never
// changes after mv returns, holds what was staged (CORRUPT only if that
// write came first) and has the manifest's size.
func TestSecOpenRacingPublish(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "0")
	const trials = 200
	var opened, busy int
	for i := 0; i < trials; i++ {
		name := fmt.Sprintf("r%d", i)
		mem := secWriteSnap(t, d.Path("new", name), fmt.Sprintf("staged-%d ", i), false)
		corrupt := append([]byte("CORRUPT"), mem[7:]...)
		dst := filepath.Join(d.Store, name, "memory.bin")
		var mvErr, openErr, writeErr error
		var atMv []byte // the published memory.bin as mv returned
		var wg sync.WaitGroup
		wg.Add(2)
		mvDone := make(chan struct{})
		go func() {
			defer wg.Done()
			mvErr = os.Rename(d.Path("new", name), d.Path(name))
			close(mvDone)
			if mvErr == nil {
				atMv, _ = os.ReadFile(dst)
			}
		}()
		go func() {
			defer wg.Done()
			f, err := os.OpenFile(d.Path("new", name, "memory.bin"), os.O_WRONLY, 0)
			if openErr = err; err != nil {
				return
			}
			_, writeErr = f.WriteAt([]byte("CORRUPT"), 0)
			// Hold the handle a little: should mv return meanwhile (it
			// must not succeed while a writer is open), write once more.
			select {
			case <-mvDone:
				f.WriteAt([]byte("LATE"), 8)
			case <-time.After(5 * time.Millisecond):
			}
			f.Close()
		}()
		withTimeout(t, "mv racing an open", wg.Wait)
		if openErr == nil {
			opened++
		} else if errnoOf(openErr) != syscall.ENOENT {
			t.Errorf("trial %d: open for writing racing mv: %v, want success or ENOENT", i, openErr)
		}
		if errnoOf(mvErr) == syscall.EBUSY {
			busy++
			if openErr != nil {
				t.Errorf("trial %d: mv answered EBUSY, but the open failed: %v", i, openErr)
			}
			if mvErr = os.Rename(d.Path("new", name), d.Path(name)); mvErr == nil {
				atMv, _ = os.ReadFile(dst)
			}
		}
		if mvErr != nil {
			t.Fatalf("trial %d: mv: %v (open: %v)\n%s", i, mvErr, openErr, nwStatus(t, d, name))
		}
		final := read(t, dst)
		if bytes.Contains(final, []byte("LATE")) {
			t.Errorf("trial %d: a write after mv returned reached the published memory.bin", i)
		}
		if !bytes.Equal(final, atMv) {
			t.Errorf("trial %d: published memory.bin changed after mv returned (open %v, write %v)", i, openErr, writeErr)
		}
		wrote := openErr == nil && writeErr == nil
		if !bytes.Equal(final, mem) && !(wrote && bytes.Equal(final, corrupt)) {
			t.Errorf("trial %d: published memory.bin (%d bytes, %q...) is neither the staged one nor the staged one written before mv (open %v, write %v)",
				i, len(final), final[:min(len(final), 16)], openErr, writeErr)
		}
		m, err := snapshot.DecodeManifest(read(t, filepath.Join(d.Store, name, "manifest.bin")))
		if err != nil || uint64(len(final)) != m.MemorySizeBytes {
			t.Errorf("trial %d: published memory.bin is %d bytes, manifest: %v (%v)", i, len(final), m, err)
		}
	}
	t.Logf("%d of %d opens came before the publish, %d mv answered EBUSY", opened, trials, busy)
}
