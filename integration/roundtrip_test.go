package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestRoundTrip backs a snapshot up from the mount with each client of
// clientTools, puts the backup back into new/<name>/ with the same tool
// (views included), and expects the tool to succeed and the same snapshot
// to be published, holes kept, with nothing else left in STORE.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	src := makeSnap(t, store, "vm1", snapSpec{})
	// With a digest record, the backups hold sha256sums too: it is checked
	// against the staged files and not published.
	if r := snapfs(t, "digest", src); r.code != 0 {
		t.Fatalf("snapfs digest: %d %s", r.code, r.stderr)
	}
	d := mountStore(t, store, "", "--commit-delay", "0")
	if _, err := os.Stat(d.Path("vm1", "sha256sums")); err != nil {
		t.Fatalf("vm1/sha256sums: %v", err)
	}
	for _, tool := range clientTools {
		t.Run(tool.name, func(t *testing.T) {
			needTool(t, tool.bin)
			bk := t.TempDir()
			name := "rt-" + tool.name
			clientRun(t, d, clientEnv(bk, "SRC="+d.Path("vm1"), "DST="+d.Path("new", name)), tool.out, tool.in)
			clientPublish(t, d, name)
			nwSameFiles(t, src, filepath.Join(store, name))
			nwOnlyFiles(t, filepath.Join(store, name))
			clientHoles(t, filepath.Join(store, name))
		})
	}
}

// TestRoundTripEditedView: a backup whose written-back view disagrees
// with the snapshot is not published, and status names the view.
func TestRoundTripEditedView(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "", "--commit-delay", "0")
	for i, view := range []string{"manifest/vp_count", "state/pit/value.txt", "state/pit/type_url"} {
		t.Run(view, func(t *testing.T) {
			bk := filepath.Join(t.TempDir(), "x")
			run(t, "cp", "-a", d.Path("vm1"), bk)
			p := filepath.Join(bk, filepath.FromSlash(view))
			os.Chmod(filepath.Dir(p), 0o755)
			os.Chmod(p, 0o644)
			writeFile(t, p, []byte("64\n"))
			name := fmt.Sprintf("edited%d", i)
			run(t, "cp", "-a", bk, d.Path("new", name))
			err := os.Rename(d.Path("new", name), d.Path(name))
			if errnoOf(err) != 22 {
				t.Fatalf("mv of a backup with %s edited: %v, want EINVAL", view, err)
			}
			nwContains(t, "status", nwStatus(t, d, name), view)
		})
	}
}

// TestRoundTripDamagedBackup: a backup whose memory.bin no longer matches
// the sha256sums it carries is not published, and status says which file.
func TestRoundTripDamagedBackup(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	src := makeSnap(t, store, "vm1", snapSpec{})
	if r := snapfs(t, "digest", src); r.code != 0 {
		t.Fatalf("snapfs digest: %d %s", r.code, r.stderr)
	}
	d := mountStore(t, store, "", "--commit-delay", "0")
	bk := filepath.Join(t.TempDir(), "x")
	run(t, "cp", "-a", d.Path("vm1"), bk)
	f, err := os.OpenFile(filepath.Join(bk, "memory.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("bit rot"), 100)
	f.Close()
	run(t, "cp", "-a", bk, d.Path("new", "damaged"))
	if err := os.Rename(d.Path("new", "damaged"), d.Path("damaged")); errnoOf(err) != 22 {
		t.Fatalf("mv of a damaged backup: %v, want EINVAL", err)
	}
	nwContains(t, "status", nwStatus(t, d, "damaged"), "memory.bin has SHA-256")
}
