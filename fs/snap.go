package fs

import (
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// The source files of a snapshot, in the order of snapKey.files.
var sourceFiles = [3]string{"manifest.bin", "state.bin", "memory.bin"}

const (
	fileManifest = 0
	fileState    = 1
	fileMemory   = 2
)

// fileStat is an lstat of one source file; err says why it is unusable.
type fileStat struct {
	st   unix.Stat_t
	err  error
	caps bool // has file capabilities (a status error)
}

func (f *fileStat) same(o *fileStat) bool {
	if (f.err == nil) != (o.err == nil) {
		return false
	}
	if f.err != nil {
		return f.err.Error() == o.err.Error()
	}
	a, b := &f.st, &o.st
	return a.Ino == b.Ino && a.Dev == b.Dev && a.Size == b.Size && a.Mtim == b.Mtim && a.Ctim == b.Ctim
}

// snapKey identifies one version of a snapshot's directory and files.
type snapKey struct {
	dir   unix.Stat_t
	files [3]fileStat
}

func (k *snapKey) same(o *snapKey) bool {
	if k.dir.Ino != o.dir.Ino || k.dir.Mtim != o.dir.Mtim || k.dir.Ctim != o.dir.Ctim {
		return false
	}
	for i := range k.files {
		if !k.files[i].same(&o.files[i]) {
			return false
		}
	}
	return true
}

// Snap is one version of a snapshot as read from STORE. It is immutable
// once made, except for the state index, which is read on first need.
type Snap struct {
	Name    string
	key     snapKey
	epoch   uint64       // the store's epoch for Name when key was read; under Store.mu
	checked time.Time    // when key was read; under Store.mu
	used    atomic.Int64 // unix nanos of the last use, for eviction

	ManifestBytes []byte
	ManifestErr   error              // reading manifest.bin
	Manifest      *snapshot.Manifest // nil when it does not decode
	DecodeErr     error
	jsonOnce      sync.Once
	json          []byte // manifest.json view; nil without Manifest

	store     *Store
	reportOne sync.Once
	report    *snapshot.Report
	// stateOver is the bytes of state.bin's index when it is larger than
	// the whole decoded cache (so not kept), else 0.
	stateOver atomic.Int64

	digestOnce sync.Once
	digest     *snapDigest // digest.go
}

// Ino is the STORE inode of the snapshot's directory.
func (sn *Snap) Ino() uint64 { return sn.key.dir.Ino }

// Dir is the lstat of the snapshot's STORE directory.
func (sn *Snap) Dir() *unix.Stat_t { return &sn.key.dir }

// File returns the lstat of source file i (fileManifest...).
func (sn *Snap) File(i int) *fileStat { return &sn.key.files[i] }

func loadSnap(s *Store, name string, key snapKey) *Snap {
	sn := &Snap{Name: name, key: key, store: s}
	sn.ManifestBytes, sn.ManifestErr = s.readSmall(name+"/manifest.bin", &key.files[fileManifest])
	if sn.ManifestErr == nil {
		sn.Manifest, sn.DecodeErr = snapshot.DecodeManifest(sn.ManifestBytes)
	}
	return sn
}

// JSON is the manifest.json view, rendered on first need (listing a
// store decodes every manifest but shows few).
func (sn *Snap) JSON() []byte {
	sn.jsonOnce.Do(func() {
		if sn.Manifest != nil {
			sn.json = sn.Manifest.JSON()
		}
	})
	return sn.json
}

// readSmall reads the regular file rel (of the size st says) with one
// pread; a hostile 1 GiB manifest.bin is refused, not read.
func (s *Store) readSmall(rel string, st *fileStat) ([]byte, error) {
	if st.err != nil {
		return nil, st.err
	}
	if st.st.Size > snapshot.MaxManifestSize {
		return nil, fmt.Errorf("%d bytes, larger than %d bytes", st.st.Size, snapshot.MaxManifestSize)
	}
	fd, err := s.openBeneath(rel, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// One byte more than expected tells a file that grew since the stat.
	b := make([]byte, st.st.Size+1)
	n, err := unix.Pread(fd, b, 0)
	if err != nil {
		return nil, err
	}
	if n > int(st.st.Size) {
		return nil, fmt.Errorf("changed while being read")
	}
	return b[:n], nil
}

// State returns the index of state.bin, read on first need (listing a
// store orders snapshots by manifest alone) and kept in the store's
// decoded cache by the file's identity: never in the Snap, so snapshots
// that share state.bin by hard link share one index, and the cache's
// budget bounds them all.
func (sn *Snap) State() (*snapshot.StateIndex, error) {
	st := &sn.key.files[fileState]
	if st.err != nil {
		return nil, st.err
	}
	e := sn.store.decoded.get(decodedKey{file: idOf(&st.st), kind: kindIndex}, func() decoded {
		return sn.indexState(&st.st)
	})
	if !e.kept && e.err == nil && sn.stateOver.Swap(e.bytes) == 0 {
		slog.Warn("a state.bin index is larger than the whole decoded cache: it is read again at every use",
			"snapshot", sn.Name, "bytes", e.bytes, "budget", sn.store.decoded.budget)
	}
	idx, _ := e.val.(*snapshot.StateIndex)
	return idx, e.err
}

// indexState indexes state.bin, which must still be the file of identity
// want when it is opened and when the index is done; else the answer is
// not kept (it is not that file's).
func (sn *Snap) indexState(want *unix.Stat_t) decoded {
	fd, err := sn.store.openBeneath(sn.Name+"/state.bin", unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return decoded{err: err}
	}
	f := os.NewFile(uintptr(fd), "state.bin")
	defer f.Close()
	stale := func() bool {
		var now unix.Stat_t
		return unix.Fstat(fd, &now) != nil || idOf(&now) != idOf(want)
	}
	if stale() {
		return decoded{err: fmt.Errorf("state.bin changed while being read: %w", unix.ESTALE)}
	}
	idx, err := snapshot.IndexState(f, want.Size)
	if stale() {
		return decoded{err: fmt.Errorf("state.bin changed while being read: %w", unix.ESTALE)}
	}
	if err != nil {
		return decoded{err: err, bytes: errBytes(err), keep: true}
	}
	// Exactly as many units as there are, and the name map made now:
	// what is kept is what is counted.
	idx.Units = append(make([]snapshot.Unit, 0, len(idx.Units)), idx.Units...)
	idx.Find("")
	return decoded{val: idx, bytes: indexBytes(idx), keep: true}
}

// stateWarning is the status line of a state.bin whose index does not
// fit in the decoded cache.
func (sn *Snap) stateWarning() string {
	if sn.stateOver.Load() == 0 {
		sn.State()
	}
	n := sn.stateOver.Load()
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("state.bin's index takes %d bytes, more than the whole decoded cache (%d bytes, --decoded-cache-bytes): it is read again at every use of state/; raise --decoded-cache-bytes",
		n, sn.store.decoded.budget)
}

// checkInput gathers what snapshot.Check needs from the cached reads.
func (sn *Snap) checkInput() snapshot.CheckInput {
	state, stateErr := sn.State()
	mem := &sn.key.files[fileMemory]
	return snapshot.CheckInput{
		ManifestBytes:  sn.ManifestBytes,
		ManifestErr:    sn.ManifestErr,
		State:          state,
		StateErr:       stateErr,
		MemorySize:     mem.st.Size,
		MemoryMtime:    time.Unix(mem.st.Mtim.Unix()),
		MemoryErr:      mem.err,
		DigestProblems: sn.digestInfo().problems,
		Perms:          sn.perms(),
	}
}

// perms are the modes and capabilities of the source files that exist.
func (sn *Snap) perms() []snapshot.FilePerm {
	var out []snapshot.FilePerm
	for i, f := range sn.key.files {
		if f.err == nil {
			out = append(out, snapshot.FilePerm{Name: sourceFiles[i], Mode: f.st.Mode, Caps: f.caps})
		}
	}
	return out
}

// Report is the snapshot's validation without store-wide checks, which
// is all that decides validity. It is kept without the clock's check, so
// a snapshot dated a little ahead becomes valid once its time comes; one
// that is in the future now is checked afresh.
func (sn *Snap) Report() *snapshot.Report {
	sn.reportOne.Do(func() {
		in := sn.checkInput()
		in.NoClock = true
		sn.report = snapshot.Check(in)
	})
	if m := sn.report.Manifest; m != nil && snapshot.Future(m.CreatedAt, time.Now()) {
		return snapshot.Check(sn.checkInput())
	}
	return sn.report
}
