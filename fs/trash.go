package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// Deleting and renaming snapshots.
//
// A deleted snapshot is renamed into STORE/.snapfs-trash (hidden, on
// STORE's filesystem): one atomic rename, so its name is gone from STORE
// and the mount at once, while files already open keep working. What is
// in the trash is removed in the background (emptyLoop), and again after
// a restart. Everything goes through directory fds: the trash is opened
// beneath STORE without following symlinks, removal descends by openat2
// beneath the trash and unlinks with unlinkat, and nothing is ever
// resolved by path.

// trashSeq makes trash entry names unique within the process.
var trashSeq atomic.Uint64

// trashDirName is the hidden STORE directory of deleted snapshots.
const trashDirName = ".snapfs-trash"

// trashDepth bounds how deep removal descends holding directory fds; a
// deeper directory is moved up to the trash's top level instead, and
// removed from there.
const trashDepth = 16

// errTrashRefused is the answer while STORE/.snapfs-trash is not a
// directory the daemon can trust, and could not be moved aside.
var errTrashRefused = fmt.Errorf("%s is not a directory owned by root, the daemon's user or STORE's owner, writable by its owner only: %w", trashDirName, syscall.EACCES)

// trashDir opens STORE/.snapfs-trash, creating it when create is set
// (STORE's owner and group, mode 0700). The trash must be a real
// directory on STORE's filesystem owned by root, this process's user or
// STORE's owner (who could write STORE anyway) that nobody else may
// write; any other is moved aside and made anew (ownDir).
func (s *Store) trashDir(create bool) (*os.File, error) {
	var store unix.Stat_t
	if err := unix.Fstat(s.fd, &store); err != nil {
		return nil, err
	}
	d, err := ownDir{
		dfd: s.fd, where: s.Dir, name: trashDirName,
		trusted: func(st *unix.Stat_t) bool {
			return ownerTrusted(st, &store) && st.Mode&0o022 == 0 && st.Dev == store.Dev
		},
		make: func(dfd int, name string) error {
			if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
				return err
			}
			if d, err := openDirAt(dfd, name); err == nil {
				chownFd(int(d.Fd()), int(store.Uid), int(store.Gid)) // best effort: an ordinary user cannot
				d.Close()
			}
			return nil
		},
	}.open(create)
	if errors.Is(err, errNotOwn) {
		err = errTrashRefused
	}
	return d, err
}

