package fs

import (
	"sort"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
)

// maxCachedSnapshots bounds how many snapshots the kernel keeps looked up
// at once. go-fuse holds a node for every entry the kernel knows, and the
// kernel forgets nothing while memory is plentiful, so a walk of a large
// store would grow the daemon by some 35 nodes per snapshot forever.
// Past the bound, the least recently used snapshots are dropped from the
// kernel's cache (it forgets their nodes); a later visit looks them up
// again. (Prune needs Linux 6.16; older kernels keep what they cache.)
const maxCachedSnapshots = 1024

// evictEvery is how often the bound is enforced.
const evictEvery = 250 * time.Millisecond

// evictLoop enforces maxCachedSnapshots until the mount ends.
func (t *tree) evictLoop(done <-chan struct{}) {
	tick := time.NewTicker(evictEvery)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			t.evict()
		}
	}
}

func (t *tree) evict() {
	root := t.root.EmbeddedInode()
	kids := root.Children()
	if len(kids) <= maxCachedSnapshots+2 { // + new and latest
		return
	}
	type cand struct {
		name string
		used int64
	}
	var cands []cand
	for name, ch := range kids {
		if _, ok := ch.Operations().(*snapDirNode); ok {
			cands = append(cands, cand{name, t.store.lastUse(name)})
		}
	}
	if len(cands) <= maxCachedSnapshots {
		return
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].used < cands[j].used })
	// Drop down to 7/8 of the bound, so eviction runs in batches. The
	// kernel forgets what nobody uses (a working directory stays).
	var nodes []*fusefs.Inode
	old := cands[:len(cands)-maxCachedSnapshots*7/8]
	for _, c := range old {
		nodes = append(nodes, kids[c.name])
		t.store.drop(c.name)
	}
	if t.notify.prune(root, nodes) == syscall.ENOSYS {
		for _, c := range old { // a kernel before 6.16: the old way
			t.notify.entry(root, c.name)
		}
	}
}
