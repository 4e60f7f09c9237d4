package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// valueNode is state/<unit>/value.bin: a window onto state.bin. Reads
// are spliced from the STORE file at the unit's offset, so a large unit
// is never held in memory.
type valueNode struct {
	fusefs.Inode
	readOnly
	t    *tree
	snap *snapName
	unit string
	slot uint64
}

var (
	_ = (fusefs.NodeOpener)((*valueNode)(nil))
	_ = (fusefs.NodeGetattrer)((*valueNode)(nil))
)

func (v *valueNode) window(ctx context.Context) (*Snap, int64, int64, syscall.Errno) {
	sn, err := v.t.store.Snapshot(v.snap.get())
	if err != nil {
		return nil, 0, 0, toErrno(ctx, "value", err)
	}
	idx, i, err := findUnit(sn, v.unit)
	if err != nil {
		return nil, 0, 0, toErrno(ctx, "value", err)
	}
	return sn, idx.Units[i].ValueOff, idx.Units[i].ValueLen, 0
}

func (v *valueNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	sn, _, n, errno := v.window(ctx)
	if errno != 0 {
		return errno
	}
	setView(out, ino(sn.Ino(), v.slot), int(n), &sn.File(fileState).st)
	return 0
}

func (v *valueNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*sliceHandle); ok {
		out.Attr = h.attr // an open value stays what it was, even if its snapshot goes
		return 0
	}
	return v.attr(ctx, &out.Attr)
}

func (v *valueNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if wantsWrite(flags) {
		return nil, 0, syscall.EROFS
	}
	sn, off, n, errno := v.window(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	release, err := v.t.fds.take(ctx)
	if err != nil {
		return nil, 0, toErrno(ctx, "open", err)
	}
	fd, err := v.t.store.openBeneath(v.snap.get()+"/state.bin", unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		release()
		return nil, 0, toErrno(ctx, "open", err)
	}
	// The window is only right for the state.bin it was indexed from.
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Ino != sn.File(fileState).st.Ino {
		unix.Close(fd)
		release()
		return nil, 0, syscall.ESTALE
	}
	h := &sliceHandle{f: os.NewFile(uintptr(fd), "state.bin"), base: off, size: n, release: release}
	setView(&h.attr, ino(sn.Ino(), v.slot), int(n), &sn.File(fileState).st)
	return h, v.t.keepCache(), 0
}

// sliceHandle reads [base, base+size) of a STORE file.
type sliceHandle struct {
	f       *os.File
	release func() // gives back the opener's fd quota
	base    int64
	size    int64
	attr    fuse.Attr // as at open
}

var (
	_ = (fusefs.FileReader)((*sliceHandle)(nil))
	_ = (fusefs.FileReleaser)((*sliceHandle)(nil))
)

func (h *sliceHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= h.size {
		return fuse.ReadResultData(nil), 0
	}
	n := int64(len(dest))
	if off+n > h.size {
		n = h.size - off
	}
	return fuse.ReadResultFd(h.f.Fd(), h.base+off, int(n)), 0
}

func (h *sliceHandle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	h.release()
	return 0
}
