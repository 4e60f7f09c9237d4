package fs

import (
	"context"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure a mounted tree.
type Options struct {
	// NoPassthrough serves the STORE files through the daemon (splice)
	// instead of handing their fds to the kernel.
	NoPassthrough bool
	// ReadOnly hides new/: no snapshots can be created.
	ReadOnly bool
	// Watch is how changes to STORE are found: WatchAuto (""), from
	// STORE's filesystem; WatchInotify; or WatchPoll, for a STORE other
	// hosts change (detect.go, poll.go).
	Watch string
	// NoWatch is Watch = WatchPoll (the old --no-watch).
	NoWatch bool
	// WatchBudget bounds the inotify watches on snapshot directories
	// (0: DefaultWatchBudget, or a quarter of max_user_watches).
	WatchBudget int
	// CommitDelay is how long a complete staging directory must stay
	// unchanged before it is published by itself; 0 turns that off.
	CommitDelay time.Duration
	// MaxFdsPerUser bounds the STORE fds one user's open files hold in
	// the daemon (0: DefaultMaxFdsPerUser).
	MaxFdsPerUser int
	// MaxStagingDirsPerUser bounds the staging directories one user other
	// than root may have in new/ (0: DefaultMaxStagingDirsPerUser).
	MaxStagingDirsPerUser int
	// DecodedCacheBytes bounds the memory of decoded state (indexes,
	// value.txt, value.json) of all snapshots (0: DefaultDecodedCacheBytes).
	DecodedCacheBytes int64
	// MaxStagedBytesPerUser bounds the bytes one user other than root
	// holds in new/ and in open restore clones (0: no limit); with it,
	// staged files and clones are served without passthrough
	// (stagedbytes.go).
	MaxStagedBytesPerUser int64
	// Schema is a directory of .proto files (openvmm
	// --write-saved-state-proto): with it, state/<unit>/value.json.
	Schema string
}

// tree is what every node of one mount shares.
type tree struct {
	store  *Store
	notify *notifier
	stage  *stager
	fds    *fdQuota
	bytes  *byteLimit // nil without Options.MaxStagedBytesPerUser
	opts   Options
	root   *rootNode
	schema *schemaHolder // nil without Options.Schema

	digests digester // background digest records (digest.go)
}

// newTree makes the shared state of a mount of store.
func newTree(store *Store, opts Options) *tree {
	t := &tree{store: store, opts: opts, fds: newFdQuota(opts.MaxFdsPerUser), notify: newNotifier()}
	store.decoded = newDecodedCache(opts.DecodedCacheBytes)
	t.root = &rootNode{t: t}
	t.stage = newStager(t)
	t.bytes = newByteLimit(opts.MaxStagedBytesPerUser, t.stage)
	t.stage.published = t.published
	return t
}

// published is told by the stager that the staging directory staged is
// now the snapshot name.
func (t *tree) published(staged, name string) {
	// Now, not when a watcher or the poller reports it: the caller
	// looks up name next.
	t.store.invalidate(name)
	t.bytes.removedSome() // the staged files are the snapshot's now
	t.view().Published(staged, name)
	t.digestLater(name)
}

// makeStaging makes the staging area, on a writable mount (nil: none).
func (t *tree) makeStaging() func() {
	if t.opts.ReadOnly {
		return nil
	}
	return func() {
		if r, err := t.stage.ensureRoot(); err == nil {
			r.Close()
		}
	}
}

// resume schedules the automatic publish of staging directories left by
// an earlier run of the daemon.
func (t *tree) resume() {
	t.stage.unhold()
	stages, _ := t.stage.listStat()
	t.stage.sweepMarkers(stages)
	for _, st := range stages {
		t.stage.touched(st.name)
	}
}

// passthroughWrites reports whether staged files and restore clones may
// be handed to the kernel: not when the daemon must see every write to
// count it (a byte limit).
func (t *tree) passthroughWrites() bool { return !t.opts.NoPassthrough && t.bytes == nil }

// attrNode is a node that can describe itself, so a parent's Lookup and
// Readdir fill the same attributes Getattr would.
type attrNode interface {
	fusefs.InodeEmbedder
	attr(ctx context.Context, out *fuse.Attr) syscall.Errno
}

// lookupChild registers child under parent and fills out from it.
func lookupChild(ctx context.Context, parent *fusefs.Inode, child attrNode, id fusefs.StableAttr, out *fuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if errno := child.attr(ctx, &out.Attr); errno != 0 {
		return nil, errno
	}
	return parent.NewInode(ctx, child, id), 0
}

// volatile is the kernel timeout of staging entries (new/...): they change
// through writes the daemon does not see (passthrough) and are not
// watched, so the kernel asks again every time. (Zero would mean "the
// mount's default" to go-fuse.)
const volatile = time.Nanosecond

// volatileEntry sets out's timeouts for a staging entry.
func volatileEntry(out *fuse.EntryOut) {
	out.SetEntryTimeout(volatile)
	out.SetAttrTimeout(volatile)
}

// keepCache is the open flags of an immutable view: while a watcher
// turns every change of its source into a notification, the kernel may
// keep its pages and skip the flush on close.
func (t *tree) keepCache() uint32 {
	t.store.mu.Lock()
	defer t.store.mu.Unlock()
	if t.store.watched {
		return fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH
	}
	return 0
}
