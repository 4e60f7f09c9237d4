package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagedViewDirNode is a directory of views written back into a staging
// directory from a backup of a published snapshot: new/<name>/manifest/,
// state/ and state/<unit>/. They are real directories of the staging
// directory in STORE; validation compares what they hold with the staged
// snapshot's own views, and publishing removes them.
type stagedViewDirNode struct {
	fusefs.Inode
	t       *tree
	created place  // at lookup, before the node is in the tree
	ino     uint64 // STORE inode of the directory
}

var (
	_ = (fusefs.NodeGetattrer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeLookuper)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeCreater)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeMkdirer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeUnlinker)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeRmdirer)((*stagedViewDirNode)(nil))
	_ = (fusefs.NodeRenamer)((*stagedViewDirNode)(nil))
)

func (d *stagedViewDirNode) where() place {
	if p, ok := placeOf(d.EmbeddedInode()); ok {
		return p
	}
	return d.created
}

// open opens this directory (its STORE inode, or ENOENT).
func (d *stagedViewDirNode) open() (*os.File, error) {
	p := d.where()
	parent, err := d.t.stage.openDirOf(p)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	dir, err := openDirAt(int(parent.Fd()), p.base())
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil || st.Ino != d.ino {
		dir.Close()
		return nil, syscall.ENOENT
	}
	return dir, nil
}

func (d *stagedViewDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	return stagedDirAttr(ctx, d.open, out)
}

func (d *stagedViewDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagedViewDirNode) Setattr(ctx context.Context, f fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); ok {
		return syscall.EISDIR
	}
	p := d.where()
	err := d.t.stage.changeAt(p, func(_ *stage, parent *os.File) error {
		dir, err := openDirAt(int(parent.Fd()), p.base())
		if err != nil {
			return err
		}
		defer dir.Close()
		return setattrFd(int(dir.Fd()), in)
	})
	if err != nil {
		return toErrno(ctx, "setattr", err)
	}
	return d.Getattr(ctx, f, out)
}

func (d *stagedViewDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	defer dir.Close()
	return d.t.stagedLookup(ctx, d.EmbeddedInode(), d.where(), dir, name, out)
}

func (d *stagedViewDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	dir, err := d.open()
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	defer dir.Close()
	return fusefs.NewListDirStream(stagedEntries(d.where(), dir)), 0
}

func (d *stagedViewDirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	h, err := d.t.stagedCreate(ctx, d.where(), name, flags, mode)
	if err != nil {
		return nil, nil, 0, toErrno(ctx, "create", err)
	}
	ch, errno := d.Lookup(ctx, name, out)
	if errno != 0 {
		h.Release(ctx)
		return nil, nil, 0, errno
	}
	if errno := handOut(ctx, h); errno != 0 {
		return nil, nil, 0, errno
	}
	return ch, h, 0, 0
}

func (d *stagedViewDirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	uid, gid := callerOf(ctx)
	if err := d.t.stagedMkdir(d.where(), name, mode, uid, gid); err != nil {
		return nil, toErrno(ctx, "mkdir", err)
	}
	return d.Lookup(ctx, name, out)
}

func (d *stagedViewDirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return toErrno(ctx, "unlink", d.t.stagedRemove(d.where(), name, 0))
}

func (d *stagedViewDirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return toErrno(ctx, "rmdir", d.t.stagedRemove(d.where(), name, unix.AT_REMOVEDIR))
}

func (d *stagedViewDirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := placeOfDir(newParent)
	if !ok {
		return syscall.EXDEV
	}
	return toErrno(ctx, "rename", d.t.stagedRename(d.where(), name, to, newName, flags))
}
