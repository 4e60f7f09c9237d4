package fs

import (
	"context"
	"errors"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// newDirNode is MNT/new/: one staging directory per snapshot being
// written. mkdir opens one; mv new/NAME NAME validates and publishes it;
// rmdir drops an empty one.
type newDirNode struct {
	fusefs.Inode
	readOnly
	t *tree
}

var (
	_ = (fusefs.NodeGetattrer)((*newDirNode)(nil))
	_ = (fusefs.NodeLookuper)((*newDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*newDirNode)(nil))
	_ = (fusefs.NodeMkdirer)((*newDirNode)(nil))
	_ = (fusefs.NodeRmdirer)((*newDirNode)(nil))
	_ = (fusefs.NodeRenamer)((*newDirNode)(nil))
	_ = (fusefs.NodeCreater)((*newDirNode)(nil))
)

func newNewDir(t *tree) *newDirNode { return &newDirNode{t: t} }

// new/ is STORE/.snapfs-staging (STORE before there is one): its owner
// and mode say who may stage snapshots, and its mtime moves when a
// staging directory comes or goes, which is also what tells the kernel
// that its cached listing of new/ is stale. A staging area the daemon
// refuses shows as an empty directory nobody may enter.
func (d *newDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	st, err := d.t.stage.rootStat()
	if errors.Is(err, errStagingRefused) {
		if err := unix.Fstat(d.t.store.fd, &st); err != nil {
			return toErrno(ctx, "getattr", err)
		}
		st.Mode, st.Uid, st.Gid = unix.S_IFDIR, 0, 0
	} else if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setDir(out, inoNew, &st)
	return 0
}

func (d *newDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.attr(ctx, &out.Attr)
}

func (d *newDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	volatileEntry(out)
	st, ok := d.t.stage.exists(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	id := fusefs.StableAttr{Mode: unix.S_IFDIR, Ino: ino(st.Ino, slotStaged)}
	return lookupChild(ctx, d.EmbeddedInode(), &stagingDirNode{t: d.t, created: name, ino: st.Ino}, id, out)
}

func (d *newDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	stages, err := d.t.stage.listStat()
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	ents := make([]fuse.DirEntry, 0, len(stages))
	for _, s := range stages {
		ents = append(ents, fuse.DirEntry{Name: s.name, Mode: unix.S_IFDIR, Ino: ino(s.ino, slotStaged)})
	}
	return fusefs.NewListDirStream(ents), 0
}

func (d *newDirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	uid, gid := callerOf(ctx)
	if err := d.t.stage.mkdir(name, mode, int(uid), int(gid), copier(callerPid(ctx))); err != nil {
		return nil, toErrno(ctx, "mkdir", err)
	}
	return d.Lookup(ctx, name, out)
}

func (d *newDirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return toErrno(ctx, "rmdir", d.t.stage.remove(name))
}

// Create refuses files directly in new/: only staging directories live
// there.
func (d *newDirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM
}

// Rename to the root publishes; within new/ it renames the staging.
func (d *newDirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&unix.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	if _, ok := d.t.stage.exists(name); !ok {
		return syscall.ENOENT
	}
	switch newParent.(type) {
	case *rootNode:
		return toErrno(ctx, "publish", d.t.stage.publish(name, newName))
	case *newDirNode:
		return toErrno(ctx, "rename", d.t.stage.rename(name, newName))
	}
	return syscall.EXDEV
}
