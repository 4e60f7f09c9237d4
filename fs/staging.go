package fs

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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
var stagedFiles = map[string]bool{"manifest.bin": true, "manifest.json": true, "state.bin": true, "memory.bin": true}

// stager manages new/: staging directories, their validation and their
// publication, by rename or by itself after the commit delay.
type stager struct {
	t      *tree
	mu     sync.Mutex
	stages map[string]*stage

	// published is called after a staging directory became STORE/name,
	// so the kernel can drop its stale entries.
	published func(staged, name string)
}

// stage is the daemon's knowledge of one staging directory.
type stage struct {
	mu         sync.Mutex // serialises validation and publishing
	writers    int        // handles open for writing
	lastChange time.Time
	timer      *time.Timer
	last       string // findings of the last failed validation
}

func newStager(t *tree) *stager { return &stager{t: t, stages: map[string]*stage{}} }

func stagingRel(name string) string { return stagingDirName + "/" + name }

func (s *stager) path(name string) string { return filepath.Join(s.t.store.Dir, stagingDirName, name) }

func (s *stager) get(name string) *stage {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stages[name]
	if st == nil {
		st = &stage{lastChange: time.Now()}
		s.stages[name] = st
	}
	return st
}

// list returns the names of the staging directories.
func (s *stager) list() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(s.t.store.Dir, stagingDirName))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// exists reports whether a staging directory name exists.
func (s *stager) exists(name string) (unix.Stat_t, bool) {
	var st unix.Stat_t
	err := unix.Fstatat(s.t.store.fd, stagingRel(name), &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// taken reports whether STORE already has an entry called name.
func (s *stager) taken(name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(s.t.store.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// mkdir opens a staging directory.
func (s *stager) mkdir(name string) error {
	if err := snapshot.ValidName(name); err != nil {
		return err
	}
	if s.taken(name) {
		return fmt.Errorf("snapshot %q already exists: %w", name, syscall.EEXIST)
	}
	if err := unix.Mkdirat(s.t.store.fd, stagingDirName, 0o700); err != nil && err != unix.EEXIST {
		return err
	}
	if err := unix.Mkdirat(s.t.store.fd, stagingRel(name), 0o755); err != nil {
		return err
	}
	s.get(name)
	return nil
}

// rename moves a staging directory within new/.
func (s *stager) rename(old, name string) error {
	if err := snapshot.ValidName(name); err != nil {
		return err
	}
	if s.taken(name) {
		return syscall.EEXIST
	}
	err := unix.Renameat2(s.t.store.fd, stagingRel(old), s.t.store.fd, stagingRel(name), unix.RENAME_NOREPLACE)
	if err != nil {
		return err
	}
	s.mu.Lock()
	st := s.stages[old]
	delete(s.stages, old)
	if st != nil {
		s.stages[name] = st
	}
	s.mu.Unlock()
	s.touched(name)
	return nil
}

// remove deletes an empty staging directory.
func (s *stager) remove(name string) error {
	if err := unix.Unlinkat(s.t.store.fd, stagingRel(name), unix.AT_REMOVEDIR); err != nil {
		return err
	}
	s.forget(name)
	return nil
}

func (s *stager) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stages[name]; st != nil && st.timer != nil {
		st.timer.Stop()
	}
	delete(s.stages, name)
}

// opened and closed count handles open for writing; touched records a
// change. Each restarts the wait before an automatic publish.
func (s *stager) opened(name string) {
	st := s.get(name)
	st.mu.Lock()
	st.writers++
	st.mu.Unlock()
	s.touched(name)
}

func (s *stager) closed(name string) {
	st := s.get(name)
	st.mu.Lock()
	if st.writers > 0 {
		st.writers--
	}
	st.mu.Unlock()
	s.touched(name)
}

func (s *stager) touched(name string) {
	delay := s.t.opts.CommitDelay
	st := s.get(name)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lastChange = time.Now()
	if delay <= 0 {
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
	if len(s.missing(name)) > 0 {
		return
	}
	if err := s.publish(name, name); err != nil {
		slog.Info("staged snapshot not published", "name", name, "err", err)
	}
}

// missing lists the required files not yet staged.
func (s *stager) missing(name string) []string {
	have := map[string]bool{}
	ents, _ := os.ReadDir(s.path(name))
	for _, e := range ents {
		have[e.Name()] = true
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
// directory stays as it was and status says why.
func (s *stager) publish(name, target string) error {
	if err := snapshot.ValidName(target); err != nil {
		return err
	}
	if s.taken(target) {
		return fmt.Errorf("publish %q: %w", target, syscall.EEXIST)
	}
	st := s.get(name)
	st.mu.Lock()
	defer st.mu.Unlock()
	// The kernel sends RELEASE after close(2) returns, so a writer that
	// just closed may still count: give it a moment before refusing.
	for wait := 0; st.writers > 0 && wait < 100; wait++ {
		st.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		st.mu.Lock()
	}
	if st.writers > 0 {
		st.last = "error: a file is still open for writing\n"
		return fmt.Errorf("publish %q: a file is still open for writing: %w", target, syscall.EBUSY)
	}
	dir := s.path(name)
	os.Remove(filepath.Join(dir, manifestTmp)) // left by a crash in placeManifest
	manifest, report := validateStaged(dir, time.Now())
	if !report.Valid() {
		st.last = string(report.Text())
		slog.Warn("staged snapshot rejected", "name", name, "findings", strings.TrimSpace(st.last))
		return &errInvalid{st.last}
	}
	if err := placeManifest(dir, manifest); err != nil {
		return err
	}
	if err := snapshot.Publish(dir, filepath.Join(s.t.store.Dir, target)); err != nil {
		if errors.Is(err, iofs.ErrExist) {
			return fmt.Errorf("publish %q: %w", target, syscall.EEXIST)
		}
		st.last = "error: " + err.Error() + "\n"
		return err
	}
	if st.timer != nil {
		st.timer.Stop()
	}
	s.mu.Lock()
	delete(s.stages, name)
	s.mu.Unlock()
	slog.Info("published snapshot", "name", target, "staged_as", name)
	if s.published != nil {
		s.published(name, target)
	}
	return nil
}

// manifestTmp is where placeManifest writes manifest.bin before renaming
// it into place.
const manifestTmp = ".manifest.bin.snapfs-tmp"

// placeManifest makes manifest.bin hold exactly manifest, replacing a
// manifest.json, durably.
func placeManifest(dir string, manifest []byte) error {
	bin := filepath.Join(dir, "manifest.bin")
	if cur, err := os.ReadFile(bin); err != nil || !bytes.Equal(cur, manifest) {
		tmp := filepath.Join(dir, manifestTmp)
		if err := snapshot.WriteFileSync(tmp, manifest); err != nil {
			return err
		}
		if err := os.Rename(tmp, bin); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, "manifest.json")); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return err
	}
	return nil
}

// names lists a staging directory's entries, sorted.
func stagedNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}
