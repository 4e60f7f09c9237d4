package fs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watcher turns inotify events on STORE and its directories, or what the
// poller finds (poll.go), into cache invalidation, in the store and in
// the kernel. With it, the kernel may keep entries and attributes for as
// long as it likes (cacheForever): every change reaches it as a
// notification instead of a timeout.
//
// inotify watches come from a per-user quota (max_user_watches) that
// every process of the user shares, so they are bounded by a budget:
// STORE, the staging area, and as many snapshot directories as the
// budget allows, the most recently used. A listing watches directories
// while the budget lasts; reading a snapshot evicts the least recently
// used watches past it. A snapshot without a watch is polled while it
// is cached.
type watcher struct {
	store  *Store
	view   Viewer   // told of each round of changes (events.go)
	f      *os.File // the inotify fd; nil when polling
	budget int      // snapshot directory watches at most
	done   chan struct{}
	once   sync.Once

	// The poller's last look (poll.go), used by its goroutine only.
	rootSeen, stageSeen map[string]uint64
	storeSt             unix.Stat_t

	mu      sync.Mutex
	wds     map[int32]string // watch -> STORE entry name ("" is STORE)
	dirs    map[string]int32
	pending map[string]bool
	staged  map[string]bool // names changed in new/
	all     bool            // events were lost: drop everything
	self    bool            // STORE's own attributes changed
	full    bool            // the watch limit was hit (logged once)
	over    bool            // the budget was reached (logged once)
	kick    chan struct{}
}

// DefaultWatchBudget bounds the snapshot directory watches; a quarter of
// max_user_watches if that is less.
const DefaultWatchBudget = 8192

// watchBudget is the budget for Options.WatchBudget n (0: the default).
func watchBudget(n int) int {
	if n > 0 {
		return n
	}
	b := DefaultWatchBudget
	if data, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches"); err == nil {
		if max, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && max/4 < b {
			b = max / 4
		}
	}
	return max(b, 16)
}

// newWatcher makes a watcher of s with no source yet, reporting to v.
func newWatcher(s *Store, v Viewer, budget int) *watcher {
	return &watcher{
		store:   s,
		view:    v,
		budget:  budget,
		done:    make(chan struct{}),
		wds:     map[int32]string{},
		dirs:    map[string]int32{},
		pending: map[string]bool{},
		staged:  map[string]bool{},
		kick:    make(chan struct{}, 1),
	}
}

// startPoller serves changes by polling alone (poll.go). makeStaging,
// when not nil, makes the staging area first, so it is seen from the start.
func startPoller(s *Store, v Viewer, makeStaging func()) *watcher {
	w := newWatcher(s, v, 0)
	s.mu.Lock()
	s.watched = true
	s.mu.Unlock()
	if makeStaging != nil {
		makeStaging()
	}
	w.pollListings() // the state changes are measured against
	go w.flush()
	go w.pollLoop()
	return w
}

const (
	storeMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_ATTRIB | unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW
	dirMask = storeMask | unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

	// coalesce gathers a burst of events (a copy, a running VM) into one
	// round of kernel notifications.
	coalesce = 20 * time.Millisecond
)

// startWatcher watches STORE; each directory in it is added when listed
// or created, within budget.
func startWatcher(s *Store, v Viewer, makeStaging func(), budget int) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	w := newWatcher(s, v, budget)
	w.f = os.NewFile(uintptr(fd), "inotify")
	wd, err := unix.InotifyAddWatch(fd, procPath(s.fd), storeMask&^unix.IN_DONT_FOLLOW)
	if err != nil {
		w.f.Close()
		return nil, err
	}
	w.wds[int32(wd)] = ""
	s.onDir = w.add
	s.mu.Lock()
	s.watched = true
	s.mu.Unlock()
	if makeStaging != nil {
		makeStaging() // now, so it is watched from the start
	}
	w.addStaging()
	go w.read()
	go w.flush()
	go w.pollLoop() // what is past the budget
	return w, nil
}

// stagingWatch names the watch on STORE/.snapfs-staging in wds (no STORE
// entry can have this name).
const stagingWatch = "/staging"

// addStaging watches the staging directory, so new/ follows staging
// directories made or published by another daemon on the same STORE.
func (w *watcher) addStaging() {
	wd, err := w.watchAt(stagingDirName, storeMask)
	if err != nil {
		return // not there yet: its creation in STORE brings us back
	}
	w.mu.Lock()
	w.wds[int32(wd)] = stagingWatch
	w.mu.Unlock()
}

