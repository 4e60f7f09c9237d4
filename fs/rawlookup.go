package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// uncachedMemory makes the kernel look up every memory.bin again at each
// path walk, and never caches a status found absent: each lookup makes a new node (clone.go), so each open, and
// each restore clone, gets an inode of its own. go-fuse treats a zero
// entry timeout from a node as "the mount's default", and the smallest
// other one still lasts a jiffy, so the reply is set here.
type uncachedMemory struct{ fuse.RawFileSystem }

func (u *uncachedMemory) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	st := u.RawFileSystem.Lookup(cancel, header, name, out)
	if st == fuse.OK && (name == "memory.bin" || name == statusName && out.NodeId == 0) {
		// A staging directory's status comes and goes (stagingDirNode).
		out.EntryValid, out.EntryValidNsec = 0, 0
	}
	return st
}
