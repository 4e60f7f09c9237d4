package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// renderFunc makes a view's bytes from a snapshot, and names the STORE
// file whose times the view takes.
type renderFunc func(sn *Snap) (data []byte, src *unix.Stat_t, err error)

// viewNode is a small generated file: manifest.json, manifest/<field>,
// status, state/<unit>/type_url. The bytes come from the snapshot's
// cache, which is rebuilt only when a source file changes; an open file
// keeps the bytes it saw at open, so its size and content agree.
type viewNode struct {
	fusefs.Inode
	readOnly
	t      *tree
	snap   *snapName
	slot   uint64
	render renderFunc
}

var (
	_ = (fusefs.NodeOpener)((*viewNode)(nil))
	_ = (fusefs.NodeGetattrer)((*viewNode)(nil))
)

func (v *viewNode) content(ctx context.Context) ([]byte, *unix.Stat_t, *Snap, syscall.Errno) {
	sn, err := v.t.store.Snapshot(v.snap.get())
	if err == nil && v.slot == slotStatus {
		sn, err = v.t.store.recheckMemory(sn)
	}
	if err != nil {
		return nil, nil, nil, toErrno(ctx, "view", err)
	}
	data, src, err := v.render(sn)
	if err != nil {
		return nil, nil, nil, toErrno(ctx, "view", err)
	}
	return data, src, sn, 0
}

func (v *viewNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	data, src, sn, errno := v.content(ctx)
	if errno != 0 {
		return errno
	}
	setView(out, ino(sn.Ino(), v.slot), len(data), src)
	return 0
}

func (v *viewNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if v.slot == slotStatus {
		out.SetTimeout(volatile) // see Open
	}
	if h, ok := f.(*viewHandle); ok {
		out.Attr = h.attr // an open view stays what it was, even if its snapshot goes
		return 0
	}
	return v.attr(ctx, &out.Attr)
}

func (v *viewNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if wantsWrite(flags) {
		return nil, 0, syscall.EROFS
	}
	data, src, sn, errno := v.content(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	h := &viewHandle{data: data}
	setView(&h.attr, ino(sn.Ino(), v.slot), len(data), src)
	if v.slot == slotStatus {
		// status also depends on what no notification reports: a
		// restored VM writing memory.bin through mmap, another snapshot
		// sharing it. It is made anew at every open.
		return h, fuse.FOPEN_DIRECT_IO, 0
	}
	return h, v.t.keepCache(), 0
}

// viewHandle is an open view: the bytes and attributes as they were at
// open.
type viewHandle struct {
	data []byte
	attr fuse.Attr
}

var _ = (fusefs.FileReader)((*viewHandle)(nil))

func (h *viewHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.data)) {
		end = int64(len(h.data))
	}
	return fuse.ReadResultData(h.data[off:end]), 0
}
