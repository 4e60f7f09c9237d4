package fs

import (
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Polling: what inotify cannot see (another host's changes to a shared
// STORE, or a snapshot directory past the watch budget) is found by
// looking, once per pollInterval, and cheaply:
//
//   - without inotify, one listing of STORE and one of the staging area
//     (getdents only: the entry's inode number tells a new or replaced
//     directory from the one known), and a stat of STORE;
//   - a stat of what is cached and not watched: the snapshots the store
//     holds decoded (their directory and source files, against the
//     identity they were read with), the snapshots the kernel knows (their
//     directory, against the listing) and directories waiting for a
//     manifest.bin.
//
// Nothing else is looked at: a snapshot nobody looked at costs nothing.
// A change found is handled exactly like an inotify event (flush in
// watch.go), so the kernel may cache as long as with inotify; negative
// entries, which no listing could report as gone, last one interval.

// pollInterval is how often the poller looks. With the coalescing of
// notifications, a change shows within about 0.6 s.
const pollInterval = 500 * time.Millisecond

// pollLoop polls until the watcher is closed.
func (w *watcher) pollLoop() {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-tick.C:
			w.pollOnce()
		}
	}
}

// pollOnce looks once and turns what changed into pending notifications.
func (w *watcher) pollOnce() {
	changed := false
	if w.f == nil {
		changed = w.pollListings()
	}
	if w.pollCached() {
		changed = true
	}
	if changed {
		w.poke()
	}
}

// pollListings compares STORE's and the staging area's entries with the
// last poll.
func (w *watcher) pollListings() bool {
	s := w.store
	changed := false
	var st unix.Stat_t
	if unix.Fstat(s.fd, &st) == nil {
		if w.storeSt.Ino != 0 && (st.Mode != w.storeSt.Mode || st.Uid != w.storeSt.Uid || st.Gid != w.storeSt.Gid) {
			s.invalidate("")
			w.mu.Lock()
			w.self = true
			w.mu.Unlock()
			changed = true
		}
		w.storeSt = st
	}
	if root, err := dirInodes(s.fd, "."); err == nil {
		if w.rootSeen != nil {
			for _, name := range diffInodes(w.rootSeen, root) {
				if name == stagingDirName {
					w.mu.Lock()
					w.staged[""] = true
					w.mu.Unlock()
					changed = true
				}
				if name[0] == '.' {
					continue // hidden: staging, trash, temporary names
				}
				s.invalidate(name)
				w.mu.Lock()
				w.pending[name] = true
				w.mu.Unlock()
				changed = true
			}
		}
		w.rootSeen = root
	}
	stage, err := dirInodes(s.fd, stagingDirName)
	if err != nil {
		stage = map[string]uint64{}
	}
	if w.stageSeen != nil {
		for _, name := range diffInodes(w.stageSeen, stage) {
			w.mu.Lock()
			w.staged[name] = true
			w.mu.Unlock()
			changed = true
		}
	}
	w.stageSeen = stage
	return changed
}

// pollCached stats what is cached and not watched (see above).
func (w *watcher) pollCached() bool {
	s := w.store
	type target struct {
		key  *snapKey     // the store's decoded version, if any
		dir  *unix.Stat_t // else the directory as listed
		gone bool         // known to the kernel, not in the listing
	}
	targets := map[string]*target{}
	s.mu.Lock()
	for name, sn := range s.snaps {
		k := sn.key
		targets[name] = &target{key: &k}
	}
	l := s.list
	s.mu.Unlock()
	if l != nil {
		for name, st := range l.others {
			if targets[name] == nil {
				targets[name] = &target{dir: &st}
			}
		}
	}
	for _, name := range w.view.Known() {
		if targets[name] != nil || l == nil {
			continue
		}
		if e, ok := l.find(name); ok {
			d := e.Dir
			targets[name] = &target{dir: &d}
		}
	}
	if w.f != nil {
		w.mu.Lock()
		for name := range targets {
			if _, ok := w.dirs[name]; ok {
				delete(targets, name)
			}
		}
		w.mu.Unlock()
	}
	changed := false
	for name, tg := range targets {
		var same bool
		if tg.key != nil {
			dir, files, err := s.statSnapshot(name)
			k := snapKey{dir: dir, files: files}
			same = err == nil && tg.key.same(&k)
		} else {
			var st unix.Stat_t
			err := unix.Fstatat(s.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			same = err == nil && st.Ino == tg.dir.Ino && st.Mtim == tg.dir.Mtim && st.Ctim == tg.dir.Ctim
		}
		if same {
			continue
		}
		s.invalidate(name)
		w.mu.Lock()
		w.pending[name] = true
		w.mu.Unlock()
		changed = true
	}
	return changed
}

// dirInodes lists the directory name beneath dfd: entry name -> inode
// number, from getdents alone (no stat per entry).
func dirInodes(dfd int, name string) (map[string]uint64, error) {
	d, err := openDirAt(dfd, name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	out := map[string]uint64{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(int(d.Fd()), buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "getdents", Path: name, Err: err}
		}
		if n <= 0 {
			return out, nil
		}
		for off := 0; off < n; {
			de := (*unix.Dirent)(unsafe.Pointer(&buf[off]))
			if de.Reclen == 0 {
				break
			}
			nameBytes := buf[off+int(unsafe.Offsetof(de.Name)) : off+int(de.Reclen)]
			for i, c := range nameBytes {
				if c == 0 {
					nameBytes = nameBytes[:i]
					break
				}
			}
			if nm := string(nameBytes); nm != "." && nm != ".." {
				out[nm] = de.Ino
			}
			off += int(de.Reclen)
		}
	}
}

// diffInodes returns the names added, removed or replaced from a to b.
func diffInodes(a, b map[string]uint64) []string {
	var out []string
	for name, ino := range b {
		if old, ok := a[name]; !ok || old != ino {
			out = append(out, name)
		}
	}
	for name := range a {
		if _, ok := b[name]; !ok {
			out = append(out, name)
		}
	}
	return out
}
