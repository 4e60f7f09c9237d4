package fs

import (
	"context"
	"os"
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// backingNode is manifest.bin, state.bin or memory.bin of a published
// snapshot: the STORE file itself. Opening it hands the STORE fd to the
// kernel (FUSE passthrough), so reads and mmap never reach the daemon;
// without passthrough, reads are spliced from the fd.
type backingNode struct {
	fusefs.Inode
	readOnly
	t    *tree
	snap *snapName
	file int // fileManifest, fileState or fileMemory

	mu     sync.Mutex
	seen   fileStat // the version last opened, to keep the page cache
	opens  int      // open handles of this node
	clones int      // of which restore clones (memory.bin; clone.go)
}

var (
	_ = (fusefs.NodeOpener)((*backingNode)(nil))
	_ = (fusefs.NodeGetattrer)((*backingNode)(nil))
	_ = (fusefs.NodeLseeker)((*backingNode)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*backingNode)(nil))
	_ = (fusefs.NodeWriter)((*backingNode)(nil))
	_ = (fusefs.NodeAllocater)((*backingNode)(nil))
)

// Write reaches only a restore clone; the snapshot is read-only.
func (b *backingNode) Write(ctx context.Context, f fusefs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	if h, ok := cloneOf(f); ok {
		return h.Write(ctx, data, off)
	}
	return 0, syscall.EROFS
}

// Allocate reaches only a restore clone; the snapshot is read-only.
func (b *backingNode) Allocate(ctx context.Context, f fusefs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	if h, ok := cloneOf(f); ok {
		return toErrno(ctx, "fallocate", allocate(ctx, h.charge, h.fd(), off, size, mode))
	}
	return syscall.EROFS
}

// cloneOf returns the restore clone f is, if it is one.
func cloneOf(f fusefs.FileHandle) (*cloneHandle, bool) {
	switch h := f.(type) {
	case *cloneHandle:
		return h, true
	case noPassthroughClone:
		return h.cloneHandle, true
	}
	return nil, false
}

// restorePerm gives memory.bin a write bit wherever it has a read bit:
// writes only ever reach the opener's private clone, so whoever may read
// a snapshot may restore it.
func restorePerm(out *fuse.Attr) {
	out.Mode |= (out.Mode & 0o444) >> 1
}

// CopyFileRange from a published file into a staged one stays inside
// the store's filesystem.
func (b *backingNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, n uint64, flags uint64) (uint32, syscall.Errno) {
	return copyRange(ctx, fhIn, offIn, fhOut, offOut, n)
}

var backingSlots = [3]uint64{slotManifestBin, slotStateBin, slotMemoryBin}

func (b *backingNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	sn, err := b.t.store.Snapshot(b.snap.get())
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	if b.file == fileMemory {
		if sn, err = b.t.store.recheckMemory(sn); err != nil {
			return toErrno(ctx, "getattr", err)
		}
	}
	f := sn.File(b.file)
	if f.err != nil {
		return toErrno(ctx, "getattr", f.err)
	}
	setBacking(out, ino(sn.Ino(), backingSlots[b.file]), &f.st)
	if b.file == fileMemory {
		restorePerm(out)
	}
	return 0
}

func (b *backingNode) Getattr(ctx context.Context, f fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if b.file == fileMemory {
		// A restored VM writes memory.bin through mmap, which no
		// notification reports: its times are always asked for.
		out.SetTimeout(volatile)
	}
	var fd int
	switch h := f.(type) {
	case *backingHandle:
		fd = h.fd()
	case *passthroughHandle:
		fd = h.fd()
	default:
		if c, ok := cloneOf(f); ok {
			fd = c.fd() // the clone's own times, as its writer expects
		} else {
			return b.attr(ctx, &out.Attr)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setBacking(&out.Attr, b.StableAttr().Ino, &st)
	if b.file == fileMemory {
		restorePerm(&out.Attr)
	}
	return 0
}

// Open hands out the STORE file, or for a read-write open of memory.bin
// a private clone of it (clone.go). Every other write is EROFS.
func (b *backingNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	if wantsWrite(flags) {
		if b.file == fileMemory && flags&syscall.O_ACCMODE == syscall.O_RDWR && flags&(syscall.O_TRUNC|syscall.O_APPEND) == 0 {
			return b.openRestore(ctx)
		}
		return nil, 0, syscall.EROFS
	}
	b.mu.Lock()
	if b.clones > 0 {
		b.mu.Unlock()
		return nil, 0, syscall.ESTALE // this inode serves a clone (clone.go)
	}
	b.opens++
	b.mu.Unlock()
	release, err := b.t.fds.take(ctx)
	if err != nil {
		b.closed(false)
		return nil, 0, toErrno(ctx, "open", err)
	}
	taken := release
	release = func() { taken(); b.closed(false) }
	fd, err := b.t.store.openBeneath(b.snap.get()+"/"+sourceFiles[b.file], unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		release()
		return nil, 0, toErrno(ctx, "open", err)
	}
	var cur fileStat
	if err := unix.Fstat(fd, &cur.st); err != nil || cur.st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		release()
		return nil, 0, syscall.EACCES
	}
	h := &backingHandle{f: os.NewFile(uintptr(fd), sourceFiles[b.file]), release: release}
	// Unchanged since the last open: the kernel may keep its cached pages.
	b.mu.Lock()
	keep := b.seen.same(&cur)
	b.seen = cur
	b.mu.Unlock()
	var fuseFlags uint32
	if keep {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE
	}
	if b.t.opts.NoPassthrough {
		return h, fuseFlags, 0
	}
	return &passthroughHandle{h}, fuseFlags, 0
}

func (b *backingNode) Lseek(ctx context.Context, f fusefs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	h, ok := f.(interface{ fd() int })
	if !ok {
		return 0, syscall.EBADF
	}
	n, err := unix.Seek(h.fd(), int64(off), int(whence))
	if err != nil {
		return 0, toErrno(ctx, "lseek", err)
	}
	return uint64(n), 0
}
