package snapshot

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Publish atomically moves the complete staging directory to dir (both
// paths the caller trusts, e.g. the CLI's own). See PublishAt.
func Publish(staging, dir string) error {
	from, err := openDir(unix.AT_FDCWD, filepath.Dir(staging))
	if err != nil {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	defer from.Close()
	to, err := openDir(unix.AT_FDCWD, filepath.Dir(dir))
	if err != nil {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	defer to.Close()
	src, err := openDir(int(from.Fd()), filepath.Base(staging))
	if err != nil {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	defer src.Close()
	return PublishAt(src, int(from.Fd()), filepath.Base(staging), int(to.Fd()), filepath.Base(dir), -1)
}

// PublishAt atomically moves the staging directory src, the entry name of
// the directory fd from, to the entry target of the directory fd to,
// resolving nothing by path. It fsyncs src's regular files and src itself,
// renames with renameat2(RENAME_NOREPLACE) so an existing target is never
// replaced (the error then wraps fs.ErrExist), and fsyncs to so the new
// name is durable. Two publishers racing for one name cannot both win.
//
// Every rename has the fallback for a filesystem without RENAME_NOREPLACE
// (renameNoReplace): GlusterFS answers EINVAL.
//
// Whoever may write from can swap name for something else at any moment;
// only src itself may reach target. With hold (a directory fd on the same
// filesystem that nobody else may write, or -1), name is first moved into
// hold and checked there, where nothing can swap it, and moved back if it
// is not src: nothing else ever shows at target. Without hold, a swap is
// detected after the rename and undone.
func PublishAt(src *os.File, from int, name string, to int, target string, hold int) error {
	if err := syncDir(src); err != nil {
		return fmt.Errorf("publish %s: %w", target, err)
	}
	var want unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &want); err != nil {
		return fmt.Errorf("publish %s: %w", target, err)
	}
	is := func(dfd int, n string) bool {
		var got unix.Stat_t
		return unix.Fstatat(dfd, n, &got, unix.AT_SYMLINK_NOFOLLOW) == nil && got.Ino == want.Ino && got.Dev == want.Dev
	}
	if !is(from, name) {
		return fmt.Errorf("publish %s: the staging directory %s was replaced while it was validated", target, name)
	}
	origFrom, origName := from, name
	if hold >= 0 {
		held := fmt.Sprintf("%s.%d", name, want.Ino) // resume gives it back by this name
		if err := renameNoReplace(from, name, hold, held); err != nil {
			return fmt.Errorf("publish %s: %w", target, err)
		}
		if !is(hold, held) {
			renameNoReplace(hold, held, from, name) // give it back
			return fmt.Errorf("publish %s: the staging directory %s was replaced while it was published", target, name)
		}
		from, name = hold, held
	}
	if err := renameNoReplace(from, name, to, target); err != nil {
		if hold >= 0 { // back where the user staged it
			renameNoReplace(hold, name, origFrom, origName)
		}
		return fmt.Errorf("publish %s: %w", target, err)
	}
	if !is(to, target) {
		// Only without hold: undo, so the impostor does not stay in STORE.
		renameNoReplace(to, target, from, name)
		return fmt.Errorf("publish %s: the staging directory %s was replaced while it was published", target, name)
	}
	parent, err := openDir(to, ".")
	if err != nil {
		return fmt.Errorf("publish %s: %w", target, err)
	}
	defer parent.Close()
	if err := parent.Sync(); err != nil {
		return fmt.Errorf("publish %s: fsync: %w", target, err)
	}
	return nil
}

// RenameNoReplace renames old (in the directory fd from) to new (in the
// directory fd to) unless new exists, resolving nothing by path; the error
// then wraps fs.ErrExist (EEXIST, or ENOTEMPTY from the fallback below).
func RenameNoReplace(from int, old string, to int, new string) error {
	return renameNoReplace(from, old, to, new)
}

// renameNoReplace renames old to new unless new exists. On a filesystem
// without RENAME_NOREPLACE it claims new with mkdir (which fails if new
// exists) and renames over that empty directory; meanwhile the empty
// directory is not a snapshot (it has no manifest.bin).
func renameNoReplace(from int, old string, to int, new string) error {
	err := unix.Renameat2(from, old, to, new, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	if err := claimDir(to, new); err != nil {
		return err
	}
	// The claim is ours and empty; a distributed filesystem may still
	// answer the rename over it as if it were not, for a moment (seen on
	// GlusterFS with two clients): try again before giving it up.
	for try := 0; ; try++ {
		err = unix.Renameat(from, old, to, new)
		if err == nil {
			return nil
		}
		if try == 10 || (err != unix.ENOTEMPTY && err != unix.EEXIST && err != unix.EBUSY) {
			break
		}
		time.Sleep(time.Duration(try+1) * 10 * time.Millisecond)
	}
	unix.Unlinkat(to, new, unix.AT_REMOVEDIR)
	return err
}

// claimDir makes the empty directory name in dirfd, failing with EEXIST
// only while name exists. On GlusterFS two clients' mkdir of one name at
// the same moment can both fail with EEXIST and leave nothing behind
// (seen with two mounts of one volume): a name that is not there is not
// taken, so try again after a random pause, which breaks the tie.
func claimDir(dirfd int, name string) error {
	for try := 0; ; try++ {
		err := unix.Mkdirat(dirfd, name, 0o700)
		if err != unix.EEXIST || try == maxClaimTries {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != unix.ENOENT {
			return unix.EEXIST
		}
		time.Sleep(time.Duration(1+rand.IntN(20*(try+1))) * time.Millisecond)
	}
}

// maxClaimTries bounds claimDir's retries (1.6 s of pauses at most).
const maxClaimTries = 12

// openDir opens the directory name beneath dirfd (dirfd itself for "."),
// following no symlink.
func openDir(dirfd int, name string) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	if dirfd != unix.AT_FDCWD {
		how.Resolve |= unix.RESOLVE_BENEATH
	}
	fd, err := unix.Openat2(dirfd, name, &how)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// syncDir fsyncs every regular file directly in dir, then dir. A
// snapshot is flat; anything but a regular file has no data to sync.
func syncDir(dir *os.File) error {
	ents, err := readDirAt(dir)
	if err != nil {
		return err
	}
	for _, name := range ents {
		var st unix.Stat_t
		if unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", name, err)
		}
		if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			err = unix.Fsync(fd)
			if err != nil {
				unix.Close(fd)
				return fmt.Errorf("fsync %s: %w", name, err)
			}
		}
		unix.Close(fd)
	}
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir.Name(), err)
	}
	return nil
}

// readDirAt lists dir's names from its fd, from the start.
func readDirAt(dir *os.File) ([]string, error) {
	if _, err := dir.Seek(0, 0); err != nil {
		return nil, err
	}
	return dir.Readdirnames(-1)
}
