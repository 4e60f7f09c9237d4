package fs

import "github.com/hanwen/go-fuse/v2/fuse"

// storeStatfs answers statfs(2) on every node with STORE's figures (the
// root's Statfs). go-fuse answers zeros for a node without a Statfs
// method: `df MNT/new/x` showed nothing, and stress-ng, which sizes its
// files from statfs of its temp path, died dividing by zero.
type storeStatfs struct{ fuse.RawFileSystem }

func (s *storeStatfs) StatFs(cancel <-chan struct{}, in *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	root := *in
	root.NodeId = fuse.FUSE_ROOT_ID
	return s.RawFileSystem.StatFs(cancel, &root, out)
}
