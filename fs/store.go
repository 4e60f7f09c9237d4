package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// Store reads STORE on demand and caches what it decoded per snapshot,
// keyed by the identity of each source file (inode, size, mtime, ctime):
// a changed file is read again, an unchanged one never is. Every path is
// resolved beneath STORE's directory fd without following symlinks, so
// nothing in STORE can lead the daemon outside it.
type Store struct {
	Dir string
	fd  int // O_PATH fd of STORE

	// watched is set while a watcher reports every change to STORE: the
	// caches below then live until invalidated. Without one they are
	// trusted for cacheTTL.
	watched  bool
	cacheTTL time.Duration

	mu     sync.Mutex
	snaps  map[string]*Snap
	epochs map[string]uint64 // per name, bumped by invalidate
	epoch  uint64            // bumped by every invalidation
	warned map[string]bool   // reserved names already logged
	list   *listing
	listMu sync.Mutex        // held while STORE is being listed
	onDir  func(name string) // called for each STORE directory listed (the watcher adds it)

	latestMu sync.Mutex
	latest   derived[string]
	sharedMu sync.Mutex
	shared   derived[map[[2]uint64][]string] // memory.bin (dev, ino) -> snapshot names
}

// listing is one read of STORE's directory.
type listing struct {
	entries []Entry
	stat    unix.Stat_t // STORE, with the newest mtime of its subdirectories
	epoch   uint64
	at      time.Time
}

// derived is a store-wide answer cached like a listing.
type derived[T any] struct {
	val   T
	ok    bool
	valid bool
	epoch uint64
	at    time.Time
}

// fresh reports whether a cache made at epoch and time at is still good.
// Callers hold s.mu.
func (s *Store) fresh(epoch uint64, at time.Time) bool {
	if s.watched {
		return epoch == s.epoch
	}
	return time.Since(at) < s.cacheTTL
}

// invalidate forgets what is cached about name (a STORE entry) and about
// the store as a whole.
func (s *Store) invalidate(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.epochs[name]++
	s.list = nil
}

// invalidateAll forgets every cache (the watcher lost events).
func (s *Store) invalidateAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for name := range s.epochs {
		s.epochs[name]++
	}
	s.snaps = map[string]*Snap{}
	s.list = nil
}

// OpenStore opens the store directory dir.
func OpenStore(dir string) (*Store, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	return &Store{
		Dir:      dir,
		fd:       fd,
		snaps:    map[string]*Snap{},
		epochs:   map[string]uint64{},
		warned:   map[string]bool{},
		cacheTTL: 500 * time.Millisecond,
	}, nil
}

// Close releases the store's directory fd.
func (s *Store) Close() error { return unix.Close(s.fd) }

// reserved names are the tree's own entries; a STORE directory of that
// name is hidden.
func reserved(name string) bool { return name == "new" || name == "latest" }

// openBeneath opens rel (relative to STORE) refusing any symlink or
// escape on the way.
func (s *Store) openBeneath(rel string, flags int) (int, error) {
	return s.openBeneathMode(rel, flags, 0)
}

// openBeneathMode is openBeneath with the mode for O_CREAT.
func (s *Store) openBeneathMode(rel string, flags int, mode uint32) (int, error) {
	how := unix.OpenHow{
		Mode:    uint64(mode & 0o7777),
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(s.fd, rel, &how)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: rel, Err: err}
		}
		return fd, nil
	}
}

// Entry is one snapshot directory of STORE as listed.
type Entry struct {
	Name string
	Ino  uint64
	Dir  unix.Stat_t // lstat of the directory
}

// List returns the snapshot directories of STORE, sorted by name.
func (s *Store) List() ([]Entry, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	return l.entries, nil
}

// examine lstats STORE/name: mtime is the directory's (zero if it is no
// directory), and e is filled if it is a snapshot.
func (s *Store) examine(name string) (mtime unix.Timespec, e Entry) {
	if name == "" || name[0] == '.' {
		return
	}
	var st unix.Stat_t
	if unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return
	}
	if s.onDir != nil {
		s.onDir(name)
	}
	var mst unix.Stat_t
	if unix.Fstatat(s.fd, name+"/manifest.bin", &mst, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return st.Mtim, e
	}
	if reserved(name) {
		s.warnReserved(name)
		return st.Mtim, e
	}
	return st.Mtim, Entry{Name: name, Ino: st.Ino, Dir: st}
}

