package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// fieldsDirNode is MNT/<name>/manifest/: one text file per manifest
// field, sysfs style.
type fieldsDirNode struct {
	fusefs.Inode
	readOnly
	t    *tree
	snap *snapName
}

var (
	_ = (fusefs.NodeLookuper)((*fieldsDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*fieldsDirNode)(nil))
	_ = (fusefs.NodeGetattrer)((*fieldsDirNode)(nil))
)

func (d *fieldsDirNode) snapshot(ctx context.Context) (*Snap, syscall.Errno) {
	sn, err := d.t.store.Snapshot(d.snap.get())
	if err == nil && sn.Manifest == nil {
		err = errNoView
	}
	if err != nil {
		return nil, toErrno(ctx, "manifest", err)
	}
	return sn, 0
}

func (d *fieldsDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return errno
	}
	setVirtDir(out, ino(sn.Ino(), slotManifestDir), sn.Dir(), &sn.File(fileManifest).st)
	return 0
}

func (d *fieldsDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.attr(ctx, &out.Attr)
}

func (d *fieldsDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return nil, errno
	}
	for i, f := range snapshot.ManifestFields {
		if f == name {
			slot := slotFieldBase + uint64(i)
			child := &viewNode{t: d.t, snap: d.snap, slot: slot, render: renderField(i)}
			id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: ino(sn.Ino(), slot), Gen: d.snap.gen}
			return lookupChild(ctx, d.EmbeddedInode(), child, id, out)
		}
	}
	return nil, syscall.ENOENT
}

func (d *fieldsDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return nil, errno
	}
	ents := make([]fuse.DirEntry, len(snapshot.ManifestFields))
	for i, f := range snapshot.ManifestFields {
		ents[i] = fuse.DirEntry{Name: f, Mode: unix.S_IFREG, Ino: ino(sn.Ino(), slotFieldBase+uint64(i))}
	}
	return fusefs.NewListDirStream(ents), 0
}
