package integration

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// secEnv is a STORE and a mount point every user can reach, and the
// probe the test users run.
type secEnv struct {
	dir, store, mnt, probe string
}

// secSetup makes STORE (root's, with storeMode) and MNT under a fresh
// world-traversable directory, and builds the probe.
func secSetup(t *testing.T, storeMode os.FileMode) *secEnv {
	t.Helper()
	secRequireTool(t, "useradd", "userdel", "runuser")
	requireFUSE(t)
	dir := secDir(t)
	return &secEnv{
		dir:   dir,
		store: secMkdir(t, dir, "store", storeMode),
		mnt:   secMkdir(t, dir, "mnt", 0o755),
		probe: secBuildProbe(t, dir),
	}
}

// mount mounts STORE at MNT with --allow-other and flags.
func (e *secEnv) mount(t *testing.T, flags ...string) *daemon {
	t.Helper()
	return mountStore(t, e.store, e.mnt, append([]string{"--allow-other"}, flags...)...)
}

// secChmodSnap sets a STORE snapshot directory's mode and its three
// files' modes.
func secChmodSnap(t *testing.T, dir string, dirMode, fileMode os.FileMode) {
	t.Helper()
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		if err := os.Chmod(filepath.Join(dir, f), fileMode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, dirMode); err != nil {
		t.Fatal(err)
	}
}

// secUnit is the first state unit's directory name under MNT/snap/state.
func secUnit(t *testing.T, d *daemon, snap string) string {
	t.Helper()
	units := names(t, d.Path(snap, "state"))
	if len(units) == 0 {
		t.Fatalf("%s/state lists no units", snap)
	}
	return units[0]
}

// secSnapFiles are the files of a snapshot a test reads, relative to it.
func secSnapFiles(unit string) []string {
	return []string{"memory.bin", "state.bin", "manifest.bin", "manifest.json", "manifest/vp_count",
		"state/" + unit + "/value.bin", "state/" + unit + "/type_url"}
}

// TestSecUserReadPerms checks that a user reads through the mount what
// STORE lets them read, and nothing else, while root reads everything.
func TestSecUserReadPerms(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	secChmodSnap(t, makeSnap(t, e.store, "priv", snapSpec{}), 0o700, 0o600)
	secChmodSnap(t, makeSnap(t, e.store, "closed", snapSpec{}), 0o755, 0o600)
	secChmodSnap(t, makeSnap(t, e.store, "pub", snapSpec{}), 0o755, 0o644)
	d := e.mount(t)
	unit := secUnit(t, d, "pub")
	files := secSnapFiles(unit)

	// A 0700 directory: nothing in it, not even its listing or status.
	for _, f := range append(files, "status") {
		u.Want(t, "read", d.Path("priv", f), syscall.EACCES)
	}
	for _, dir := range []string{"priv", "priv/state", "priv/manifest"} {
		u.Want(t, "ls", d.Path(dir), syscall.EACCES)
	}
	// A 0755 directory of 0600 files: no file and no view of them.
	for _, f := range files {
		u.Want(t, "read", d.Path("closed", f), syscall.EACCES)
	}
	u.Want(t, "read", d.Path("closed", "status"), 0)
	u.Want(t, "ls", d.Path("closed"), 0)
	// 0755/0644: everything.
	for _, f := range append(files, "status") {
		u.Want(t, "read", d.Path("pub", f), 0)
	}
	u.Want(t, "ls", d.Path("pub"), 0)
	u.Want(t, "ls", d.Path("pub", "state", unit), 0)
	// Root reads all of them.
	for _, snap := range []string{"priv", "closed", "pub"} {
		for _, f := range append(files, "status") {
			if _, err := os.ReadFile(d.Path(snap, f)); err != nil {
				t.Errorf("root: %v", err)
			}
		}
	}
}

// secWantAttr fails unless path (through the mount) has uid, gid and
// the file type and permission bits of mode.
func secWantAttr(t *testing.T, path string, uid, gid, mode uint32) {
	t.Helper()
	st := lstat(t, path)
	if st.Uid != uid || st.Gid != gid || st.Mode != mode {
		t.Errorf("%s: uid %d gid %d mode %#o, want uid %d gid %d mode %#o",
			path, st.Uid, st.Gid, st.Mode, uid, gid, mode)
	}
}

// secOwn sets path's owner, group and mode in STORE.
func secOwn(t *testing.T, path string, uid, gid int, mode os.FileMode) {
	t.Helper()
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// TestSecUserAttrs checks the owner, group and mode of every kind of
// entry against the STORE file it is or is made from.
func TestSecUserAttrs(t *testing.T) {
	e := secSetup(t, 0o755)
	dir := makeSnap(t, e.store, "mix", snapSpec{})
	secOwn(t, filepath.Join(dir, "manifest.bin"), 4003, 4004, 0o640)
	secOwn(t, filepath.Join(dir, "state.bin"), 4005, 4006, 0o604)
	secOwn(t, filepath.Join(dir, "memory.bin"), 4007, 4008, 0o660)
	secOwn(t, dir, 4001, 4002, 0o750)
	secOwn(t, e.store, 4009, 4010, 0o751)
	d := e.mount(t)
	unit := secUnit(t, d, "mix")

	const reg, dirT = unix.S_IFREG, unix.S_IFDIR
	secWantAttr(t, d.Mnt, 4009, 4010, dirT|0o751)
	secWantAttr(t, d.Path("new"), 4009, 4010, dirT|0o751)
	secWantAttr(t, d.Path("mix"), 4001, 4002, dirT|0o750)
	secWantAttr(t, d.Path("mix", "manifest.bin"), 4003, 4004, reg|0o640)
	secWantAttr(t, d.Path("mix", "state.bin"), 4005, 4006, reg|0o604)
	secWantAttr(t, d.Path("mix", "memory.bin"), 4007, 4008, reg|0o660)
	secWantAttr(t, d.Path("mix", "manifest.json"), 4003, 4004, reg|0o440)
	for _, f := range names(t, d.Path("mix", "manifest")) {
		secWantAttr(t, d.Path("mix", "manifest", f), 4003, 4004, reg|0o440)
	}
	secWantAttr(t, d.Path("mix", "state", unit, "type_url"), 4005, 4006, reg|0o404)
	secWantAttr(t, d.Path("mix", "state", unit, "value.bin"), 4005, 4006, reg|0o404)
	secWantAttr(t, d.Path("mix", "status"), 4001, 4002, reg|0o440)
	for _, v := range []string{"manifest", "state", "state/" + unit} {
		secWantAttr(t, d.Path("mix", v), 4001, 4002, dirT|0o550)
	}
}
