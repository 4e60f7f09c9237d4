package snapshot

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestWriteSnapshotLinksMemory(t *testing.T) {
	store := t.TempDir()
	mem := filepath.Join(store, "backing")
	if err := os.WriteFile(mem, []byte("RAM!"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(store, "link")
	if err := os.Symlink("backing", link); err != nil {
		t.Fatal(err)
	}
	m := sampleManifest()
	state := EncodeState([]StateUnit{{"pit", "t", []byte{1}}})
	dir := filepath.Join(store, "vm1")
	if err := WriteSnapshot(dir, m, state, link); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(mem)
	b, err := os.Stat(filepath.Join(dir, "memory.bin"))
	if err != nil || !os.SameFile(a, b) {
		t.Fatalf("memory.bin is not a hard link of the backing file: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "manifest.bin")); !bytes.Equal(got, m.Encode()) {
		t.Errorf("manifest.bin = %x", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "state.bin")); !bytes.Equal(got, state) {
		t.Errorf("state.bin = %x", got)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("dir mode %v", fi.Mode())
	}
	assertNoStaging(t, store)

	// An existing snapshot is never replaced, and nothing is left behind.
	err = WriteSnapshot(dir, &Manifest{Version: 9}, nil, mem)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("second write: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "manifest.bin")); !bytes.Equal(got, m.Encode()) {
		t.Error("existing snapshot changed")
	}
	assertNoStaging(t, store)

	// A missing backing file fails cleanly.
	if err := WriteSnapshot(filepath.Join(store, "vm2"), m, state, filepath.Join(store, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing memory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, "vm2")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("vm2 exists after a failed write")
	}
	assertNoStaging(t, store)
	if got, _ := os.ReadFile(mem); string(got) != "RAM!" {
		t.Error("backing file changed")
	}
}

func TestWriteSnapshotCrossDevice(t *testing.T) {
	// /dev/shm is tmpfs, usually another filesystem than the test's temp dir.
	src, err := os.CreateTemp("/dev/shm", "snapfs-test-")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	src.Close()
	defer os.Remove(src.Name())
	store := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(src.Name(), &a) != nil || syscall.Stat(store, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the same filesystem")
	}
	err = WriteSnapshot(filepath.Join(store, "vm1"), sampleManifest(), nil, src.Name())
	if !errors.Is(err, syscall.EXDEV) || !strings.Contains(err.Error(), "same filesystem") {
		t.Errorf("err = %v", err)
	}
	assertNoStaging(t, store)
}

func TestPublishNeverReplaces(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "vm1")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(store, ".staging")
	if err := os.Mkdir(staging, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "manifest.bin"), []byte{8, 1}, 0o644); err != nil {
		t.Fatal(err)
	}
	// Even an empty existing directory must not be replaced (plain rename would).
	empty := filepath.Join(store, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{dir, empty} {
		err := Publish(staging, target)
		if !errors.Is(err, fs.ErrExist) || !errors.Is(err, syscall.EEXIST) {
			t.Errorf("Publish over %s: %v", target, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Error("existing snapshot changed")
	}
	if _, err := os.Stat(filepath.Join(staging, "manifest.bin")); err != nil {
		t.Error("staging changed after a failed publish")
	}
	if err := Publish(staging, filepath.Join(store, "vm2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(store, "vm2", "manifest.bin")); err != nil {
		t.Error(err)
	}
}

func TestPublishRace(t *testing.T) {
	store := t.TempDir()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		staging := filepath.Join(store, ".s"+string(rune('a'+i)))
		if err := os.Mkdir(staging, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = Publish(staging, filepath.Join(store, "vm"))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		if err == nil {
			wins++
		} else if !errors.Is(err, fs.ErrExist) {
			t.Error(err)
		}
	}
	if wins != 1 {
		t.Errorf("%d publishers won", wins)
	}
}

func assertNoStaging(t *testing.T, store string) {
	t.Helper()
	entries, _ := os.ReadDir(store)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), StagingPrefix) {
			t.Errorf("staging directory %s left behind", e.Name())
		}
	}
}
