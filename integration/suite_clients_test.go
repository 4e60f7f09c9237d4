package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientTool is a real backup client, as shell lines: out backs the
// directory $SRC up into the empty directory $BK; in restores that backup
// as the directory $DST, which does not exist yet ($BK and $SRC still
// set). Where the tool cannot make $DST itself, in makes it and restores
// into it, with its working directory there where the tool allows.
type clientTool struct {
	name, bin string
	out, in   string
}

// clientTools are used both ways: from the mount into new/ (TestRoundTrip)
// and from a plain directory into new/ and out again (TestSuiteClients).
// Every one keeps holes.
var clientTools = []clientTool{
	{"cp-a", "cp", `cp -a "$SRC" "$BK/x"`, `cp -a "$BK/x" "$DST"`},
	{"cp-a-into", "cp", `cp -a "$SRC" "$BK/x"`, `mkdir "$DST" && cp -a "$BK/x/." "$DST/"`},
	{"tar", "tar",
		`tar -C "$(dirname "$SRC")" --xattrs --acls -S -cf "$BK/b.tar" "$(basename "$SRC")"`,
		`mkdir "$DST" && tar --xattrs --acls -xf "$BK/b.tar" -C "$DST" --strip-components=1`},
	{"tar-fresh", "tar",
		`tar -C "$(dirname "$SRC")" -S -cf "$BK/b.tar" --transform 's,^[^/]*,x,' "$(basename "$SRC")"`,
		`cd "$(dirname "$DST")" && tar -xf "$BK/b.tar" --transform "s,^x,$(basename "$DST"),"`},
	{"bsdtar", "bsdtar",
		`bsdtar -C "$(dirname "$SRC")" --xattrs --acls -cf "$BK/b.tar" "$(basename "$SRC")"`,
		`mkdir "$DST" && bsdtar --xattrs --acls -xf "$BK/b.tar" -C "$DST" --strip-components 1`},
	{"rsync", "rsync", `rsync -aSHAX "$SRC/" "$BK/x/"`, `rsync -aSHAX "$BK/x/" "$DST/"`},
	// restic 0.14 writes no holes: the restored
	// tree is copied in with cp, which makes the zeros holes again.
	{"restic", "restic",
		`restic -q --no-cache -r "$BK/repo" init && cd "$SRC" && restic -q --no-cache -r "$BK/repo" backup .`,
		`restic -q --no-cache -r "$BK/repo" restore latest --target "$BK/r" && cp -a --sparse=always "$BK/r" "$DST"`},
	// borg extract writes into its working directory: it runs inside $DST.
	// With fixed 64 KiB chunks, the zero chunks are holes again (--sparse).
	{"borg", "borg",
		`borg init -e none "$BK/repo" && cd "$(dirname "$SRC")" && borg create --chunker-params fixed,65536 --sparse "$BK/repo::a" "$(basename "$SRC")"`,
		`mkdir "$DST" && cd "$DST" && borg extract --sparse --strip-components 1 "$BK/repo::a"`},
}

// clientEnv is the environment of a client's shell lines.
func clientEnv(bk string, kv ...string) []string {
	return append(os.Environ(), append([]string{
		"BK=" + bk,
		"RESTIC_PASSWORD=snapfs-test",
		"BORG_BASE_DIR=" + filepath.Join(bk, ".borg"),
		"BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes",
		"BORG_RELOCATED_REPO_ACCESS_IS_OK=yes",
	}, kv...)...)
}

// clientRun runs the shell lines of a client, failing the test with their
// output (and the daemon's log) when one fails.
func clientRun(t *testing.T, d *daemon, env []string, lines ...string) {
	t.Helper()
	for _, line := range lines {
		cmd := exec.Command("bash", "-ec", line)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s\nlog:\n%s", line, err, out, d.Log())
		}
	}
}

// clientPublish publishes new/name with mv and waits for it.
func clientPublish(t *testing.T, d *daemon, name string) {
	t.Helper()
	if err := os.Rename(d.Path("new", name), d.Path(name)); err != nil && !os.IsNotExist(err) {
		st, _ := os.ReadFile(d.Path("new", name, "status"))
		t.Fatalf("mv: %v\nstatus:\n%s", err, st)
	}
	nwWaitPublished(t, d, name)
	// The digest record is made in the background after publishing and
	// adds sha256sums: a backup running meanwhile sees the directory
	// change (GNU tar: "file changed as we read it", exit 1). Back up the
	// snapshot as it will stay.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Lstat(d.Path(name, "sha256sums")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no digest record after 20s\n%s", name, d.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := string(read(t, d.Path(name, "status"))); !strings.HasPrefix(got, "ok") {
		t.Errorf("%s: status %q", name, got)
	}
}

// clientHoles asserts that memory.bin in dir kept its holes: far fewer
// blocks allocated than its size.
func clientHoles(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "memory.bin")
	if alloc, size := nwAllocated(t, p), lstat(t, p).Size; alloc > size/8 {
		t.Errorf("%s: %d bytes allocated of %d: the holes were filled", p, alloc, size)
	}
}

// TestSuiteClients takes each real client the other way round from
// TestRoundTrip: a plain snapshot directory (no views) is backed up and
// restored into new/<name>, published, then backed up from MNT/<name>
// (views included) and restored into a plain directory. Both ends hold
// the source byte for byte, with holes.
func TestSuiteClients(t *testing.T) {
	t.Parallel()
	src := nwSource(t, "src")
	d := nwMount(t, "", "--commit-delay", "0")
	for _, tool := range clientTools {
		t.Run(tool.name, func(t *testing.T) {
			needTool(t, tool.bin)
			name := "in-" + tool.name
			bk := t.TempDir()
			clientRun(t, d, clientEnv(bk, "SRC="+src, "DST="+d.Path("new", name)), tool.out, tool.in)
			clientPublish(t, d, name)
			nwSameFiles(t, src, filepath.Join(d.Store, name))
			nwOnlyFiles(t, filepath.Join(d.Store, name))
			clientHoles(t, filepath.Join(d.Store, name))

			bk2 := t.TempDir()
			back := filepath.Join(t.TempDir(), "back")
			clientRun(t, d, clientEnv(bk2, "SRC="+d.Path(name), "DST="+back), tool.out, tool.in)
			nwSameFiles(t, src, back)
			clientHoles(t, back)
			for _, v := range []string{"manifest.json", "status", "manifest/vp_count"} {
				if got, want := read(t, filepath.Join(back, v)), read(t, d.Path(name, v)); !bytes.Equal(got, want) {
					t.Errorf("%s: %q, the mount shows %q", v, got, want)
				}
			}
		})
	}
}
