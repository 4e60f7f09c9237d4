package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// openLogFile opens --log FILE for appending, as root's daemon may keep
// it: never through a symbolic link (O_NOFOLLOW), created 0600, and only
// in a directory no one but root and the daemon's user can change (like
// sshd's StrictModes). An existing file that group or others may read,
// that someone else owns or that has more links is refused, not fixed:
// its mode or links were somebody's choice, which the admin must undo.
func openLogFile(path string) (*os.File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("--log %s: %w", path, err)
	}
	dirName, base := filepath.Split(abs)
	if base == "" || base == "." || base == ".." {
		return nil, fmt.Errorf("--log %s: not a file name", path)
	}
	// A symlinked directory (/var/run -> /run) is fine: its real path is
	// what is checked and opened.
	real, err := filepath.EvalSymlinks(dirName)
	if err != nil {
		return nil, fmt.Errorf("--log %s: directory %s: %w", path, dirName, unwrapPath(err))
	}
	dir, err := openLogDir(real)
	if err != nil {
		return nil, fmt.Errorf("--log %s: %w", path, err)
	}
	defer unix.Close(dir)
	// O_NONBLOCK: a FIFO put there must not hang the daemon's start.
	fd, err := unix.Openat(dir, base, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0o600)
	if err == unix.ELOOP {
		return nil, fmt.Errorf("--log %s is a symbolic link: snapfs never follows one for its log; give the path of a regular file", path)
	}
	if err == unix.ENXIO || err == unix.EISDIR { // a FIFO, socket or directory
		return nil, notRegular(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--log %s: %w", path, err)
	}
	if err := checkLogFile(fd, path); err != nil {
		unix.Close(fd)
		return nil, err
	}
	unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), abs), nil
}

// checkLogFile refuses an opened log file that others could read or
// that is reachable through another name.
func checkLogFile(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("--log %s: %w", path, err)
	}
	euid := uint32(os.Geteuid())
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return notRegular(path)
	case st.Uid != euid:
		return fmt.Errorf("--log %s is owned by uid %d, not by the daemon's uid %d: remove it, or chown %d it", path, st.Uid, euid, euid)
	case st.Mode&0o077 != 0:
		return fmt.Errorf("--log %s has mode %#o: group and others must not read the log (it names other users' files); chmod 600 it", path, st.Mode&0o7777)
	case st.Nlink != 1:
		return fmt.Errorf("--log %s has %d links: the log must have one name; remove the other links or give another path", path, st.Nlink)
	}
	return nil
}

// openLogDir opens dir (a real path) component by component without
// following symbolic links, and returns its O_PATH fd once every
// directory on the way is safe (checkLogDir).
func openLogDir(dir string) (int, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	at := "/"
	for _, c := range append([]string{""}, strings.Split(strings.Trim(dir, "/"), "/")...) {
		if c != "" {
			next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			unix.Close(fd)
			at = filepath.Join(at, c)
			if err != nil {
				return -1, fmt.Errorf("directory %s: %w", at, err)
			}
			fd = next
		}
		if err := checkLogDir(fd, at); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// checkLogDir refuses a directory in which someone other than root and
// the daemon's user could replace or rename the log: owned by another
// user, or writable by group or others without the sticky bit.
func checkLogDir(fd int, at string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("directory %s: %w", at, err)
	}
	euid := uint32(os.Geteuid())
	if st.Uid != 0 && st.Uid != euid {
		return fmt.Errorf("directory %s is owned by uid %d, who could replace the log: put it in a directory owned by root or by the daemon's uid %d, such as /var/log", at, st.Uid, euid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("directory %s has mode %#o: group or others may write there and could replace the log; chmod go-w it or put the log in a directory such as /var/log", at, st.Mode&0o7777)
	}
	return nil
}

func notRegular(path string) error {
	return fmt.Errorf("--log %s is not a regular file: give the path of a regular file (made 0600 if missing)", path)
}

// logFile is the open --log FILE. reopen opens the path again (after
// logrotate moved the file away), with the same checks.
type logFile struct {
	mu   sync.Mutex
	path string // absolute, as first opened
	f    *os.File
	fd2  bool // the file is also fd 2 (a detached daemon), where a panic goes
}

func newLogFile(path string) (*logFile, error) {
	f, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: f.Name(), f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// asStderr makes the log file fd 2 too, now and after each reopen.
func (l *logFile) asStderr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fd2 = true
	return unix.Dup3(int(l.f.Fd()), 2, 0)
}

func (l *logFile) reopen() error {
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	if l.fd2 {
		err = unix.Dup3(int(f.Fd()), 2, 0)
	}
	l.mu.Unlock()
	old.Close()
	return err
}

func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}
