package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// secEnv is a STORE every user can reach, and the probe the test users
// run.
type secEnv struct {
	dir, store, probe string
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
		probe: secBuildProbe(t, dir),
	}
}

// mount mounts STORE with --allow-other and flags, at a fresh MNT every
// user can reach.
func (e *secEnv) mount(t *testing.T, flags ...string) *daemon {
	t.Helper()
	mnt, err := os.MkdirTemp(e.dir, "mnt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	return mountStore(t, e.store, mnt, append([]string{"--allow-other"}, flags...)...)
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
// STORE lets them read, and nothing else, while root reads everything;
// with and without passthrough, and read-only.
func TestSecUserReadPerms(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	secChmodSnap(t, makeSnap(t, e.store, "priv", snapSpec{}), 0o700, 0o600)
	secChmodSnap(t, makeSnap(t, e.store, "closed", snapSpec{}), 0o755, 0o600)
	secChmodSnap(t, makeSnap(t, e.store, "pub", snapSpec{}), 0o755, 0o644)
	for _, flags := range [][]string{nil, {"--no-passthrough"}, {"--read-only"}} {
		t.Run(strings.Join(append([]string{"allow-other"}, flags...), " "), func(t *testing.T) {
			secReadPerms(t, u, e.mount(t, flags...))
		})
	}
}

func secReadPerms(t *testing.T, u *secUser, d *daemon) {
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

// secSample makes a valid snapshot with `snapfs sample` in a directory
// every user can read, and returns its path.
func secSample(t *testing.T, e *secEnv) string {
	t.Helper()
	parent := secMkdir(t, e.dir, "src", 0o755)
	snapfs(t, "sample", "--count", "1", "--memory-size", "16MiB", parent)
	ents, err := os.ReadDir(parent)
	if err != nil || len(ents) != 1 {
		t.Fatalf("sample made %v (%v)", ents, err)
	}
	src := filepath.Join(parent, ents[0].Name())
	secChmodSnap(t, src, 0o755, 0o644)
	return src
}

// secWantOwner fails unless the STORE path belongs to uid and gid.
func secWantOwner(t *testing.T, path string, uid, gid uint32) {
	t.Helper()
	if st := lstat(t, path); st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
}

// TestSecUserCreate checks that a user creates in new/ exactly when they
// could create a directory in STORE, and owns what they publish.
func TestSecUserCreate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   os.FileMode
		owned  bool // STORE chowned to the user
		allows bool
	}{
		{"root-0755", 0o755, false, false},
		{"sticky-1777", 0o777 | os.ModeSticky, false, true},
		{"owned-0755", 0o755, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := secSetup(t, tc.mode)
			u := secNewUser(t, e.probe)
			if tc.owned {
				if err := os.Chown(e.store, int(u.UID), int(u.GID)); err != nil {
					t.Fatal(err)
				}
			}
			src := secSample(t, e)
			d := e.mount(t, "--commit-delay", "0")
			staging := filepath.Join(e.store, ".snapfs-staging")
			if !tc.allows {
				secWantAttr(t, d.Path("new"), 0, 0, unix.S_IFDIR|0o755)
				u.Want(t, "mkdir", d.Path("new", "x"), syscall.EACCES)
				wantAbsent(t, filepath.Join(staging, "x"))
				wantAbsent(t, filepath.Join(e.store, "x"))
				return
			}
			if got, _ := u.Do(t, "mkdir", d.Path("new", "x")); got != 0 {
				t.Fatalf("mkdir new/x as %s: %s", u.Name, secErr(got))
			}
			// The daemon made .snapfs-staging as STORE is.
			sst, ast := lstat(t, e.store), lstat(t, staging)
			if ast.Uid != sst.Uid || ast.Gid != sst.Gid || ast.Mode != sst.Mode {
				t.Errorf(".snapfs-staging is %d:%d %#o, STORE %d:%d %#o",
					ast.Uid, ast.Gid, ast.Mode, sst.Uid, sst.Gid, sst.Mode)
			}
			secWantAttr(t, d.Path("new"), sst.Uid, sst.Gid, sst.Mode)
			secWantOwner(t, filepath.Join(staging, "x"), u.UID, u.GID)
			secWantAttr(t, d.Path("new", "x"), u.UID, u.GID, unix.S_IFDIR|0o755)
			files := []string{"manifest.bin", "state.bin", "memory.bin"}
			var cp []string
			for _, f := range files {
				cp = append(cp, filepath.Join(src, f))
			}
			if r := u.Run(t, "cp", append(cp, d.Path("new", "x")+"/")...); r.code != 0 {
				t.Fatalf("cp as %s: exit %d: %s", u.Name, r.code, r.stderr)
			}
			for _, f := range files {
				secWantOwner(t, filepath.Join(staging, "x", f), u.UID, u.GID)
			}
			if got, _ := u.Do(t, "rename", d.Path("new", "x"), d.Path("x")); got != 0 {
				t.Fatalf("mv new/x x as %s: %s\nstatus: %s\nlog:\n%s", u.Name, secErr(got),
					read(t, d.Path("new", "x", "status")), d.Log())
			}
			pub := filepath.Join(e.store, "x")
			nwSameFiles(t, src, pub)
			secWantOwner(t, pub, u.UID, u.GID)
			for _, f := range files {
				secWantOwner(t, filepath.Join(pub, f), u.UID, u.GID)
			}
			secWantOwner(t, d.Path("x"), u.UID, u.GID)
			u.Want(t, "read", d.Path("x", "memory.bin"), 0)
		})
	}
}

