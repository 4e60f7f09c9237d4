package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// stageFrom copies src's three files into MNT/new/name.
func stageFrom(t *testing.T, d *daemon, src, name string) string {
	t.Helper()
	dst := d.Path("new", name)
	if err := os.Mkdir(dst, 0o755); err != nil {
		t.Fatalf("mkdir new/%s: %v", name, err)
	}
	nwSh(t, "cp --sparse=always "+src+"/*.bin "+dst+"/")
	return dst
}

// A manifest.json stands in for manifest.bin and is encoded byte for byte
// as OpenVMM would; a missing created_at becomes the time of publishing.
func TestNewManifestJSON(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "0")
	src := nwSource(t, "j")
	m, err := snapshot.DecodeManifest(read(t, filepath.Join(src, "manifest.bin")))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("without created_at", func(t *testing.T) {
		dst := stageFrom(t, d, src, "nojson")
		os.Remove(filepath.Join(dst, "manifest.bin"))
		js := strings.Replace(string(m.JSON()), `  "created_at": "`+m.CreatedAt.RFC3339()+`",`+"\n", "", 1)
		writeFile(t, filepath.Join(dst, "manifest.json"), []byte(js))
		before := time.Now()
		if err := os.Rename(dst, d.Path("nojson")); err != nil {
			t.Fatalf("mv: %v\n%s", err, nwStatus(t, d, "nojson"))
		}
		after := time.Now()
		got, err := snapshot.DecodeManifest(read(t, filepath.Join(d.Store, "nojson", "manifest.bin")))
		if err != nil {
			t.Fatal(err)
		}
		if ct := got.CreatedAt.Time(); ct.Before(before.Add(-time.Second)) || ct.After(after.Add(time.Second)) {
			t.Errorf("created_at %v is not the time of publishing (%v..%v)", ct, before, after)
		}
		want := *m
		want.CreatedAt = got.CreatedAt
		if !bytes.Equal(read(t, filepath.Join(d.Store, "nojson", "manifest.bin")), want.Encode()) {
			t.Errorf("manifest.bin is not the OpenVMM encoding of manifest.json")
		}
		nwOnlyFiles(t, filepath.Join(d.Store, "nojson"))
	})

	t.Run("json only, exact bytes", func(t *testing.T) {
		dst := stageFrom(t, d, src, "exact")
		os.Remove(filepath.Join(dst, "manifest.bin"))
		writeFile(t, filepath.Join(dst, "manifest.json"), m.JSON())
		if err := os.Rename(dst, d.Path("exact")); err != nil {
			t.Fatalf("mv: %v", err)
		}
		nwSameFiles(t, src, filepath.Join(d.Store, "exact"))
	})

	t.Run("both, agreeing", func(t *testing.T) {
		dst := stageFrom(t, d, src, "both")
		writeFile(t, filepath.Join(dst, "manifest.json"), m.JSON())
		if err := os.Rename(dst, d.Path("both")); err != nil {
			t.Fatalf("mv: %v", err)
		}
		nwSameFiles(t, src, filepath.Join(d.Store, "both"))
		nwOnlyFiles(t, filepath.Join(d.Store, "both"))
	})

	t.Run("both, disagreeing", func(t *testing.T) {
		dst := stageFrom(t, d, src, "disagree")
		bad := *m
		bad.VPCount++
		writeFile(t, filepath.Join(dst, "manifest.json"), bad.JSON())
		err := os.Rename(dst, d.Path("disagree"))
		if errnoOf(err) != syscall.EINVAL {
			t.Fatalf("mv of disagreeing manifests: %v, want EINVAL", err)
		}
		nwContains(t, "status", nwStatus(t, d, "disagree"), "vp_count")
	})

	t.Run("bad json", func(t *testing.T) {
		dst := stageFrom(t, d, src, "badjson")
		os.Remove(filepath.Join(dst, "manifest.bin"))
		writeFile(t, filepath.Join(dst, "manifest.json"), []byte(`{"version": 1, "vp_count": "four"}`))
		if err := os.Rename(dst, d.Path("badjson")); errnoOf(err) != syscall.EINVAL {
			t.Fatalf("mv with a bad manifest.json: %v, want EINVAL", err)
		}
		nwContains(t, "status", nwStatus(t, d, "badjson"), "vp_count")
	})
}

