package fs

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// The directories below new/ share these operations: the staging
// directory itself (stagingDirNode) and the directories of views written
// back from a backup (stagedViewDirNode: manifest/, state/, state/<unit>/).
// What may live where follows the tree of a published snapshot, so a
// tool can put back whatever it copied out of MNT/<snap>/; validation
// checks the written views against the staged snapshot's own and
// publishing removes them.

// viewDirs are the directories a staging directory may hold.
var viewDirs = map[string]bool{"manifest": true, "state": true}

// mayHold reports what the staging directory's subdirectory dir ("" for
// the staging directory) may hold: files, directories.
func mayHold(dir string) (files, dirs bool) {
	switch {
	case dir == "":
		return true, true // only viewDirs as directories
	case dir == "manifest":
		return true, false
	case dir == "state":
		return false, true
	case strings.HasPrefix(dir, "state/") && !strings.Contains(dir[len("state/"):], "/"):
		return true, false
	}
	return false, false
}

// mayMkdir reports whether a directory name may be made in dir.
func mayMkdir(dir, name string) bool {
	_, dirs := mayHold(dir)
	return dirs && (dir != "" || viewDirs[name])
}

// stagedChild makes the node for the entry st called name in the
// staged directory dp.
func (t *tree) stagedChild(ctx context.Context, parent *fusefs.Inode, dp place, name string, st *unix.Stat_t, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	p := dp.child(name)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if !mayMkdir(dp.rel, name) {
			return nil, toErrno(ctx, "lookup", kindError(name, st.Mode))
		}
		id := fusefs.StableAttr{Mode: unix.S_IFDIR, Ino: ino(st.Ino, slotStaged)}
		return lookupChild(ctx, parent, &stagedViewDirNode{t: t, created: p, ino: st.Ino}, id, out)
	}
	if err := kindError(name, st.Mode); err != nil {
		return nil, toErrno(ctx, "lookup", err) // never followed, never shown
	}
	id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)}
	return lookupChild(ctx, parent, &stagedFileNode{t: t, created: p, ino: st.Ino}, id, out)
}

// stagedLookup looks name up in the staged directory dp (opened as dir).
func (t *tree) stagedLookup(ctx context.Context, parent *fusefs.Inode, dp place, dir *os.File, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	volatileEntry(out)
	st, err := statEntry(dir, name)
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	return t.stagedChild(ctx, parent, dp, name, &st, out)
}

// stagedEntries lists the staged directory dir: its regular files and
// the directories it may hold; nothing else is shown.
func stagedEntries(dp place, dir *os.File) []fuse.DirEntry {
	var ents []fuse.DirEntry
	for _, n := range stagedNames(dir) {
		st, err := statEntry(dir, n)
		if err != nil {
			continue
		}
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFREG:
			ents = append(ents, fuse.DirEntry{Name: n, Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)})
		case st.Mode&unix.S_IFMT == unix.S_IFDIR && mayMkdir(dp.rel, n):
			ents = append(ents, fuse.DirEntry{Name: n, Mode: unix.S_IFDIR, Ino: ino(st.Ino, slotStaged)})
		}
	}
	return ents
}

// stagedCreate makes the file name in dp, owned by the caller, with the
// mode it asked for (the kernel applied its umask).
func (t *tree) stagedCreate(ctx context.Context, dp place, name string, flags, mode uint32) (*stagedHandle, error) {
	if files, _ := mayHold(dp.rel); !files {
		return nil, syscall.EPERM
	}
	release, err := t.fds.take(ctx)
	if err != nil {
		return nil, err
	}
	var h *stagedHandle
	p := dp.child(name)
	uid, gid := callerOf(ctx)
	err = t.stage.changeAt(p, func(st *stage, dir *os.File) error {
		fd, err := openAt(int(dir.Fd()), name, int(flags)|unix.O_CREAT|unix.O_EXCL, mode&noPriv)
		if errors.Is(err, unix.EEXIST) && flags&unix.O_EXCL == 0 {
			// Made by someone else since the kernel's lookup: an open,
			// checked before it may truncate.
			if fd, err = openEntry(dir, name, unix.O_PATH, 0); err == nil {
				err = t.stage.frozen(fd, name)
				unix.Close(fd)
			}
			if err == nil && wantsWrite(flags) {
				fd, err = t.stage.openWriter(p, dir, name, int(flags), 0, uid)
			} else if err == nil {
				fd, err = openEntry(dir, name, int(flags)&^unix.O_CREAT, 0)
			}
		} else if err == nil {
			err = chownFd(fd, int(uid), int(gid))
			if err == nil && writable(fd) {
				// A new file, but another daemon may publish it as soon
				// as it has a name.
				err = t.stage.lockedAs(p.stage, p.stageIno, dir, name, fd, false)
			}
			if err != nil {
				unlinkOwn(dir, name, fd)
				unix.Close(fd)
			}
		}
		if err != nil {
			return err
		}
		h, err = newStagedHandle(t, st, fd, flags, release)
		return err
	})
	if err != nil {
		release()
		return nil, err
	}
	return h, nil
}

// stagedMkdir makes the view directory name in dp, owned by the caller.
func (t *tree) stagedMkdir(dp place, name string, mode uint32, uid, gid uint32) error {
	if !mayMkdir(dp.rel, name) {
		return syscall.EPERM // a snapshot holds no other directories
	}
	return t.stage.changeAt(dp.child(name), func(_ *stage, dir *os.File) error {
		if err := unix.Mkdirat(int(dir.Fd()), name, mode&0o7777); err != nil {
			return err
		}
		sub, err := openDirAt(int(dir.Fd()), name)
		if err == nil {
			err = chownFd(int(sub.Fd()), int(uid), int(gid))
			sub.Close()
		}
		if err != nil {
			unix.Unlinkat(int(dir.Fd()), name, unix.AT_REMOVEDIR)
		}
		return err
	})
}

// stagedRemove unlinks (or with flags AT_REMOVEDIR removes the empty
// directory) name in dp.
func (t *tree) stagedRemove(dp place, name string, flags int) error {
	defer t.bytes.removedSome() // after it: a scan meanwhile may see it
	return t.stage.changeAt(dp.child(name), func(_ *stage, dir *os.File) error {
		return unix.Unlinkat(int(dir.Fd()), name, flags)
	})
}

// stagedRename renames within one directory of one staging directory
// (rsync's temporary names); elsewhere the tool falls back to copying
// (EXDEV). RENAME_WHITEOUT would leave a device that blocks the directory.
func (t *tree) stagedRename(dp place, name string, to place, newName string, flags uint32) error {
	if dp != to {
		return syscall.EXDEV
	}
	if flags&^uint32(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL
	}
	defer t.bytes.removedSome() // it may have replaced a file
	return t.stage.changeAt(dp.child(name), func(_ *stage, dir *os.File) error {
		dfd := int(dir.Fd())
		return unix.Renameat2(dfd, name, dfd, newName, uint(flags))
	})
}

// placeOfDir is the place of a staged directory node.
func placeOfDir(n fusefs.InodeEmbedder) (place, bool) {
	switch d := n.(type) {
	case *stagingDirNode:
		return place{d.name(), d.ino, ""}, true
	case *stagedViewDirNode:
		return d.where(), true
	}
	return place{}, false
}
