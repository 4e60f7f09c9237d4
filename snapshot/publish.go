package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Publish atomically moves the complete staging directory to dir. It fsyncs
// every file in staging and staging itself, renames with
// renameat2(RENAME_NOREPLACE) so an existing dir is never replaced (the
// error then wraps fs.ErrExist), and fsyncs dir's parent so the new name is
// durable. Two publishers racing for one name cannot both win.
func Publish(staging, dir string) error {
	if err := syncTree(staging); err != nil {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	if err := renameNoReplace(staging, dir); err != nil {
		return &os.LinkError{Op: "publish", Old: staging, New: dir, Err: err}
	}
	if err := syncPath(filepath.Dir(dir)); err != nil {
		return fmt.Errorf("publish %s: %w", dir, err)
	}
	return nil
}

// renameNoReplace renames old to new unless new exists. On a filesystem
// without RENAME_NOREPLACE it claims new with mkdir (which fails if new
// exists) and renames over that empty directory; meanwhile the empty
// directory is not a snapshot (it has no manifest.bin).
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
		return err
	}
	if err := unix.Mkdir(new, 0o755); err != nil {
		return err
	}
	if err := unix.Rename(old, new); err != nil {
		unix.Rmdir(new)
		return err
	}
	return nil
}

// syncTree fsyncs every regular file and directory under root, root last.
func syncTree(root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			dirs = append(dirs, path)
			return nil
		case d.Type().IsRegular():
			return syncPath(path)
		}
		return nil // symlinks and the like have no data of their own
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- { // children before parents
		if err := syncPath(dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// syncPath fsyncs one file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}
