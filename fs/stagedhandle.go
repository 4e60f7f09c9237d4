package fs

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// stagedHandle is an open staged file: go-fuse's loopback file for the
// data path, plus the bookkeeping the commit delay needs (a publish
// waits until no staged file is open for writing).
type stagedHandle struct {
	*fusefs.LoopbackFile
	t      *tree
	fd     int
	stage  string
	writer bool
}

var (
	_ = (fusefs.FileReleaser)((*stagedHandle)(nil))
	_ = (fusefs.FilePassthroughFder)((*stagedHandle)(nil))
)

func newStagedHandle(t *tree, stage string, fd int, flags uint32) *stagedHandle {
	h := &stagedHandle{
		LoopbackFile: fusefs.NewLoopbackFile(fd).(*fusefs.LoopbackFile),
		t:            t,
		fd:           fd,
		stage:        stage,
		writer:       flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0,
	}
	if h.writer {
		t.stage.opened(stage)
	}
	return h
}

func (h *stagedHandle) fdOf() int { return h.fd }

func (h *stagedHandle) PassthroughFd() (int, bool) {
	if h.t.opts.NoPassthrough {
		return -1, false
	}
	return h.fd, true
}

func (h *stagedHandle) Release(ctx context.Context) syscall.Errno {
	errno := h.LoopbackFile.Release(ctx)
	if h.writer {
		h.t.stage.closed(h.stage)
	}
	return errno
}
