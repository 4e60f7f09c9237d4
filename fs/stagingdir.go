package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagingDirNode is MNT/new/<name>/: the staging directory's files as
// they are in STORE, plus a read-only status view. Its name is taken
// from the tree each time, so a rename within new/ needs no bookkeeping.
type stagingDirNode struct {
	fusefs.Inode
	t       *tree
	created string // the name at lookup, before the node is in the tree
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

func (d *stagingDirNode) rel(file string) string { return stagingRel(d.name()) + "/" + file }

func (d *stagingDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	st, ok := d.t.stage.exists(d.name())
	if !ok {
		return syscall.ENOENT
	}
	setBacking(out, ino(st.Ino, slotStaged), st.Mode, &st)
	out.Nlink = 2
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
	if err := setattrAt(d.t.store.fd, stagingRel(d.name()), in); err != nil {
		return toErrno(ctx, "setattr", err)
	}
	out.SetTimeout(volatile)
	return d.attr(ctx, &out.Attr)
}

func (d *stagingDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	volatileEntry(out)
	if name == statusName {
		st, ok := d.t.stage.exists(d.name())
		if !ok {
			return nil, syscall.ENOENT
		}
		id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStagedStatus)}
		return lookupChild(ctx, d.EmbeddedInode(), &stagedStatusNode{t: d.t, created: d.name()}, id, out)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(d.t.store.fd, d.rel(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, syscall.ENOENT
	}
	id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)}
	return lookupChild(ctx, d.EmbeddedInode(), &stagedFileNode{t: d.t, created: [2]string{d.name(), name}}, id, out)
}

func (d *stagingDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ents := []fuse.DirEntry{{Name: statusName, Mode: unix.S_IFREG}}
	for _, n := range stagedNames(d.t.stage.path(d.name())) {
		var st unix.Stat_t
		if unix.Fstatat(d.t.store.fd, d.rel(n), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			ents = append(ents, fuse.DirEntry{Name: n, Mode: unix.S_IFREG, Ino: ino(st.Ino, slotStaged)})
		}
	}
	if st, ok := d.t.stage.exists(d.name()); ok {
		ents[0].Ino = ino(st.Ino, slotStagedStatus)
	}
	return fusefs.NewListDirStream(ents), 0
}

func (d *stagingDirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	if name == statusName {
		return nil, nil, 0, syscall.EACCES
	}
	fd, err := d.t.store.openBeneathMode(d.rel(name), int(flags)|unix.O_CREAT, mode)
	if err != nil {
		return nil, nil, 0, toErrno(ctx, "create", err)
	}
	stage := d.name()
	h := newStagedHandle(d.t, stage, fd, flags)
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
	if err := unix.Unlinkat(d.t.store.fd, d.rel(name), 0); err != nil {
		return toErrno(ctx, "unlink", err)
	}
	d.t.stage.touched(d.name())
	return 0
}

// Rename moves files within one staging directory (rsync's temporary
// names); across directories the tool falls back to copying (EXDEV).
func (d *stagingDirNode) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	p, ok := newParent.(*stagingDirNode)
	if !ok {
		return syscall.EXDEV
	}
	if name == statusName || newName == statusName {
		return syscall.EACCES
	}
	err := unix.Renameat2(d.t.store.fd, d.rel(name), d.t.store.fd, p.rel(newName), uint(flags))
	if err != nil {
		return toErrno(ctx, "rename", err)
	}
	d.t.stage.touched(d.name())
	if p != d {
		d.t.stage.touched(p.name())
	}
	return 0
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

func (d *stagingDirNode) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}
