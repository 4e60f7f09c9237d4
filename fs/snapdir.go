package fs

import (
	"context"
	"sync/atomic"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// snapDirNode is MNT/<name>: the snapshot's files and views. Which
// entries exist depends on what can be read: a view that cannot be made
// (manifest.json of an undecodable manifest) is absent, status never is.
type snapDirNode struct {
	fusefs.Inode
	readOnly
	t    *tree
	name *snapName
}

var (
	_ = (fusefs.NodeLookuper)((*snapDirNode)(nil))
	_ = (fusefs.NodeReaddirer)((*snapDirNode)(nil))
	_ = (fusefs.NodeGetattrer)((*snapDirNode)(nil))
)

// snapName is the name by which a snapshot's nodes find it in STORE,
// shared by its directory node and every node below it. A rename through
// the mount changes it in place, so what the kernel holds (entries, a
// working directory) follows the snapshot to its new name; a delete
// empties it, so those nodes find nothing, not a later snapshot of that
// name. gen is the FUSE generation of every node of the family.
type snapName struct {
	p   atomic.Pointer[string]
	gen uint64
}

func newSnapName(name string, gen uint64) *snapName {
	n := &snapName{gen: gen}
	n.set(name)
	return n
}

// deletes counts snapshots deleted through the mount. It is part of the
// generation of every snapshot directory looked up afterwards: a new
// snapshot whose directory got a deleted one's inode number (filesystems
// reuse them) then gets fresh nodes, not the deleted one's, which a
// process may still hold and which find nothing.
var deletes atomic.Uint64

// snapGen is the generation of the nodes of the snapshot name looked up
// now.
func snapGen(name string) uint64 { return gen(name) | deletes.Load()<<32 }

func (n *snapName) get() string  { return *n.p.Load() }
func (n *snapName) set(s string) { n.p.Store(&s) }

// snapEntry is one entry of a snapshot directory.
type snapEntry struct {
	name string
	slot uint64
	mode uint32
}

// entries lists what sn shows, in a fixed order.
func snapEntries(sn *Snap) []snapEntry {
	out := make([]snapEntry, 0, 7)
	if sn.File(fileManifest).err == nil {
		out = append(out, snapEntry{"manifest.bin", slotManifestBin, unix.S_IFREG})
	}
	if sn.Manifest != nil {
		out = append(out,
			snapEntry{"manifest.json", slotManifestJSON, unix.S_IFREG},
			snapEntry{"manifest", slotManifestDir, unix.S_IFDIR})
	}
	if sn.File(fileState).err == nil {
		out = append(out, snapEntry{"state.bin", slotStateBin, unix.S_IFREG})
		if _, err := sn.State(); err == nil {
			out = append(out, snapEntry{"state", slotStateDir, unix.S_IFDIR})
		}
	}
	if sn.File(fileMemory).err == nil {
		out = append(out, snapEntry{"memory.bin", slotMemoryBin, unix.S_IFREG})
	}
	if sn.digestInfo().ok && sn.File(fileMemory).err == nil {
		out = append(out, snapEntry{sumsName, slotSums, unix.S_IFREG})
	}
	return append(out, snapEntry{"status", slotStatus, unix.S_IFREG})
}

func (d *snapDirNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	e, err := d.t.store.Entry(d.name.get())
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setDir(out, ino(e.Ino, slotDir), &e.Dir)
	return 0
}

func (d *snapDirNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return d.attr(ctx, &out.Attr)
}

func (d *snapDirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	sn, err := d.t.store.Snapshot(d.name.get())
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	for _, e := range snapEntries(sn) {
		if e.name != name {
			continue
		}
		var child attrNode
		switch e.slot {
		case slotManifestBin:
			child = &backingNode{t: d.t, snap: d.name, file: fileManifest}
		case slotStateBin:
			child = &backingNode{t: d.t, snap: d.name, file: fileState}
		case slotMemoryBin:
			child = &backingNode{t: d.t, snap: d.name, file: fileMemory}
		case slotManifestJSON:
			child = &viewNode{t: d.t, snap: d.name, slot: e.slot, render: renderJSON}
		case slotStatus:
			child = &viewNode{t: d.t, snap: d.name, slot: e.slot, render: d.t.renderStatus}
		case slotSums:
			child = &viewNode{t: d.t, snap: d.name, slot: e.slot, render: renderSums}
		case slotManifestDir:
			child = &fieldsDirNode{t: d.t, snap: d.name}
		case slotStateDir:
			child = &stateDirNode{t: d.t, snap: d.name}
		}
		id := fusefs.StableAttr{Mode: e.mode, Ino: ino(sn.Ino(), e.slot), Gen: d.name.gen}
		switch e.slot {
		case slotStatus:
			out.SetAttrTimeout(volatile) // see viewNode.Open
		case slotMemoryBin:
			// A lookup per open, and a node of its own for each open
			// (clone.go): the current node while nobody has it open.
			id.Gen = memoryGen(d.name.get())
			if ch := d.GetChild(name); ch != nil {
				if b, ok := ch.Operations().(*backingNode); ok && b.idle() {
					id.Gen = ch.StableAttr().Gen
				}
			}
			volatileEntry(out)
		}
		return lookupChild(ctx, d.EmbeddedInode(), child, id, out)
	}
	return nil, syscall.ENOENT
}

func (d *snapDirNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	sn, err := d.t.store.Snapshot(d.name.get())
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	var ents []fuse.DirEntry
	for _, e := range snapEntries(sn) {
		ents = append(ents, fuse.DirEntry{Name: e.name, Mode: e.mode, Ino: ino(sn.Ino(), e.slot)})
	}
	return fusefs.NewListDirStream(ents), 0
}