// Entry returns the listing's entry for the snapshot name: looking up
// and listing snapshots needs no more than the directory's stat, so a
// large store is not read snapshot by snapshot to be listed.
func (s *Store) Entry(name string) (*Entry, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	i, ok := slices.BinarySearchFunc(l.entries, name, func(e Entry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return nil, errNotSnapshot
	}
	return &l.entries[i], nil
}

// RootStat is the stat of STORE with the newest mtime (and ctime) of
// STORE and its visible subdirectories: a snapshot also comes or goes
// when manifest.bin is written into, or removed from, a directory that
// already exists, which changes that directory's mtime but not STORE's.
func (s *Store) RootStat() (*unix.Stat_t, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	st := l.stat
	return &st, nil
}

// listing returns the cached read of STORE, reading it again when stale.
func (s *Store) listing() (*listing, error) {
	s.mu.Lock()
	l := s.list
	if l != nil && s.fresh(l.epoch, l.at) {
		s.mu.Unlock()
		return l, nil
	}
	s.mu.Unlock()
	// One reader at a time: the others wait for its result.
	s.listMu.Lock()
	defer s.listMu.Unlock()
	s.mu.Lock()
	l, epoch := s.list, s.epoch
	if l != nil && s.fresh(l.epoch, l.at) {
		s.mu.Unlock()
		return l, nil
	}
	s.mu.Unlock()

	l = &listing{epoch: epoch, at: time.Now()}
	if err := unix.Fstat(s.fd, &l.stat); err != nil {
		return nil, err
	}
	f, err := os.Open(s.Dir)
	if err != nil {
		return nil, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	// Two lstats per name, mostly waiting on the kernel: spread over the
	// CPUs, each worker filling its own slots.
	ents := make([]Entry, len(names))
	newest := make([]unix.Timespec, len(names))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += workers {
				newest[i], ents[i] = s.examine(names[i])
			}
		}()
	}
	wg.Wait()
	l.entries = make([]Entry, 0, len(names))
	for i := range ents {
		if timeAfter(&newest[i], &l.stat.Mtim) {
			l.stat.Mtim = newest[i]
		}
		if timeAfter(&newest[i], &l.stat.Ctim) {
			l.stat.Ctim = newest[i]
		}
		if ents[i].Name != "" {
			l.entries = append(l.entries, ents[i])
		}
	}
	s.prune(l.entries)
	s.mu.Lock()
	if s.epoch == epoch {
		s.list = l
	}
	s.mu.Unlock()
	return l, nil
}

func (s *Store) warnReserved(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.warned[name] {
		s.warned[name] = true
		slog.Warn("store directory hidden: the name is reserved by the tree", "store", s.Dir, "name", name)
	}
}

// prune drops cached snapshots that are gone from STORE.
func (s *Store) prune(live []Entry) {
	keep := make(map[string]bool, len(live))
	for _, e := range live {
		keep[e.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.snaps {
		if !keep[name] {
			delete(s.snaps, name)
		}
	}
}

// lastUse is when the snapshot name was last used (unix nanos), 0 if it
// is not cached.
func (s *Store) lastUse(name string) int64 {
	s.mu.Lock()
	sn := s.snaps[name]
	s.mu.Unlock()
	if sn == nil {
		return 0
	}
	return sn.used.Load()
}

// errNotSnapshot is returned for a name that is not a snapshot in STORE.
var errNotSnapshot = fmt.Errorf("not a snapshot: %w", iofs.ErrNotExist)

// Snapshot returns the current view of the snapshot name, reading again
// whatever changed since the last call.
func (s *Store) Snapshot(name string) (*Snap, error) { return s.get(name, true) }

// peek is Snapshot for store-wide questions (latest, shared memory): it
// does not add to the cache what nobody has looked at, so a large store
// costs memory only for the snapshots in use.
func (s *Store) peek(name string) (*Snap, error) { return s.get(name, false) }

// drop forgets the cached snapshot name (the kernel forgot it too).
func (s *Store) drop(name string) {
	s.mu.Lock()
	delete(s.snaps, name)
	s.mu.Unlock()
}

func (s *Store) get(name string, keep bool) (*Snap, error) {
	if name == "" || name[0] == '.' || reserved(name) {
		return nil, errNotSnapshot
	}
	s.mu.Lock()
	old, epoch := s.snaps[name], s.epochs[name]
	if old != nil && old.epoch == epoch && (s.watched || time.Since(old.checked) < s.cacheTTL) {
		s.mu.Unlock()
		if keep {
			old.used.Store(time.Now().UnixNano())
		}
		return old, nil
	}
	s.mu.Unlock()
	// The listing made sure name is a directory, not a symlink; lstat
	// confirms it, and the files are lstat'ed and opened beneath STORE.
	var key snapKey
	if err := unix.Fstatat(s.fd, name, &key.dir, unix.AT_SYMLINK_NOFOLLOW); err != nil || key.dir.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, errNotSnapshot
	}
	for i, f := range sourceFiles {
		key.files[i] = statAt(s.fd, name+"/"+f)
	}
	if key.files[0].err != nil && errors.Is(key.files[0].err, iofs.ErrNotExist) {
		return nil, errNotSnapshot
	}

	sn := old
	if sn == nil || !sn.key.same(&key) {
		sn = loadSnap(s, name, key)
	}
	s.mu.Lock()
	if s.epochs[name] == epoch && (keep || old != nil) {
		// Not changed while we read it: this version may be cached.
		sn.epoch, sn.checked = epoch, time.Now()
		s.snaps[name] = sn
	}
	s.mu.Unlock()
	if keep {
		sn.used.Store(time.Now().UnixNano())
	}
	return sn, nil
}

// Latest returns the name of the valid snapshot with the newest
// created_at (ties: the greatest name). The answer is cached briefly, since
// it costs a look at every snapshot.
func (s *Store) Latest() (string, bool) {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	s.mu.Lock()
	d, epoch := s.latest, s.epoch
	fresh := d.valid && s.fresh(d.epoch, d.at)
	s.mu.Unlock()
	if fresh {
		return d.val, d.ok
	}
	name, ok := s.computeLatest()
	s.mu.Lock()
	s.latest = derived[string]{val: name, ok: ok, valid: true, epoch: epoch, at: time.Now()}
	s.mu.Unlock()
	return name, ok
}

func (s *Store) computeLatest() (string, bool) {
	list, err := s.List()
	if err != nil {
		return "", false
	}
	type cand struct {
		name string
		t    snapshot.Timestamp
	}
	// Only manifests are needed to order the candidates; full validation
	// runs on the newest ones until one passes. Reading them is mostly
	// waiting on syscalls, so it is spread over the CPUs.
	cands := make([]cand, len(list))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(list); i += workers {
				if m := s.manifestOf(list[i].Name); m != nil {
					cands[i] = cand{list[i].Name, m.CreatedAt}
				}
			}
		}()
	}
	wg.Wait()
	cands = slices.DeleteFunc(cands, func(c cand) bool { return c.name == "" })
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.t != b.t {
			return a.t.Seconds > b.t.Seconds || a.t.Seconds == b.t.Seconds && a.t.Nanos > b.t.Nanos
		}
		return a.name > b.name
	})
	for _, c := range cands {
		if sn, err := s.peek(c.name); err == nil && sn.Report().Valid() {
			return c.name, true
		}
	}
	return "", false
}

