package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWatchBudget: a local STORE with more snapshots than the inotify
// watch budget. Changes inside snapshots still show within a second,
// for the recently used ones (watched) and the others (polled).
func TestWatchBudget(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	const n = 12
	for i := range n {
		makeSnap(t, store, fmt.Sprintf("vm%02d", i), snapSpec{})
	}
	d := mountStore(t, store, "", "--watch-budget", "4")
	for i := range n { // each read: the last ones used hold the watches
		read(t, d.Path(fmt.Sprintf("vm%02d", i), "manifest", "created_at"))
	}
	waitFor(t, "the budget is logged", func() bool { return strings.Contains(d.Log(), "watch budget reached") })
	if !strings.Contains(d.Log(), `mode="inotify"`) {
		t.Errorf("a local STORE is not watched with inotify:\n%s", d.Log())
	}
	for k, name := range []string{"vm00", "vm11", "vm05"} { // polled, watched, polled
		at := created.Add(time.Duration(k+1) * time.Hour)
		want := at.Format(time.RFC3339Nano) + "\n"
		writeFile(t, filepath.Join(store, name, "manifest.bin"), goodManifest(at).Encode())
		took := waitFor(t, name+" shows its new manifest", func() bool {
			return string(read(t, d.Path(name, "manifest", "created_at"))) == want
		})
		t.Logf("%s: the change showed after %v", name, took)
	}
	// A snapshot added past the budget.
	makeSnap(t, store, "vm99", snapSpec{})
	waitFor(t, "vm99 shows", func() bool { return glExists(d.Path("vm99", "status")) })
}
