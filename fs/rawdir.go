package fs

import (
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// zeroOpendir lets the kernel open directories without asking the daemon
// (FUSE's no-opendir support). It answers the first OPENDIR with ENOSYS;
// from then on the kernel opens every directory by itself and caches its
// listing (KEEP_CACHE, CACHE_DIR) until told otherwise, so a second walk
// of the tree costs no OPENDIR and RELEASEDIR round trips. READDIR then
// arrives without a handle, and is served through one opened inside the
// daemon for the length of the call.
//
// It is only on while a watcher turns every change into a notification:
// nothing else would ever refresh a cached listing.
type zeroOpendir struct {
	fuse.RawFileSystem
	on bool

	mu      sync.Mutex
	cursors map[uint64]*dirCursor // by directory node
}

func (z *zeroOpendir) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if z.on {
		return fuse.ENOSYS
	}
	return z.RawFileSystem.OpenDir(cancel, in, out)
}

func (z *zeroOpendir) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return z.withHandle(cancel, in, out, func(in *fuse.ReadIn) fuse.Status {
		return z.RawFileSystem.ReadDir(cancel, in, out)
	})
}

func (z *zeroOpendir) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return z.withHandle(cancel, in, out, func(in *fuse.ReadIn) fuse.Status {
		return z.RawFileSystem.ReadDirPlus(cancel, in, out)
	})
}

func (z *zeroOpendir) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	if in.Fh == 0 {
		return fuse.OK // nothing of the daemon's to sync
	}
	return z.RawFileSystem.FsyncDir(cancel, in)
}

// withHandle runs read with a directory handle: the kernel's, or one the
// daemon opened when the kernel opened the directory itself. That handle
// is kept between the READDIR batches of one listing (a cursor), so a
// large directory is listed once, not once per batch. It goes when the
// listing ends, when a new one starts at offset 0, or after cursorIdle.
func (z *zeroOpendir) withHandle(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, read func(*fuse.ReadIn) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		return read(in)
	}
	c, st := z.cursor(cancel, in)
	if !st.Ok() {
		return st
	}
	withFh := *in
	withFh.Fh = c.fh
	st = read(&withFh)
	c.used = time.Now()
	done := !st.Ok() || out.Offset == in.Offset // nothing more: the end
	c.mu.Unlock()
	if done {
		z.drop(c)
	}
	return st
}

// cursorIdle is how long an unfinished listing keeps its handle.
const cursorIdle = 30 * time.Second

// dirCursor is the daemon's handle of a directory being listed.
type dirCursor struct {
	mu   sync.Mutex // one READDIR at a time (go-fuse seeks if offsets differ)
	node uint64
	fh   uint64 // 0 once released
	used time.Time
}

// cursor returns the locked cursor of the directory in.NodeId: the
// current one while the listing goes on (offset > 0), else a new one.
func (z *zeroOpendir) cursor(cancel <-chan struct{}, in *fuse.ReadIn) (*dirCursor, fuse.Status) {
	if in.Offset > 0 {
		z.mu.Lock()
		c := z.cursors[in.NodeId]
		z.mu.Unlock()
		if c != nil {
			c.mu.Lock()
			if c.fh != 0 {
				return c, fuse.OK
			}
			c.mu.Unlock()
		}
	}
	z.sweep(in.NodeId)
	var open fuse.OpenOut
	st := z.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader, Flags: syscall.O_RDONLY}, &open)
	if !st.Ok() {
		return nil, st
	}
	c := &dirCursor{node: in.NodeId, fh: open.Fh, used: time.Now()}
	c.mu.Lock()
	z.mu.Lock()
	if z.cursors == nil {
		z.cursors = map[uint64]*dirCursor{}
	}
	old := z.cursors[in.NodeId]
	z.cursors[in.NodeId] = c
	z.mu.Unlock()
	if old != nil {
		z.drop(old)
	}
	return c, fuse.OK
}

// sweep drops the cursor of node and every idle one.
func (z *zeroOpendir) sweep(node uint64) {
	var stale []*dirCursor
	z.mu.Lock()
	for id, c := range z.cursors {
		if id == node || time.Since(c.used) > cursorIdle {
			stale = append(stale, c)
		}
	}
	z.mu.Unlock()
	for _, c := range stale {
		z.drop(c)
	}
}

// drop forgets c and closes its handle once no READDIR uses it.
func (z *zeroOpendir) drop(c *dirCursor) {
	z.mu.Lock()
	if z.cursors[c.node] == c {
		delete(z.cursors, c.node)
	}
	z.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fh != 0 {
		z.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: c.node}, Fh: c.fh})
		c.fh = 0
	}
}
