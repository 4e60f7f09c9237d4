package fs

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Every name below STORE is resolved here, and only here: from a
// directory fd (STORE's, the staging area's, a snapshot's), one component
// at a time, with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
// RESOLVE_NO_MAGICLINKS) and *at calls with AT_SYMLINK_NOFOLLOW. A user
// who can write STORE may swap any name at any moment: what the daemon
// opened stays what it checked, and nothing outside STORE is reached.

// openBeneath opens rel (relative to STORE) refusing any symlink or
// escape on the way.
func (s *Store) openBeneath(rel string, flags int) (int, error) {
	if rel == "" || rel[0] == '/' {
		// A node of a snapshot deleted through the mount (snapName "").
		return -1, &os.PathError{Op: "open", Path: rel, Err: unix.ENOENT}
	}
	return openAt(s.fd, rel, flags, 0)
}

// fmodeExec is the kernel's __FMODE_EXEC open flag.
const fmodeExec = 0x20

// openHow is the resolution of every open below STORE.
func openHow(flags int, mode uint32) *unix.OpenHow {
	// The kernel hands FUSE an exec's open with __FMODE_EXEC, which
	// openat2 refuses (EINVAL) as it does every flag it does not know.
	flags &^= fmodeExec
	flags |= unix.O_CLOEXEC | unix.O_NOFOLLOW
	if flags&unix.O_PATH == 0 {
		flags |= unix.O_NOCTTY // openat2 takes no other flag with O_PATH
	}
	return &unix.OpenHow{
		Mode:    uint64(mode & 0o7777),
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
}

// openAt opens name beneath the directory fd dfd; name is one component.
func openAt(dfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(dfd, name, openHow(flags, mode))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
}

// openDirAt opens the directory name beneath dfd for listing and *at calls.
func openDirAt(dfd int, name string) (*os.File, error) {
	fd, err := openAt(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// procPath names an open fd for the calls that have no fd variant for an
// O_PATH fd (chmod, utimensat, getxattr): the kernel follows it to the
// very inode the fd holds, never to a name.
func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// statEntry lstats the entry name of the directory d.
func statEntry(d *os.File, name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(int(d.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return st, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return st, nil
}

// openEntry opens the regular file name of d, which must be the STORE
// inode ino when that is not 0; anything else is refused unopened where
// the flags allow (O_PATH), and closed at once otherwise.
func openEntry(d *os.File, name string, flags int, ino uint64) (int, error) {
	guard := unix.O_NONBLOCK // a FIFO must not block the daemon
	if flags&unix.O_PATH != 0 {
		guard = 0
	}
	fd, err := openAt(int(d.Fd()), name, flags|guard, 0)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := kindError(name, st.Mode); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if ino != 0 && st.Ino != ino {
		unix.Close(fd)
		return -1, fmt.Errorf("%q was replaced: %w", name, syscall.ENOENT)
	}
	if guard != 0 && flags&unix.O_NONBLOCK == 0 {
		// O_NONBLOCK only guarded the open; the kernel's passthrough
		// keeps the flags it sees.
		unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags&(unix.O_APPEND|unix.O_DIRECT|unix.O_NOATIME))
	}
	return fd, nil
}

// entryNames lists the directory d from its start.
func entryNames(d *os.File) ([]string, error) {
	if _, err := d.Seek(0, 0); err != nil {
		return nil, err
	}
	return d.Readdirnames(-1)
}
