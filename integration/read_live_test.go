package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootMtime is the mtime of MNT.
func rootMtime(t *testing.T, d *daemon) [2]int64 {
	st := lstat(t, d.Mnt)
	return [2]int64{st.Mtim.Sec, st.Mtim.Nsec}
}

// TestReadLiveAddRemove checks that a snapshot written into STORE, or
// removed from it, shows under MNT within a second, that latest follows
// and that the root's mtime changes.
func TestReadLiveAddRemove(t *testing.T) { liveModes(t, testReadLiveAddRemove) }

func testReadLiveAddRemove(t *testing.T, flags []string) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "", flags...)
	wantNames(t, d.Mnt, "latest", "new", "vm1")
	wantAbsent(t, d.Path("vm2"))
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Fatalf("latest -> %q", got)
	}
	m0 := rootMtime(t, d)

	// OpenVMM writes straight into STORE: manifest, state, then the link.
	time.Sleep(10 * time.Millisecond) // a distinct STORE mtime
	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	time.Sleep(visible)
	wantNames(t, d.Mnt, "latest", "new", "vm1", "vm2")
	if got := readlink(t, d.Path("latest")); got != "vm2" {
		t.Errorf("latest -> %q after adding a newer snapshot, want vm2", got)
	}
	if got := string(read(t, d.Path("vm2", "status"))); got != "ok\n" {
		t.Errorf("vm2/status = %q", got)
	}
	if got := string(read(t, d.Path("latest", "manifest", "created_at"))); got != created.Add(time.Hour).Format(time.RFC3339Nano)+"\n" {
		t.Errorf("latest/manifest/created_at = %q", got)
	}
	m1 := rootMtime(t, d)
	if m1 == m0 {
		t.Errorf("root mtime %v did not change when vm2 came", m1)
	}

	time.Sleep(10 * time.Millisecond)
	if err := os.RemoveAll(filepath.Join(store, "vm2")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(visible)
	wantNames(t, d.Mnt, "latest", "new", "vm1")
	wantAbsent(t, d.Path("vm2"))
	wantAbsent(t, d.Path("vm2", "status"))
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest -> %q after removing vm2, want vm1", got)
	}
	if m2 := rootMtime(t, d); m2 == m1 {
		t.Errorf("root mtime %v did not change when vm2 went", m2)
	}

	// The last one goes: latest goes too.
	if err := os.RemoveAll(filepath.Join(store, "vm1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(visible)
	wantNames(t, d.Mnt, "new")
	wantAbsent(t, d.Path("latest"))
}

// TestReadLiveManifestArrives checks a directory that becomes a snapshot
// when its manifest.bin is written (the directory made earlier), and stops
// being one when manifest.bin goes: the root's mtime changes both times.
func TestReadLiveManifestArrives(t *testing.T) { liveModes(t, testReadLiveManifestArrives) }

func testReadLiveManifestArrives(t *testing.T, flags []string) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	if err := os.Mkdir(filepath.Join(store, "vm2"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := mountStore(t, store, "", flags...)
	wantNames(t, d.Mnt, "latest", "new", "vm1")
	m0 := rootMtime(t, d)

	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	time.Sleep(visible)
	wantNames(t, d.Mnt, "latest", "new", "vm1", "vm2")
	if got := readlink(t, d.Path("latest")); got != "vm2" {
		t.Errorf("latest -> %q, want vm2", got)
	}
	m1 := rootMtime(t, d)
	if m1 == m0 {
		t.Errorf("root mtime %v did not change when vm2 got its manifest.bin", m1)
	}

	if err := os.Remove(filepath.Join(store, "vm2", "manifest.bin")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(visible)
	wantNames(t, d.Mnt, "latest", "new", "vm1")
	if m2 := rootMtime(t, d); m2 == m1 {
		t.Errorf("root mtime %v did not change when vm2 lost its manifest.bin", m2)
	}
}

// TestReadLiveChanges checks that a snapshot fixed or renamed in STORE
// shows as it now is, without a remount.
func TestReadLiveChanges(t *testing.T) { liveModes(t, testReadLiveChanges) }

func testReadLiveChanges(t *testing.T, flags []string) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Hour)), NoMemory: true})
	d := mountStore(t, store, "", flags...)
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest -> %q, want vm1 (vm2 lacks memory.bin)", got)
	}
	if lines := statusLines(t, d, "vm2"); len(lines) != 1 || lines[0] == "ok" {
		t.Errorf("vm2/status = %q, want an error", lines)
	}
	wantAbsent(t, d.Path("vm2", "memory.bin"))

	// The missing memory.bin arrives (OpenVMM links it last).
	writeSparse(t, filepath.Join(store, "vm2", "memory.bin"), memSize)
	tm := created.Add(time.Hour)
	os.Chtimes(filepath.Join(store, "vm2", "memory.bin"), tm, tm)
	time.Sleep(visible)
	if got := string(read(t, d.Path("vm2", "status"))); got != "ok\n" {
		t.Errorf("vm2/status = %q after memory.bin arrived, want ok", got)
	}
	if got := readlink(t, d.Path("latest")); got != "vm2" {
		t.Errorf("latest -> %q, want vm2 once it is valid", got)
	}
	if !slices.Contains(names(t, d.Path("vm2")), "memory.bin") {
		t.Errorf("vm2/memory.bin not listed: %q", names(t, d.Path("vm2")))
	}

	// Renamed in STORE: the new name serves the same snapshot, the old
	// one is gone, and latest follows.
	keep := read(t, d.Path("vm2", "manifest.json"))
	if err := os.Rename(filepath.Join(store, "vm2"), filepath.Join(store, "vm2b")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(visible)
	wantNames(t, d.Mnt, "latest", "new", "vm1", "vm2b")
	wantAbsent(t, d.Path("vm2"))
	if got := readlink(t, d.Path("latest")); got != "vm2b" {
		t.Errorf("latest -> %q, want vm2b", got)
	}
	if got := read(t, d.Path("vm2b", "manifest.json")); string(got) != string(keep) {
		t.Errorf("vm2b/manifest.json = %q, want %q", got, keep)
	}
	if got := string(read(t, d.Path("vm2b", "status"))); got != "ok\n" {
		t.Errorf("vm2b/status = %q, want ok", got)
	}
	wantNames(t, d.Path("vm2b"), "manifest.bin", "manifest.json", "manifest", "state.bin", "state", "memory.bin", "status")

	// Its manifest rewritten: the views follow.
	m := goodManifest(created.Add(time.Hour))
	m.VPCount = 7
	writeFile(t, filepath.Join(store, "vm2b", "manifest.bin"), m.Encode())
	time.Sleep(visible)
	if got := string(read(t, d.Path("vm2b", "manifest", "vp_count"))); got != "7\n" {
		t.Errorf("vm2b/manifest/vp_count = %q after rewrite, want 7", got)
	}
}