// TestSecUserOtherStaging checks that another user's staging directory
// (0700, or 0600 files in a 0755 one) cannot be read, listed, written,
// removed, renamed or published.
func TestSecUserOtherStaging(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	d := e.mount(t, "--commit-delay", "0")
	if got, _ := a.Do(t, "mkdir", d.Path("new", "a"), "0700"); got != 0 {
		t.Fatalf("mkdir -m 0700 new/a as A: %s", secErr(got))
	}
	a.Want(t, "write", d.Path("new", "a", "f"), 0)
	a.Want(t, "mkdir", d.Path("new", "o"), 0)
	a.Want(t, "write", d.Path("new", "o", "f"), 0)
	secWantAttr(t, d.Path("new", "o", "f"), a.UID, a.GID, unix.S_IFREG|0o600)
	secWantAttr(t, d.Path("new", "a"), a.UID, a.GID, unix.S_IFDIR|0o700)
	// The mode asked for, under the caller's umask (022).
	a.Want(t, "mkdir", d.Path("new", "m"), 0)
	if got, _ := a.Do(t, "mkdir", d.Path("new", "w"), "0777"); got != 0 {
		t.Fatalf("mkdir -m 0777 new/w as A: %s", secErr(got))
	}
	secWantAttr(t, filepath.Join(e.store, ".snapfs-staging", "w"), a.UID, a.GID, unix.S_IFDIR|0o755)
	a.Want(t, "rmdir", d.Path("new", "w"), 0)
	a.Want(t, "rmdir", d.Path("new", "m"), 0)

	deny := []syscall.Errno{syscall.EACCES}
	gone := []syscall.Errno{syscall.EACCES, syscall.EPERM} // EPERM: new/ is sticky
	b.Want(t, "ls", d.Path("new", "a"), deny...)
	b.Want(t, "read", d.Path("new", "a", "status"), deny...)
	for _, dir := range []string{"a", "o"} {
		f, g := d.Path("new", dir, "f"), d.Path("new", dir, "g")
		b.Want(t, "read", f, deny...)
		b.Want(t, "write", f, deny...)
		b.Want(t, "create", g, deny...)
		b.Want(t, "rm", f, deny...)
		if got, _ := b.Do(t, "rename", f, g); got != syscall.EACCES {
			t.Errorf("as B: rename new/%s/f g: %s, want EACCES", dir, secErr(got))
		}
		if got, _ := b.Do(t, "chmod", f, "0666"); got != syscall.EPERM && got != syscall.EACCES {
			t.Errorf("as B: chmod new/%s/f: %s, want EPERM", dir, secErr(got))
		}
		b.Want(t, "rmdir", d.Path("new", dir), gone...)
		for _, to := range []string{d.Path("new", dir+"2"), d.Path(dir)} {
			if got, _ := b.Do(t, "rename", d.Path("new", dir), to); got != syscall.EPERM && got != syscall.EACCES {
				t.Errorf("as B: rename new/%s %s: %s, want EPERM or EACCES", dir, to, secErr(got))
			}
		}
	}
	// Nothing changed: A's files are A's, as A wrote them.
	staging := filepath.Join(e.store, ".snapfs-staging")
	wantNames(t, staging, "a", "o")
	for _, dir := range []string{"a", "o"} {
		wantNames(t, filepath.Join(staging, dir), "f")
		if b := read(t, filepath.Join(staging, dir, "f")); string(b) != "probe" {
			t.Errorf("%s/f holds %q", dir, b)
		}
		secWantOwner(t, filepath.Join(staging, dir, "f"), a.UID, a.GID)
		if st := lstat(t, filepath.Join(staging, dir, "f")); st.Mode&0o7777 != 0o600 {
			t.Errorf("%s/f has mode %#o", dir, st.Mode&0o7777)
		}
		wantAbsent(t, filepath.Join(e.store, dir))
		a.Want(t, "read", d.Path("new", dir, "f"), 0)
	}
}

