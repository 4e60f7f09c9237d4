package fs

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The watcher and the poller against a fake Viewer: what STORE's changes
// become, without a mount.

// fakeViewer records what it is told; known is what it claims to show.
type fakeViewer struct {
	mu      sync.Mutex
	changes []Changes
	known   []string
	got     chan struct{}
}

var _ = (Viewer)((*fakeViewer)(nil))

func newFakeViewer(known ...string) *fakeViewer {
	return &fakeViewer{known: known, got: make(chan struct{}, 1)}
}

func (v *fakeViewer) Changed(c Changes) {
	v.mu.Lock()
	v.changes = append(v.changes, c)
	v.mu.Unlock()
	select {
	case v.got <- struct{}{}:
	default:
	}
}
func (v *fakeViewer) Published(string, string) {}
func (v *fakeViewer) DigestMade(string)        {}
func (v *fakeViewer) SchemaChanged()           {}
func (v *fakeViewer) Known() []string          { return v.known }

// waitFor waits until the rounds told so far name every snapshot in
// snaps and every staged name in staged, and fails after a long while
// (a bound for a hang, not a timing).
func (v *fakeViewer) waitFor(t *testing.T, snaps, staged []string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		v.mu.Lock()
		var gotSnaps, gotStaged []string
		for _, c := range v.changes {
			gotSnaps = append(gotSnaps, c.Snapshots...)
			gotStaged = append(gotStaged, c.Staged...)
		}
		v.mu.Unlock()
		ok := true
		for _, n := range snaps {
			ok = ok && slices.Contains(gotSnaps, n)
		}
		for _, n := range staged {
			ok = ok && slices.Contains(gotStaged, n)
		}
		if ok {
			return
		}
		select {
		case <-v.got:
		case <-deadline:
			t.Fatalf("changes told %v / staged %v, want snapshots %v and staged %v", gotSnaps, gotStaged, snaps, staged)
		}
	}
}

func newWatchedStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	writeSnapshot(t, filepath.Join(dir, "a"), false)
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// A rename in STORE reports both names; a staging directory made by
// someone else reports its name in new/.
func TestWatcherReportsRename(t *testing.T) {
	s, dir := newWatchedStore(t)
	v := newFakeViewer()
	w, err := startWatcher(s, v, nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, []string{"a", "b"}, nil)
	if err := os.MkdirAll(filepath.Join(dir, stagingDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, nil, []string{""})
	w.addStaging()
	if err := os.Mkdir(filepath.Join(dir, stagingDirName, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, nil, []string{"x"})
}

// The poller finds the same rename, and a file made in a snapshot the
// viewer shows (Known), which only a stat of it can find.
func TestPollerReportsChanges(t *testing.T) {
	s, dir := newWatchedStore(t)
	writeSnapshot(t, filepath.Join(dir, "c"), false)
	v := newFakeViewer("c")
	w := startPoller(s, v, nil)
	defer w.close()
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, []string{"a", "b"}, nil)
	if _, err := s.List(); err != nil { // as the kernel does once told
		t.Fatal(err)
	}
	v.mu.Lock()
	v.changes = nil // only what the write brings counts from here
	v.mu.Unlock()
	if err := os.WriteFile(filepath.Join(dir, "c", "notes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v.waitFor(t, []string{"c"}, nil)
}
