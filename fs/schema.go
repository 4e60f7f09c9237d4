package fs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot/statetext"
)

// schemaVersion is one successful load of the schema directory; gen
// tells the per-snapshot caches of value.json which load they came from.
type schemaVersion struct {
	s   *statetext.Schema
	gen uint64
}

// schemaHolder is the mount's --schema DIR: the last version that
// parsed, reloaded when DIR changes (inotify) or on request (SIGHUP).
// A version that does not parse is logged and the last good one stays.
type schemaHolder struct {
	dir      string
	cur      atomic.Pointer[schemaVersion]
	mu       sync.Mutex // serialises reloads
	changed  func()     // called after a new version is in place
	reloadCh chan struct{}
}

// schemaSettle is how long DIR must be quiet after a change before it
// is read again: OpenVMM writes its files one after the other.
const schemaSettle = 100 * time.Millisecond

// schemaRetry is how often a watch on DIR is tried again after DIR
// itself was removed or renamed (replaced by a new one).
const schemaRetry = time.Second

func loadSchemaHolder(dir string) (*schemaHolder, error) {
	s, err := statetext.LoadSchema(dir)
	if err != nil {
		return nil, err
	}
	h := &schemaHolder{dir: dir, reloadCh: make(chan struct{}, 1)}
	h.cur.Store(&schemaVersion{s: s, gen: 1})
	return h, nil
}

// current returns the schema in use, or nil without --schema.
func (h *schemaHolder) current() *schemaVersion {
	if h == nil {
		return nil
	}
	return h.cur.Load()
}

// reload reads DIR again; a schema that does not parse keeps the last
// good one.
func (h *schemaHolder) reload() {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, err := statetext.LoadSchema(h.dir)
	if err != nil {
		slog.Warn("schema does not load; keeping the last good one", "dir", h.dir, "err", err)
		return
	}
	old := h.cur.Load()
	h.cur.Store(&schemaVersion{s: s, gen: old.gen + 1})
	slog.Info("schema reloaded", "dir", h.dir, "files", len(s.Files))
	if h.changed != nil {
		h.changed()
	}
}

// request asks for a reload (SIGHUP).
func (h *schemaHolder) request() {
	select {
	case h.reloadCh <- struct{}{}:
	default:
	}
}

// run reloads on requests and, when watch is set, on inotify events in
// DIR, until done closes.
func (h *schemaHolder) run(watch bool, done <-chan struct{}) {
	events := make(chan struct{}, 1)
	if watch {
		go h.watch(events, done)
	}
	var settle <-chan time.Time
	for {
		select {
		case <-done:
			return
		case <-h.reloadCh:
			h.reload()
		case <-events:
			settle = time.After(schemaSettle)
		case <-settle:
			settle = nil
			h.reload()
		}
	}
}

const schemaMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// watch sends on events for every change in DIR. When DIR itself goes
// (replaced by a new directory), it watches the new one once it exists.
func (h *schemaHolder) watch(events chan<- struct{}, done <-chan struct{}) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK) // pollable: Close ends Read
	if err != nil {
		slog.Warn("cannot watch the schema directory; send SIGHUP to reload it", "dir", h.dir, "err", err)
		return
	}
	f := os.NewFile(uintptr(fd), "inotify-schema")
	go func() { <-done; f.Close() }()
	poke := func() {
		select {
		case events <- struct{}{}:
		default:
		}
	}
	buf := make([]byte, 16<<10)
	for {
		wd, err := unix.InotifyAddWatch(fd, h.dir, schemaMask)
		if err != nil {
			select {
			case <-done:
				return
			case <-time.After(schemaRetry):
				continue
			}
		}
		if wd >= 0 {
			poke() // DIR may have changed while it was not watched
		}
		for gone := false; !gone; {
			n, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) {
					slog.Warn("schema watch failed; send SIGHUP to reload it", "dir", h.dir, "err", err)
				}
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00")
				off += unix.SizeofInotifyEvent + int(ev.Len)
				if ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
					unix.InotifyRmWatch(fd, uint32(ev.Wd))
					gone = true
				}
				if len(name) == 0 || name[0] != '.' { // editors' and OpenVMM's temporary files
					poke()
				}
			}
		}
	}
}
