package integration

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// toolsStore is a store with two valid snapshots and a broken one.
func toolsStore(t *testing.T) string {
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	makeSnap(t, store, "broken", snapSpec{ManifestBytes: []byte{0xff}, NoMemory: true})
	return store
}

// TestReadToolsFSTest runs testing/fstest over the mount.
func TestReadToolsFSTest(t *testing.T) {
	t.Parallel()
	// fstest reads every file many times in small pieces: keep memory.bin
	// small here.
	store := t.TempDir()
	small := func(tm time.Time) *snapshot.Manifest {
		m := goodManifest(tm)
		m.MemorySizeBytes = 64 << 10
		return m
	}
	makeSnap(t, store, "vm1", snapSpec{Manifest: small(created)})
	makeSnap(t, store, "vm2", snapSpec{Manifest: small(created.Add(time.Hour))})
	makeSnap(t, store, "broken", snapSpec{ManifestBytes: []byte{0xff}, NoMemory: true})
	d := mountStore(t, store, "")
	expected := []string{
		"vm1", "vm1/manifest.bin", "vm1/manifest.json", "vm1/manifest", "vm1/state.bin", "vm1/state",
		"vm1/memory.bin", "vm1/status", "vm2/status", "new", "latest", "broken/status", "broken/manifest.bin",
		"broken/state.bin", "broken/state/pit/value.bin",
	}
	for _, f := range append([]string{}, "version", "created_at", "openvmm_version", "memory_size_bytes", "vp_count", "page_size", "architecture") {
		expected = append(expected, "vm1/manifest/"+f)
	}
	for _, u := range []string{"pit", "rtc", "vmbus", "StorageVsp:ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "input"} {
		expected = append(expected, "vm1/state/"+u, "vm1/state/"+u+"/type_url", "vm1/state/"+u+"/value.bin", "vm1/state/"+u+"/value.txt")
	}
	if err := fstest.TestFS(os.DirFS(d.Mnt), expected...); err != nil {
		t.Error(err)
	}
	// broken has no manifest views.
	for _, p := range []string{"broken/manifest.json", "broken/manifest", "broken/memory.bin"} {
		if _, err := fs.Stat(os.DirFS(d.Mnt), p); err == nil {
			t.Errorf("%s exists", p)
		}
	}
}

// sameTree fails unless every regular file under a exists under b with
// the same bytes (and, with mtimes, the same mtime).
func sameTree(t *testing.T, a, b string, mtimes bool) int {
	t.Helper()
	n := 0
	filepath.WalkDir(a, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		if !de.Type().IsRegular() {
			return nil
		}
		n++
		got, err := os.ReadFile(q)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if !bytes.Equal(got, read(t, p)) {
			t.Errorf("%s differs", rel)
		}
		if mtimes {
			if sa, sb := lstat(t, p), lstat(t, q); sa.Mtim.Sec != sb.Mtim.Sec {
				t.Errorf("%s: mtime %v vs %v", rel, sa.Mtim, sb.Mtim)
			}
		}
		return nil
	})
	return n
}

