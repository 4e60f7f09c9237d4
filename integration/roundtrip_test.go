package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoundTrip backs a snapshot up from the mount with a tool, puts the
// backup back into new/<name>/ with the same tool (views included), and
// expects the tool to succeed and the same snapshot to be published.
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
	tools := []struct {
		name    string
		bin     string
		out, in string // shell lines; $SNAP, $BK and $DST are set
		fresh   bool   // the tool makes new/<name> itself
	}{
		{"cp-a", "cp", `cp -a "$SNAP" "$BK/x"`, `cp -a "$BK/x" "$DST"`, true},
		{"cp-a-into", "cp", `cp -a "$SNAP" "$BK/x"`, `mkdir "$DST" && cp -a "$BK/x/." "$DST/"`, false},
		{"tar", "tar", `tar -C "$SNAP/.." --xattrs --acls -cf "$BK/b.tar" vm1`, `mkdir "$DST" && tar --xattrs --acls -xf "$BK/b.tar" -C "$DST" --strip-components=1`, false},
		{"tar-fresh", "tar", `tar -C "$SNAP/.." -cf "$BK/b.tar" vm1`, `cd "$(dirname "$DST")" && tar -xf "$BK/b.tar" --transform "s,^vm1,$(basename "$DST"),"`, true},
		{"bsdtar", "bsdtar", `bsdtar -C "$SNAP/.." -cf "$BK/b.tar" vm1`, `mkdir "$DST" && bsdtar -xf "$BK/b.tar" -C "$DST" --strip-components 1`, false},
		{"rsync", "rsync", `rsync -aSHAX "$SNAP/" "$BK/x/"`, `rsync -aSHAX "$BK/x/" "$DST/"`, true},
	}
	for _, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			needTool(t, tool.bin)
			bk := t.TempDir()
			name := "rt-" + tool.name
			env := append(os.Environ(), "SNAP="+d.Path("vm1"), "BK="+bk, "DST="+d.Path("new", name))
			for _, line := range []string{tool.out, tool.in} {
				cmd := exec.Command("bash", "-ec", line)
				cmd.Env = env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s: %v\n%s\nlog:\n%s", line, err, out, d.Log())
				}
			}
			if err := os.Rename(d.Path("new", name), d.Path(name)); err != nil && !os.IsNotExist(err) {
				st, _ := os.ReadFile(d.Path("new", name, "status"))
				t.Fatalf("mv: %v\nstatus:\n%s", err, st)
			}
			nwWaitPublished(t, d, name)
			nwSameFiles(t, src, filepath.Join(store, name))
			if got := string(read(t, d.Path(name, "status"))); !strings.HasPrefix(got, "ok") {
				t.Errorf("status %q", got)
			}
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
	bk := filepath.Join(t.TempDir(), "x")
	run(t, "cp", "-a", d.Path("vm1"), bk)
	os.Chmod(filepath.Join(bk, "manifest"), 0o755)
	writeFile(t, filepath.Join(bk, "manifest", "vp_count"), []byte("64\n"))
	run(t, "cp", "-a", bk, d.Path("new", "edited"))
	err := os.Rename(d.Path("new", "edited"), d.Path("edited"))
	if errnoOf(err) != 22 {
		t.Fatalf("mv of an edited backup: %v, want EINVAL", err)
	}
	nwContains(t, "status", nwStatus(t, d, "edited"), "manifest/vp_count")
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
