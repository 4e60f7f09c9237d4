package fs

import (
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// zeroOpendir lets the kernel open directories without asking the daemon
// (FUSE's no-opendir support). It answers the first OPENDIR with ENOSYS;
// from then on the kernel opens every directory by itself and caches its
// listing (KEEP_CACHE, CACHE_DIR) until told otherwise, so a second walk
// of the tree costs no OPENDIR and RELEASEDIR round trips. READDIR then
// arrives without a handle, and is served through one opened inside the
// daemon for the length of the call.
//
// It is only on while a watcher turns every change into a notification:
// nothing else would ever refresh a cached listing.
type zeroOpendir struct {
	fuse.RawFileSystem
	on bool
}

func (z *zeroOpendir) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if z.on {
		return fuse.ENOSYS
	}
	return z.RawFileSystem.OpenDir(cancel, in, out)
}

func (z *zeroOpendir) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return z.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status {
		return z.RawFileSystem.ReadDir(cancel, in, out)
	})
}

func (z *zeroOpendir) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return z.withHandle(cancel, in, func(in *fuse.ReadIn) fuse.Status {
		return z.RawFileSystem.ReadDirPlus(cancel, in, out)
	})
}

func (z *zeroOpendir) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if in.Fh == 0 {
		return fuse.OK // nothing of the daemon's to sync
	}
	return z.RawFileSystem.FsyncDir(cancel, in)
}

// withHandle runs read with a directory handle: the kernel's, or one
// opened for the call when the kernel opened the directory itself.
func (z *zeroOpendir) withHandle(cancel <-chan struct{}, in *fuse.ReadIn, read func(*fuse.ReadIn) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		return read(in)
	}
	var open fuse.OpenOut
	st := z.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader, Flags: syscall.O_RDONLY}, &open)
	if !st.Ok() {
		return st
	}
	defer z.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: in.InHeader, Fh: open.Fh})
	withFh := *in
	withFh.Fh = open.Fh
	return read(&withFh)
}
