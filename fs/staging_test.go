package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// These tests drive the stager as the FUSE nodes do, on a temporary STORE
// and without a mount, and play the hostile user who can write STORE.

func newTestStager(t *testing.T) (*stager, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := newTree(store, Options{}).stage
	s.published = nil // no mount to notify
	return s, dir
}

// writeSnapshot writes a valid snapshot's files into dir; with json, its
// manifest as manifest.json instead of manifest.bin.
func writeSnapshot(t *testing.T, dir string, json bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := &snapshot.Manifest{Version: 1, CreatedAt: snapshot.Timestamp{Seconds: 1700000000}, OpenVMMVersion: "t",
		MemorySizeBytes: 1 << 16, VPCount: 1, PageSize: 4096, Architecture: "x86_64"}
	state, err := os.ReadFile(filepath.Join("..", "snapshot", "testdata", "openvmm", "state-basic.bin"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"state.bin": state, "memory.bin": make([]byte, 1<<16)}
	if json {
		files["manifest.json"] = m.JSON()
	} else {
		files["manifest.bin"] = m.Encode()
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotFiles reads every file of dir, to show nothing changed.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fi, _ := os.Lstat(filepath.Join(dir, e.Name()))
		out[e.Name()] = fi.Mode().String() + ":" + string(b)
	}
	return out
}

func sameFiles(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d entries, then %d", what, len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			t.Fatalf("%s: %s changed", what, k)
		}
	}
}

func TestStagePublishes(t *testing.T) {
	s, store := newTestStager(t)
	if err := s.mkdir("x", 0o750, os.Getuid(), os.Getgid(), 0); err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, filepath.Join(store, stagingDirName, "x"), true)
	if err := s.publish("x", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, "x", "manifest.bin")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, "x", "manifest.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("manifest.json left: %v", err)
	}
	// Published: every later change through the mount fails.
	err := s.change("x", 0, func(*stage, *os.File) error { return nil })
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("change after publish: %v, want ENOENT", err)
	}
}

func TestStageSymlinkedDirIsNeverFollowed(t *testing.T) {
	s, store := newTestStager(t)
	outside := t.TempDir()
	writeSnapshot(t, outside, true)
	before := snapshotFiles(t, outside)
	if err := s.mkdir("x", 0o755, os.Getuid(), os.Getgid(), 0); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(store, stagingDirName, "x")
	os.Remove(x)
	if err := os.Symlink(outside, x); err != nil {
		t.Fatal(err)
	}
	if err := s.publish("x", "x"); err == nil {
		t.Fatal("published a symlinked staging directory")
	}
	if _, _, err := s.status("x", 0); err == nil {
		t.Fatal("status of a symlinked staging directory")
	}
	if names, _ := s.list(); len(names) != 0 {
		t.Fatalf("list shows %v", names)
	}
	sameFiles(t, "outside directory", before, snapshotFiles(t, outside))
	if _, err := os.Lstat(filepath.Join(store, "x")); err == nil {
		t.Fatal("STORE/x exists")
	}
}

// A .snapfs-staging that is a symlink, or another user's directory, is
// moved aside (keeping what it holds) and made anew; nothing of it is
// published or followed.
func TestStageSquattedStagingAreaMovedAside(t *testing.T) {
	for _, kind := range []string{"symlink", "foreign owner"} {
		t.Run(kind, func(t *testing.T) {
			s, store := newTestStager(t)
			outside := t.TempDir()
			writeSnapshot(t, filepath.Join(outside, "y"), true)
			before := snapshotFiles(t, filepath.Join(outside, "y"))
			area := filepath.Join(store, stagingDirName)
			if kind == "symlink" {
				if err := os.Symlink(outside, area); err != nil {
					t.Fatal(err)
				}
			} else {
				writeSnapshot(t, filepath.Join(area, "y"), true)
				if os.Geteuid() != 0 {
					t.Skip("chown needs root")
				}
				if err := os.Chown(area, 4242, 4242); err != nil {
					t.Fatal(err)
				}
			}
			if names, _ := s.list(); len(names) != 0 {
				t.Fatalf("list shows %v", names)
			}
			if err := s.publish("y", "y"); err == nil {
				t.Fatal("published from a squatted staging area")
			}
			if err := s.mkdir("z", 0o755, 0, 0, 0); err != nil {
				t.Fatalf("mkdir: %v, want a staging area made anew", err)
			}
			sameFiles(t, "outside directory", before, snapshotFiles(t, filepath.Join(outside, "y")))
			if _, err := os.Stat(filepath.Join(outside, "z")); err == nil {
				t.Fatal("mkdir reached outside STORE")
			}
			if fi, err := os.Lstat(filepath.Join(area, "z")); err != nil || !fi.IsDir() {
				t.Fatalf("new staging area: %v", err)
			}
			aside, _ := filepath.Glob(area + ".refused-*")
			if len(aside) != 1 {
				t.Fatalf("moved aside: %v, want one", aside)
			}
			if kind == "foreign owner" {
				sameFiles(t, "the squatter's directory", before, snapshotFiles(t, filepath.Join(aside[0], "y")))
			} else if target, err := os.Readlink(aside[0]); err != nil || target != outside {
				t.Errorf("the symlink moved aside reads %q, %v", target, err)
			}
			if _, err := os.Stat(filepath.Join(store, "y")); err == nil {
				t.Error("the squatter's y was published")
			}
		})
	}
}

