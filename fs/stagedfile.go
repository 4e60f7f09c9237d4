package fs

import (
	"context"
	"os"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// stagedFileNode is a file being written into new/<name>/. It is the
// STORE file itself: reads and writes go to the kernel through
// passthrough where it can, and the daemon only sees opens, closes and
// attribute changes, which are what the commit delay watches. It is bound
// to the STORE inode it was looked up as: once its name holds another
// file, only its open handles still reach it.
type stagedFileNode struct {
	fusefs.Inode
	t       *tree
	created place  // at lookup, before the node is in the tree
	ino     uint64 // STORE inode of the file
}

var (
	_ = (fusefs.NodeGetattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeSetattrer)((*stagedFileNode)(nil))
	_ = (fusefs.NodeOpener)((*stagedFileNode)(nil))
	_ = (fusefs.NodeCopyFileRanger)((*stagedFileNode)(nil))
)

// where is the file's place, from the tree while the node is in it.
func (f *stagedFileNode) where() place {
	if p, ok := placeOf(f.EmbeddedInode()); ok {
		return p
	}
	return f.created
}

// openPath opens the file for attribute calls (O_PATH: no data access).
func (f *stagedFileNode) openPath() (int, error) {
	p := f.where()
	dir, err := f.t.stage.openDirOf(p)
	if err != nil {
		return -1, err
	}
	defer dir.Close()
	return openEntry(dir, p.base(), unix.O_PATH, f.ino)
}

// change runs fn on the file's directory while nothing else changes the
// staging directory.
func (f *stagedFileNode) change(fn func(st *stage, dir *os.File, name string) error) error {
	p := f.where()
	return f.t.stage.changeAt(p, func(st *stage, dir *os.File) error { return fn(st, dir, p.base()) })
}

func (f *stagedFileNode) attr(ctx context.Context, out *fuse.Attr) syscall.Errno {
	fd, err := f.openPath()
	if err != nil {
		return toErrno(ctx, "getattr", err)
	}
	defer unix.Close(fd)
	return fdAttr(ctx, fd, out)
}

// fdAttr fills out from the staged file fd holds, links included (0 once
// it is unlinked).
func fdAttr(ctx context.Context, fd int, out *fuse.Attr) syscall.Errno {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return toErrno(ctx, "getattr", err)
	}
	setBacking(out, ino(st.Ino, slotStaged), &st)
	out.Nlink = uint32(st.Nlink)
	return 0
}

func (f *stagedFileNode) Getattr(ctx context.Context, fh fusefs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.SetTimeout(volatile)
	if h, ok := fh.(*stagedHandle); ok {
		return fdAttr(ctx, h.fd, &out.Attr)
	}
	return f.attr(ctx, &out.Attr)
}

// Setattr changes the file the handle holds when the request carries
// one, else the file this node is; never whatever its name holds now.
func (f *stagedFileNode) Setattr(ctx context.Context, fh fusefs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	uid, _ := callerOf(ctx)
	err := f.change(func(_ *stage, dir *os.File, name string) error {
		if h, ok := fh.(*stagedHandle); ok {
			if err := f.t.stage.frozen(h.fd, name); err != nil {
				return err
			}
			if !writable(h.fd) {
				// A reader's handle holds no writer's lock (crosslock.go).
				unlock, err := f.t.stage.guard(f.where(), dir, name, h.fd, true)
				if err != nil {
					return err
				}
				defer unlock()
			}
			if size, ok := in.GetSize(); ok {
				if err := truncate(ctx, h.charge, h.fd, size); err != nil {
					return err
				}
				if err := killPriv(h.fd, uid); err != nil {
					return err
				}
			}
			return setattrFd(h.fd, in)
		}
		fd, done, err := f.pathFd(dir, name)
		if err != nil {
			return err
		}
		defer done()
		if size, ok := in.GetSize(); ok {
			wfd, err := openEntry(dir, name, unix.O_WRONLY, f.ino)
			if err != nil {
				return err
			}
			c, err := f.t.bytes.open(wfd, false)
			if err == nil {
				err = truncate(ctx, c, wfd, size)
				c.close()
			}
			if err == nil {
				err = killPriv(wfd, uid)
			}
			unix.Close(wfd)
			if err != nil {
				return err
			}
		}
		return setattrFd(fd, in)
	})
	if err != nil {
		return toErrno(ctx, "setattr", err)
	}
	return f.Getattr(ctx, fh, out)
}