// manifestOf is the decoded manifest of snapshot name, or nil: from the
// cache when it is there, else read without caching (one lstat, one
// pread), since ordering a large store by created_at needs nothing else.
func (s *Store) manifestOf(name string) *snapshot.Manifest {
	s.mu.Lock()
	sn := s.snaps[name]
	fresh := sn != nil && sn.epoch == s.epochs[name] && (s.watched || time.Since(sn.checked) < s.cacheTTL)
	s.mu.Unlock()
	if fresh {
		return sn.Manifest
	}
	st := statAt(s.fd, name+"/manifest.bin")
	b, err := s.readSmall(name+"/manifest.bin", &st)
	if err != nil {
		return nil
	}
	m, err := snapshot.DecodeManifest(b)
	if err != nil {
		return nil
	}
	return m
}

// SharedWith names another snapshot whose memory.bin is the same file as
// sn's, or "". The store-wide map is rebuilt at most once per cache period.
func (s *Store) SharedWith(sn *Snap) string {
	st := sn.key.files[fileMemory]
	if st.err != nil || st.st.Nlink < 2 {
		return "" // a file with one link is nobody else's
	}
	s.sharedMu.Lock()
	defer s.sharedMu.Unlock()
	s.mu.Lock()
	d, epoch := s.shared, s.epoch
	fresh := d.valid && s.fresh(d.epoch, d.at)
	s.mu.Unlock()
	if !fresh {
		m := map[[2]uint64][]string{}
		list, _ := s.List()
		for _, e := range list {
			o, err := s.peek(e.Name)
			if err != nil || o.key.files[fileMemory].err != nil {
				continue
			}
			f := o.key.files[fileMemory].st
			k := [2]uint64{f.Dev, f.Ino}
			m[k] = append(m[k], e.Name)
		}
		d = derived[map[[2]uint64][]string]{val: m, valid: true, epoch: epoch, at: time.Now()}
		s.mu.Lock()
		s.shared = d
		s.mu.Unlock()
	}
	for _, other := range d.val[[2]uint64{st.st.Dev, st.st.Ino}] {
		if other != sn.Name {
			return other
		}
	}
	return ""
}

// Status is the status view of sn: its findings plus the store-wide
// shared-memory warning.
func (s *Store) Status(sn *Snap) []byte {
	in := sn.checkInput()
	in.MemorySharedWith = s.SharedWith(sn)
	return snapshot.Check(in).Text()
}

// statAt lstats name in the directory dfd; anything but a regular file
// is an error that says what it is instead.
func statAt(dfd int, name string) fileStat {
	var fs fileStat
	if err := unix.Fstatat(dfd, name, &fs.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			fs.err = fmt.Errorf("%s is missing: %w", filepath.Base(name), iofs.ErrNotExist)
		} else {
			fs.err = err
		}
		return fs
	}
	switch fs.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFLNK:
		fs.err = errors.New("is a symlink, not a regular file")
	default:
		fs.err = fmt.Errorf("is not a regular file (mode %#o)", fs.st.Mode&unix.S_IFMT)
	}
	return fs
}
