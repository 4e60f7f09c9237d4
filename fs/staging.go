package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// stagingDirName is the hidden STORE directory that holds new/: staged
// data lives on STORE's filesystem, so publishing is a rename and a
// restart of the daemon loses nothing.
const stagingDirName = ".snapfs-staging"

// stagedFiles are the files a staging directory may hold.
var stagedFiles = map[string]bool{"manifest.bin": true, "manifest.json": true, "state.bin": true, "memory.bin": true, sumsFile: true}

// stager manages new/: staging directories, their validation and their
// publication, by rename or by itself after the commit delay. Every
// access goes through directory fds (stagearea.go).
type stager struct {
	t       *tree
	mu      sync.Mutex
	stages  map[string]*stage
	inodes  map[uint64]int     // STORE inode -> handles open for writing, in any stage
	refused atomic.Bool        // logged that .snapfs-staging is refused
	sealed  map[fileKey]string // files of snapshots published or publishing (seal.go)

	// published is called after a staging directory became STORE/name,
	// so the kernel can drop its stale entries.
	published func(staged, name string)
}

// stage is the daemon's knowledge of one staging directory. Its mutex
// serialises every change made through the mount with validation and
// publishing: nothing changes between the checks and the rename.
type stage struct {
	mu         sync.Mutex
	name       string // its name in new/, changed by rename
	done       bool   // published: every later change fails (ENOENT)
	writers    int    // handles open for writing
	blocked    bool   // an automatic publish waits for a file open in another stage
	statusGone bool   // status was unlinked, and not written back since
	maker      uint32 // pid of the mkdir of this directory through the mount
	wroteBack  bool   // status was written back (created) since
	lastChange time.Time
	timer      *time.Timer
	last       string // findings of the last failed validation
	stopped    bool   // a marker says a daemon stopped validating it (validating.go)
}

func newStager(t *tree) *stager {
	s := &stager{t: t, stages: map[string]*stage{}, inodes: map[uint64]int{}, sealed: map[fileKey]string{}}
	stagedSums.onHashed(s.retryRefused)
	return s
}

// retryRefused schedules the automatic publish of every staging
// directory whose last validation failed (one may have waited for a file
// hashed in the background); one still invalid fails again, once.
func (s *stager) retryRefused() {
	s.mu.Lock()
	var refused []*stage
	for _, st := range s.stages {
		refused = append(refused, st)
	}
	s.mu.Unlock()
	for _, st := range refused {
		st.mu.Lock()
		if st.last != "" {
			s.schedule(st.name, st)
		}
		st.mu.Unlock()
	}
}

// opened counts a handle open for writing on the file fst of st, whose
// lock the caller holds; a sealed file is refused here, under s.mu, so
// publishing (which seals, then looks for writers) cannot miss it.
func (s *stager) opened(st *stage, fst *unix.Stat_t) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if snap := s.sealed[keyOf(fst)]; snap != "" {
		return fmt.Errorf("a file of the published snapshot %s: %w", snap, syscall.EROFS)
	}
	st.writers++
	s.inodes[fst.Ino]++
	return nil
}

// busy reports whether a staged file of dir is open for writing through
// any staging directory (a hard link shares the inode).
func (s *stager) busy(dir *os.File) bool {
	s.mu.Lock()
	open := len(s.inodes) > 0
	s.mu.Unlock()
	if !open {
		return false
	}
	for _, n := range stagedNames(dir) {
		if st, err := statEntry(dir, n); err == nil {
			s.mu.Lock()
			k := s.inodes[st.Ino]
			s.mu.Unlock()
			if k > 0 {
				return true
			}
		}
	}
	return false
}

func (s *stager) get(name string) *stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[name]
	if st == nil {
		st = &stage{name: name, lastChange: time.Now()}
		s.stages[name] = st
	}
	return st
}

// change runs fn on the staging directory name (the STORE inode ino, if
// not 0) while nothing else changes it, and records the change. Once the
// directory is published it fails with ENOENT, as the directory is gone.
func (s *stager) change(name string, ino uint64, fn func(st *stage, dir *os.File) error) error {
	st := s.get(name)
	st.mu.Lock()
	err := func() error {
		if st.done {
			return fmt.Errorf("staging directory %q was published: %w", name, syscall.ENOENT)
		}
		dir, err := s.openStage(name, ino)
		if err != nil {
			return err
		}
		defer dir.Close()
		return fn(st, dir)
	}()
	st.mu.Unlock()
	if err == nil {
		s.touched(name)
	}
	return err
}

