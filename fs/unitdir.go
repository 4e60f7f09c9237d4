package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// unitDirNode is MNT/<name>/state/<unit>/: the unit's type_url and its
// value bytes. index is the unit's position when it was looked up; it
// fixes the inode numbers, while content is found by name each time.
type unitDirNode struct {
	fusefs.Inode
	readOnly
	t     *tree
	snap  *snapName
	unit  string
	index int
}

var (
	_ = (fusefs.NodeLookuper)((*unitDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*unitDirNode)(nil))
	_ = (fusefs.NodeGetattrer)((*unitDirNode)(nil))
)

// unitEntries are the files of a unit directory and their slot offsets.
var unitEntries = []struct {
	name string
	k    int
}{{"type_url", 1}, {"value.bin", 2}}

func (d *unitDirNode) snapshot(ctx context.Context) (*Snap, syscall.Errno) {
	sn, err := d.t.store.Snapshot(d.snap.get())
	if err == nil {
		_, _, err = findUnit(sn, d.unit)
	}
	if err != nil {
		return nil, toErrno(ctx, "unit", err)
	}
	return sn, 0
}

func (d *unitDirNode) ino(sn *Snap, k int) uint64 {
	return ino(sn.Ino(), unitSlot(d.index, k))
}

func (d *unitDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return errno
	}
	setVirtDir(out, d.ino(sn, 0), sn.Dir(), &sn.File(fileState).st)
	return 0
}

func (d *unitDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.attr(ctx, &out.Attr)
}

func (d *unitDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return nil, errno
	}
	for _, e := range unitEntries {
		if e.name != name {
			continue
		}
		var child attrNode
		if e.k == 1 {
			child = &viewNode{t: d.t, snap: d.snap, slot: unitSlot(d.index, 1), render: renderTypeURL(d.unit)}
		} else {
			child = &valueNode{t: d.t, snap: d.snap, unit: d.unit, slot: unitSlot(d.index, 2)}
		}
		id := fusefs.StableAttr{Mode: unix.S_IFREG, Ino: d.ino(sn, e.k), Gen: d.snap.gen}
		return lookupChild(ctx, d.EmbeddedInode(), child, id, out)
	}
	return nil, syscall.ENOENT
}

func (d *unitDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	sn, errno := d.snapshot(ctx)
	if errno != 0 {
		return nil, errno
	}
	ents := make([]fuse.DirEntry, len(unitEntries))
	for i, e := range unitEntries {
		ents[i] = fuse.DirEntry{Name: e.name, Mode: unix.S_IFREG, Ino: d.ino(sn, e.k)}
	}
	return fusefs.NewListDirStream(ents), 0
}
