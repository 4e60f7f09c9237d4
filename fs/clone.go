package fs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Restoring from the mount: OpenVMM opens memory.bin read-write and maps
// it shared, and the guest writes its RAM from the first instruction. A
// read-write open of a published memory.bin therefore gets a private
// copy-on-write clone of it: an O_TMPFILE on STORE's filesystem (no name,
// so it goes with the last close, a killed daemon or a crash), filled
// with FICLONE where the filesystem shares blocks (XFS, btrfs: instant,
// any size) and else with a sparse copy of the data regions.
//
// The kernel allows one backing file per inode for passthrough and keeps
// one page cache per inode, so a clone needs an inode of its own: the
// kernel never caches the entry of memory.bin and looks it up at every
// open, and a lookup makes a new node (memoryGen) whenever the current one
// is open. An inode that two opens share anyway (restores whose lookups
// all came before any open, or a reopen through /proc) serves a clone only
// alone: mixing it with any other open answers ESTALE, on which the kernel
// walks the path once more, revalidating memory.bin, and the lookup finds
// the node open and makes a new one. The kernel retries once: of many
// restores started in the same instant, one may still see ESTALE (seen
// once in 200 rounds of 8).

// cloneHandle is an open clone: reads and writes go to it (through
// passthrough where the kernel can), never to STORE.
type cloneHandle struct {
	f       *os.File
	release func()   // gives back the opener's fd quota
	charge  *charged // its bytes, with a byte limit (stagedbytes.go)
}

var (
	_ = (fusefs.FileReader)((*cloneHandle)(nil))
	_ = (fusefs.FileWriter)((*cloneHandle)(nil))
	_ = (fusefs.FileFsyncer)((*cloneHandle)(nil))
	_ = (fusefs.FileReleaser)((*cloneHandle)(nil))
	_ = (fusefs.FilePassthroughFder)((*cloneHandle)(nil))
)

func (h *cloneHandle) fd() int   { return int(h.f.Fd()) }
func (h *cloneHandle) fdOf() int { return h.fd() }

func (h *cloneHandle) PassthroughFd() (int, bool) { return h.fd(), true }

func (h *cloneHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(h.f.Fd(), off, len(dest)), 0
}

// Write is a write the daemon serves (no passthrough): as the caller
// (creds.go), within their byte limit.
func (h *cloneHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	var n int
	err := userWrite(ctx, h.charge, off, int64(len(data)), func() (err error) {
		n, err = unix.Pwrite(h.fd(), data, off)
		return err
	})
	return uint32(max(n, 0)), toErrno(ctx, "write", err)
}

func (h *cloneHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return toErrno(ctx, "fsync", unix.Fdatasync(h.fd()))
}

func (h *cloneHandle) Release(ctx context.Context) syscall.Errno {
	h.charge.close()
	h.f.Close()
	h.release()
	return 0
}

// noPassthroughClone is a clone the daemon serves (--no-passthrough).
type noPassthroughClone struct{ *cloneHandle }

func (noPassthroughClone) PassthroughFd() (int, bool) { return -1, false }

