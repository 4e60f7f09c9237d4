package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNewLargeSumsPublishesItself: a backup whose sha256sums covers a
// file too large to hash while mv waits (64 MiB) is refused at its first
// validation, while the file is hashed in the background; it then
// publishes itself, as README's restore recipes rely on, with no mv and
// no further change.
func TestNewLargeSumsPublishesItself(t *testing.T) {
	d, pristine := recipeSource(t, "80MiB")
	store := d.Store
	backup := filepath.Join(t.TempDir(), "vm1")
	run(t, "cp", "-a", d.Path("vm1"), backup)
	if err := os.Remove(d.Path("vm1")); err != nil {
		t.Fatal(err)
	}
	mgWaitTrashEmpty(t, d)

	run(t, "cp", "-a", backup, d.Path("new")+"/")
	mgLogged(t, d, `msg="staged snapshot not published"`, "hashed in the background")
	deadline := time.Now().Add(60 * time.Second)
	for !exists(filepath.Join(store, "vm1", "manifest.bin")) {
		if time.Now().After(deadline) {
			st, _ := os.ReadFile(d.Path("new", "vm1", "status"))
			t.Fatalf("not published 60s after the refusal; staging status:\n%s\nlog:\n%s", st, d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	nwWaitPublished(t, d, "vm1")
	nwSameFiles(t, pristine, filepath.Join(store, "vm1"))
	if st := string(read(t, d.Path("vm1", "status"))); !strings.HasPrefix(st, "ok") {
		t.Errorf("status %q", st)
	}
}
