package fs

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// byteLimit bounds what each user other than root holds on STORE's disk
// through the mount (--max-staged-bytes-per-user): the blocks of the
// staged files they own plus those of their open restore clones (holes
// cost nothing). A write, fallocate or copy that would pass it fails with
// EDQUOT for that user only. Passthrough writes never reach the daemon,
// so with a limit staged files and clones are served by the daemon.
//
// A user's figure comes from a scan of the staging area and their open
// clones, then follows each file the daemon writes for them (its blocks
// after each call). It can only be too high (files removed or published
// since), so a call that would pass the limit scans again first: at once
// if something was removed through the mount since the last scan, else
// at most once a second.
type byteLimit struct {
	max     int64
	stage   *stager
	mu      sync.Mutex
	users   map[uint32]*userBytes
	removed atomic.Uint64 // removals through the mount (unlink, rename over, publish)
}

// newByteLimit is the limit max, or nil (no limit) when max is not above 0.
func newByteLimit(max int64, s *stager) *byteLimit {
	if max <= 0 {
		return nil
	}
	return &byteLimit{max: max, stage: s, users: map[uint32]*userBytes{}}
}

// userBytes is one user's figure.
type userBytes struct {
	uid     uint32
	mu      sync.Mutex
	scanned time.Time // the last scan; zero before the first
	gen     uint64    // removed, at the last scan
	bytes   int64     // allocated, as last measured
	pending int64     // reserved by calls in flight
	files   map[fileKey]*heldFile
}

// heldFile is a file of the user's that the mount holds open for writing.
type heldFile struct {
	refs  int
	last  int64 // allocated bytes, as last measured
	clone int   // the fd of a restore clone, else -1
}

// charged is one open file whose writes count for its owner; nil counts
// nothing.
type charged struct {
	l   *byteLimit
	u   *userBytes
	key fileKey
	fd  int
}

// allocated is what st takes on disk.
func allocated(st *unix.Stat_t) int64 { return st.Blocks * 512 }

// removedSome records that staged bytes may have gone.
func (l *byteLimit) removedSome() {
	if l != nil {
		l.removed.Add(1)
	}
}

func (l *byteLimit) user(uid uint32) *userBytes {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[uid]
	if u == nil {
		u = &userBytes{uid: uid, files: map[fileKey]*heldFile{}}
		l.users[uid] = u
	}
	return u
}

