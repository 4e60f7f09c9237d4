package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// backingHandle is an open STORE file served by the daemon: reads are
// spliced from the fd, never copied through user space.
type backingHandle struct {
	f       *os.File
	release func() // gives back the opener's fd quota
}

var (
	_ = (fusefs.FileReader)((*backingHandle)(nil))
	_ = (fusefs.FileReleaser)((*backingHandle)(nil))
)

func (h *backingHandle) fd() int { return int(h.f.Fd()) }

func (h *backingHandle) fdOf() int { return h.fd() }

func (h *backingHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(h.f.Fd(), off, len(dest)), 0
}

func (h *backingHandle) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	h.release()
	return 0
}

// passthroughHandle also offers its fd to the kernel, which then serves
// read and mmap itself. go-fuse falls back to Read when the kernel or
// the privileges do not allow passthrough.
type passthroughHandle struct{ *backingHandle }

var _ = (fusefs.FilePassthroughFder)((*passthroughHandle)(nil))

func (h *passthroughHandle) PassthroughFd() (int, bool) { return h.fd(), true }
