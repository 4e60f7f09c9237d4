package digest

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// MakeRecord makes the record of the snapshot directory dir (a real, not
// O_PATH, directory fd) unless it has one, and says whether it made one.
// With force it makes it again and removes the last verification's
// result, which spoke of the old record. The record takes memory.bin's
// owner, group and read bits (WriteAt).
func MakeRecord(dir *os.File, force bool, o *Options) (bool, error) {
	fd := int(dir.Fd())
	var st unix.Stat_t
	if !force && unix.Fstatat(fd, RecordName, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		return false, nil
	}
	r, err := Make(fd, o)
	if err != nil {
		return false, err
	}
	if err := unix.Fstatat(fd, Files[FileMemory], &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, err
	}
	if err := WriteAt(dir, RecordName, r.Encode(), &st); err != nil {
		return false, err
	}
	if force {
		if err := unix.Unlinkat(fd, ResultName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return false, err
		}
	}
	return true, nil
}