func TestStageRefusesSpecialEntries(t *testing.T) {
	for _, kind := range []string{"symlink", "fifo", "whiteout"} {
		t.Run(kind, func(t *testing.T) {
			s, store := newTestStager(t)
			if err := s.mkdir("x", 0o755, os.Getuid(), os.Getgid(), 0); err != nil {
				t.Fatal(err)
			}
			x := filepath.Join(store, stagingDirName, "x")
			writeSnapshot(t, x, false)
			os.Remove(filepath.Join(x, "memory.bin"))
			p := filepath.Join(x, "memory.bin")
			var err error
			switch kind {
			case "symlink":
				err = os.Symlink("/etc/passwd", p)
			case "fifo":
				err = unix.Mkfifo(p, 0o644)
			case "whiteout":
				err = unix.Mknod(p, unix.S_IFCHR|0o600, 0)
			}
			if err != nil {
				t.Skip(err)
			}
			err = s.publish("x", "x")
			if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), `"memory.bin" is a`) {
				t.Fatalf("publish: %v, want EINVAL naming memory.bin", err)
			}
			status, _, err := s.status("x", 0)
			if err != nil || !strings.Contains(string(status), `error: "memory.bin" is a`) {
				t.Fatalf("status %q, %v", status, err)
			}
		})
	}
}

func TestStageManifestJSONCap(t *testing.T) {
	for _, size := range []int{snapshot.MaxManifestSize + 100, 50 << 20} {
		s, store := newTestStager(t)
		if err := s.mkdir("x", 0o755, os.Getuid(), os.Getgid(), 0); err != nil {
			t.Fatal(err)
		}
		x := filepath.Join(store, stagingDirName, "x")
		writeSnapshot(t, x, true)
		js, _ := os.ReadFile(filepath.Join(x, "manifest.json"))
		big := strings.Replace(string(js), `"openvmm_version": "t"`, `"openvmm_version": "`+strings.Repeat("v", size)+`"`, 1)
		if err := os.WriteFile(filepath.Join(x, "manifest.json"), []byte(big), 0o644); err != nil {
			t.Fatal(err)
		}
		err := s.publish("x", "x")
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("%d bytes: publish %v, want EINVAL (larger than)", size, err)
		}
		if strings.Count(err.Error(), "manifest.json") > 1 || strings.Count(err.Error(), "manifest.bin") > 1 {
			t.Errorf("a file named twice: %v", err)
		}
	}
}

func TestPublishAtRefusesASwappedDirectory(t *testing.T) {
	s, store := newTestStager(t)
	if err := s.mkdir("x", 0o755, os.Getuid(), os.Getgid(), 0); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(store, stagingDirName, "x")
	writeSnapshot(t, x, false)
	dir, err := s.openStage("x", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	// Swapped after validation: another directory under the name.
	if err := os.Rename(x, x+".old"); err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, x, false)
	r, _ := s.root()
	defer r.Close()
	st, _ := openDirAt(s.t.store.fd, ".")
	defer st.Close()
	if err := snapshot.PublishAt(dir, int(r.Fd()), "x", int(st.Fd()), "x", -1); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("PublishAt of a swapped directory: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(store, "x")); err == nil {
		t.Fatal("STORE/x exists")
	}
}

// TestStageUnhold: a staging directory a killed daemon left in the hold
// directory mid-publish comes back to new/ at the next mount.
func TestStageUnhold(t *testing.T) {
	s, store := newTestStager(t)
	held := filepath.Join(store, holdDirName, "x.1234")
	writeSnapshot(t, held, false)
	os.Chmod(filepath.Join(store, holdDirName), 0o700)
	s.unhold()
	if _, err := os.Stat(filepath.Join(store, stagingDirName, "x", "memory.bin")); err != nil {
		t.Fatalf("not back in staging: %v", err)
	}
	if err := s.publish("x", "x"); err != nil {
		t.Fatalf("publishing it afterwards: %v", err)
	}
}

// TestStageLostRaceLeavesStaging: another host takes the name while the
// staged snapshot is validated; publish answers EEXIST, says why in
// status and leaves every staged file as it was (manifest.json included).
func TestStageLostRaceLeavesStaging(t *testing.T) {
	s, store := newTestStager(t)
	if err := s.mkdir("x", 0o750, os.Getuid(), os.Getgid(), 0); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(store, stagingDirName, "x")
	writeSnapshot(t, staged, true)
	before := snapshotFiles(t, staged)
	testAfterValidation = func(target string) {
		if err := os.Mkdir(filepath.Join(store, target), 0o755); err != nil {
			t.Error(err)
		}
	}
	defer func() { testAfterValidation = nil }()
	if err := s.publish("x", "x"); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("publish after losing the name: %v, want EEXIST", err)
	}
	sameFiles(t, "staging after a lost race", before, snapshotFiles(t, staged))
	if last := s.get("x").last; !strings.Contains(last, "exists") {
		t.Errorf("status findings %q do not say the name is taken", last)
	}
}