// TestSecUserStagingClosed checks that a 0700 .snapfs-staging of root
// keeps its staging directories from other users.
func TestSecUserStagingClosed(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	staging := secMkdir(t, e.store, ".snapfs-staging", 0o700)
	secMkdir(t, staging, "s", 0o755)
	writeFile(t, filepath.Join(staging, "s", "manifest.bin"), goodManifest(created).Encode())
	d := e.mount(t, "--commit-delay", "0")
	secWantAttr(t, d.Path("new"), 0, 0, unix.S_IFDIR|0o700)
	wantNames(t, d.Path("new"), "s")
	u.Want(t, "ls", d.Path("new"), syscall.EACCES)
	u.Want(t, "ls", d.Path("new", "s"), syscall.EACCES)
	u.Want(t, "read", d.Path("new", "s", "manifest.bin"), syscall.EACCES)
	u.Want(t, "read", d.Path("new", "s", "status"), syscall.EACCES)
	u.Want(t, "mkdir", d.Path("new", "t"), syscall.EACCES)
	wantNames(t, staging, "s")
	// A previous daemon's staging area is kept as it is, never moved aside.
	wantNames(t, e.store, ".snapfs-staging")
	secWantAttr(t, staging, 0, 0, unix.S_IFDIR|0o700)
}

// secChownSnap gives a STORE snapshot directory and its files to u.
func secChownSnap(t *testing.T, dir string, u *secUser) {
	t.Helper()
	for _, f := range []string{"", "manifest.bin", "state.bin", "memory.bin"} {
		if err := os.Chown(filepath.Join(dir, f), int(u.UID), int(u.GID)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecUserPublished checks that a user cannot delete, rename or
// change another's snapshot in a sticky STORE, nor root's.
func TestSecUserPublished(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	makeSnap(t, e.store, "root", snapSpec{})
	secChownSnap(t, makeSnap(t, e.store, "mine", snapSpec{}), a)
	d := e.mount(t, "--commit-delay", "0")
	before := storeDigest(t, e.store)
	for _, snap := range []string{"root", "mine"} {
		if got, _ := b.Do(t, "rmdir", d.Path(snap)); got != syscall.EPERM {
			t.Errorf("as B: rmdir %s: %s, want EPERM (sticky STORE)", snap, secErr(got))
		}
		if got, _ := b.Do(t, "rename", d.Path(snap), d.Path("b")); got != syscall.EPERM {
			t.Errorf("as B: rename %s b: %s, want EPERM (sticky STORE)", snap, secErr(got))
		}
		for _, f := range []string{"memory.bin", "state.bin", "manifest.bin"} {
			if got, _ := b.Do(t, "chmod", d.Path(snap, f), "0666"); got != syscall.EPERM {
				t.Errorf("as B: chmod %s/%s: %s, want EPERM", snap, f, secErr(got))
			}
			b.Want(t, "read", d.Path(snap, f), 0)
		}
		b.Want(t, "create", d.Path(snap, "extra"), syscall.EACCES)
	}
	if got, _ := a.Do(t, "rmdir", d.Path("root")); got != syscall.EPERM {
		t.Errorf("as A: rmdir root: %s, want EPERM (sticky STORE)", secErr(got))
	}
	if after := storeDigest(t, e.store); after != before {
		t.Errorf("STORE changed:\nbefore %s\nafter  %s", before, after)
	}
}

// TestSecUserMemoryBinMode: restoring needs read permission only (issue
// 9): memory.bin shows a write bit wherever it has a read bit, a user who
// may read it gets a private clone on a read-write open, and the snapshot
// never changes; a user who may not read it may not restore it either.
func TestSecUserMemoryBinMode(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	secChmodSnap(t, makeSnap(t, e.store, "vm", snapSpec{}), 0o755, 0o644)
	secChmodSnap(t, makeSnap(t, e.store, "priv", snapSpec{}), 0o755, 0o600)
	d := e.mount(t)
	before := storeDigest(t, e.store)
	secWantAttr(t, d.Path("vm", "memory.bin"), 0, 0, unix.S_IFREG|0o666)
	secWantAttr(t, d.Path("priv", "memory.bin"), 0, 0, unix.S_IFREG|0o600)
	u.Want(t, "read", d.Path("vm", "memory.bin"), 0)
	u.Want(t, "openrw", d.Path("vm", "memory.bin"), 0)
	u.Want(t, "write", d.Path("vm", "memory.bin"), syscall.EROFS) // O_WRONLY: no clone
	u.Want(t, "openrw", d.Path("priv", "memory.bin"), syscall.EACCES)
	if after := storeDigest(t, e.store); after != before {
		t.Errorf("STORE changed:\nbefore %s\nafter  %s", before, after)
	}
}
