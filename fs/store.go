package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// Store reads STORE on demand and caches what it decoded per snapshot,
// keyed by the identity of each source file (inode, size, mtime, ctime):
// a changed file is read again, an unchanged one never is. Decoded state
// (indexes, unit views) is kept apart, in one byte-bounded cache for all
// snapshots (decodedcache.go). Every path is
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
	listMu sync.Mutex // held while STORE is being listed
	// onDir is called for each STORE directory listed (use false) and
	// for each snapshot read (use true): the watcher watches it, within
	// its budget (watch.go).
	onDir func(name string, use bool)

	latestMu sync.Mutex
	latest   derived[string]
	sharedMu sync.Mutex
	shared   derived[map[[2]uint64][]string] // memory.bin (dev, ino) -> snapshot names

	decoded *decodedCache // state indexes and unit views, all snapshots (decodedcache.go)

	trashKick chan struct{} // wakes the trash emptier (trash.go)
	trashMu   sync.Mutex    // guards closed against the emptier's use of fd
	closed    bool
}

// listing is one read of STORE's directory.
type listing struct {
	entries []Entry
	stat    unix.Stat_t // STORE, with the newest mtime of its subdirectories
	epoch   uint64
	at      time.Time
	others  map[string]unix.Stat_t // directories without manifest.bin (yet)
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
		Dir:       dir,
		fd:        fd,
		snaps:     map[string]*Snap{},
		epochs:    map[string]uint64{},
		warned:    map[string]bool{},
		cacheTTL:  500 * time.Millisecond,
		decoded:   newDecodedCache(DefaultDecodedCacheBytes),
		trashKick: make(chan struct{}, 1),
	}, nil
}

// Close releases the store's directory fd.
func (s *Store) Close() error {
	s.trashMu.Lock()
	defer s.trashMu.Unlock()
	s.closed = true
	return unix.Close(s.fd)
}

// reserved names are the tree's own entries; a STORE directory of that
// name is hidden.
func reserved(name string) bool { return name == "new" || name == "latest" }

// recheckMemory returns sn, or its successor when memory.bin changed
// since sn was read. A restored VM writes memory.bin through mmap, which
// inotify does not report, so the views that depend on it (its attributes,
// status) look again.
func (s *Store) recheckMemory(sn *Snap) (*Snap, error) {
	_, files, err := s.statSnapshot(sn.Name)
	if err == nil && files[fileMemory].same(sn.File(fileMemory)) {
		return sn, nil
	}
	// Only this snapshot is read again: the listing and latest do not
	// depend on memory.bin's times (a running VM changes nothing else).
	s.mu.Lock()
	s.epochs[sn.Name]++
	s.mu.Unlock()
	return s.Snapshot(sn.Name)
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
	var key snapKey
	var err error
	if key.dir, key.files, err = s.statSnapshot(name); err != nil {
		return nil, errNotSnapshot
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
	onDir := s.onDir
	s.mu.Unlock()
	if keep {
		sn.used.Store(time.Now().UnixNano())
		if onDir != nil {
			onDir(name, true)
		}
	}
	return sn, nil
}

// statSnapshot stats the directory STORE/name, opened beneath STORE
// without following a symlink, and lstats its source files through it.
func (s *Store) statSnapshot(name string) (dir unix.Stat_t, files [3]fileStat, err error) {
	fd, err := s.openBeneath(name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return dir, files, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &dir); err != nil {
		return dir, files, err
	}
	for i, f := range sourceFiles {
		files[i] = statAt(fd, f)
	}
	return dir, files, nil
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
		fs.caps = hasCaps(dfd, name)
	case unix.S_IFLNK:
		fs.err = errors.New("is a symlink, not a regular file")
	default:
		fs.err = fmt.Errorf("is not a regular file (mode %#o)", fs.st.Mode&unix.S_IFMT)
	}
	return fs
}

// hasCaps reports whether the regular file name in the directory dfd has
// file capabilities. The directory is named by its fd, and lgetxattr
// follows no final symlink: only the entry of that directory is read.
func hasCaps(dfd int, name string) bool {
	_, err := unix.Lgetxattr(procPath(dfd)+"/"+name, snapshot.CapabilityXattr, nil)
	return err == nil || err == unix.ERANGE
}
