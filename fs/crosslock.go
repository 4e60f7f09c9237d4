package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Publishing across daemons. Several `snapfs mount` of one STORE (on one
// host, or on several over a shared filesystem) share the staging area,
// but not their stage locks or seals (seal.go). A staged file hard-linked
// into a staging directory another daemon publishes (OpenVMM's second
// save mode) must not be changed by this one, so the daemons agree
// through open file description locks on the files themselves, which
// hold between processes and, over GlusterFS, between hosts:
//
//   - A writer (a handle open for writing) holds F_WRLCK on one byte of
//     its own fd, a byte of its own past any file's end, for as long as
//     that fd is open. A change without a handle (truncate, chmod, chown,
//     utimens, xattrs, link) holds the same on a writable fd for the
//     change. Writers never conflict with each other.
//   - A publisher holds F_RDLCK over every file it publishes, from before
//     validation until the other links to them are removed. It conflicts
//     with every writer: while one is open the publish waits a moment,
//     then is refused (EBUSY, and status names the file).
//   - A writer takes its lock before it may change anything (an O_TRUNC
//     is done after), then checks again that its staging directory and
//     name still hold the file and that it is no published snapshot's:
//     a publish that held the file before is over by then, and removed
//     the name.
//
// The kernel's passthrough writes through a file of its own, which a
// shared mapping keeps after the handle is closed; the publisher also
// asks the kernel (a read lease) whether anything on its host still has
// a file open for writing. A mapping left on another host is not seen.

// writerLockBase is where writers' bytes start: far past any data, so
// the locks say nothing about it.
const writerLockBase = 1 << 62

// lockTries and lockPause bound a wait for another daemon's lock: a
// publish waits for writers as long as it waits for its own (2 s).
const (
	lockTries = 100
	lockPause = 20 * time.Millisecond
)

// noLocks is set, and logged once, when STORE's filesystem has no file
// locks: daemons then cannot see each other's writers.
var noLocks atomic.Bool

// unsupported reports whether err says the filesystem has no OFD locks.
func unsupported(err error) bool {
	if err == unix.EINVAL || err == unix.ENOLCK || err == unix.EOPNOTSUPP || err == unix.ENOSYS {
		if noLocks.CompareAndSwap(false, true) {
			slog.Warn("STORE's filesystem refuses file locks: another snapfs daemon on this STORE may change a file while it is published", "err", err)
		}
		return true
	}
	return false
}

func ofdLock(fd int, typ int16, start, length int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: length}
	for {
		err := unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}

// lockWriter takes a writer's lock on fd (open for writing), waiting a
// moment while a publisher holds the file.
func lockWriter(fd int, name string) error {
	for try := 0; ; try++ {
		err := ofdLock(fd, unix.F_WRLCK, writerLockBase+rand.Int64N(writerLockBase-1), 1)
		if err == nil || unsupported(err) {
			return nil
		}
		if err != unix.EAGAIN && err != unix.EACCES {
			return fmt.Errorf("locking %q: %w", name, err)
		}
		if try == lockTries {
			return fmt.Errorf("%q is being published (by another snapfs daemon on this STORE): try again: %w", name, syscall.EBUSY)
		}
		time.Sleep(lockPause)
	}
}

// lockedAs takes a writer's lock on fd, the file name of dir in the
// staging directory stage (STORE inode stageIno), then checks it is still
// there and is no published snapshot's file. With unlinked, a file with
// no name left passes too: it belongs to no snapshot (an open handle's).
func (s *stager) lockedAs(stage string, stageIno uint64, dir *os.File, name string, fd int, unlinked bool) error {
	if err := lockWriter(fd, name); err != nil {
		return err
	}
	// From here no publisher holds the file, and none can until fd is
	// closed; one that held it before is done, names removed.
	if sd, ok := s.exists(stage); !ok || sd.Ino != stageIno {
		return fmt.Errorf("staging directory %q was published or removed: %w", stage, syscall.ENOENT)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	cur, err := statEntry(dir, name)
	if (err != nil || cur.Ino != st.Ino || cur.Dev != st.Dev) && !(unlinked && st.Nlink == 0) {
		return fmt.Errorf("%q was removed or replaced: %w", name, syscall.ENOENT)
	}
	return s.frozen(fd, name)
}

// writable reports whether fd is open for writing: every writable fd of
// a staged handle holds a writer's lock.
func writable(fd int) bool {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_ACCMODE != unix.O_RDONLY
}

// openWriter opens the staged file name of dir (the STORE inode ino if
// not 0) for a handle that may change it, locked as a writer (lockedAs);
// set-id bits are cleared for uid (killPriv) and O_TRUNC applied only
// then.
func (s *stager) openWriter(p place, dir *os.File, name string, flags int, ino uint64, uid uint32) (int, error) {
	open := flags &^ (unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC)
	if open&unix.O_ACCMODE == unix.O_RDONLY {
		// O_RDONLY|O_TRUNC or O_APPEND: the lock needs a writable fd.
		open = open&^unix.O_ACCMODE | unix.O_RDWR
	}
	fd, err := openEntry(dir, name, open, ino)
	if err != nil {
		return -1, err
	}
	err = s.lockedAs(p.stage, p.stageIno, dir, name, fd, false)
	if err == nil {
		err = killPriv(fd, uid)
	}
	if err == nil && flags&unix.O_TRUNC != 0 {
		err = unix.Ftruncate(fd, 0)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// guard holds a writer's lock on the staged file fd (an O_PATH fd of
// name in dir, place p, or an open handle's when handle is set) until
// the returned func is called. A daemon that may not open the file for
// writing cannot take the lock, and goes on without: its user cannot
// write the file either.
func (s *stager) guard(p place, dir *os.File, name string, fd int, handle bool) (func(), error) {
	wfd, err := unix.Open(procPath(fd), unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err == unix.EACCES || err == unix.EPERM {
		return func() {}, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	if err := s.lockedAs(p.stage, p.stageIno, dir, name, wfd, handle); err != nil {
		unix.Close(wfd)
		return nil, err
	}
	return func() { unix.Close(wfd) }, nil
}

// pubLocks are a publisher's locks: the fds holding them.
type pubLocks struct{ fds []int }

func (l *pubLocks) release() {
	if l == nil {
		return
	}
	for _, fd := range l.fds {
		unix.Close(fd)
	}
	l.fds = nil
}

// errOpenElsewhere names a file that a writer in another daemon, or a
// process on this host, has open for writing.
type errOpenElsewhere struct{ name string }

func (e *errOpenElsewhere) Error() string {
	return fmt.Sprintf("%q is open for writing (through another name, another snapfs daemon on this STORE, or a mapping): close it, then publish again", e.name)
}
func (e *errOpenElsewhere) Unwrap() error { return syscall.EBUSY }

// lock locks fd (a readable fd of name, l's from now on) as a publisher.
func (l *pubLocks) lock(fd int, name string) error {
	l.fds = append(l.fds, fd)
	if err := ofdLock(fd, unix.F_RDLCK, 0, 0); err == unix.EAGAIN || err == unix.EACCES {
		return &errOpenElsewhere{name}
	} else if err != nil && !unsupported(err) {
		return fmt.Errorf("locking %q: %w", name, err)
	}
	return nil
}

// add locks fd as lock does, and checks that nothing on this host has
// the file open for writing.
func (l *pubLocks) add(fd int, name string) error {
	if err := l.lock(fd, name); err != nil {
		return err
	}
	// A read lease is refused while the file is open for writing
	// anywhere on this host; given back at once. Refused for another
	// reason (no lease on this filesystem): the lock must do.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_RDLCK); err == unix.EAGAIN {
		return &errOpenElsewhere{name}
	} else if err == nil {
		unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
	}
	return nil
}

// lockForPublish takes a publisher's locks on the regular files of dir.
// When one is open for writing elsewhere it holds none and says which
// (errOpenElsewhere).
func lockForPublish(dir *os.File) (*pubLocks, error) {
	l := &pubLocks{}
	for _, n := range stagedNames(dir) {
		if st, err := statEntry(dir, n); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		fd, err := openEntry(dir, n, unix.O_RDONLY, 0)
		if errors.Is(err, unix.ENOENT) {
			continue // gone since the listing
		}
		if err == nil {
			err = l.add(fd, n)
		}
		if err != nil {
			l.release()
			return nil, err
		}
	}
	return l, nil
}

// unlinkOwn removes name from dir if it still names the file fd holds:
// another daemon may have put another file there.
func unlinkOwn(dir *os.File, name string, fd int) {
	var st unix.Stat_t
	if cur, err := statEntry(dir, name); err == nil && unix.Fstat(fd, &st) == nil && cur.Ino == st.Ino && cur.Dev == st.Dev {
		unix.Unlinkat(int(dir.Fd()), name, 0)
	}
}
