package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagingDirNode is MNT/new/<name>/: the staging directory's regular
// files as they are in STORE, plus a read-only status view. Its name is
// taken from the tree each time, so a rename within new/ needs no
// bookkeeping; its STORE inode binds it to the directory it was looked up
// as, so a directory swapped in under that name is not it.
type stagingDirNode struct {
	fusefs.Inode
	t       *tree
	created string // the name at lookup, before the node is in the tree
	ino     uint64 // STORE inode of the directory
}

var (
	_ = (fusefs.NodeGetattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeLookuper)((*stagingDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeCreater)((*stagingDirNode)(nil))
	_ = (fusefs.NodeUnlinker)((*stagingDirNode)(nil))
	_ = (fusefs.NodeRenamer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeMkdirer)((*stagingDirNode)(nil))
	_ = (fusefs.NodeMknoder)((*stagingDirNode)(nil))
	_ = (fusefs.NodeSymlinker)((*stagingDirNode)(nil))
	_ = (fusefs.NodeLinker)((*stagingDirNode)(nil))
)

// statusName is the read-only view in every staging directory.
const statusName = "status"

func (d *stagingDirNode) name() string {
	if name, p := d.Parent(); p != nil {
		return name
	}
	return d.created
}

// open opens the staging directory this node is.
func (d *stagingDirNode) open() (*os.File, error) { return d.t.stage.openStage(d.name(), d.ino) }

// change runs fn on the directory while nothing else changes it.
func (d *stagingDirNode) change(fn func(st *stage, dir *os.File) error) error {
	return d.t.stage.change(d.name(), d.ino, fn)
}

func (d *stagingDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	dir, err := d.open()
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setDir(out, ino(st.Ino, slotStaged), &st)
	return 0
}

func (d *stagingDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagingDirNode) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); ok {
		return syscall.EISDIR
	}
	err := d.change(func(_ *stage, dir *os.File) error { return setattrFd(int(dir.Fd()), in) })
	if err != nil {
		return toErrno(ctx, "setattr", err)
	}
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagingDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	volatileEntry(out)
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	defer dir.Close()
	if name == statusName {
		var st unix.Stat_t
		if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
			return nil, toErrno(ctx, "lookup", err)
		}
		id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStagedStatus)}
		return lookupChild(ctx, d.EmbeddedInode(), &stagedStatusNode{t: d.t, created: d.name(), dirIno: d.ino}, id, out)
	}
	st, err := statEntry(dir, name)
	if err == nil {
		err = kindError(name, st.Mode) // never followed, never shown
	}
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)}
	return lookupChild(ctx, d.EmbeddedInode(), &stagedFileNode{t: d.t, created: [2]string{d.name(), name}, ino: st.Ino}, id, out)
}

func (d *stagingDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	defer dir.Close()
	var self unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &self); err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	ents := []fuse.DirEntry{{Name: statusName, Mode: unix.S_IFREG, Ino: ino(self.Ino, slotStagedStatus)}}
	for _, n := range stagedNames(dir) {
		if st, err := statEntry(dir, n); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			ents = append(ents, fuse.DirEntry{Name: n, Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)})
		}
	}
	return fusefs.NewListDirStream(ents), 0
}

// Create makes a file owned by the caller, with the mode it asked for
// (the kernel applied its umask).
func (d *stagingDirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if name == statusName {
		return nil, nil, 0, syscall.EACCES
	}
	release, err := d.t.fds.take(ctx)
	if err != nil {
		return nil, nil, 0, toErrno(ctx, "create", err)
	}
	var h *stagedHandle
	err = d.change(func(st *stage, dir *os.File) error {
		fd, err := openAt(int(dir.Fd()), name, int(flags)|unix.O_CREAT|unix.O_EXCL, mode&noPriv)
		if errors.Is(err, unix.EEXIST) && flags&unix.O_EXCL == 0 {
			// Made by someone else since the kernel's lookup: an open.
			fd, err = openEntry(dir, name, int(flags)&^unix.O_CREAT, 0)
		} else if err == nil {
			uid, gid := callerOf(ctx)
			if err = chownFd(fd, int(uid), int(gid)); err != nil {
				unix.Close(fd)
				unix.Unlinkat(int(dir.Fd()), name, 0)
			}
		}
		if err != nil {
			return err
		}
		h = newStagedHandle(d.t, st, fd, flags, release)
		return nil
	})
	if err != nil {
		release()
		return nil, nil, 0, toErrno(ctx, "create", err)
	}
	ch, errno := d.Lookup(ctx, name, out)
	if errno != 0 {
		h.Release(ctx)
		return nil, nil, 0, errno
	}
	return ch, h, 0, 0
}

func (d *stagingDirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	if name == statusName {
		return syscall.EACCES
	}
	err := d.change(func(_ *stage, dir *os.File) error { return unix.Unlinkat(int(dir.Fd()), name, 0) })
	return toErrno(ctx, "unlink", err)
}

// Rename moves files within one staging directory (rsync's temporary
// names); across directories the tool falls back to copying (EXDEV).
// RENAME_WHITEOUT would leave a device that blocks the directory.
func (d *stagingDirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	p, ok := newParent.(*stagingDirNode)
	if !ok || p != d {
		return syscall.EXDEV
	}
	if flags&^uint32(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL
	}
	if name == statusName || newName == statusName {
		return syscall.EACCES
	}
	err := d.change(func(_ *stage, dir *os.File) error {
		dfd := int(dir.Fd())
		return unix.Renameat2(dfd, name, dfd, newName, uint(flags))
	})
	return toErrno(ctx, "rename", err)
}

// A snapshot is flat: no subdirectories, links or devices in staging.
func (d *stagingDirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *stagingDirNode) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *stagingDirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Link hard-links a staged file into this staging directory: OpenVMM
// saves by linking its memory backing file, which may live in another
// staging directory, into the snapshot's. Both directories' locks are
// held (in name order), and the link is made from the file's O_PATH fd,
// so it is the very file the node is.
func (d *stagingDirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	src, ok := target.(*stagedFileNode)
	if !ok {
		return nil, syscall.EPERM
	}
	if name == statusName {
		return nil, syscall.EEXIST
	}
	srcStage, srcName := src.where()
	link := func(dir *os.File) error {
		sdir, err := d.t.stage.openStage(srcStage, src.dirIno())
		if err != nil {
			return err
		}
		defer sdir.Close()
		fd, err := openEntry(sdir, srcName, unix.O_PATH, src.ino)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		err = unix.Linkat(fd, "", int(dir.Fd()), name, unix.AT_EMPTY_PATH)
		if err == unix.ENOENT || err == unix.EPERM {
			// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (a daemon not run
			// by root): link the name, and check it is still the file.
			if err = unix.Linkat(int(sdir.Fd()), srcName, int(dir.Fd()), name, 0); err == nil {
				if st, serr := statEntry(dir, name); serr != nil || st.Ino != src.ino {
					unix.Unlinkat(int(dir.Fd()), name, 0)
					err = fmt.Errorf("%q was replaced: %w", srcName, syscall.ENOENT)
				}
			}
		}
		return err
	}
	var err error
	if srcStage == d.name() {
		err = d.change(func(_ *stage, dir *os.File) error { return link(dir) })
	} else {
		err = d.t.stage.changeTwo(d.name(), d.ino, srcStage, func(dir *os.File) error { return link(dir) })
	}
	if err != nil {
		return nil, toErrno(ctx, "link", err)
	}
	return d.Lookup(ctx, name, out)
}
