package fs

import (
	"errors"
	"log/slog"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/snapfs/snapfs/snapshot"
	"golang.org/x/sys/unix"
)

// Entry is one snapshot directory of STORE as listed.
type Entry struct {
	Name    string
	Ino     uint64
	Dir     unix.Stat_t        // lstat of the directory
	Created snapshot.Timestamp // the manifest's created_at, if Decoded
	Decoded bool               // created_at could be read
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
// directory), and e is filled if it is a snapshot; other is set for a
// directory with no manifest.bin (yet).
func (s *Store) examine(name string) (mtime unix.Timespec, e Entry, other *unix.Stat_t) {
	if name == "" || name[0] == '.' {
		return
	}
	var st unix.Stat_t
	if unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return
	}
	if s.onDir != nil {
		s.onDir(name, false)
	}
	created, decoded, exists := s.readCreated(name)
	if !exists {
		return st.Mtim, e, &st
	}
	if reserved(name) {
		s.warnReserved(name)
		return st.Mtim, e, nil
	}
	return st.Mtim, Entry{Name: name, Ino: st.Ino, Dir: st, Created: created, Decoded: decoded}, nil
}

// readCreated reads the created_at of STORE/name/manifest.bin: latest
// has to order every snapshot by it, so the listing reads it on the way
// (one open, one pread) rather than in a second pass. exists reports
// whether there is a manifest.bin at all, decoded whether it decodes.
func (s *Store) readCreated(name string) (created snapshot.Timestamp, decoded, exists bool) {
	fd, err := s.openBeneath(name+"/manifest.bin", unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) {
		return created, false, false
	}
	if err != nil {
		return created, false, true // a symlink, say: shown, and status says why
	}
	defer unix.Close(fd)
	var buf [4096]byte // a manifest is under 200 bytes
	n, err := unix.Pread(fd, buf[:], 0)
	if err != nil || n == len(buf) {
		// Not a file, or an unusually large one: the full read (with its
		// limits) happens when the snapshot itself is looked at.
		if sn, err := s.peek(name); err == nil && sn.Manifest != nil {
			return sn.Manifest.CreatedAt, true, true
		}
		return created, false, true
	}
	created, decoded = snapshot.ManifestCreatedAt(buf[:n])
	return created, decoded, true
}

// Entry returns the listing's entry for the snapshot name: looking up
// and listing snapshots needs no more than the directory's stat, so a
// large store is not read snapshot by snapshot to be listed.
func (s *Store) Entry(name string) (*Entry, error) {
	l, err := s.listing()
	if err != nil {
		return nil, err
	}
	e, ok := l.find(name)
	if !ok {
		return nil, errNotSnapshot
	}
	return e, nil
}

// find returns the entry of the snapshot name.
func (l *listing) find(name string) (*Entry, bool) {
	i, ok := slices.BinarySearchFunc(l.entries, name, func(e Entry, n string) int { return strings.Compare(e.Name, n) })
	if !ok {
		return nil, false
	}
	return &l.entries[i], true
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
	f, err := openDirAt(s.fd, ".")
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
	others := make([]*unix.Stat_t, len(names))
	newest := make([]unix.Timespec, len(names))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(names); i += workers {
				newest[i], ents[i], others[i] = s.examine(names[i])
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
		if others[i] != nil {
			if l.others == nil {
				l.others = map[string]unix.Stat_t{}
			}
			l.others[names[i]] = *others[i]
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
