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
	stage   *stage   // nil for a reader
	ino     uint64   // STORE inode, for a writer
	release func()   // gives back the caller's fd quota
	charge  *charged // a writer's bytes, with a byte limit (stagedbytes.go)
}

var (
	_ = (fusefs.FileReleaser)((*stagedHandle)(nil))
	_ = (fusefs.FilePassthroughFder)((*stagedHandle)(nil))
	_ = (fusefs.FileWriter)((*stagedHandle)(nil))
	_ = (fusefs.FileWritever)((*stagedHandle)(nil))
	_ = (fusefs.FileAllocater)((*stagedHandle)(nil))
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
		c, err := t.bytes.open(fd, false)
		if err != nil {
			unix.Close(fd)
			return nil, err
		}
		if err := t.stage.opened(st, &fst); err != nil {
			c.close()
			unix.Close(fd)
			return nil, err
		}
		h.stage, h.ino, h.charge = st, fst.Ino, c
	}
	return h, nil
}

func (h *stagedHandle) fdOf() int { return h.fd }

func (h *stagedHandle) PassthroughFd() (int, bool) {
	if !h.t.passthroughWrites() {
		return -1, false
	}
	return h.fd, true
}

// Write, Writev and Allocate are the writes the daemon serves (no
// passthrough): as the caller (creds.go), within the owner's byte limit.
func (h *stagedHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	var n int
	err := userWrite(ctx, h.charge, off, int64(len(data)), func() (err error) {
		n, err = unix.Pwrite(h.fd, data, off)
		return err
	})
	return uint32(max(n, 0)), toErrno(ctx, "write", err)
}

func (h *stagedHandle) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	size := 0
	for _, b := range data {
		size += len(b)
	}
	var n int
	err := userWrite(ctx, h.charge, off, int64(size), func() (err error) {
		n, err = unix.Pwritev(h.fd, data, off)
		return err
	})
	return uint32(max(n, 0)), toErrno(ctx, "write", err)
}

func (h *stagedHandle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return toErrno(ctx, "fallocate", allocate(ctx, h.charge, h.fd, off, size, mode))
}

// allocate is fallocate(2) on fd for the caller of ctx.
func allocate(ctx context.Context, c *charged, fd int, off, size uint64, mode uint32) error {
	n := int64(size)
	if mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_COLLAPSE_RANGE|unix.FALLOC_FL_INSERT_RANGE) != 0 {
		n = 0 // frees, or moves what is there
	}
	return userWrite(ctx, c, int64(off), n, func() error {
		return unix.Fallocate(fd, mode, int64(off), int64(size))
	})
}

func (h *stagedHandle) Release(ctx context.Context) syscall.Errno {
	if h.stage != nil {
		startWriteback(h.fd)
	}
	errno := h.LoopbackFile.Release(ctx)
	h.charge.close()
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