// newClone makes the file of a private clone for the snapshot name, empty
// and owned by uid and gid: the restoring user pays for its blocks
// (quotas), never root.
func (s *Store) newClone(name string, uid, gid uint32) (*os.File, error) {
	own := func(fd int) error {
		if err := unix.Fchown(fd, int(uid), int(gid)); err != nil {
			return fmt.Errorf("giving it to uid %d: %w", uid, err)
		}
		return nil
	}
	fd, err := openAt(s.fd, ".", unix.O_TMPFILE|unix.O_RDWR, 0o600)
	if err == nil {
		if err = own(fd); err != nil {
			unix.Close(fd)
		}
	} else if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		fd, err = s.namedTemp(own) // GlusterFS, NFS, ...: no O_TMPFILE
	}
	if err != nil {
		return nil, fmt.Errorf("restore clone of %s/memory.bin: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name+"/memory.bin (clone)"), nil
}

// fillClone fills the clone fd of the snapshot name with the published
// file src (open, of size bytes).
func fillClone(name string, fd, src int, size int64) error {
	start := time.Now()
	if err := unix.IoctlFileClone(fd, src); err == nil {
		slog.Debug("restore clone", "snapshot", name, "reflink", true, "took", time.Since(start))
		return nil
	}
	copied, err := sparseCopy(fd, src, size)
	if err != nil {
		return fmt.Errorf("restore clone of %s/memory.bin: %w", name, err)
	}
	slog.Info("restore clone copied (no reflink on STORE's filesystem)", "snapshot", name,
		"size", size, "copied", copied, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// onFUSE reports whether STORE is on a FUSE filesystem.
func (s *Store) onFUSE() bool {
	var st unix.Statfs_t
	return unix.Fstatfs(s.fd, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC
}

// cloneDirName is the hidden STORE directory where restore clones get a
// name for an instant on a filesystem without O_TMPFILE.
const cloneDirName = ".snapfs-clones"

// namedTemp makes an O_TMPFILE without O_TMPFILE: a file of a fresh name
// in STORE/.snapfs-clones, given to its owner by own and unlinked right
// after it is made, through the directory's fd. A crash in between leaves a file there that the next
// clone's creation sweeps (sweepClones).
func (s *Store) namedTemp(own func(fd int) error) (int, error) {
	if err := unix.Mkdirat(s.fd, cloneDirName, 0o700); err != nil && err != unix.EEXIST {
		return -1, err
	}
	dir, err := openDirAt(s.fd, cloneDirName)
	if err != nil {
		return -1, err
	}
	defer dir.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return -1, err
	}
	if st.Uid != uint32(os.Geteuid()) || st.Mode&0o077 != 0 {
		return -1, fmt.Errorf("%s: not the daemon's private directory (owner %d, mode %#o)", cloneDirName, st.Uid, st.Mode&0o7777)
	}
	sweepClones(dir)
	for i := 0; ; i++ {
		name := fmt.Sprintf("clone-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), i)
		fd, err := openAt(int(dir.Fd()), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
		if errors.Is(err, unix.EEXIST) && i < 100 {
			continue
		}
		if err != nil {
			return -1, err
		}
		// Owned while it still has a name: GlusterFS answers ESTALE to a
		// chown of an unlinked file.
		err = own(fd)
		if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}
}

// sweepClones removes clone files left by a crash between creation and
// unlink: only those older than a minute, as another host's daemon may
// be between the two right now.
func sweepClones(dir *os.File) {
	names, err := entryNames(dir)
	if err != nil {
		return
	}
	for _, n := range names {
		st, err := statEntry(dir, n)
		if err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && time.Since(time.Unix(st.Ctim.Unix())) > time.Minute {
			unix.Unlinkat(int(dir.Fd()), n, 0)
		}
	}
}

// sparseCopy copies the data regions of src into dst, which becomes size
// bytes long with holes where src has them. It returns the bytes copied.
func sparseCopy(dst, src int, size int64) (int64, error) {
	if err := unix.Ftruncate(dst, size); err != nil {
		return 0, err
	}
	var copied int64
	for off := int64(0); off < size; {
		data, err := unix.Seek(src, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return copied, err
		}
		hole, err := unix.Seek(src, data, unix.SEEK_HOLE)
		if err != nil {
			return copied, err
		}
		if hole > size {
			hole = size
		}
		for in, out := data, data; in < hole; {
			n, err := unix.CopyFileRange(src, &in, dst, &out, int(min(hole-in, 1<<30)), 0)
			if err != nil {
				return copied, err
			}
			if n == 0 {
				return copied, fmt.Errorf("memory.bin shrank while being copied")
			}
			copied += int64(n)
		}
		off = hole
	}
	return copied, nil
}

// openRestore answers a read-write open of memory.bin with a clone.
func (b *backingNode) openRestore(ctx context.Context) (fusefs.FileHandle, uint32, syscall.Errno) {
	b.mu.Lock()
	if b.opens > 0 {
		b.mu.Unlock()
		return nil, 0, syscall.ESTALE // see the package comment above
	}
	b.opens++
	b.clones++
	b.mu.Unlock()
	h, errno := b.clone(ctx)
	if errno != 0 {
		return nil, 0, errno
	}
	if !b.t.passthroughWrites() || b.t.store.onFUSE() {
		// The kernel refuses a clone on a FUSE filesystem (GlusterFS)
		// as a passthrough backing file: the daemon serves it.
		return noPassthroughClone{h}, 0, 0
	}
	return h, 0, 0
}

func (b *backingNode) clone(ctx context.Context) (*cloneHandle, syscall.Errno) {
	taken, err := b.t.fds.take(ctx)
	if err != nil {
		b.closed(true)
		return nil, toErrno(ctx, "open", err)
	}
	release := func() { taken(); b.closed(true) }
	src, err := b.t.store.openBeneath(b.snap.get()+"/memory.bin", unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		release()
		return nil, toErrno(ctx, "open", err)
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		release()
		return nil, syscall.EACCES
	}
	uid, gid := callerOf(ctx)
	name := b.snap.get()
	f, err := b.t.store.newClone(name, uid, gid)
	if err != nil {
		release()
		return nil, toErrno(ctx, "open", err)
	}
	h := &cloneHandle{f: f, release: release}
	h.charge, err = b.t.bytes.open(h.fd(), true)
	if err == nil {
		// The fill allocates, so it is the caller's; so are the kernel's
		// passthrough writes after the open (creds.go): this thread keeps
		// the caller's credentials until the reply.
		err = becomeCaller(ctx, h.fd())
	}
	if err == nil {
		err = h.charge.write(0, allocated(&st), func() error { return fillClone(name, h.fd(), src, st.Size) })
	}
	if err != nil {
		h.Release(ctx)
		return nil, toErrno(ctx, "open", err)
	}
	return h, 0
}

// idle reports whether no handle of this node is open: its next open may
// be a clone, or a reader, without sharing the inode.
func (b *backingNode) idle() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opens == 0
}

// closed counts an open of this node gone.
func (b *backingNode) closed(clone bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opens--
	if clone {
		b.clones--
	}
}

// memoryGens makes every lookup of a memory.bin a new node (see above).
var memoryGens atomic.Uint64

// memoryGen is the generation of a new memory.bin node of snapshot name.
func memoryGen(name string) uint64 { return gen(name) | memoryGens.Add(1)<<32 }
