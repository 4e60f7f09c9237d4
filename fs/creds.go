package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Writes the daemon causes for a user run with that user's filesystem
// credentials. ext4 lets a writer use its root-reserved blocks when its
// fsuid is s_resuid (0 by default) or its groups hold s_resgid (or it has
// CAP_SYS_RESOURCE, which caps.go drops). The kernel writes to staged
// files and restore clones with the daemon's credentials in two ways:
//
//   - passthrough: FUSE_DEV_IOC_BACKING_OPEN records the credentials of
//     the thread making the ioctl, and every read, write and mmap of the
//     backing file uses them. go-fuse makes it on the goroutine that serves
//     OPEN or CREATE, right after the node's Open or Create returned
//     (rawBridge.addBackingID);
//   - the daemon's own calls on those fds: write, fallocate, truncate,
//     copy_file_range, a clone's fill.
//
// Linux keeps credentials per thread, and the raw setfsuid, setfsgid and
// setgroups calls change only the calling thread (syscall.Setgroups
// changes every thread: never used here). So that work runs on a goroutine
// locked to its OS thread while the thread wears the caller's fsuid and
// fsgid and no supplementary groups (a resgid group then grants nothing
// through the mount; quotas charge the file's owner, which is the caller).
// Go creates no thread from a locked one (it asks its template thread), so
// nothing inherits them. Afterwards the daemon's credentials come back;
// should that fail, the goroutine ends still locked and Go ends the thread.
// Root's own requests, and a daemon that is not root, change nothing.

// fsCreds are a thread's filesystem credentials.
type fsCreds struct {
	uid, gid int
	groups   []int
}

// daemonCreds are what every thread not serving a caller has; read once,
// before any thread changes them.
var daemonCreds = sync.OnceValue(func() fsCreds {
	groups, err := unix.Getgroups()
	if err != nil {
		slog.Warn("cannot read the daemon's groups", "err", err)
	}
	return fsCreds{os.Geteuid(), os.Getegid(), groups}
})

// wearsFor reports whether work for uid changes the thread's credentials.
func wearsFor(uid uint32) bool { return daemonCreds().uid == 0 && uid != 0 }

// setFsCreds gives the calling (locked) thread c and checks it has them:
// setfsuid and setfsgid report no error, only the value before.
func setFsCreds(c fsCreds) error {
	if err := unix.Setgroups(c.groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", c.groups, err)
	}
	unix.SetfsgidRetGid(c.gid)
	unix.SetfsuidRetUid(c.uid)
	uid, _ := unix.SetfsuidRetUid(-1) // -1 changes nothing, returns the current
	gid, _ := unix.SetfsgidRetGid(-1)
	if uid != c.uid || gid != c.gid {
		return fmt.Errorf("filesystem uid:gid %d:%d, want %d:%d: %w", uid, gid, c.uid, c.gid, syscall.EPERM)
	}
	return nil
}

// wear gives the calling thread, which must be locked, the caller's
// filesystem credentials.
func wear(uid, gid uint32) error {
	daemonCreds() // read before the first change
	if err := setFsCreds(fsCreds{uid: int(uid), gid: int(gid)}); err != nil {
		return fmt.Errorf("taking the credentials of uid %d: %w", uid, err)
	}
	return nil
}

// onOwnThread runs fn on a goroutine locked to its OS thread and waits
// for it; fn reports whether it changed the thread's credentials, which
// then go back to the daemon's before the thread serves anything else.
func onOwnThread(fn func() (worn bool)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if fn() {
			if err := setFsCreds(daemonCreds()); err != nil {
				slog.Error("cannot give a thread back the daemon's credentials; it ends", "err", err)
				return // still locked: Go ends the thread with the goroutine
			}
		}
		runtime.UnlockOSThread()
	}()
	<-done
}

// asCaller runs fn, a call that may make the filesystem allocate, with the
// credentials of the request in ctx.
func asCaller(ctx context.Context, fn func() error) error {
	uid, gid := callerOf(ctx)
	if !wearsFor(uid) {
		return fn()
	}
	var err error
	onOwnThread(func() bool {
		if err = wear(uid, gid); err == nil {
			err = fn()
		}
		return true // a failed wear may have changed some
	})
	return err
}

// callerThreads runs each OPEN and CREATE on a thread of its own (in a
// daemon that is root), so the node may wear the caller's credentials
// (becomeCaller) for the
// passthrough ioctl go-fuse makes after the node returns.
type callerThreads struct{ fuse.RawFileSystem }

// requestThread is the thread an OPEN or CREATE runs on.
type requestThread struct {
	tid  int
	worn bool
}

// requestThreads maps the cancel channel of each OPEN and CREATE in
// flight, which go-fuse hands the node in its context, to its thread.
var requestThreads sync.Map

func (c *callerThreads) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) (st fuse.Status) {
	onRequestThread(cancel, func() { st = c.RawFileSystem.Open(cancel, in, out) })
	return st
}

func (c *callerThreads) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) (st fuse.Status) {
	onRequestThread(cancel, func() { st = c.RawFileSystem.Create(cancel, in, name, out) })
	return st
}

func onRequestThread(cancel <-chan struct{}, fn func()) {
	if cancel == nil || daemonCreds().uid != 0 { // never nil from go-fuse; becomeCaller then refuses
		fn()
		return
	}
	onOwnThread(func() bool {
		th := &requestThread{tid: unix.Gettid()}
		requestThreads.Store(cancel, th)
		defer requestThreads.Delete(cancel)
		fn()
		return th.worn
	})
}

// becomeCaller gives the thread of this OPEN or CREATE the filesystem
// credentials of the caller, or for root's open those of fd's owner,
// until the request is answered. A node calls it last, after all its own
// STORE work, when it hands out fd, a staged file or a restore clone: the
// backing file go-fuse registers next then writes as them. go-fuse
// shares one registration among the opens of a node, so root's open of a
// user's file must not make it root's.
func becomeCaller(ctx context.Context, fd int) error {
	c, ok := ctx.(*fuse.Context)
	if !ok {
		return nil // not a FUSE request (unit tests)
	}
	uid, gid := c.Uid, c.Gid
	if uid == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		uid, gid = st.Uid, st.Gid
	}
	if !wearsFor(uid) {
		return nil
	}
	v, _ := requestThreads.Load(c.Cancel)
	th, ok := v.(*requestThread)
	if !ok || th.tid != unix.Gettid() {
		err := fmt.Errorf("an open served off its own thread cannot take uid %d's credentials (a bug): %w", uid, syscall.EIO)
		slog.Error("refusing an open", "err", err)
		return err
	}
	th.worn = true
	return wear(uid, gid)
}