// changeTwo is change of the staging directory name while the staging
// directory other is locked too (a hard link from it): locks are taken in
// name order, so two links in opposite directions cannot deadlock.
func (s *stager) changeTwo(name string, ino uint64, other string, fn func(dir *os.File) error) error {
	o := s.get(other)
	lockOther := func() error {
		o.mu.Lock()
		if o.done {
			o.mu.Unlock()
			return fmt.Errorf("staging directory %q was published: %w", other, syscall.ENOENT)
		}
		return nil
	}
	if other < name {
		if err := lockOther(); err != nil {
			return err
		}
		defer o.mu.Unlock()
		return s.change(name, ino, func(_ *stage, dir *os.File) error { return fn(dir) })
	}
	return s.change(name, ino, func(_ *stage, dir *os.File) error {
		if err := lockOther(); err != nil {
			return err
		}
		defer o.mu.Unlock()
		return fn(dir)
	})
}

// list returns the names of the staging directories.
func (s *stager) list() ([]string, error) {
	stages, err := s.listStat()
	names := make([]string, len(stages))
	for i, st := range stages {
		names[i] = st.name
	}
	return names, err
}

// stagedDir is one staging directory as listed.
type stagedDir struct {
	name string
	ino  uint64
}

// listStat lists the staging directories, sorted, with one lstat each.
func (s *stager) listStat() ([]stagedDir, error) {
	r, err := s.root()
	if errors.Is(err, unix.ENOENT) || errors.Is(err, errStagingRefused) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer r.Close()
	all, err := entryNames(r)
	if err != nil {
		return nil, err
	}
	sort.Strings(all)
	out := make([]stagedDir, 0, len(all))
	for _, n := range all {
		if hiddenStage(n) {
			continue // the daemon's own (validating.go)
		}
		if st, err := statEntry(r, n); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
			out = append(out, stagedDir{n, st.Ino})
		}
	}
	return out, nil
}

