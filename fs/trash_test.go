package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func trashStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

func mkfile(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTrashEmptiesWithoutFollowing(t *testing.T) {
	s, dir := trashStore(t)
	outside := t.TempDir()
	mkfile(t, filepath.Join(outside, "keep", "precious"))
	mkfile(t, filepath.Join(dir, "a", "manifest.bin"))
	os.Symlink(filepath.Join(outside, "keep"), filepath.Join(dir, "a", "link"))
	os.Symlink(outside, filepath.Join(dir, "a", "link2"))
	deep := filepath.Join(dir, "a", strings.Repeat("d/", 3*trashDepth))
	mkfile(t, filepath.Join(deep, "f"))
	mkfile(t, filepath.Join(dir, "b", "manifest.bin"))

	entry, err := s.Trash("a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a still in STORE: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, trashDirName, entry, "manifest.bin")); err != nil {
		t.Errorf("not in the trash: %v", err)
	}
	fi, err := os.Lstat(filepath.Join(dir, trashDirName))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("trash: %v %v, want mode 0700", fi, err)
	}
	if err := s.EmptyTrash(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, trashDirName)); len(ents) != 0 {
		t.Errorf("trash holds %v", ents)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep", "precious")); err != nil {
		t.Errorf("removal followed a symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b", "manifest.bin")); err != nil {
		t.Errorf("b touched: %v", err)
	}
}

func TestTrashRefused(t *testing.T) {
	s, dir := trashStore(t)
	mkfile(t, filepath.Join(dir, "a", "manifest.bin"))
	mkfile(t, filepath.Join(dir, "b", "manifest.bin"))
	// Not the daemon's: a symlink, or a directory others may write, is
	// moved aside and a trash of the daemon's made anew.
	elsewhere := t.TempDir()
	os.Symlink(elsewhere, filepath.Join(dir, trashDirName))
	if _, err := s.Trash("a", nil); err != nil {
		t.Errorf("symlinked trash: %v, want it moved aside", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("the symlink's target got %v", ents)
	}
	os.RemoveAll(filepath.Join(dir, trashDirName))
	os.Mkdir(filepath.Join(dir, trashDirName), 0o700)
	os.Chmod(filepath.Join(dir, trashDirName), 0o777)
	if _, err := s.Trash("b", nil); err != nil {
		t.Errorf("world-writable trash: %v, want it moved aside", err)
	}
	var aside int
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), trashDirName+".refused-") {
			aside++
		}
	}
	if aside != 2 {
		t.Errorf("STORE holds %v, want two trashes moved aside", ents)
	}
	mkfile(t, filepath.Join(dir, "a", "manifest.bin"))
	// The check refuses: nothing moves.
	os.Chmod(filepath.Join(dir, trashDirName), 0o700)
	if _, err := s.Trash("a", func(*unix.Stat_t) error { return syscall.EPERM }); !errors.Is(err, syscall.EPERM) {
		t.Errorf("check: %v", err)
	}
	// A file or a symlink is no snapshot directory.
	mkfile(t, filepath.Join(dir, "file"))
	os.Symlink("a", filepath.Join(dir, "sym"))
	for _, n := range []string{"file", "sym", "missing", ".snapfs-staging", trashDirName, "new"} {
		if _, err := s.Trash(n, nil); err == nil {
			t.Errorf("%s trashed", n)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "manifest.bin")); err != nil {
		t.Errorf("a moved: %v", err)
	}
}

func TestStoreRename(t *testing.T) {
	s, dir := trashStore(t)
	mkfile(t, filepath.Join(dir, "a", "manifest.bin"))
	mkfile(t, filepath.Join(dir, "b", "manifest.bin"))
	var before unix.Stat_t
	unix.Lstat(filepath.Join(dir, "a"), &before)
	for n, want := range map[string]error{"b": syscall.EEXIST, ".x": syscall.EINVAL, "latest": syscall.EINVAL, "a/b": syscall.EINVAL, "": syscall.EINVAL} {
		if err := s.Rename("a", n, nil); !errors.Is(err, want) {
			t.Errorf("rename a %q: %v, want %v", n, err, want)
		}
	}
	if err := s.Rename("a", "c", nil); err != nil {
		t.Fatal(err)
	}
	var after unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "c"), &after); err != nil || after.Ino != before.Ino {
		t.Errorf("c: %v, inode %d, was %d", err, after.Ino, before.Ino)
	}
	if err := s.Rename("a", "d", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rename of a gone snapshot: %v", err)
	}
}
