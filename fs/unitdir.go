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

// unitEntries are the files of a unit directory and their entry kinds
// (unitSlot). value.txt and value.json are there only when the value
// decodes (decoded.go).
var unitEntries = []struct {
	name string
	k    int
}{{"type_url", unitTypeURL}, {"value.bin", unitValueBin}, {"value.txt", unitValueTxt}, {"value.json", unitValueJSON}}

// has reports whether entry k exists for the unit in sn.
func (d *unitDirNode) has(sn *Snap, k int) bool {
	var err error
	switch k {
	case unitValueTxt:
		_, _, err = renderValueText(d.unit)(sn)
	case unitValueJSON:
		_, _, err = d.t.renderValueJSON(d.unit)(sn)
	}
	return err == nil
}

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

func (d *unitDirNode) ino(sn *Snap, k int) uint64 { // k: unitDir...
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
		slot := unitSlot(d.index, e.k)
		switch e.k {
		case unitTypeURL:
			child = &viewNode{t: d.t, snap: d.snap, slot: slot, render: renderTypeURL(d.unit)}
		case unitValueBin:
			child = &valueNode{t: d.t, snap: d.snap, unit: d.unit, slot: slot}
		case unitValueTxt:
			child = &viewNode{t: d.t, snap: d.snap, slot: slot, render: renderValueText(d.unit)}
		case unitValueJSON:
			child = &viewNode{t: d.t, snap: d.snap, slot: slot, render: d.t.renderValueJSON(d.unit)}
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
	var ents []fuse.DirEntry
	for _, e := range unitEntries {
		if d.has(sn, e.k) {
			ents = append(ents, fuse.DirEntry{Name: e.name, Mode: unix.S_IFREG, Ino: d.ino(sn, e.k)})
		}
	}
	return fusefs.NewListDirStream(ents), 0
}
