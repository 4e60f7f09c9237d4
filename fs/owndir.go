package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// ownDir is one of snapfs's hidden directories (the trash, the staging
// area, its validation markers): opened beneath the directory fd dfd
// without following anything, and checked to be the daemon's. One that is
// not (a symlink, a file, another user's directory in a STORE others may
// write) is renamed aside, with a log line, and made anew: a squatter
// never makes snapfs fail, and what they put there stays theirs, under
// the new name.
type ownDir struct {
	dfd     int
	where   string // the path dfd stands for, for log lines
	name    string
	trusted func(st *unix.Stat_t) bool
	// make creates the directory (mode, owner) when it is missing and
	// open is asked to; an error but EEXIST is the open's.
	make func(dfd int, name string) error
}

// errNotOwn is ownDir's answer for an entry that is not the daemon's
// and could not be moved aside.
var errNotOwn = fmt.Errorf("not a directory of the daemon's: %w", syscall.EACCES)

// open opens the directory, making it when create is set; fs.ErrNotExist
// while there is none.
func (o ownDir) open(create bool) (*os.File, error) {
	d, err := o.try(create)
	if !errors.Is(err, errNotOwn) || !o.moveAside() {
		return d, err
	}
	return o.try(create)
}

// try is open without moving anything aside.
func (o ownDir) try(create bool) (*os.File, error) {
	d, err := openDirAt(o.dfd, o.name)
	if errors.Is(err, unix.ENOENT) && create && o.make != nil {
		if err := o.make(o.dfd, o.name); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("creating %s: %w", o.name, err)
		}
		d, err = openDirAt(o.dfd, o.name)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
			return nil, errNotOwn
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		d.Close()
		return nil, err
	}
	if !o.trusted(&st) {
		d.Close()
		return nil, errNotOwn
	}
	return d, nil
}

// moveAside renames the entry to name.refused-<time>, never replacing
// anything, and logs what it was.
func (o ownDir) moveAside() bool {
	var st unix.Stat_t
	unix.Fstatat(o.dfd, o.name, &st, unix.AT_SYMLINK_NOFOLLOW)
	aside := fmt.Sprintf("%s.refused-%d", o.name, time.Now().UnixNano())
	err := snapshot.RenameNoReplace(o.dfd, o.name, o.dfd, aside)
	slog.Warn("moved aside a hidden directory that is not the daemon's, to make its own", "in", o.where, "entry", o.name,
		"to", aside, "uid", st.Uid, "mode", fmt.Sprintf("%#o", st.Mode), "err", err)
	return err == nil
}

// ownerTrusted reports whether st is owned by root, the daemon's user or
// the owner of the directory it is in (who could replace it anyway).
func ownerTrusted(st, parent *unix.Stat_t) bool {
	return st.Uid == 0 || int(st.Uid) == os.Geteuid() || st.Uid == parent.Uid
}
