package fs

import (
	"context"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// rootNode is MNT: one directory per snapshot in STORE, plus latest and
// new/. It reads STORE on every listing, so snapshots written straight
// into STORE appear without a remount.
type rootNode struct {
	fusefs.Inode
	readOnly
	t *tree

	mu        sync.Mutex // guards the cached listing below
	listed    *listing
	hadLatest bool
	ents      []fuse.DirEntry // read-only once made
}

var (
	_ = (fusefs.NodeLookuper)((*rootNode)(nil))
	_ = (fusefs.NodeReaddirer)((*rootNode)(nil))
	_ = (fusefs.NodeGetattrer)((*rootNode)(nil))
	_ = (fusefs.NodeStatfser)((*rootNode)(nil))
)

func (r *rootNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	st, err := r.t.store.RootStat()
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setDir(out, inoRoot, st)
	return 0
}

func (r *rootNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	return r.attr(ctx, &out.Attr)
}

func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st unix.Statfs_t
	if err := unix.Fstatfs(r.t.store.fd, &st); err != nil {
		return toErrno(ctx, "statfs", err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	switch name {
	case "new":
		if r.t.opts.ReadOnly {
			return nil, syscall.ENOENT
		}
		return lookupChild(ctx, r.EmbeddedInode(), newNewDir(r.t), fusefs.StableAttr{Mode: unix.S_IFDIR, Ino: inoNew}, out)
	case "latest":
		if _, ok := r.t.store.Latest(); !ok {
			return nil, syscall.ENOENT
		}
		return lookupChild(ctx, r.EmbeddedInode(), &latestNode{t: r.t}, fusefs.StableAttr{Mode: unix.S_IFLNK, Ino: inoLatest}, out)
	}
	e, err := r.t.store.Entry(name)
	if err != nil {
		return nil, toErrno(ctx, "lookup", err)
	}
	id := fusefs.StableAttr{Mode: unix.S_IFDIR, Ino: ino(e.Ino, slotDir), Gen: snapGen(name)}
	return lookupChild(ctx, r.EmbeddedInode(), &snapDirNode{t: r.t, name: newSnapName(name, id.Gen)}, id, out)
}

func (r *rootNode) Readdir(ctx context.Context) (fusefs.DirStream, syscall.Errno) {
	ents, errno := r.entries(ctx)
	if errno != 0 {
		return nil, errno
	}
	return fusefs.NewListDirStream(ents), 0
}

// entries lists the root. The list is kept while STORE's listing and
// latest stay the same: a large root is read in many READDIR batches, each
// of which would otherwise build it again.
func (r *rootNode) entries(ctx context.Context) ([]fuse.DirEntry, syscall.Errno) {
	l, err := r.t.store.listing()
	if err != nil {
		return nil, toErrno(ctx, "readdir", err)
	}
	_, latest := r.t.store.Latest()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listed == l && r.hadLatest == latest {
		return r.ents, 0
	}
	ents := make([]fuse.DirEntry, 0, len(l.entries)+2)
	if !r.t.opts.ReadOnly {
		ents = append(ents, fuse.DirEntry{Name: "new", Mode: unix.S_IFDIR, Ino: inoNew})
	}
	if latest {
		ents = append(ents, fuse.DirEntry{Name: "latest", Mode: unix.S_IFLNK, Ino: inoLatest})
	}
	for _, e := range l.entries {
		ents = append(ents, fuse.DirEntry{Name: e.Name, Mode: unix.S_IFDIR, Ino: ino(e.Ino, slotDir)})
	}
	r.listed, r.hadLatest, r.ents = l, latest, ents
	return ents, 0
}
