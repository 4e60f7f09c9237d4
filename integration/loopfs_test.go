package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// xfsStore makes a loop-mounted XFS filesystem with reflink (FICLONE) of
// size bytes and returns its mount point, unmounted at the end of the test.
func xfsStore(t testing.TB, size int64) string {
	t.Helper()
	needTool(t, "mkfs.xfs")
	dir := t.TempDir()
	img := loopImage(t, dir, "xfs.img", size)
	run(t, "mkfs.xfs", "-q", "-m", "reflink=1", img)
	return loopMount(t, "XFS", img, filepath.Join(dir, "mnt"))
}

// ext4Store makes a loop-mounted ext4 filesystem of size bytes with
// reservedPct percent of its blocks reserved for root (uid 0), mounted at
// dir/name (made here), and returns that, unmounted at the end of the test.
func ext4Store(t testing.TB, dir, name string, size int64, reservedPct int) string {
	t.Helper()
	needTool(t, "mkfs.ext4")
	img := loopImage(t, t.TempDir(), "ext4.img", size)
	// Inode tables and journal made now: no background writes later.
	run(t, "mkfs.ext4", "-q", "-F", "-b", "4096", "-m", strconv.Itoa(reservedPct),
		"-E", "lazy_itable_init=0,lazy_journal_init=0", img)
	return loopMount(t, "ext4", img, filepath.Join(dir, name))
}

// loopImage makes dir/name, an empty (sparse) file of size bytes.
func loopImage(t testing.TB, dir, name string, size int64) string {
	t.Helper()
	img := filepath.Join(dir, name)
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	return img
}

// loopMount mounts the filesystem image img (of kind, for messages) at
// mnt, made here, until the end of the test; a kernel that cannot is a
// skip, or in CI a failure.
func loopMount(t testing.TB, kind, img, mnt string) string {
	t.Helper()
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting an %s image: %v\n%s", kind, err, out)
		}
		t.Skipf("cannot mount an %s image here: %v\n%s", kind, err, out)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	return mnt
}

// tmpfsStore mounts a tmpfs of size bytes (no reflink, bounded space) and
// returns its mount point, unmounted at the end of the test.
func tmpfsStore(t testing.TB, size int64) string {
	t.Helper()
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Fatalf("mounting a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	return mnt
}
