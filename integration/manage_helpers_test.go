package integration

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// trashDir is where deleted snapshots wait for their removal.
const trashDir = ".snapfs-trash"

// mgInode is the STORE inode of path (0 if it is gone).
func mgInode(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

// mgWaitTrashEmpty waits until STORE's trash holds nothing.
func mgWaitTrashEmpty(t testing.TB, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ents, err := os.ReadDir(filepath.Join(d.Store, trashDir))
		if err == nil && len(ents) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("trash not emptied after 20s: %v %v\n%s", ents, err, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mgSnapDigest is the digest of the snapshot directories name of store
// (not its hidden ones), to check that nothing else was touched.
func mgSnapDigest(t *testing.T, store string, name ...string) string {
	t.Helper()
	var lines []string
	for _, n := range name {
		lines = append(lines, n+":"+storeDigest(t, filepath.Join(store, n)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// mgVisible lists the snapshot names of STORE (what is not hidden).
func mgVisible(t testing.TB, store string) []string {
	t.Helper()
	var out []string
	for _, n := range names(t, store) {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

// mgLogged waits until the daemon's log has a line with every one of
// parts.
func mgLogged(t testing.TB, d *daemon, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(d.Log(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", parts, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mgWaitShown waits until MNT/name/status can be read: a snapshot
// written straight into STORE shows within `visible`.
func mgWaitShown(t testing.TB, d *daemon, name string) {
	t.Helper()
	deadline := time.Now().Add(visible + 5*time.Second)
	for {
		_, err := os.Stat(d.Path(name, "status"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not show: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
