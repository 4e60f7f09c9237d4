package integration

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// mgInos is the inode number of every entry under MNT/name, by path
// relative to it.
func mgInos(t *testing.T, d *daemon, name string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for rel, st := range walk(t, d.Path(name)) {
		out[rel] = st.Ino
	}
	return out
}

// TestManageRenameChain renames a snapshot a→b→c→a through the mount:
// STORE follows, inode numbers of every entry stay, a directory a
// process stands in and a file it holds open follow the snapshot, and
// latest follows the name.
func TestManageRenameChain(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "a", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	makeSnap(t, store, "z", snapSpec{})
	d := mountStore(t, store, "")
	before := mgInos(t, d, "a")
	digest := mgSnapDigest(t, store, "a")
	dir, err := os.Open(d.Path("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	f, err := os.Open(d.Path("a", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prev := "a"
	for _, next := range []string{"b", "c with space", "a"} {
		if err := unix.Renameat2(unix.AT_FDCWD, d.Path(prev), unix.AT_FDCWD, d.Path(next), unix.RENAME_NOREPLACE); err != nil {
			t.Fatalf("mv %s %s: %v", prev, next, err)
		}
		if _, err := os.Lstat(d.Path(prev)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("MNT/%s after the rename: %v", prev, err)
		}
		if got := mgSnapDigest(t, store, next); got != strings.Replace(digest, "a:", next+":", 1) {
			t.Errorf("STORE/%s is not what a was", next)
		}
		if l, _ := os.Readlink(d.Path("latest")); l != next {
			t.Errorf("latest is %q, want %q", l, next)
		}
		after := mgInos(t, d, next)
		for rel, ino := range before {
			if after[rel] != ino {
				t.Errorf("%s/%s: inode %d, was %d", next, rel, after[rel], ino)
			}
		}
		if len(after) != len(before) {
			t.Errorf("%s has %d entries, a had %d", next, len(after), len(before))
		}
		// The open directory follows the snapshot.
		var st unix.Stat_t
		if err := unix.Fstatat(int(dir.Fd()), "manifest/vp_count", &st, 0); err != nil {
			t.Errorf("through the open directory after mv to %s: %v", next, err)
		}
		mgLogged(t, d, "renamed snapshot", "name="+logText(prev), "to="+logText(next), fmt.Sprintf("uid=%d", os.Getuid()))
		prev = next
	}
	b := make([]byte, 4096)
	if n, err := f.Read(b); err != nil || !strings.Contains(string(b[:n]), "vp_count") {
		t.Errorf("open manifest.json after the renames: %v %q", err, b[:n])
	}
	wantNames(t, d.Mnt, "a", "latest", "new", "z")
}

// logText is how the daemon's log writes a text value: always quoted.
func logText(s string) string { return fmt.Sprintf("%q", s) }

// TestManageRenameRefused checks every refused rename: each fails with
// its errno and leaves STORE as it was.
func TestManageRenameRefused(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "a", snapSpec{})
	makeSnap(t, store, "b", snapSpec{Manifest: goodManifest(created.Add(time.Minute))})
	if err := os.Mkdir(filepath.Join(store, "notsnap"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := mountStore(t, store, "")
	before := storeDigest(t, store)
	long := strings.Repeat("x", 256)
	mv := func(from, to string) error { return unix.Rename(d.Path(from), d.Path(to)) }
	for _, c := range []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"over a snapshot", mv("a", "b"), syscall.EEXIST},
		{"over a STORE directory that is no snapshot", mv("a", "notsnap"), syscall.EEXIST},
		{"RENAME_NOREPLACE over a snapshot", unix.Renameat2(unix.AT_FDCWD, d.Path("a"), unix.AT_FDCWD, d.Path("b"), unix.RENAME_NOREPLACE), syscall.EEXIST},
		{"exchange", unix.Renameat2(unix.AT_FDCWD, d.Path("a"), unix.AT_FDCWD, d.Path("b"), unix.RENAME_EXCHANGE), syscall.EINVAL},
		{"hidden name", mv("a", ".hidden"), syscall.EINVAL},
		{"reserved name new", mv("a", "new"), syscall.EEXIST},
		{"over latest", mv("a", "latest"), syscall.ENOTDIR},
		{"control character", mv("a", "x\ty"), syscall.EINVAL},
		{"too long", mv("a", long), syscall.ENAMETOOLONG},
		{"into new/", mv("a", "new/a"), syscall.EPERM},
		{"into another snapshot", mv("a", "b/a"), syscall.EPERM},
		{"out of the mount", unix.Rename(d.Path("a"), filepath.Join(t.TempDir(), "a")), syscall.EXDEV},
		{"missing", mv("nope", "c"), syscall.ENOENT},
		{"latest", mv("latest", "c"), syscall.EROFS},
		{"new", mv("new", "c"), syscall.EROFS},
		{"a file", mv("a/manifest.bin", "a/m"), syscall.EROFS},
	} {
		if errnoOf(c.err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	if after := storeDigest(t, store); after != before {
		t.Errorf("STORE changed:\nbefore %s\nafter  %s", before, after)
	}
	wantNames(t, d.Mnt, "a", "b", "latest", "new")
	if strings.Contains(d.Log(), "renamed snapshot") {
		t.Errorf("a refused rename was logged as done:\n%s", d.Log())
	}
}
