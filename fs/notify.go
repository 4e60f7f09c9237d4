package fs

import (
	"sync"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Kernel notifications.
//
// An entry invalidation (NOTIFY_INVAL_ENTRY) takes the directory's inode
// lock in the kernel; a request that changes the directory (RENAME, MKDIR,
// CREATE, ...) holds that lock until the daemon answers. Sent while such a
// request is in flight, the notification waits for it; and if the daemon
// dies meanwhile, the notifying thread is stuck in the kernel for good and
// the mount with it. So every notification goes through the notifier,
// which sends nothing while a directory-changing request is in flight
// (dirOps counts them, in the raw layer), and nothing from a request.
//
// Entries are invalidated only when what they name changed: an unhashed
// directory entry breaks getcwd() for every process standing in it. A
// directory whose name still names it only has its attributes and
// listing refreshed (NOTIFY_INVAL_INODE), and eviction asks the kernel
// to forget (NOTIFY_PRUNE), which it does only for what is unused.

// notifier serialises kernel notifications behind in-flight requests.
type notifier struct {
	mu     sync.Mutex
	cond   *sync.Cond
	dirOps int // directory-changing requests in flight
}

func newNotifier() *notifier {
	n := &notifier{}
	n.cond = sync.NewCond(&n.mu)
	return n
}

// begin and end bracket a directory-changing request.
func (n *notifier) begin() {
	n.mu.Lock()
	n.dirOps++
	n.mu.Unlock()
}

func (n *notifier) end() {
	n.mu.Lock()
	if n.dirOps--; n.dirOps == 0 {
		n.cond.Broadcast()
	}
	n.mu.Unlock()
}

// quiet waits until no directory-changing request is in flight. The
// caller then sends its notifications; a request that starts meanwhile
// waits for the kernel lock the notification briefly holds, which is
// harmless (only the reverse order can wedge).
func (n *notifier) quiet() {
	n.mu.Lock()
	for n.dirOps > 0 {
		n.cond.Wait()
	}
	n.mu.Unlock()
}

// entry invalidates name in dir, once no request could hold dir's lock.
func (n *notifier) entry(dir *fusefs.Inode, name string) {
	n.quiet()
	dir.NotifyEntry(name)
}

// tracked is the raw layer's view of the notifier: it counts the
// requests that take a directory's lock.
type tracked struct {
	fuse.RawFileSystem
	n *notifier
}

func (r *tracked) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (r *tracked) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Mknod(cancel, in, name, out)
}

func (r *tracked) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Create(cancel, in, name, out)
}

func (r *tracked) Unlink(cancel <-chan struct{}, in *fuse.InHeader, name string) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Unlink(cancel, in, name)
}

func (r *tracked) Rmdir(cancel <-chan struct{}, in *fuse.InHeader, name string) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Rmdir(cancel, in, name)
}

func (r *tracked) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func (r *tracked) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Link(cancel, in, name, out)
}

func (r *tracked) Symlink(cancel <-chan struct{}, header *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	r.n.begin()
	defer r.n.end()
	return r.RawFileSystem.Symlink(cancel, header, target, name, out)
}

// prune asks the kernel to forget nodes and everything below them, where
// nothing uses them; a directory a process stands in stays.
func (n *notifier) prune(root *fusefs.Inode, nodes []*fusefs.Inode) syscall.Errno {
	var all []*fusefs.Inode
	var walk func(*fusefs.Inode)
	walk = func(x *fusefs.Inode) {
		for _, ch := range x.Children() {
			walk(ch)
		}
		all = append(all, x) // children first: they hold their parent
	}
	for _, x := range nodes {
		walk(x)
	}
	for len(all) > 0 {
		k := min(len(all), 256)
		if errno := root.NotifyPrune(all[:k]); errno != 0 {
			return errno
		}
		all = all[k:]
	}
	return 0
}