// open counts the writes to fd, a staged file or a new restore clone,
// for the file's owner until close.
func (l *byteLimit) open(fd int, clone bool) (*charged, error) {
	if l == nil {
		return nil, nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Uid == 0 {
		return nil, nil // root is not limited
	}
	u := l.user(st.Uid)
	u.mu.Lock()
	defer u.mu.Unlock()
	k := keyOf(&st)
	f := u.files[k]
	if f == nil {
		// A staged file's blocks are in the figure already (or it is
		// new and has none); a new clone has none.
		f = &heldFile{last: allocated(&st), clone: -1}
		u.files[k] = f
	}
	if clone {
		f.clone = fd
	}
	f.refs++
	return &charged{l, u, k, fd}, nil
}

// close stops counting the file's writes; a clone's blocks go with it.
func (c *charged) close() {
	if c == nil {
		return
	}
	u := c.u
	u.mu.Lock()
	defer u.mu.Unlock()
	f := u.files[c.key]
	if f == nil {
		return
	}
	if f.clone >= 0 {
		u.bytes -= f.last
	}
	if f.refs--; f.refs == 0 {
		delete(u.files, c.key)
	}
}

// write runs fn, which may allocate up to n bytes of the file from off,
// if the owner's limit allows it, and counts what it allocated.
func (c *charged) write(off, n int64, fn func() error) error {
	if c == nil {
		return fn()
	}
	reserved, err := c.reserve(off, n)
	if err != nil {
		return err
	}
	err = fn()
	c.measure(reserved)
	return err
}

// reserve counts n bytes from off as allocated until measure.
func (c *charged) reserve(off, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	u, l := c.u, c.l
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.scanned.IsZero() {
		l.scan(u)
	}
	over := func() bool { return u.bytes+u.pending+n > l.max }
	if over() {
		n = holeBytes(c.fd, off, n) // an overwrite allocates nothing
	}
	if over() && (u.gen != l.removed.Load() || time.Since(u.scanned) >= time.Second) {
		l.scan(u)
	}
	if over() {
		return 0, fmt.Errorf("uid %d holds %d bytes in new/ and in restore clones; %d more would pass --max-staged-bytes-per-user %d: publish or remove staged files, or close a restore: %w",
			u.uid, u.bytes+u.pending, n, l.max, syscall.EDQUOT)
	}
	u.pending += n
	return n, nil
}

// measure replaces a reservation by the blocks the file has now.
func (c *charged) measure(reserved int64) {
	var st unix.Stat_t
	err := unix.Fstat(c.fd, &st)
	u := c.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.pending -= reserved
	if f := u.files[c.key]; err == nil && f != nil {
		u.bytes += allocated(&st) - f.last
		f.last = allocated(&st)
	}
}

// holeBytes is how many of the n bytes of fd from off are holes: what a
// write there may allocate.
func holeBytes(fd int, off, n int64) int64 {
	end, data := off+n, int64(0)
	for pos := off; pos < end; {
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if err != nil || d >= end {
			break // ENXIO: holes up to the end of the file
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			return n
		}
		data += min(h, end) - d
		pos = h
	}
	return n - data
}

// scan finds u's figure: the blocks of the staged files u owns (a file
// with n links counts 1/n at each, so it counts once) and of u's open
// clones. The caller holds u.mu.
func (l *byteLimit) scan(u *userBytes) {
	u.gen = l.removed.Load()
	var total int64
	found := map[fileKey]bool{} // of u.files only: bounded by open handles
	l.stage.eachStaged(func(st *unix.Stat_t) {
		if st.Uid != u.uid {
			return
		}
		b := allocated(st)
		if st.Nlink > 1 {
			b /= int64(st.Nlink)
		}
		total += b
		if f := u.files[keyOf(st)]; f != nil && f.clone < 0 {
			f.last = allocated(st)
			found[keyOf(st)] = true
		}
	})
	for k, f := range u.files {
		var st unix.Stat_t
		switch {
		case f.clone >= 0:
			if unix.Fstat(f.clone, &st) == nil {
				f.last = allocated(&st)
			}
			total += f.last
		case !found[k]:
			total += f.last // open, with no name in new/ any more
		}
	}
	u.bytes, u.scanned = total, time.Now()
}

// eachStaged calls fn with every regular file below new/: in the staging
// directories, and in their view directories (manifest/, state/<unit>/).
func (s *stager) eachStaged(fn func(st *unix.Stat_t)) {
	r, err := s.root()
	if err != nil {
		return // none yet, or refused: nothing staged through the mount
	}
	defer r.Close()
	walkStaged(r, 0, fn)
}

// walkStaged calls fn with the regular files of dir and of its
// directories, down to depth 3 below .snapfs-staging.
func walkStaged(dir *os.File, depth int, fn func(st *unix.Stat_t)) {
	names, _ := entryNames(dir)
	for _, n := range names {
		st, err := statEntry(dir, n)
		if err != nil {
			continue
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if depth > 0 { // .snapfs-staging itself holds only directories
				fn(&st)
			}
		case unix.S_IFDIR:
			if depth < 3 {
				if sub, err := openDirAt(int(dir.Fd()), n); err == nil {
					walkStaged(sub, depth+1, fn)
					sub.Close()
				}
			}
		}
	}
}

// userWrite runs fn, a call on the file c counts that may allocate up to
// n bytes from off, with the caller's credentials and within the file
// owner's limit.
func userWrite(ctx context.Context, c *charged, off, n int64, fn func() error) error {
	return c.write(off, n, func() error { return asCaller(ctx, fn) })
}
