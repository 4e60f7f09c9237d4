package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// listHandle is an open directory of the published tree, listed once at
// open. While a watcher turns every change into a notification, the
// kernel keeps the listing (FOPEN_CACHE_DIR) and a second `ls` or walk
// never reaches the daemon.
type listHandle struct {
	ents []fuse.DirEntry
	pos  int
}

var (
	_ = (fusefs.FileReaddirenter)((*listHandle)(nil))
	_ = (fusefs.FileSeekdirer)((*listHandle)(nil))
	_ = (fusefs.FileReleasedirer)((*listHandle)(nil))
)

// openListing opens the directory whose entries rd lists.
func openListing(ctx context.Context, t *tree, rd fusefs.NodeReaddirer) (fusefs.FileHandle, uint32, syscall.Errno) {
	var flags uint32
	if t.keepCache() != 0 {
		flags = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
	}
	if r, ok := rd.(*rootNode); ok {
		ents, errno := r.entries(ctx) // shared, never changed
		if errno != 0 {
			return nil, 0, errno
		}
		return &listHandle{ents: ents}, flags, 0
	}
	ds, errno := rd.Readdir(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	defer ds.Close()
	h := &listHandle{}
	for ds.HasNext() {
		e, errno := ds.Next()
		if errno != 0 {
			return nil, 0, errno
		}
		h.ents = append(h.ents, e)
	}
	return h, flags, 0
}

func (h *listHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if h.pos >= len(h.ents) {
		return nil, 0
	}
	e := h.ents[h.pos]
	h.pos++
	return &e, 0
}

func (h *listHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.pos = int(off)
	return 0
}

func (h *listHandle) Releasedir(ctx context.Context, releaseFlags uint32) {}

// The published directories all open through openListing.
var (
	_ = (fusefs.NodeOpendirHandler)((*rootNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*snapDirNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*fieldsDirNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*stateDirNode)(nil))
	_ = (fusefs.NodeOpendirHandler)((*unitDirNode)(nil))
)

func (r *rootNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return openListing(ctx, r.t, r)
}

func (d *snapDirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return openListing(ctx, d.t, d)
}

func (d *fieldsDirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return openListing(ctx, d.t, d)
}

func (d *stateDirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return openListing(ctx, d.t, d)
}

func (d *unitDirNode) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	return openListing(ctx, d.t, d)
}