// TestReadToolsTar archives a snapshot through the mount with tar and
// checks the extracted files against STORE and the views.
func TestReadToolsTar(t *testing.T) {
	t.Parallel()
	store := toolsStore(t)
	d := mountStore(t, store, "")
	out := t.TempDir()
	archive := filepath.Join(out, "vm1.tar")
	run(t, "tar", "-C", d.Mnt, "-cf", archive, "vm1")
	x := filepath.Join(out, "x")
	os.Mkdir(x, 0o755)
	run(t, "tar", "-C", x, "-xf", archive)
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		if !bytes.Equal(read(t, filepath.Join(x, "vm1", f)), read(t, filepath.Join(store, "vm1", f))) {
			t.Errorf("extracted %s differs from STORE", f)
		}
		if a, b := lstat(t, filepath.Join(x, "vm1", f)), lstat(t, filepath.Join(store, "vm1", f)); a.Mtim.Sec != b.Mtim.Sec {
			t.Errorf("extracted %s mtime %v, STORE %v", f, a.Mtim, b.Mtim)
		}
	}
	if n := sameTree(t, d.Path("vm1"), filepath.Join(x, "vm1"), false); n < 20 {
		t.Errorf("only %d files in the archive", n)
	}
	// A sparse archive of memory.bin keeps holes and bytes.
	sparse := filepath.Join(out, "mem.tar")
	run(t, "tar", "-C", d.Path("vm1"), "--sparse", "-cf", sparse, "memory.bin")
	if st := lstat(t, sparse); st.Size > 1<<20 {
		t.Errorf("sparse tar of memory.bin is %d bytes", st.Size)
	}
	y := filepath.Join(out, "y")
	os.Mkdir(y, 0o755)
	run(t, "tar", "-C", y, "-xf", sparse)
	if !bytes.Equal(read(t, filepath.Join(y, "memory.bin")), read(t, filepath.Join(store, "vm1", "memory.bin"))) {
		t.Error("memory.bin from the sparse tar differs")
	}
}

// TestReadToolsRsync copies a snapshot with rsync -a: byte-identical, and
// a second run finds nothing to do.
func TestReadToolsRsync(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Skip("no rsync")
	}
	store := toolsStore(t)
	d := mountStore(t, store, "")
	dst := filepath.Join(t.TempDir(), "vm1")
	run(t, "rsync", "-a", d.Path("vm1")+"/", dst+"/")
	if n := sameTree(t, d.Path("vm1"), dst, true); n < 20 {
		t.Errorf("only %d files copied", n)
	}
	sameTree(t, dst, d.Path("vm1"), true) // nothing extra
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		if !bytes.Equal(read(t, filepath.Join(dst, f)), read(t, filepath.Join(store, "vm1", f))) {
			t.Errorf("rsync'd %s differs from STORE", f)
		}
	}
	// Sizes and mtimes are stable: nothing to transfer the second time.
	if out := run(t, "rsync", "-a", "--itemize-changes", d.Path("vm1")+"/", dst+"/"); strings.TrimSpace(out) != "" {
		t.Errorf("second rsync transferred:\n%s", out)
	}
	// Whole mount, sparse.
	all := t.TempDir()
	run(t, "rsync", "-a", "--sparse", d.Mnt+"/", all+"/")
	if st := lstat(t, filepath.Join(all, "vm2", "memory.bin")); st.Blocks*512 > 1<<20 {
		t.Errorf("rsync --sparse memory.bin has %d blocks", st.Blocks)
	}
	if got, err := os.Readlink(filepath.Join(all, "latest")); err != nil || got != "vm2" {
		t.Errorf("rsync'd latest -> %q, %v", got, err)
	}
}

// TestReadToolsCpSparse copies memory.bin with cp --sparse=always: the
// copy keeps the holes.
func TestReadToolsCpSparse(t *testing.T) {
	t.Parallel()
	store := toolsStore(t)
	d := mountStore(t, store, "")
	dst := filepath.Join(t.TempDir(), "memory.bin")
	run(t, "cp", "--sparse=always", d.Path("vm1", "memory.bin"), dst)
	if !bytes.Equal(read(t, dst), read(t, filepath.Join(store, "vm1", "memory.bin"))) {
		t.Error("copied memory.bin differs")
	}
	st := lstat(t, dst)
	if st.Size != memSize || st.Blocks*512 > 256<<10 {
		t.Errorf("copy: size %d, %d blocks: holes lost", st.Size, st.Blocks)
	}
	// Plain cp (which may use SEEK_DATA/SEEK_HOLE or copy_file_range) is
	// byte-identical too.
	dst2 := filepath.Join(t.TempDir(), "memory.bin")
	run(t, "cp", d.Path("vm1", "memory.bin"), dst2)
	if !bytes.Equal(read(t, dst2), read(t, filepath.Join(store, "vm1", "memory.bin"))) {
		t.Error("plain cp of memory.bin differs")
	}
}
