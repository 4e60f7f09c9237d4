package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// stagedHandle is an open staged file: go-fuse's loopback file over the
// fd opened then (it stays bound to that file whatever happens to its
// name), plus the bookkeeping the commit delay needs (a publish waits
// until no staged file is open for writing) and the fd quota.
type stagedHandle struct {
	*fusefs.LoopbackFile
	t       *tree
	fd      int
	stage   *stage // nil for a reader
	ino     uint64 // STORE inode, for a writer
	release func() // gives back the caller's fd quota
}

var (
	_ = (fusefs.FileReleaser)((*stagedHandle)(nil))
	_ = (fusefs.FilePassthroughFder)((*stagedHandle)(nil))
)

// newStagedHandle wraps fd. A writer is counted in st, whose lock the
// caller holds; on an error fd is closed.
func newStagedHandle(t *tree, st *stage, fd int, flags uint32, release func()) (*stagedHandle, error) {
	h := &stagedHandle{
		LoopbackFile: fusefs.NewLoopbackFile(fd).(*fusefs.LoopbackFile),
		t:            t,
		fd:           fd,
		release:      release,
	}
	var fst unix.Stat_t
	if wantsWrite(flags) && st != nil {
		if err := unix.Fstat(fd, &fst); err != nil {
			unix.Close(fd)
			return nil, err
		}
		if err := t.stage.opened(st, &fst); err != nil {
			unix.Close(fd)
			return nil, err
		}
		h.stage, h.ino = st, fst.Ino
	}
	return h, nil
}

func (h *stagedHandle) fdOf() int { return h.fd }

func (h *stagedHandle) PassthroughFd() (int, bool) {
	if h.t.opts.NoPassthrough {
		return -1, false
	}
	return h.fd, true
}

func (h *stagedHandle) Release(ctx context.Context) syscall.Errno {
	if h.stage != nil {
		startWriteback(h.fd)
	}
	errno := h.LoopbackFile.Release(ctx)
	h.release()
	if h.stage != nil {
		h.t.stage.closed(h.stage, h.ino)
	}
	return errno
}

// startWriteback starts writing fd's dirty pages to disk without waiting:
// the publish that follows the commit delay fsyncs every staged file, and
// what is written back during the delay it need not wait for (cp -r of a
// 1 GiB snapshot: the delay overlaps the writeback instead of preceding
// it). A dup keeps the file for the background call after the handle
// closes.
func startWriteback(fd int) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	go func() {
		unix.SyncFileRange(dup, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
		unix.Close(dup)
	}()
}
