package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// The staging area is reached only through directory fds: STORE's, then
// .snapfs-staging's, then one staging directory's, each opened with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), and every entry in it
// with *at calls that follow nothing. A user who can write STORE may swap
// any of these names at any moment; what the daemon opened stays what it
// checked, and nothing outside STORE is ever reached.

// errStagingRefused is the answer of new/ while .snapfs-staging is not a
// directory the daemon can trust, and could not be moved aside.
var errStagingRefused = fmt.Errorf("%s is not a directory owned by root, the daemon's user or STORE's owner: %w", stagingDirName, syscall.EACCES)

// kindError says why a staging entry is refused: only regular files
// belong there, and nothing else is ever followed or opened.
func kindError(name string, mode uint32) error {
	what, errno := "", syscall.EPERM
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFLNK:
		what, errno = "a symlink", syscall.ELOOP
	case unix.S_IFDIR:
		what = "a directory"
	case unix.S_IFIFO:
		what = "a FIFO"
	case unix.S_IFSOCK:
		what = "a socket"
	case unix.S_IFCHR:
		what = "a character device (or whiteout)"
	case unix.S_IFBLK:
		what = "a block device"
	default:
		what = fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
	}
	return &kindErr{name, what, errno}
}

// kindErr is kindError's error: its text names the entry and its kind,
// its errno is what the mount answers.
type kindErr struct {
	name, what string
	errno      syscall.Errno
}

func (e *kindErr) Error() string { return fmt.Sprintf("%q is %s, not a regular file", e.name, e.what) }
func (e *kindErr) Unwrap() error { return e.errno }

// area is STORE/.snapfs-staging as an ownDir: a real directory owned by
// root, the daemon's user or STORE's owner, who could write STORE anyway.
// Any other (a squatter's in a STORE others may write, a symlink, a file)
// is moved aside and made anew. It is made with STORE's owner, group and
// mode: whoever may create a directory in STORE may stage a snapshot,
// nobody else.
func (s *stager) area() (ownDir, error) {
	var store unix.Stat_t
	if err := unix.Fstat(s.t.store.fd, &store); err != nil {
		return ownDir{}, err
	}
	return ownDir{
		dfd: s.t.store.fd, where: s.t.store.Dir, name: stagingDirName,
		trusted: func(st *unix.Stat_t) bool { return ownerTrusted(st, &store) },
		make: func(dfd int, name string) error {
			// 0700 until it has its owner: nobody else may use it meanwhile.
			if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
				return err
			}
			created, err := openDirAt(dfd, name)
			if err != nil {
				return err
			}
			defer created.Close()
			if err := chownFd(int(created.Fd()), int(store.Uid), int(store.Gid)); err != nil {
				return err
			}
			return unix.Fchmod(int(created.Fd()), store.Mode&0o7777)
		},
	}, nil
}

// root opens STORE/.snapfs-staging; fs.ErrNotExist while there is none.
func (s *stager) root() (*os.File, error) { return s.openArea(false) }

// ensureRoot opens STORE/.snapfs-staging, creating it if need be.
func (s *stager) ensureRoot() (*os.File, error) { return s.openArea(true) }

func (s *stager) openArea(create bool) (*os.File, error) {
	a, err := s.area()
	if err != nil {
		return nil, err
	}
	d, err := a.open(create)
	if errors.Is(err, errNotOwn) {
		s.refuse()
		return nil, errStagingRefused
	}
	return d, err
}

// refuse logs, once, why new/ is unavailable: the staging area is not
// the daemon's and could not be moved aside.
func (s *stager) refuse() {
	if s.refused.CompareAndSwap(false, true) {
		slog.Error("new/ is unavailable: refusing the staging area", "store", s.t.store.Dir, "err", errStagingRefused)
	}
}

// holdDirName is the directory, in STORE and the daemon's alone, through
// which publishing moves a staging directory (snapshot.PublishAt).
const holdDirName = ".snapfs-publishing"