// truncate sets the size of the staged file fd as the caller; it
// allocates nothing, but its blocks freed or taken are counted.
func truncate(ctx context.Context, c *charged, fd int, size uint64) error {
	return userWrite(ctx, c, 0, 0, func() error { return unix.Ftruncate(fd, int64(size)) })
}

// Open opens the file this node is. An open for writing is counted under
// the staging directory's lock, so it cannot slip in while the directory
// is validated and published.
func (f *stagedFileNode) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	release, err := f.t.fds.take(ctx)
	if err != nil {
		return nil, 0, toErrno(ctx, "open", err)
	}
	var h *stagedHandle
	uid, _ := callerOf(ctx)
	open := func(st *stage, dir *os.File, name string) error {
		var fd int
		var err error
		if wantsWrite(flags) {
			// Refused here before anything is opened for writing; then
			// locked against other daemons' publishing (crosslock.go).
			if fd, err = openEntry(dir, name, unix.O_PATH, f.ino); err != nil {
				return err
			}
			err = f.t.stage.frozen(fd, name)
			unix.Close(fd)
			if err == nil {
				fd, err = f.t.stage.openWriter(f.where(), dir, name, int(flags), f.ino, uid)
			}
		} else {
			fd, err = openEntry(dir, name, int(flags)&^unix.O_CREAT, f.ino)
		}
		if err != nil {
			return err
		}
		h, err = newStagedHandle(f.t, st, fd, flags, release)
		return err
	}
	if wantsWrite(flags) {
		err = f.change(open)
	} else {
		// A reader changes nothing: no lock, and no new commit delay.
		p := f.where()
		var dir *os.File
		if dir, err = f.t.stage.openDirOf(p); err == nil {
			err = open(nil, dir, p.base())
			dir.Close()
		}
	}
	if err != nil {
		release()
		return nil, 0, toErrno(ctx, "open", err)
	}
	if errno := handOut(ctx, h); errno != 0 {
		return nil, 0, errno
	}
	return h, 0, 0
}

// handOut makes the thread wear the caller's credentials before h, a
// staged file just opened or made, is returned: last, after all STORE
// work, as the kernel's passthrough writes to h are the caller's
// (creds.go). On failure h is released.
func handOut(ctx context.Context, h *stagedHandle) syscall.Errno {
	if err := becomeCaller(ctx, h.fd); err != nil {
		h.Release(ctx) // gives back the fd quota too
		return toErrno(ctx, "open", err)
	}
	return 0
}

// CopyFileRange copies between two files of the mount inside the
// store's filesystem (a reflink where it can), never through the daemon.
func (f *stagedFileNode) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, n uint64, flags uint64) (uint32, syscall.Errno) {
	return copyRange(ctx, fhIn, offIn, fhOut, offOut, n)
}

func copyRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, fhOut fusefs.FileHandle, offOut uint64, n uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(interface{ fdOf() int })
	out, ok2 := fhOut.(*stagedHandle)
	if !ok1 || !ok2 {
		return 0, syscall.EXDEV
	}
	ri, ro := int64(offIn), int64(offOut)
	if n > 1<<30 {
		n = 1 << 30
	}
	var c int
	err := userWrite(ctx, out.charge, ro, int64(n), func() (err error) {
		c, err = unix.CopyFileRange(in.fdOf(), &ri, out.fd, &ro, int(n), 0)
		return err
	})
	if err != nil {
		return 0, toErrno(ctx, "copy_file_range", err)
	}
	return uint32(c), 0
}
