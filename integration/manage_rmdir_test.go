package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestManageRmdir deletes snapshots through the mount: at once although
// the directory is not empty, while files are open and a restore runs,
// and latest moves on. Nothing else in STORE changes, the trash is
// emptied, and the log names the caller.
func TestManageRmdir(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "old", snapSpec{Manifest: goodManifest(created)})
	makeSnap(t, store, "mid", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	makeSnap(t, store, "new1", snapSpec{Manifest: goodManifest(created.Add(2 * time.Hour))})
	d := mountStore(t, store, "")
	if l, _ := os.Readlink(d.Path("latest")); l != "new1" {
		t.Fatalf("latest is %q", l)
	}
	oldDigest := mgSnapDigest(t, store, "old")
	want := read(t, filepath.Join(store, "new1", "manifest.bin"))

	// Open files and a running restore of new1.
	mf, err := os.Open(d.Path("new1", "manifest.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	status, err := os.Open(d.Path("new1", "status"))
	if err != nil {
		t.Fatal(err)
	}
	defer status.Close()
	_, ram, err := openvmmRestore(d.Path("new1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ram.close()
	ram.mem[4096] = 0x5a // the guest runs

	if err := unix.Rmdir(d.Path("new1")); err != nil {
		t.Fatalf("rmdir new1: %v", err)
	}
	if _, err := os.Lstat(d.Path("new1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MNT/new1 after rmdir: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(store, "new1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("STORE/new1 after rmdir: %v", err)
	}
	wantNames(t, d.Mnt, "latest", "mid", "new", "old")
	if l, _ := os.Readlink(d.Path("latest")); l != "mid" {
		t.Errorf("latest is %q after deleting new1, want mid", l)
	}
	// What was open keeps working.
	got, err := io.ReadAll(mf)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("open manifest.bin after rmdir: %v, equal %v", err, bytes.Equal(got, want))
	}
	if b, err := io.ReadAll(status); err != nil || !strings.HasPrefix(string(b), "ok") {
		t.Errorf("open status after rmdir: %q %v", b, err)
	}
	ram.mem[8192] = 0xa5
	if ram.mem[4096] != 0x5a || ram.mem[8192] != 0xa5 {
		t.Errorf("the running restore lost its memory")
	}

	// Without anything open, and as the only name of a directory a
	// process is not in.
	if err := unix.Rmdir(d.Path("mid")); err != nil {
		t.Fatalf("rmdir mid: %v", err)
	}
	if l, _ := os.Readlink(d.Path("latest")); l != "old" {
		t.Errorf("latest is %q, want old", l)
	}
	// Gone is gone; files are still not deletable; the root's own
	// entries are not snapshots.
	for _, c := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"rmdir again", unix.Rmdir(d.Path("mid")), syscall.ENOENT},
		{"rm file", os.Remove(d.Path("old", "manifest.bin")), syscall.EROFS},
		{"rmdir state/", unix.Rmdir(d.Path("old", "state")), syscall.EROFS},
		{"rmdir new", unix.Rmdir(d.Path("new")), syscall.EROFS},
		{"rmdir latest", unix.Rmdir(d.Path("latest")), syscall.ENOTDIR},
	} {
		if errnoOf(c.err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	mgWaitTrashEmpty(t, d)
	if got := mgVisible(t, store); !slices.Equal(got, []string{"old"}) {
		t.Errorf("STORE holds %v", got)
	}
	if mgSnapDigest(t, store, "old") != oldDigest {
		t.Errorf("old changed")
	}
	mgLogged(t, d, "deleted snapshot", `name="new1"`, fmt.Sprintf("uid=%d", os.Getuid()))
	mgLogged(t, d, "deleted snapshot", `name="mid"`)
}

// TestManageRmdirCwd deletes a snapshot a process stands in: it finds
// nothing there afterwards, even once a new snapshot has the name.
func TestManageRmdirCwd(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "a", snapSpec{})
	d := mountStore(t, store, "")
	dir, err := os.Open(d.Path("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := unix.Rmdir(d.Path("a")); err != nil {
		t.Fatal(err)
	}
	// Once the old directory is gone, the new one may get its inode
	// number: it still must not be served through the deleted node.
	mgWaitTrashEmpty(t, d)
	makeSnap(t, store, "a", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), "status", &st, 0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("status through the deleted directory: %v, want ENOENT", err)
	}
	mgWaitShown(t, d, "a")
}

// TestManageRmdirRacePublish races rmdir of a snapshot with the publish
// of a staged one to the same name: the old one is always deleted, and
// the new one is either published and intact or still staged.
func TestManageRmdirRacePublish(t *testing.T) {
	t.Parallel()
	src := nwSource(t, "x")
	d := nwMount(t, "", "--commit-delay", "0")
	for i := 0; i < 8; i++ {
		makeSnap(t, d.Store, "x", snapSpec{Manifest: goodManifest(created.Add(time.Duration(i) * time.Hour))})
		oldIno := mgInode(t, filepath.Join(d.Store, "x"))
		mgWaitShown(t, d, "x")
		stage := fmt.Sprintf("y%d", i)
		nwSh(t, fmt.Sprintf("mkdir %s && cp %s/* %s/", d.Path("new", stage), src, d.Path("new", stage)))
		var wg sync.WaitGroup
		var rmErr, mvErr error
		wg.Add(2)
		go func() { defer wg.Done(); rmErr = unix.Rmdir(d.Path("x")) }()
		go func() { defer wg.Done(); mvErr = unix.Rename(d.Path("new", stage), d.Path("x")) }()
		wg.Wait()
		if rmErr != nil {
			t.Fatalf("round %d: rmdir: %v (rename: %v)", i, rmErr, mvErr)
		}
		ino := mgInode(t, filepath.Join(d.Store, "x"))
		if ino == oldIno {
			t.Fatalf("round %d: the old x is still in STORE", i)
		}
		switch errnoOf(mvErr) {
		case 0:
			nwOnlyFiles(t, filepath.Join(d.Store, "x"))
			nwSameFiles(t, src, filepath.Join(d.Store, "x"))
			if st := read(t, d.Path("x", "status")); strings.Contains(string(st), "error:") {
				t.Errorf("round %d: published x: %s", i, st)
			}
			if err := unix.Rmdir(d.Path("x")); err != nil {
				t.Fatal(err)
			}
		case syscall.EEXIST:
			if ino != 0 {
				t.Fatalf("round %d: rename refused, yet STORE has an x", i)
			}
			nwSameFiles(t, src, filepath.Join(d.Store, ".snapfs-staging", stage))
		default:
			t.Fatalf("round %d: rename: %v", i, mvErr)
		}
	}
	mgWaitTrashEmpty(t, d)
}

// TestManageTrashResume kills the daemon right after a delete and leaves
// a half-removed entry in the trash: the next mount empties the trash and
// touches nothing else.
func TestManageTrashResume(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "keep", snapSpec{})
	makeSnap(t, store, "gone", snapSpec{})
	mnt := t.TempDir()
	d := mountStore(t, store, mnt)
	if err := unix.Rmdir(d.Path("gone")); err != nil {
		t.Fatal(err)
	}
	d.kill()
	unix.Unmount(mnt, unix.MNT_DETACH)
	// What a kill in the middle of a removal leaves: a directory tree
	// partly removed, with a symlink that must not be followed.
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	half := filepath.Join(store, trashDir, "half", "sub", "deeper")
	if err := os.MkdirAll(half, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(half, "memory.bin"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(store, trashDir, "half", "link"))
	keep := mgSnapDigest(t, store, "keep")
	staged := filepath.Join(store, ".snapfs-staging", "wip")
	os.MkdirAll(staged, 0o755)
	os.WriteFile(filepath.Join(staged, "state.bin"), []byte("s"), 0o644)

	d2 := mountStore(t, store, "", "--commit-delay", "0")
	mgWaitTrashEmpty(t, d2)
	if got := mgVisible(t, store); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("STORE holds %v", got)
	}
	if mgSnapDigest(t, store, "keep") != keep {
		t.Errorf("keep changed")
	}
	if _, err := os.Stat(filepath.Join(outside, "precious")); err != nil {
		t.Errorf("emptying the trash followed a symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(staged, "state.bin")); err != nil {
		t.Errorf("staging touched: %v", err)
	}
	wantNames(t, d2.Mnt, "keep", "latest", "new")
}