// hold opens the hold directory, making it first if make is set; nil when
// there is none, or the daemon cannot have one of its own here
// (PublishAt then works without).
func (s *stager) hold(make bool) *os.File {
	if make {
		unix.Mkdirat(s.t.store.fd, holdDirName, 0o700)
	}
	d, err := openDirAt(s.t.store.fd, holdDirName)
	if err != nil {
		return nil
	}
	var st unix.Stat_t
	if unix.Fstat(int(d.Fd()), &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o077 != 0 {
		d.Close()
		return nil // someone else's: not a safe place
	}
	return d
}

// unhold gives back to new/ the staging directories a killed daemon left
// in the hold directory in the middle of publishing: nothing is lost, and
// they publish again like any other.
func (s *stager) unhold() {
	h := s.hold(false)
	if h == nil {
		return
	}
	defer h.Close()
	names, _ := entryNames(h)
	if len(names) == 0 {
		return
	}
	r, err := s.ensureRoot()
	if err != nil {
		return
	}
	defer r.Close()
	for _, held := range names {
		name := held
		if i := strings.LastIndexByte(held, '.'); i > 0 {
			name = held[:i]
		}
		err := snapshot.RenameNoReplace(int(h.Fd()), held, int(r.Fd()), name)
		if errors.Is(err, iofs.ErrExist) {
			err = snapshot.RenameNoReplace(int(h.Fd()), held, int(r.Fd()), held)
		}
		slog.Info("staging directory back from an interrupted publish", "name", name, "err", err)
	}
}

// openStage opens the staging directory name. ino, when not 0, is the
// STORE inode the caller knows it by: another directory now under that
// name is not the caller's (ENOENT).
func (s *stager) openStage(name string, ino uint64) (*os.File, error) {
	r, err := s.root()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	d, err := openDirAt(int(r.Fd()), name)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("staging directory %q: %w", name, syscall.ENOENT)
		}
		return nil, err
	}
	if ino != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(int(d.Fd()), &st); err != nil || st.Ino != ino {
			d.Close()
			return nil, fmt.Errorf("staging directory %q was replaced: %w", name, syscall.ENOENT)
		}
	}
	return d, nil
}

// chownFd changes the owner of the file fd holds (an O_PATH fd too).
func chownFd(fd, uid, gid int) error {
	return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
}

// noPriv is what a staged file's mode never has: the kernel lets the
// daemon handle privilege removal on write (HANDLE_KILLPRIV_V2, which
// spares a GETXATTR round trip per write), and a snapshot's files need no
// set-id bits, so there is never anything to remove.
const noPriv = ^uint32(unix.S_ISUID | unix.S_ISGID)

// killPriv clears set-id bits of the file fd holds before a user other
// than root writes or truncates it, as the kernel does for a writer
// without CAP_FSETID: the daemon writes as root, which keeps them.
// (S_ISGID without group execute is mandatory locking, and stays.)
func killPriv(fd int, uid uint32) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	kill := st.Mode & unix.S_ISUID
	if st.Mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		kill |= unix.S_ISGID
	}
	if uid == 0 || kill == 0 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	return unix.Chmod(procPath(fd), st.Mode&0o7777&^kill)
}

// setattrFd applies a SETATTR's mode, owner and times to the file fd
// holds; never to a name. (Size is the caller's: it needs a writable fd.)
// A regular file gets no set-id bits (noPriv).
func setattrFd(fd int, in *fuse.SetAttrIn) error {
	if mode, ok := in.GetMode(); ok {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			mode &= noPriv
		}
		if err := unix.Chmod(procPath(fd), mode&0o7777); err != nil {
			return err
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := chownFd(fd, u, g); err != nil {
			return err
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if aok {
			ts[0] = unix.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = unix.NsecToTimespec(mtime.UnixNano())
		}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, procPath(fd), ts, 0); err != nil {
			return err
		}
	}
	return nil
}