// TestReadLiveStatusGrows checks that a view whose content grows after it
// was read (status: "ok" becomes an error) is read whole: its size
// follows, so cat never shows a cut-off line.
func TestReadLiveStatusGrows(t *testing.T) { liveModes(t, testReadLiveStatusGrows) }

func testReadLiveStatusGrows(t *testing.T, flags []string) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "", flags...)
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Fatalf("status = %q", got)
	}
	lstat(t, d.Path("vm1", "status")) // size 3 now cached by the kernel
	if err := os.Remove(filepath.Join(store, "vm1", "memory.bin")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(visible)
	b := read(t, d.Path("vm1", "status"))
	lines := statusLines(t, d, "vm1")
	if len(lines) != 1 || lines[0] != "error: memory.bin is missing" && !(len(lines[0]) > 20 && lines[0][:7] == "error: ") {
		t.Errorf("status = %q after memory.bin went", b)
	}
	if st := lstat(t, d.Path("vm1", "status")); st.Size != int64(len(b)) {
		t.Errorf("status size %d, read %d bytes", st.Size, len(b))
	}
	wantAbsent(t, d.Path("latest"))
}

// liveModes runs a live test with the watcher (the default) and without
// it (--no-watch), where the kernel and the store cache re-check after a
// timeout instead of being notified.
func liveModes(t *testing.T, f func(t *testing.T, flags []string)) {
	for _, flags := range [][]string{nil, {"--no-watch"}} {
		t.Run("watch="+strconv.FormatBool(flags == nil), func(t *testing.T) { f(t, flags) })
	}
}

// TestReadLiveMemoryWrittenByVM: a VM restored from a snapshot in STORE
// writes memory.bin through mmap, which inotify does not report. Its mtime
// and the status warning must still show.
func TestReadLiveMemoryWrittenByVM(t *testing.T) { liveModes(t, testReadLiveMemoryWrittenByVM) }

func testReadLiveMemoryWrittenByVM(t *testing.T, flags []string) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{Manifest: goodManifest(time.Now().Add(-time.Hour))})
	d := mountStore(t, store, "", flags...)
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Fatalf("vm1/status = %q before the VM ran", got)
	}
	before := lstat(t, d.Path("vm1", "memory.bin"))

	f, err := os.OpenFile(filepath.Join(store, "vm1", "memory.bin"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	mem[100] ^= 0xff
	syscall.Munmap(mem)
	f.Close()

	time.Sleep(20 * time.Millisecond) // the kernel keeps even "volatile" attributes for a jiffy
	after := lstat(t, d.Path("vm1", "memory.bin"))
	if after.Mtim == before.Mtim {
		t.Errorf("memory.bin mtime %v unchanged under MNT after the VM wrote it", after.Mtim)
	}
	if st := string(read(t, d.Path("vm1", "status"))); !strings.Contains(st, "warning: memory.bin modified after created_at") {
		t.Errorf("vm1/status = %q, want the restored-and-run warning", st)
	}
}