// exists lstats the staging directory name.
func (s *stager) exists(name string) (unix.Stat_t, bool) {
	if hiddenStage(name) {
		return unix.Stat_t{}, false
	}
	r, err := s.root()
	if err != nil {
		return unix.Stat_t{}, false
	}
	defer r.Close()
	st, err := statEntry(r, name)
	return st, err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// rootStat lstats .snapfs-staging, or STORE while there is none.
func (s *stager) rootStat() (unix.Stat_t, error) {
	var st unix.Stat_t
	r, err := s.root()
	if err == nil {
		defer r.Close()
		return st, unix.Fstat(int(r.Fd()), &st)
	}
	if !errors.Is(err, unix.ENOENT) {
		return st, err
	}
	return st, unix.Fstat(s.t.store.fd, &st)
}

// taken reports whether STORE already has an entry called name.
func (s *stager) taken(name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(s.t.store.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// mkdir opens a staging directory owned by the caller (process pid),
// with mode.
func (s *stager) mkdir(name string, mode uint32, uid, gid int, pid uint32) error {
	if err := snapshot.ValidName(name); err != nil {
		return err
	}
	if s.taken(name) {
		return fmt.Errorf("snapshot %q already exists: %w", name, syscall.EEXIST)
	}
	r, err := s.ensureRoot()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := s.underCap(r, uid); err != nil {
		return err
	}
	if err := unix.Mkdirat(int(r.Fd()), name, mode&0o7777); err != nil {
		return err
	}
	d, err := openDirAt(int(r.Fd()), name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := chownFd(int(d.Fd()), uid, gid); err != nil {
		unix.Unlinkat(int(r.Fd()), name, unix.AT_REMOVEDIR)
		return err
	}
	st := s.get(name)
	st.mu.Lock()
	st.maker, st.wroteBack, st.statusGone = pid, false, false
	st.mu.Unlock()
	return nil
}

// DefaultMaxStagingDirsPerUser is how many staging directories one user
// may have in new/ at once.
const DefaultMaxStagingDirsPerUser = 64

// underCap refuses (EDQUOT) a new staging directory for uid once it owns
// the most it may: every staging directory costs the daemon memory and
// a watch. Root is not limited.
func (s *stager) underCap(r *os.File, uid int) error {
	max := s.t.opts.MaxStagingDirsPerUser
	if max <= 0 {
		max = DefaultMaxStagingDirsPerUser
	}
	if uid == 0 {
		return nil
	}
	names, err := entryNames(r)
	if err != nil {
		return err
	}
	n := 0
	for _, e := range names {
		if st, err := statEntry(r, e); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && int(st.Uid) == uid {
			n++
		}
	}
	if n >= max {
		return fmt.Errorf("uid %d has %d staging directories in new/, the most allowed (--max-staging-dirs-per-user): publish or remove one: %w", uid, n, syscall.EDQUOT)
	}
	return nil
}

// withStage runs fn with the staging directory name's stage locked and
// the staging area open: the start of every rename, removal and publish.
// A stage already published or removed is ENOENT.
func (s *stager) withStage(name string, fn func(st *stage, r *os.File) error) error {
	st := s.get(name)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return syscall.ENOENT
	}
	r, err := s.root()
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(st, r)
}

// rename moves a staging directory within new/.
func (s *stager) rename(old, name string) error {
	if err := snapshot.ValidName(name); err != nil {
		return err
	}
	if s.taken(name) {
		return syscall.EEXIST
	}
	return s.withStage(old, func(st *stage, r *os.File) error {
		// With the fallback for filesystems without RENAME_NOREPLACE
		// (GlusterFS answers EINVAL).
		if err := snapshot.RenameNoReplace(int(r.Fd()), old, int(r.Fd()), name); err != nil {
			if errors.Is(err, unix.ENOTEMPTY) {
				return syscall.EEXIST
			}
			return err
		}
		s.mu.Lock()
		delete(s.stages, old)
		s.stages[name] = st
		s.mu.Unlock()
		st.name = name
		st.lastChange = time.Now()
		s.forgetStop(name, st)
		s.schedule(name, st)
		return nil
	})
}

// remove deletes an empty staging directory.
func (s *stager) remove(name string) error {
	return s.withStage(name, func(st *stage, r *os.File) error {
		if err := unix.Unlinkat(int(r.Fd()), name, unix.AT_REMOVEDIR); err != nil {
			return err
		}
		if st.timer != nil {
			st.timer.Stop()
		}
		s.mu.Lock()
		delete(s.stages, name)
		s.mu.Unlock()
		return nil
	})
}

// closed counts a handle open for writing gone; like touched, it
// restarts the wait before an automatic publish. (Handles are counted
// when opened, under change.)
func (s *stager) closed(st *stage, ino uint64) {
	st.mu.Lock()
	if st.writers > 0 {
		st.writers--
	}
	st.lastChange = time.Now()
	s.schedule(st.name, st)
	st.mu.Unlock()
	s.mu.Lock()
	if s.inodes[ino]--; s.inodes[ino] > 0 {
		s.mu.Unlock()
		return
	}
	delete(s.inodes, ino)
	var blocked []*stage
	for _, o := range s.stages {
		if o != st {
			blocked = append(blocked, o)
		}
	}
	s.mu.Unlock()
	// Stages that waited for this file (linked into them) try again.
	for _, o := range blocked {
		o.mu.Lock()
		if o.blocked {
			o.blocked = false
			s.schedule(o.name, o)
		}
		o.mu.Unlock()
	}
}

func (s *stager) touched(name string) {
	st := s.get(name)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastChange = time.Now()
	s.forgetStop(name, st)
	s.schedule(name, st)
}

// forgetStop drops the marker of an interrupted validation of st, which
// changed: it may publish by itself again. Callers hold st.mu.
func (s *stager) forgetStop(name string, st *stage) {
	if st.stopped {
		st.stopped = false
		s.dropMarker(name) // now: the next try must not find it
	}
}

// schedule (re)starts the commit delay of st; callers hold st.mu.
func (s *stager) schedule(name string, st *stage) {
	delay := s.t.opts.CommitDelay
	if delay <= 0 || st.done {
		return
	}
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = time.AfterFunc(delay, func() { s.autoCommit(name) })
}

// autoCommit publishes name under its own name once it is complete,
// closed and quiet for the commit delay.
func (s *stager) autoCommit(name string) {
	st := s.get(name)
	st.mu.Lock()
	quiet := st.writers == 0 && time.Since(st.lastChange) >= s.t.opts.CommitDelay
	st.mu.Unlock()
	if !quiet {
		return // a later close or change schedules another try
	}
	dir, err := s.openStage(name, 0)
	if err != nil {
		return
	}
	missing, busy := missingFiles(dir), s.busy(dir)
	last := lastChanged(dir)
	// Under the lock, so a validation running now is not taken for one
	// a stopped daemon left.
	st.mu.Lock()
	started, stopped := s.interrupted(dir)
	if stopped && !st.stopped {
		slog.Warn("staged snapshot not published by itself: its validation did not finish last time (the daemon stopped during it); change a file or mv it to try again",
			"name", name, "validation_started", started.UTC().Format(time.RFC3339Nano))
	}
	st.stopped = stopped
	st.mu.Unlock()
	dir.Close()
	if len(missing) > 0 || stopped {
		return
	}
	if wait := min(s.t.opts.CommitDelay-time.Since(last), s.t.opts.CommitDelay); wait > 0 {
		// Changed by a writer the daemon does not count: another host
		// on a shared STORE (or a clock apart): wait for it to be quiet.
		st.mu.Lock()
		if st.timer != nil {
			st.timer.Stop()
		}
		if !st.done {
			st.timer = time.AfterFunc(wait, func() { s.autoCommit(name) })
		}
		st.mu.Unlock()
		return
	}
	if busy {
		st.mu.Lock()
		st.blocked = true // its closing schedules another try
		st.mu.Unlock()
		return
	}
	if err := s.publish(name, name); err != nil {
		slog.Info("staged snapshot not published", "name", name, "err", err)
		var elsewhere *errOpenElsewhere
		if errors.As(err, &elsewhere) {
			// Open elsewhere: no close here will say when it is over.
			st.mu.Lock()
			s.schedule(name, st)
			st.mu.Unlock()
		}
	}
}

// lastChanged is the newest change time of dir and its entries: on a
// shared STORE another host's writes show there and nowhere else.
func lastChanged(dir *os.File) time.Time {
	var newest unix.Timespec
	if st, err := statEntry(dir, "."); err == nil {
		newest = st.Ctim
	}
	for _, n := range stagedNames(dir) {
		if st, err := statEntry(dir, n); err == nil && timeAfter(&st.Ctim, &newest) {
			newest = st.Ctim
		}
	}
	return time.Unix(newest.Unix())
}

// missingFiles lists the required files not yet staged in dir.
func missingFiles(dir *os.File) []string {
	have := map[string]bool{}
	names, _ := entryNames(dir)
	for _, n := range names {
		have[n] = true
	}
	var out []string
	if !have["manifest.bin"] && !have["manifest.json"] {
		out = append(out, "manifest.bin")
	}
	for _, f := range []string{"state.bin", "memory.bin"} {
		if !have[f] {
			out = append(out, f)
		}
	}
	return out
}

// errInvalid wraps EINVAL with the findings that make a staged snapshot
// invalid.
type errInvalid struct{ findings string }

func (e *errInvalid) Error() string {
	return "snapshot is not valid: " + strings.ReplaceAll(strings.TrimSpace(e.findings), "\n", "; ")
}
func (e *errInvalid) Unwrap() error { return syscall.EINVAL }

// publish validates staging directory name and renames it to STORE/target.
// The target must be free (checked first); on any failure the staging
// directory stays as it was and status says why. No handle may be open
// for writing, and none can open, nor anything else change, until the
// rename is done (stage.mu).
func (s *stager) publish(name, target string) error {
	if err := snapshot.ValidName(target); err != nil {
		return err
	}
	if s.taken(target) {
		return fmt.Errorf("publish %q: %w", target, syscall.EEXIST)
	}
	return s.withStage(name, func(st *stage, r *os.File) error { return s.publishLocked(st, r, name, target) })
}

// publishLocked is publish once withStage holds st and opened the
// staging area r.
func (s *stager) publishLocked(st *stage, r *os.File, name, target string) error {
	dir, err := openDirAt(int(r.Fd()), name)
	if err != nil {
		return err
	}
	defer dir.Close()
	// The kernel sends RELEASE after close(2) returns, so a writer that
	// just closed may still count: give it a moment before refusing.
	// Changes through this stage may still come meanwhile (the lock is
	// let go); they are validated below like any other. Writers of other
	// daemons are waited for the same way (crosslock.go).
	var locks *pubLocks
	var lockErr error
	for wait := 0; ; wait++ {
		if st.writers == 0 && !s.busy(dir) {
			if locks, lockErr = lockForPublish(dir); lockErr == nil {
				break
			}
		}
		if wait == lockTries || st.done {
			break
		}
		st.mu.Unlock()
		time.Sleep(lockPause)
		st.mu.Lock()
	}
	if st.done {
		locks.release()
		return syscall.ENOENT
	}
	// Sealed, then no writer may be left: from here on the lock is held to
	// the rename, and nothing reaches the files through another staging
	// name (seal.go), nor another daemon's writer (crosslock.go), until
	// the other names are gone.
	keys := s.seal(dir, target)
	ok := false
	defer func() {
		if ok {
			go func() {
				s.unlinkLeftovers(target, keys)
				locks.release()
			}()
		} else {
			locks.release()
			s.unseal(keys)
		}
	}()
	var elsewhere *errOpenElsewhere
	switch {
	case st.writers > 0 || s.busy(dir):
		st.last = "error: a file is still open for writing\n"
		return fmt.Errorf("publish %q: a file is still open for writing: %w", target, syscall.EBUSY)
	case errors.As(lockErr, &elsewhere):
		st.last = "error: " + elsewhere.Error() + "\n"
		return fmt.Errorf("publish %q: %w", target, lockErr)
	case lockErr != nil:
		return lockErr
	}
	unix.Unlinkat(int(dir.Fd()), manifestTmp, 0) // left by a crash in placeManifest
	validated := s.markValidating(r, dir, name)
	manifest, report := validateStaged(dir, time.Now())
	validated()
	st.stopped = false
	if !report.Valid() {
		st.last = string(report.Text())
		slog.Warn("staged snapshot rejected", "name", name, "findings", strings.TrimSpace(st.last))
		return &errInvalid{st.last}
	}
	if testAfterValidation != nil {
		testAfterValidation(target)
	}
	// Validation reads every file (sha256sums hash memory.bin): another
	// host may have taken the name meanwhile. Ask again before the first
	// change to the staging directory, so that a lost race leaves it as
	// it was (the window left is placeManifest's).
	if s.taken(target) {
		st.last = fmt.Sprintf("error: %s exists in STORE: publish under another name\n", target)
		return fmt.Errorf("publish %q: %w", target, syscall.EEXIST)
	}
	if err := placeManifest(dir, manifest, locks); err != nil {
		return err
	}
	if err := removeViews(dir); err != nil {
		return err
	}
	if err := stripPrivileges(dir, name); err != nil {
		return err
	}
	store, err := openDirAt(s.t.store.fd, ".")
	if err != nil {
		return err
	}
	defer store.Close()
	holdFd := -1
	if h := s.hold(true); h != nil {
		defer h.Close()
		holdFd = int(h.Fd())
	}
	if err := snapshot.PublishAt(dir, int(r.Fd()), name, int(store.Fd()), target, holdFd); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("publish %q: %w", target, syscall.EEXIST)
		}
		st.last = "error: " + err.Error() + "\n"
		return err
	}
	st.done, ok = true, true
	if st.timer != nil {
		st.timer.Stop()
	}
	s.mu.Lock()
	if s.stages[name] == st {
		delete(s.stages, name)
	}
	s.mu.Unlock()
	slog.Info("published snapshot", "name", target, "staged_as", name)
	if s.published != nil {
		s.published(name, target)
	}
	return nil
}

// testAfterValidation, when set by a test, runs between validation and
// the first change publish makes (a race with another host).
var testAfterValidation func(target string)

// manifestTmp is where placeManifest writes manifest.bin before renaming
// it into place.
const manifestTmp = ".manifest.bin.snapfs-tmp"

// placeManifest makes manifest.bin of dir hold exactly manifest, replacing
// a manifest.json, durably. The file it writes takes manifest.json's
// owner and mode: it is the same data, given by the same user. It is
// locked (in locks) before it is written: no other daemon's writer may
// reach it.
func placeManifest(dir *os.File, manifest []byte, locks *pubLocks) error {
	dfd := int(dir.Fd())
	if cur, err := readEntry(dir, "manifest.bin", snapshot.MaxManifestSize); err != nil || string(cur) != string(manifest) {
		owner, err := statEntry(dir, "manifest.json")
		if err != nil {
			owner, err = statEntry(dir, ".")
		}
		if err != nil {
			return err
		}
		fd, err := openAt(dfd, manifestTmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, owner.Mode&0o666)
		if err != nil {
			return err
		}
		// Emptied once locked: whatever a writer slipped in before is gone.
		lfd, err := unix.Dup(fd)
		if err == nil {
			err = locks.lock(lfd, "manifest.bin")
		}
		if err == nil {
			err = unix.Ftruncate(fd, 0)
		}
		f := os.NewFile(uintptr(fd), manifestTmp)
		if err == nil {
			_, err = f.Write(manifest)
		}
		if err == nil {
			err = chownFd(fd, int(owner.Uid), int(owner.Gid))
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = unix.Renameat(dfd, manifestTmp, dfd, "manifest.bin")
		}
		if err != nil {
			unix.Unlinkat(dfd, manifestTmp, 0)
			return fmt.Errorf("writing manifest.bin: %w", err)
		}
	}
	if err := unix.Unlinkat(dfd, "manifest.json", 0); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// stagedNames lists a staging directory's entries, sorted.
func stagedNames(dir *os.File) []string {
	names, _ := entryNames(dir)
	sort.Strings(names)
	return names
}
