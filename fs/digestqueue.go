package fs

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Background digests share time fairly: every queued snapshot of an
// owner, up to digestsPerOwner at once, digests side by side, and they
// take turns per chunk (1 MiB) in arrival order (turnLock), so one huge
// snapshot (a sparse 1 TiB state.bin) cannot keep the others without a
// record; together they still hash one chunk at a time, as one digest
// did. The per-owner cap bounds the fds and goroutines one user's
// snapshots can take; other owners' snapshots always get a slot.
const digestsPerOwner = 2

// digester queues the records of freshly published snapshots.
type digester struct {
	mu     sync.Mutex
	queue  []digestJob    // waiting for a slot
	active map[uint32]int // running digests per owner
	turn   turnLock       // held per chunk hashed
}

// digestJob is one snapshot to digest and its owner.
type digestJob struct {
	name  string
	owner uint32
}

// digestLater queues a record for the snapshot name.
func (t *tree) digestLater(name string) {
	var st unix.Stat_t
	owner := uint32(0)
	if unix.Fstatat(t.store.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		owner = st.Uid
	}
	g := &t.digests
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, digestJob{name, owner})
	t.startDigests()
}

// startDigests starts every queued digest whose owner has a free slot;
// g.mu is held.
func (t *tree) startDigests() {
	g := &t.digests
	if g.active == nil {
		g.active = map[uint32]int{}
	}
	rest := g.queue[:0]
	for _, j := range g.queue {
		if g.active[j.owner] >= digestsPerOwner {
			rest = append(rest, j)
			continue
		}
		g.active[j.owner]++
		go t.runDigest(j)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
}

func (t *tree) runDigest(j digestJob) {
	t.digestOne(j.name)
	g := &t.digests
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.active[j.owner]--; g.active[j.owner] == 0 {
		delete(g.active, j.owner)
	}
	t.startDigests()
}

// turnLock is a mutex handed to its waiters in arrival order (sync.Mutex
// may let the goroutine that just unlocked take it again), so goroutines
// that lock it once per chunk take turns.
type turnLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

var _ sync.Locker = (*turnLock)(nil)

func (l *turnLock) Lock() {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	<-ch // handed over, still held
}

func (l *turnLock) Unlock() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.waiters) == 0 {
		l.held = false
		return
	}
	ch := l.waiters[0]
	l.waiters[0] = nil
	l.waiters = l.waiters[1:]
	close(ch)
}
