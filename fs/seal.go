package fs

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// Sealing a published snapshot's files. OpenVMM may stage memory.bin in
// one staging directory and hard-link it into the one it publishes; the
// name left behind would still reach the published file. From the moment
// publishing starts, every file of the staging directory is sealed: any
// change through any staging name (open for writing, truncate, chmod,
// chown, utimens, xattrs, link) is EROFS. Once published, the other
// names in the staging area are removed, under their stage's lock, so
// nothing reaches the files any more (then ENOENT).

// fileKey is a file's identity: (dev, ino).
type fileKey [2]uint64

func keyOf(st *unix.Stat_t) fileKey { return fileKey{st.Dev, st.Ino} }

// seal marks the regular files of dir as belonging to snapshot target and
// returns their keys.
func (s *stager) seal(dir *os.File, target string) []fileKey {
	var keys []fileKey
	for _, n := range stagedNames(dir) {
		if st, err := statEntry(dir, n); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			keys = append(keys, keyOf(&st))
		}
	}
	s.mu.Lock()
	for _, k := range keys {
		s.sealed[k] = target
	}
	s.mu.Unlock()
	return keys
}

// unseal forgets keys: publishing failed, or no staging name is left.
func (s *stager) unseal(keys []fileKey) {
	s.mu.Lock()
	for _, k := range keys {
		delete(s.sealed, k)
	}
	s.mu.Unlock()
}

// sealedAs names the snapshot the file st belongs to, or "".
func (s *stager) sealedAs(st *unix.Stat_t) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sealed[keyOf(st)]
}

// frozen refuses (EROFS) a change to the staged file fd (called name)
// when it belongs to a published snapshot.
func (s *stager) frozen(fd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if snap := s.sealedAs(&st); snap != "" {
		return fmt.Errorf("%q is a file of the published snapshot %s: %w", name, snap, syscall.EROFS)
	}
	return s.t.store.notPublished(fd, name)
}

// stripPrivileges removes from every regular file of dir what a published
// file must not have (snapshot.UnsafeMode, file capabilities), on the
// file's own fd, whatever mode its writer asked for.
func stripPrivileges(dir *os.File, stage string) error {
	for _, n := range stagedNames(dir) {
		fd, err := openEntry(dir, n, unix.O_RDONLY, 0)
		if err != nil {
			continue // not a regular file: validation refused it already
		}
		err = stripFd(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("removing write and set-id bits of %q: %w", n, err)
		}
	}
	return nil
}

func stripFd(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&snapshot.UnsafeMode != 0 {
		if err := unix.Fchmod(fd, st.Mode&0o7777&^snapshot.UnsafeMode); err != nil {
			return err
		}
	}
	// Asked first: a daemon not run by root may not remove security.*
	// xattrs even when there are none.
	if _, err := unix.Fgetxattr(fd, snapshot.CapabilityXattr, nil); err != nil && err != unix.ERANGE {
		return nil
	}
	return unix.Fremovexattr(fd, snapshot.CapabilityXattr)
}

// unlinkLeftovers removes, from every staging directory but the one just
// published, the names of the files keys (hard links to the published
// snapshot target), each under its stage's lock, then unseals them.
func (s *stager) unlinkLeftovers(target string, keys []fileKey) {
	defer s.unseal(keys)
	want := map[fileKey]bool{}
	for _, k := range keys {
		want[k] = true
	}
	stages, err := s.listStat()
	if err != nil {
		slog.Warn("cannot list the staging area for links to a published snapshot", "snapshot", target, "err", err)
		return
	}
	for _, sd := range stages {
		st := s.get(sd.name)
		st.mu.Lock()
		if !st.done {
			if dir, err := s.openStage(sd.name, sd.ino); err == nil {
				for _, n := range stagedNames(dir) {
					if fst, err := statEntry(dir, n); err == nil && want[keyOf(&fst)] {
						err := unix.Unlinkat(int(dir.Fd()), n, 0)
						slog.Info("removed a staging link to a published snapshot's file", "snapshot", target, "staged", sd.name, "file", n, "err", err)
					}
				}
				dir.Close()
			}
		}
		st.mu.Unlock()
	}
}
