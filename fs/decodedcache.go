package fs

import (
	"container/list"
	"sync"
	"unsafe"

	"github.com/snapfs/snapfs/snapshot"
)

// decodedCache holds what the daemon decodes from STORE's state.bin
// files: their indexes and their units' value.txt and value.json. There
// is one per store, for all snapshots, bounded in bytes (the least
// recently used go first), and keyed by the source file's identity
// (fileID), so snapshots that share one state.bin by hard link share one
// copy. A changed file has a new identity, so nothing here goes stale:
// old versions age out. Whoever asks for what is being made waits for
// it, so one file is never decoded twice at once.
type decodedCache struct {
	mu     sync.Mutex
	budget int64
	used   int64
	lru    list.List // of *decodedEntry, most recently used first
	m      map[decodedKey]*decodedEntry
}

// DefaultDecodedCacheBytes is the decoded cache's budget: some twenty of
// the largest state indexes (MaxUnits units, MaxStateStrings of names).
const DefaultDecodedCacheBytes = 256 << 20

type decodedKind uint8

const (
	kindIndex   decodedKind = iota // state.bin's index
	kindText                       // a unit's value.txt
	kindJSON                       // a unit's value.json, with schema generation gen
	kindVerdict                    // only whether value.json can be made (its error), for status
)

// decodedKey names one decoded thing of the state.bin file.
type decodedKey struct {
	file fileID
	kind decodedKind
	unit int
	gen  uint64
}

// decodedEntry is one decoded thing; its fields are set once ready is
// closed, and never change after.
type decodedEntry struct {
	key   decodedKey
	val   any
	err   error
	bytes int64 // what keeping it costs
	kept  bool  // within the budget (else made again at the next use)
	elem  *list.Element
	ready chan struct{}
}

// decoded is what a build made. keep is false for an answer that says
// nothing of the file (an open that failed, a file changed meanwhile).
type decoded struct {
	val   any
	err   error
	bytes int64 // without entryCost, which get adds
	keep  bool
}

// entryCost is what an entry costs besides its value: the entry, its
// list element, its map slot and its channel.
const entryCost = int64(unsafe.Sizeof(decodedEntry{})+unsafe.Sizeof(list.Element{})+unsafe.Sizeof(decodedKey{})) + 8 + 96

func newDecodedCache(budget int64) *decodedCache {
	if budget <= 0 {
		budget = DefaultDecodedCacheBytes
	}
	return &decodedCache{budget: budget, m: map[decodedKey]*decodedEntry{}}
}

// get returns the entry k, made by build if it is not cached. An entry
// larger than the whole budget is returned but not kept.
func (c *decodedCache) get(k decodedKey, build func() decoded) *decodedEntry {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		if e.elem != nil {
			c.lru.MoveToFront(e.elem)
		}
		c.mu.Unlock()
		<-e.ready
		return e
	}
	e := &decodedEntry{key: k, ready: make(chan struct{})}
	c.m[k] = e
	c.mu.Unlock()

	d := build()
	e.val, e.err, e.bytes = d.val, d.err, d.bytes+entryCost
	c.mu.Lock()
	if d.keep && e.bytes <= c.budget {
		e.kept = true
		e.elem = c.lru.PushFront(e)
		c.used += e.bytes
		for c.used > c.budget {
			c.remove(c.lru.Back().Value.(*decodedEntry))
		}
	} else {
		delete(c.m, k)
	}
	c.mu.Unlock()
	close(e.ready)
	return e
}

// remove drops a kept entry; callers hold c.mu.
func (c *decodedCache) remove(e *decodedEntry) {
	c.lru.Remove(e.elem)
	c.used -= e.bytes
	if c.m[e.key] == e {
		delete(c.m, e.key)
	}
}

// peek returns the entry k if it is cached and made, without making it.
func (c *decodedCache) peek(k decodedKey) *decodedEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[k]
	if e == nil || e.elem == nil {
		return nil // absent, or still being made
	}
	c.lru.MoveToFront(e.elem)
	return e
}

// usage is the bytes kept and the entries, for tests.
func (c *decodedCache) usage() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.lru.Len()
}

// indexBytes estimates what idx costs in memory: its units, their
// strings (rounded up as the allocator does), the name map Find builds,
// and the struct itself.
func indexBytes(idx *snapshot.StateIndex) int64 {
	n := int64(unsafe.Sizeof(*idx)) + int64(cap(idx.Units))*int64(unsafe.Sizeof(snapshot.Unit{}))
	for i := range idx.Units {
		n += strBytes(idx.Units[i].Name) + strBytes(idx.Units[i].TypeURL)
	}
	return n + mapBytes(len(idx.Units), int64(unsafe.Sizeof(""))+8)
}

// strBytes is a string's allocation, rounded up to the allocator's
// smallest steps.
func strBytes(s string) int64 { return (int64(len(s)) + 15) &^ 15 }

// mapBytes estimates a Go map of n entries of slot bytes each (key and
// value): power-of-two tables of slots and control bytes, at most 7/8 full.
func mapBytes(n int, slot int64) int64 {
	slots := int64(8)
	for slots*7/8 < int64(n) {
		slots *= 2
	}
	return slots*(slot+1) + 64
}

// errBytes is what keeping err costs.
func errBytes(err error) int64 {
	if err == nil {
		return 0
	}
	return int64(len(err.Error())) + 64
}
