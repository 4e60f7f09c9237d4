package fs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// A written-back sha256sums is checked against the staged files while
// `mv new/x x` holds the kernel's rename locks on MNT and MNT/new, so
// every listing of them waits for it. A file up to inlineHashMax is
// hashed there; a larger one is hashed once in the background (at idle
// priority) and its sum kept by the file's identity, and the mv is
// refused until then with a finding that says so. So no request that
// holds a directory lock waits on a file's size.
const (
	inlineHashMax = 64 << 20
	maxStagedSums = 1024 // sums kept
	maxHashQueue  = 16   // large files waiting to be hashed
)

// fileID is a file's identity: any change to it makes a new one.
type fileID struct {
	dev, ino   uint64
	size       int64
	mtim, ctim unix.Timespec
}

func idOf(st *unix.Stat_t) fileID {
	return fileID{st.Dev, st.Ino, st.Size, st.Mtim, st.Ctim}
}

// sumsCache holds the sums of staged files hashed so far, and the large
// files waiting for the background hasher.
type sumsCache struct {
	mu      sync.Mutex
	sums    map[fileID]string
	order   []fileID // oldest first, for eviction
	pending map[fileID]bool
	running bool
	hashed  []func() // called after each background hash (onHashed)
}

var stagedSums = &sumsCache{sums: map[fileID]string{}, pending: map[fileID]bool{}}

// sum returns the SHA-256 (hex) of the open file f, hashing it inline
// when it is small, else queueing it and returning an error saying so.
func (c *sumsCache) sum(f *os.File) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", err
	}
	id := idOf(&st)
	c.mu.Lock()
	s, ok := c.sums[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	if st.Size <= inlineHashMax {
		s, err := hashOpen(f, &st)
		if err == nil {
			c.put(id, s)
		}
		return s, err
	}
	return "", c.queue(f, id, st.Size)
}

// queue hands a large file to the background hasher.
func (c *sumsCache) queue(f *os.File, id fileID, size int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.pending[id] {
		if len(c.pending) >= maxHashQueue {
			return fmt.Errorf("%d large files wait to be hashed for written-back sha256sums: mv again later", len(c.pending))
		}
		// A new fd, so the hasher's file outlives the validation's; it
		// reads with pread, so the shared offset does not matter.
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return err
		}
		c.pending[id] = true
		go c.hashLater(os.NewFile(uintptr(fd), f.Name()), id)
	}
	return fmt.Errorf("is %d bytes, more than is hashed while mv waits (%d): it is being hashed in the background at idle priority; mv again in a while", size, inlineHashMax)
}

// hashLater hashes f in the background, one file at a time.
func (c *sumsCache) hashLater(f *os.File, id fileID) {
	defer f.Close()
	hashTurn.Lock()
	defer hashTurn.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	background()
	var st unix.Stat_t
	s, err := "", unix.Fstat(int(f.Fd()), &st)
	if err == nil && idOf(&st) == id {
		s, err = hashOpen(f, &st)
	}
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
	if err != nil {
		slog.Warn("hashing a staged file for its written-back sha256sums failed", "file", f.Name(), "err", err)
		return
	}
	c.put(id, s)
	c.mu.Lock()
	hashed := c.hashed
	c.mu.Unlock()
	for _, f := range hashed {
		f()
	}
}

// onHashed registers f to run after each background hash: a staging
// directory refused while its file was hashed changes no more, so
// nothing else would start its automatic publish again.
func (c *sumsCache) onHashed(f func()) {
	c.mu.Lock()
	c.hashed = append(c.hashed, f)
	c.mu.Unlock()
}

// hashTurn lets one large staged file be hashed at a time.
var hashTurn sync.Mutex

// put keeps a sum, dropping the oldest past maxStagedSums.
func (c *sumsCache) put(id fileID, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.sums[id]; ok {
		return
	}
	c.sums[id] = s
	c.order = append(c.order, id)
	if len(c.order) > maxStagedSums {
		delete(c.sums, c.order[0])
		c.order = c.order[1:]
	}
}

// hashOpen hashes f from its start, failing if it changed meanwhile.
func hashOpen(f *os.File, st *unix.Stat_t) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size)); err != nil {
		return "", err
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return "", err
	}
	if idOf(&after) != idOf(st) {
		return "", fmt.Errorf("changed while it was being hashed")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