// Every validation error rejects the snapshot, keeps every staged byte,
// and says why in status and in the log; fixing the file in place
// publishes it.
func TestNewRejectsKeepFiles(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "300ms")
	src := nwSource(t, "r")
	m, _ := snapshot.DecodeManifest(read(t, filepath.Join(src, "manifest.bin")))
	cases := []struct {
		name, want string
		spoil      func(t *testing.T, dst string)
		fix        func(t *testing.T, dst string)
	}{
		{"memsize", "memory.bin size", func(t *testing.T, dst string) {
			os.Truncate(filepath.Join(dst, "memory.bin"), int64(m.MemorySizeBytes)+4096)
		}, func(t *testing.T, dst string) {
			os.Truncate(filepath.Join(dst, "memory.bin"), int64(m.MemorySizeBytes))
		}},
		{"vpcount", "vp_count", func(t *testing.T, dst string) {
			bad := *m
			bad.VPCount = 0
			writeFile(t, filepath.Join(dst, "manifest.bin"), bad.Encode())
		}, func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "manifest.bin"), m.Encode())
		}},
		{"version", "version 2 is not supported", func(t *testing.T, dst string) {
			bad := *m
			bad.Version = 2
			writeFile(t, filepath.Join(dst, "manifest.bin"), bad.Encode())
		}, func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "manifest.bin"), m.Encode())
		}},
		{"dupunit", "duplicate unit name", func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "state.bin"), snapshot.EncodeState([]snapshot.StateUnit{
				{Name: "pit", TypeURL: "type.googleapis.com/chipset.pit.SavedState"},
				{Name: "pit", TypeURL: "type.googleapis.com/chipset.pit.SavedState"},
			}))
		}, func(t *testing.T, dst string) {
			nwSh(t, "cp "+src+"/state.bin "+dst+"/state.bin")
		}},
		{"extra", "unexpected file", func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "notes.txt"), []byte("hi"))
		}, func(t *testing.T, dst string) {
			os.Remove(filepath.Join(dst, "notes.txt"))
		}},
		{"badstate", "failed to decode saved state", func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "state.bin"), []byte{0x0a, 0xff, 0x01})
		}, func(t *testing.T, dst string) {
			nwSh(t, "cp "+src+"/state.bin "+dst+"/state.bin")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Spoil a copy, so nothing valid is ever staged.
			bad := filepath.Join(t.TempDir(), c.name)
			nwSh(t, "cp -a --sparse=always "+src+" "+bad)
			c.spoil(t, bad)
			dst := d.Path("new", c.name)
			nwSh(t, "cp -r --sparse=always "+bad+" "+d.Path("new"))
			before := map[string][]byte{}
			for _, f := range names(t, filepath.Join(d.Store, ".snapfs-staging", c.name)) {
				before[f] = read(t, filepath.Join(d.Store, ".snapfs-staging", c.name, f))
			}
			err := os.Rename(dst, d.Path(c.name))
			if errnoOf(err) != syscall.EINVAL {
				t.Fatalf("mv of an invalid snapshot: %v, want EINVAL", err)
			}
			if _, err := os.Stat(filepath.Join(d.Store, c.name)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("STORE/%s exists after a rejected publish", c.name)
			}
			for f, b := range before {
				if !bytes.Equal(read(t, filepath.Join(d.Store, ".snapfs-staging", c.name, f)), b) {
					t.Errorf("staged %s changed by a rejected publish", f)
				}
			}
			nwContains(t, "status", nwStatus(t, d, c.name), c.want)
			nwContains(t, "log", d.Log(), c.want)
			c.fix(t, dst)
			nwWaitPublished(t, d, c.name)
			if st := string(read(t, d.Path(c.name, "status"))); strings.Contains(st, "error:") {
				t.Errorf("published %s has errors:\n%s", c.name, st)
			}
		})
	}
}

// A staging directory missing a file is not published by itself, and a
// rename of it fails with EINVAL naming what is missing.
func TestNewIncomplete(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "100ms")
	src := nwSource(t, "inc")
	dst := d.Path("new", "inc")
	os.Mkdir(dst, 0o755)
	nwSh(t, "cp "+src+"/manifest.bin "+src+"/state.bin "+dst+"/")
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(d.Store, "inc")); err == nil {
		t.Fatal("an incomplete snapshot was published")
	}
	nwContains(t, "status", nwStatus(t, d, "inc"), "missing: memory.bin")
	if err := os.Rename(dst, d.Path("inc")); errnoOf(err) != syscall.EINVAL {
		t.Fatalf("mv of an incomplete snapshot: %v, want EINVAL", err)
	}
	nwContains(t, "status", nwStatus(t, d, "inc"), "memory.bin is missing")
}

// TestNewStatusProgress: a staging directory's status says what is
// missing and how much has been received, and with --commit-delay 0 a
// complete snapshot waits for mv (past the default delay of 2 s).
func TestNewStatusProgress(t *testing.T) {
	t.Parallel()
	src := nwSource(t, "p")
	d := nwMount(t, "", "--commit-delay", "0")
	if err := os.Mkdir(d.Path("new", "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, f := range []string{"manifest.bin", "state.bin"} {
		b := read(t, filepath.Join(src, f))
		writeFile(t, d.Path("new", "p", f), b)
		sum += int64(len(b))
	}
	st := nwStatus(t, d, "p")
	nwContains(t, "status", st, "missing: memory.bin\n")
	nwContains(t, "status", st, fmt.Sprintf("received: %d bytes in 2 files\n", sum))
	run(t, "cp", "--sparse=always", filepath.Join(src, "memory.bin"), d.Path("new", "p", "memory.bin"))
	sum += lstat(t, filepath.Join(src, "memory.bin")).Size
	time.Sleep(2500 * time.Millisecond) // longer than the default delay
	if _, err := os.Lstat(d.Path("p")); err == nil {
		t.Fatal("published with --commit-delay 0, without mv")
	}
	st = nwStatus(t, d, "p")
	nwContains(t, "status", st, fmt.Sprintf("received: %d bytes in 3 files\n", sum))
	nwContains(t, "status", st, "complete: publish with mv new/p p\n")
	if strings.Contains(st, "missing") {
		t.Errorf("status of a complete staging directory: %q", st)
	}
	if err := os.Rename(d.Path("new", "p"), d.Path("p")); err != nil {
		t.Fatalf("mv: %v\n%s", err, d.Log())
	}
}