// syncDirFd fsyncs the directory dfd, so a rename in it is durable.
func syncDirFd(dfd int) error {
	d, err := openDirAt(dfd, ".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// checkEntry lstats STORE/name and hands the result to check (nil: any
// directory will do).
func (s *Store) checkEntry(name string, check func(st *unix.Stat_t) error) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return st, fmt.Errorf("%q is not a snapshot directory: %w", name, syscall.ENOENT)
	}
	if check != nil {
		if err := check(&st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// Trash deletes the snapshot STORE/name: it renames it into the trash
// (never replacing anything there) and returns its name in the trash.
// check, if not nil, sees the lstat of STORE/name just before the rename
// and may refuse it. Should another directory have taken the name in
// between, it is put back and the error wraps ENOENT.
func (s *Store) Trash(name string, check func(st *unix.Stat_t) error) (string, error) {
	if name == "" || name[0] == '.' || reserved(name) {
		return "", errNotSnapshot
	}
	want, err := s.checkEntry(name, check)
	if err != nil {
		return "", err
	}
	trash, err := s.trashDir(true)
	if err != nil {
		return "", err
	}
	defer trash.Close()
	tfd := int(trash.Fd())
	var entry string
	for {
		entry = fmt.Sprintf("%x.%d", time.Now().UnixNano(), trashSeq.Add(1))
		err = snapshot.RenameNoReplace(s.fd, name, tfd, entry)
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.ENOTEMPTY) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("moving %q into %s: %w", name, trashDirName, err)
	}
	var got unix.Stat_t
	if err := unix.Fstatat(tfd, entry, &got, unix.AT_SYMLINK_NOFOLLOW); err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
		// Swapped after the check: what was moved is not what was
		// checked. Only whoever may write STORE can swap, and could
		// delete it anyway; still, put it back.
		if err == nil {
			snapshot.RenameNoReplace(tfd, entry, s.fd, name)
		}
		return "", fmt.Errorf("snapshot %q was replaced while it was deleted: %w", name, syscall.ENOENT)
	}
	s.invalidate(name)
	s.drop(name)
	if err := syncDirFd(s.fd); err != nil {
		slog.Warn("fsync of STORE after a delete failed", "store", s.Dir, "err", err)
	}
	s.kickTrash()
	return entry, nil
}

// Rename renames the snapshot STORE/old to new, never replacing anything
// (EEXIST). check is as for Trash.
func (s *Store) Rename(old, new string, check func(st *unix.Stat_t) error) error {
	if old == "" || old[0] == '.' || reserved(old) {
		return errNotSnapshot
	}
	if err := snapshot.ValidName(new); err != nil {
		return err
	}
	want, err := s.checkEntry(old, check)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(s.fd, new, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return fmt.Errorf("rename %q: %q exists: %w", old, new, syscall.EEXIST)
	}
	if err := snapshot.RenameNoReplace(s.fd, old, s.fd, new); err != nil {
		if errors.Is(err, unix.ENOTEMPTY) {
			err = syscall.EEXIST
		}
		return fmt.Errorf("rename %q to %q: %w", old, new, err)
	}
	s.invalidate(old)
	s.invalidate(new)
	s.drop(old)
	var got unix.Stat_t
	if err := unix.Fstatat(s.fd, new, &got, unix.AT_SYMLINK_NOFOLLOW); err != nil || got.Ino != want.Ino || got.Dev != want.Dev {
		if err == nil {
			snapshot.RenameNoReplace(s.fd, new, s.fd, old)
		}
		return fmt.Errorf("snapshot %q was replaced while it was renamed: %w", old, syscall.ENOENT)
	}
	if err := syncDirFd(s.fd); err != nil {
		slog.Warn("fsync of STORE after a rename failed", "store", s.Dir, "err", err)
	}
	return nil
}

// EmptyTrash removes everything in the trash; nothing when there is none.
// It goes on past an entry it cannot remove, and returns the first error.
func (s *Store) EmptyTrash() error {
	s.trashMu.Lock()
	if s.closed {
		s.trashMu.Unlock()
		return os.ErrClosed
	}
	trash, err := s.trashDir(false)
	s.trashMu.Unlock()
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer trash.Close()
	var first error
	failed := map[string]bool{}
	for {
		names, err := entryNames(trash)
		if err != nil {
			return err
		}
		progress := false
		for _, n := range names {
			if failed[n] {
				continue
			}
			if err := removeTree(trash, int(trash.Fd()), n, 0); err != nil {
				failed[n] = true
				if first == nil {
					first = err
				}
				slog.Warn("cannot remove from the trash", "store", s.Dir, "entry", n, "err", err)
				continue
			}
			progress = true
			slog.Debug("removed from the trash", "store", s.Dir, "entry", n)
		}
		if !progress {
			return first
		}
	}
}

// removeTree removes name in the directory dfd and everything below it,
// following nothing. Below trashDepth a directory is moved up to the
// trash's top level (removed by the caller's next pass) instead of being
// descended into.
func removeTree(trash *os.File, dfd int, name string, depth int) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return fmt.Errorf("unlink %q: %w", name, err)
	}
	if depth >= trashDepth {
		up := fmt.Sprintf("%x.%d", time.Now().UnixNano(), trashSeq.Add(1))
		if err := snapshot.RenameNoReplace(dfd, name, int(trash.Fd()), up); err != nil {
			return fmt.Errorf("moving %q up: %w", name, err)
		}
		return nil
	}
	d, err := openDirAt(dfd, name)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	for {
		names, err := d.Readdirnames(1024)
		for _, n := range names {
			if err := removeTree(trash, int(d.Fd()), n, depth+1); err != nil {
				d.Close()
				return err
			}
		}
		if err != nil || len(names) == 0 {
			break
		}
	}
	d.Close()
	if err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return fmt.Errorf("rmdir %q: %w", name, err)
	}
	return nil
}

// kickTrash wakes the background emptier, if one runs.
func (s *Store) kickTrash() {
	select {
	case s.trashKick <- struct{}{}:
	default:
	}
}

// emptyLoop empties the trash now (what an earlier run left) and after
// every delete, until done.
func (s *Store) emptyLoop(done <-chan struct{}) {
	s.kickTrash()
	for {
		select {
		case <-done:
			return
		case <-s.trashKick:
			if err := s.EmptyTrash(); err != nil && !errors.Is(err, os.ErrClosed) {
				slog.Warn("emptying the trash failed; retried after the next delete or restart", "store", s.Dir, "err", err)
			}
		}
	}
}