// watchAt watches the directory STORE/name, opened beneath STORE without
// following a symlink: the watch is on what was opened, not on a path.
func (w *watcher) watchAt(name string, mask uint32) (int, error) {
	fd, err := w.store.openBeneath(name, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	// The magic link is the point here: it leads to the opened directory.
	return unix.InotifyAddWatch(int(w.f.Fd()), procPath(fd), mask&^unix.IN_DONT_FOLLOW)
}

// add watches STORE/name, once. Past the budget, a listing (use false)
// watches nothing more, and a snapshot read (use true) evicts the least
// recently used watches.
func (w *watcher) add(name string, use bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.dirs[name]; ok {
		return
	}
	if len(w.dirs) >= w.budget {
		if !w.over {
			w.over = true
			slog.Info("inotify watch budget reached: the least recently used snapshots are polled", "budget", w.budget, "interval", pollInterval)
		}
		if !use {
			return
		}
		w.evictLocked()
	}
	wd, err := w.watchAt(name, dirMask)
	if err != nil {
		if errors.Is(err, unix.ENOSPC) && !w.full {
			w.full = true
			slog.Warn("inotify watch limit reached: changes made inside further snapshot directories show only after a remount; raise fs.inotify.max_user_watches", "dir", name)
		}
		return
	}
	if old, ok := w.wds[int32(wd)]; ok && old != name {
		delete(w.dirs, old) // the same directory, renamed
	}
	w.wds[int32(wd)] = name
	w.dirs[name] = int32(wd)
}

// evictLocked drops the least recently used eighth of the watches; the
// poller looks after those snapshots from now on. Callers hold w.mu.
func (w *watcher) evictLocked() {
	type cand struct {
		name string
		used int64
	}
	cands := make([]cand, 0, len(w.dirs))
	for name := range w.dirs {
		cands = append(cands, cand{name, w.store.lastUse(name)})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].used < cands[j].used })
	for _, c := range cands[:max(1, len(cands)/8)] {
		wd := w.dirs[c.name]
		delete(w.dirs, c.name)
		delete(w.wds, wd)
		unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
	}
}

// watching reports how many snapshot directories are watched.
func (w *watcher) watching() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// forget drops the watch of the directory that was STORE/name: it was
// moved away (renamed, or deleted into the trash) or removed.
func (w *watcher) forget(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, ok := w.dirs[name]
	if !ok {
		return
	}
	delete(w.dirs, name)
	delete(w.wds, wd)
	unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
}

func (w *watcher) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				slog.Error("inotify read failed; changes to STORE show only after a remount", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			w.event(ev.Wd, ev.Mask, name)
		}
	}
}

func (w *watcher) event(wd int32, mask uint32, name string) {
	if mask&unix.IN_Q_OVERFLOW != 0 {
		w.store.invalidateAll()
		w.mu.Lock()
		w.all = true
		w.mu.Unlock()
		w.poke()
		return
	}
	w.mu.Lock()
	dir, ok := w.wds[wd]
	if mask&unix.IN_IGNORED != 0 {
		delete(w.wds, wd)
		if ok && w.dirs[dir] == wd {
			delete(w.dirs, dir)
		}
	}
	w.mu.Unlock()
	if !ok {
		return
	}
	if dir == stagingWatch { // new/, changed by another daemon on STORE
		w.mu.Lock()
		w.staged[name] = true
		w.mu.Unlock()
		w.poke()
		return
	}
	entry := dir
	if dir == "" { // an entry of STORE itself
		entry = name
		if entry == "" { // STORE itself: its owner or mode, the root's
			w.store.invalidate("")
			w.mu.Lock()
			w.self = true
			w.mu.Unlock()
			w.poke()
			return
		}
		if entry == stagingDirName {
			if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
				w.addStaging()
			}
			// Made, replaced or chmodded: new/ as a whole.
			w.mu.Lock()
			w.staged[""] = true
			w.mu.Unlock()
			w.poke()
		}
		if entry[0] == '.' {
			return // hidden: staging, temporary names
		}
		if mask&(unix.IN_MOVED_FROM|unix.IN_DELETE) != 0 {
			w.forget(entry) // a new directory of that name needs its own watch
		}
		if mask&unix.IN_ISDIR != 0 && mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
			w.add(entry, false)
		}
	}
	w.store.invalidate(entry)
	w.mu.Lock()
	w.pending[entry] = true
	w.mu.Unlock()
	w.poke()
}

func (w *watcher) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// flush sends the kernel the invalidations gathered since the last round.
func (w *watcher) flush() {
	for {
		select {
		case <-w.done:
			return
		case <-w.kick:
		}
		time.Sleep(coalesce)
		w.mu.Lock()
		pending, staged, all, self := w.pending, w.staged, w.all, w.self
		w.pending, w.staged, w.all, w.self = map[string]bool{}, map[string]bool{}, false, false
		w.mu.Unlock()
		c := Changes{All: all, Root: self}
		for name := range pending {
			c.Snapshots = append(c.Snapshots, name)
		}
		for name := range staged {
			c.Staged = append(c.Staged, name)
		}
		w.view.Changed(c)
	}
}

// close stops the watcher.
func (w *watcher) close() {
	w.once.Do(func() {
		close(w.done)
		if w.f != nil {
			w.f.Close()
		}
	})
}
