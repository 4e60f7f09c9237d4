package digest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OpenDir opens the snapshot directory at path for the CLI (the one path
// it is given); everything below it is reached from the returned fd.
func OpenDir(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openFile opens the regular file name of the directory dirfd without
// following a symlink; anything else is an error naming it.
func openFile(dirfd int, name string) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		switch err {
		case unix.ENOENT:
			return nil, nil, fmt.Errorf("%s is missing: %w", name, iofs.ErrNotExist)
		case unix.ELOOP:
			return nil, nil, fmt.Errorf("%s is a symlink, not a regular file", name)
		}
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file (mode %#o)", name, st.Mode&unix.S_IFMT)
	}
	return f, &st, nil
}

// readSmall reads the regular file name of dirfd, refusing one larger than
// limit without reading it.
func readSmall(dirfd int, name string, limit int64) ([]byte, *unix.Stat_t, error) {
	f, st, err := openFile(dirfd, name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if st.Size > limit {
		return nil, nil, fmt.Errorf("%s: %d bytes, larger than %d bytes", name, st.Size, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("larger than %d bytes", limit)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, st, nil
}

// MaxRecord bounds what is read of a record: 65 bytes per MiB of data, so
// 512 MiB covers several TiB of guest RAM.
const MaxRecord = 512 << 20

// ReadRecord reads and parses the record of the snapshot directory dirfd;
// ErrNoRecord when there is none.
func ReadRecord(dirfd int) (*Record, error) {
	b, _, err := readSmall(dirfd, RecordName, MaxRecord)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, err
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecordName, err)
	}
	return r, nil
}

// ReadHeader reads only the header of the record of dirfd, and returns
// the record's lstat too (the sha256sums view takes its times).
func ReadHeader(dirfd int) (Header, *unix.Stat_t, error) {
	f, st, err := openFile(dirfd, RecordName)
	if errors.Is(err, iofs.ErrNotExist) {
		return Header{}, nil, ErrNoRecord
	}
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	b := make([]byte, MaxHeader)
	n, err := io.ReadFull(f, b)
	if err != nil && err != io.ErrUnexpectedEOF {
		return Header{}, nil, fmt.Errorf("%s: %w", RecordName, err)
	}
	h, err := ParseHeader(b[:n])
	if err != nil {
		return Header{}, nil, fmt.Errorf("%s: %w", RecordName, err)
	}
	return h, st, nil
}

// WriteAt writes data as the file name of the directory dir, atomically
// (a temporary file, fsynced, renamed over name) and durably (dir is
// fsynced). The file takes the owner and group of like and its read bits
// (plus the owner's write bit), so it is readable by whoever may read the
// snapshot. The directory keeps its mtime: a record is not a change of
// the snapshot. dir must be a real (not O_PATH) directory fd.
func WriteAt(dir *os.File, name string, data []byte, like *unix.Stat_t) error {
	dfd := int(dir.Fd())
	var before unix.Stat_t
	if err := unix.Fstat(dfd, &before); err != nil {
		return err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s.tmp-%d-%s", name, os.Getpid(), hex.EncodeToString(rnd[:]))
	mode := uint32(0o644)
	if like != nil {
		mode = like.Mode&0o444 | 0o200
	}
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if err == nil && like != nil && os.Geteuid() == 0 {
		err = unix.Fchown(fd, int(like.Uid), int(like.Gid))
	}
	if err == nil {
		err = unix.Fchmod(fd, mode) // past the umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	keepMtime(dfd, &before)
	return dir.Sync()
}

// keepMtime sets the directory dfd's mtime back to before's (futimens;
// best effort: only its owner or root may).
func keepMtime(dfd int, before *unix.Stat_t) {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, before.Mtim}
	unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(dfd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
}
