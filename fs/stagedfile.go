package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagedFileNode is a file being written into new/<name>/. It is the
// STORE file itself: reads and writes go to the kernel through
// passthrough where it can, and the daemon only sees opens, closes and
// attribute changes, which are what the commit delay watches.
type stagedFileNode struct {
	fusefs.Inode
	t       *tree
	created [2]string // staging and file name at lookup, before the node is in the tree
}

var (
	_ = (fusefs.NodeGetattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeOpener)((*stagedFileNode)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*stagedFileNode)(nil))
)

// where returns the staging directory's name and the file's path
// relative to STORE, from the node's current place in the tree.
func (f *stagedFileNode) where() (stage, rel string) {
	stage, name := f.created[0], f.created[1]
	if n, dir := f.Parent(); dir != nil {
		name = n
		if s, p := dir.Parent(); p != nil {
			stage = s
		}
	}
	return stage, stagingRel(stage) + "/" + name
}

func (f *stagedFileNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	_, rel := f.where()
	var st unix.Stat_t
	if err := unix.Fstatat(f.t.store.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setBacking(out, ino(st.Ino, slotStaged), st.Mode, &st)
	return 0
}

func (f *stagedFileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	if h, ok := fh.(*stagedHandle); ok {
		var st unix.Stat_t
		if err := unix.Fstat(h.fd, &st); err != nil {
			return toErrno(ctx, "getattr", err)
		}
		setBacking(&out.Attr, ino(st.Ino, slotStaged), st.Mode, &st)
		return 0
	}
	return f.attr(ctx, &out.Attr)
}

func (f *stagedFileNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	stage, rel := f.where()
	if size, ok := in.GetSize(); ok {
		if errno := f.truncate(ctx, fh, rel, size); errno != 0 {
			return errno
		}
	}
	if err := setattrAt(f.t.store.fd, rel, in); err != nil {
		return toErrno(ctx, "setattr", err)
	}
	f.t.stage.touched(stage)
	return f.Getattr(ctx, fh, out)
}

func (f *stagedFileNode) truncate(ctx context.Context, fh fusefs.FileHandle, rel string, size uint64) syscall.Errno {
	if h, ok := fh.(*stagedHandle); ok {
		return toErrno(ctx, "truncate", unix.Ftruncate(h.fd, int64(size)))
	}
	fd, err := f.t.store.openBeneath(rel, unix.O_WRONLY)
	if err != nil {
		return toErrno(ctx, "truncate", err)
	}
	defer unix.Close(fd)
	return toErrno(ctx, "truncate", unix.Ftruncate(fd, int64(size)))
}

func (f *stagedFileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	stage, rel := f.where()
	fd, err := f.t.store.openBeneath(rel, int(flags)&^unix.O_CREAT)
	if err != nil {
		return nil, 0, toErrno(ctx, "open", err)
	}
	return newStagedHandle(f.t, stage, fd, flags), 0, 0
}

// CopyFileRange copies between two files of the mount inside the
// store's filesystem (a reflink where it can), never through the daemon.
func (f *stagedFileNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, n uint64, flags uint64) (uint32, syscall.Errno) {
	return copyRange(ctx, fhIn, offIn, fhOut, offOut, n)
}

func copyRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, fhOut fusefs.FileHandle, offOut uint64, n uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(interface{ fdOf() int })
	out, ok2 := fhOut.(*stagedHandle)
	if !ok1 || !ok2 {
		return 0, syscall.EXDEV
	}
	ri, ro := int64(offIn), int64(offOut)
	if n > 1<<30 {
		n = 1 << 30
	}
	c, err := unix.CopyFileRange(in.fdOf(), &ri, out.fd, &ro, int(n), 0)
	if err != nil {
		return 0, toErrno(ctx, "copy_file_range", err)
	}
	return uint32(c), 0
}
