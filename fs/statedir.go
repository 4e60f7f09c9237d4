package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// stateDirNode is MNT/<name>/state/: one directory per saved-state unit,
// named by the percent-encoded unit name. A unit whose name is empty or
// repeats an earlier one has no directory (status reports it).
type stateDirNode struct {
	fusefs.Inode
	readOnly
	t    *tree
	snap *snapName
}

var (
	_ = (fusefs.NodeLookuper)((*stateDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*stateDirNode)(nil))
	_ = (fusefs.NodeGetattrer)((*stateDirNode)(nil))
)

func (d *stateDirNode) index(ctx context.Context) (*Snap, *snapshot.StateIndex, syscall.Errno) {
	sn, err := d.t.store.Snapshot(d.snap.get())
	if err != nil {
		return nil, nil, toErrno(ctx, "state", err)
	}
	idx, err := sn.State()
	if err != nil {
		return nil, nil, syscall.ENOENT
	}
	return sn, idx, 0
}

func (d *stateDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	sn, _, errno := d.index(ctx)
	if errno != 0 {
		return errno
	}
	setVirtDir(out, ino(sn.Ino(), slotStateDir), sn.Dir(), &sn.File(fileState).st)
	return 0
}

func (d *stateDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.attr(ctx, &out.Attr)
}

func (d *stateDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	sn, idx, errno := d.index(ctx)
	if errno != 0 {
		return nil, errno
	}
	unit, err := snapshot.DecodeUnitName(name)
	if err != nil || unit == "" || snapshot.EncodeUnitName(unit) != name {
		return nil, syscall.ENOENT
	}
	i, ok := idx.Find(unit)
	if !ok {
		return nil, syscall.ENOENT
	}
	child := &unitDirNode{t: d.t, snap: d.snap, unit: unit, index: i}
	id := fusefs.StableAttr{Mode: unix.S_IFDIR, Ino: ino(sn.Ino(), unitSlot(i, 0)), Gen: d.snap.gen}
	return lookupChild(ctx, d.EmbeddedInode(), child, id, out)
}

func (d *stateDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	sn, idx, errno := d.index(ctx)
	if errno != 0 {
		return nil, errno
	}
	seen := make(map[string]bool, len(idx.Units))
	ents := make([]fuse.DirEntry, 0, len(idx.Units))
	for i, u := range idx.Units {
		if u.Name == "" || seen[u.Name] {
			continue
		}
		seen[u.Name] = true
		name := snapshot.EncodeUnitName(u.Name)
		ents = append(ents, fuse.DirEntry{Name: name, Mode: unix.S_IFDIR, Ino: ino(sn.Ino(), unitSlot(i, 0))})
	}
	return fusefs.NewListDirStream(ents), 0
}
