package fs

import (
	"fmt"
	"golang.org/x/sys/unix"
	"syscall"

	"sort"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// derived is a store-wide answer cached like a listing.
type derived[T any] struct {
	val   T
	ok    bool
	valid bool
	epoch uint64
	at    time.Time
	until time.Time // if set, stale from then on
}

// Latest returns the name of the valid snapshot with the newest
// created_at (ties: the greatest name). The answer is cached briefly, since
// it costs a look at every snapshot.
func (s *Store) Latest() (string, bool) {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	s.mu.Lock()
	d, epoch := s.latest, s.epoch
	fresh := d.valid && s.fresh(d.epoch, d.at) && (d.until.IsZero() || time.Now().Before(d.until))
	s.mu.Unlock()
	if fresh {
		return d.val, d.ok
	}
	name, ok, until := s.computeLatest()
	s.mu.Lock()
	s.latest = derived[string]{val: name, ok: ok, valid: true, epoch: epoch, at: time.Now(), until: until}
	s.mu.Unlock()
	return name, ok
}

// computeLatest also says when the answer goes stale by itself: when the
// earliest snapshot dated in the future comes within the allowed skew.
func (s *Store) computeLatest() (string, bool, time.Time) {
	list, err := s.List()
	if err != nil {
		return "", false, time.Time{}
	}
	type cand struct {
		name string
		t    snapshot.Timestamp
	}
	// The listing read every created_at; full validation runs on the
	// newest snapshots until one passes. One dated in the future is a
	// status error and never latest, whatever its cached report says.
	var cands []cand
	var until time.Time
	now := time.Now()
	for _, e := range list {
		switch {
		case !e.Decoded:
		case snapshot.Future(e.Created, now):
			if at := e.Created.Time().Add(-snapshot.MaxClockSkew); until.IsZero() || at.Before(until) {
				until = at
			}
		default:
			cands = append(cands, cand{e.Name, e.Created})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.t != b.t {
			return a.t.Seconds > b.t.Seconds || a.t.Seconds == b.t.Seconds && a.t.Nanos > b.t.Nanos
		}
		return a.name > b.name
	})
	for _, c := range cands {
		if sn, err := s.peek(c.name); err == nil && sn.Report().Valid() {
			return c.name, true, until
		}
	}
	return "", false, until
}

// SharedWith names another snapshot whose memory.bin is the same file as
// sn's, or "". The store-wide map is rebuilt at most once per cache period.
func (s *Store) SharedWith(sn *Snap) string {
	st := sn.key.files[fileMemory]
	if st.err != nil || st.st.Nlink < 2 {
		return "" // a file with one link is nobody else's
	}
	for _, other := range s.memoryFiles()[[2]uint64{st.st.Dev, st.st.Ino}] {
		if other != sn.Name {
			return other
		}
	}
	return ""
}

// PublishedAs names a snapshot whose memory.bin is the file st, or "": a
// staged file hard-linked to a published memory.bin must not be written.
func (s *Store) PublishedAs(st *unix.Stat_t) string {
	if st.Nlink < 2 {
		return ""
	}
	if names := s.memoryFiles()[[2]uint64{st.Dev, st.Ino}]; len(names) > 0 {
		return names[0]
	}
	return ""
}

// memoryFiles maps each memory.bin (dev, ino) in STORE to the snapshots
// holding it. It is rebuilt at most once per cache period.
func (s *Store) memoryFiles() map[[2]uint64][]string {
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
	return d.val
}

// Status is the status view of sn: its findings plus the store-wide
// shared-memory warning and the given warnings (units the schema cannot
// decode).
func (s *Store) Status(sn *Snap, warnings ...string) []byte {
	in := sn.checkInput()
	in.MemorySharedWith = s.SharedWith(sn)
	r := snapshot.Check(in)
	for _, w := range warnings {
		r.Add(snapshot.Warning, w)
	}
	return r.Text()
}

// notPublished refuses (EROFS) a change to the staged file fd when it is
// also a published snapshot's memory.bin (linked there by a save).
func (s *Store) notPublished(fd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if snap := s.PublishedAs(&st); snap != "" {
		return fmt.Errorf("%q is also %s/memory.bin, a published snapshot: %w", name, snap, syscall.EROFS)
	}
	return nil
}
