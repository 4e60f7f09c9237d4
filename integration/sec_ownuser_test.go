package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecUserOwnDaemon: a daemon run by an ordinary user (fusermount3, no
// --allow-other) serves that user's own STORE: reads, and a snapshot
// created through new/ and published, owned by that user.
func TestSecUserOwnDaemon(t *testing.T) {
	e := secSetup(t, 0o755)
	needTool(t, "fusermount3")
	u := secNewUser(t, e.probe)
	userFUSE(t)
	makeSnap(t, e.store, "vm1", snapSpec{})
	src := filepath.Join(e.dir, "src")
	makeSnap(t, e.dir, "src", snapSpec{})
	mnt := secMkdir(t, e.dir, "mnt", 0o755)
	run(t, "chown", "-R", u.Name+":"+u.Name, e.store, mnt, src)
	// The user runs their own copy: the built binary may sit in a
	// directory only root can search (a 0700 mktemp clone in CI).
	ubin := filepath.Join(e.dir, "snapfs")
	run(t, "cp", bin, ubin)
	run(t, "chmod", "0755", ubin)
	if r := u.Run(t, ubin, "mount", "--daemon", "--commit-delay", "0", e.store, mnt); r.code != 0 {
		t.Fatalf("snapfs mount as %s: exit %d\n%s%s", u.Name, r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { u.Run(t, "fusermount3", "-u", mnt) })
	if r := u.Run(t, "cat", filepath.Join(mnt, "vm1", "status")); r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("status as the daemon's user: %q %q", r.stdout, r.stderr)
	}
	line := `mkdir "$1/new/x" && cp "$2"/*.bin "$1/new/x/" && mv "$1/new/x" "$1/x"`
	if r := u.Run(t, "sh", "-c", line, "sh", mnt, src); r.code != 0 {
		t.Fatalf("creating a snapshot as the daemon's user: %s", r.stderr)
	}
	for _, f := range []string{"", "manifest.bin", "state.bin", "memory.bin"} {
		st := lstat(t, filepath.Join(e.store, "x", f))
		if st.Uid != u.UID || st.Gid != u.GID {
			t.Errorf("STORE/x/%s is %d:%d, want the user's %d:%d", f, st.Uid, st.Gid, u.UID, u.GID)
		}
	}
	nwSameFiles(t, src, filepath.Join(e.store, "x"))
	if r := u.Run(t, "fusermount3", "-u", mnt); r.code != 0 {
		t.Errorf("fusermount3 -u: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(mnt, "vm1")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("after unmount: %v", err)
	}
}

// userFUSE lets ordinary users open /dev/fuse, as Debian's udev rule does
// (crw-rw-rw-); a container may have made it root's alone. fusermount3
// opens it with the user's own rights.
func userFUSE(t *testing.T) {
	t.Helper()
	fi, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o006 == 0o006 {
		return
	}
	if err := os.Chmod("/dev/fuse", fi.Mode().Perm()|0o666); err != nil {
		t.Fatalf("making /dev/fuse usable by users: %v", err)
	}
	t.Cleanup(func() { os.Chmod("/dev/fuse", fi.Mode().Perm()) })
}
