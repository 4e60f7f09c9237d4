package integration

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// secNoUnsafeBits fails unless every file of the STORE directory dir is
// free of group/other write and set-id bits and of file capabilities.
func secNoUnsafeBits(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		if bad := st.Mode & (0o022 | unix.S_ISUID | unix.S_ISGID); bad != 0 {
			t.Errorf("%s: mode %#o has %#o (group/other write or set-id) in STORE", p, st.Mode&0o7777, bad)
		}
		if _, err := unix.Lgetxattr(p, "security.capability", nil); err == nil {
			t.Errorf("%s: has file capabilities in STORE", p)
		}
	}
}

// TestSecBackupRoundTripModes (issue 18, finding 1): a user backs up a
// snapshot from the mount, where memory.bin shows a write bit wherever it
// has a read bit, and restores it into new/<x>/ with tar -p, rsync -a and
// cp -a, which keep that mode: STORE/<x>/ has no group or other write
// bit and no set-id bit, whatever the tools asked for.
func TestSecBackupRoundTripModes(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	u := secNewUser(t, e.probe)
	secChmodSnap(t, makeSnap(t, e.store, "vm", snapSpec{}), 0o755, 0o644)
	d := e.mount(t, "--commit-delay", "0")
	secWantAttr(t, d.Path("vm", "memory.bin"), 0, 0, unix.S_IFREG|0o666)
	tools := []struct{ name, out, in string }{
		{"tar", `tar -C "$(dirname "$SRC")" -S -cf "$BK/b.tar" "$(basename "$SRC")"`,
			`mkdir "$DST" && tar -xpf "$BK/b.tar" -C "$DST" --strip-components=1`},
		{"rsync", `rsync -aS "$SRC/" "$BK/x/"`, `rsync -a "$BK/x/" "$DST/"`},
		{"cp", `cp -a "$SRC" "$BK/x"`, `cp -a "$BK/x" "$DST"`},
	}
	for _, tool := range tools {
		t.Run(tool.name, func(t *testing.T) {
			needTool(t, tool.name)
			bk := secMkdir(t, e.dir, "bk-"+tool.name, 0o777)
			name := "rt-" + tool.name
			for _, line := range []string{tool.out, tool.in} {
				r := u.Run(t, "env", "BK="+bk, "SRC="+d.Path("vm"), "DST="+d.Path("new", name), "bash", "-ec", line)
				if r.code != 0 {
					t.Fatalf("as %s: %s: exit %d\n%s%s", u.Name, line, r.code, r.stdout, r.stderr)
				}
			}
			if fi, err := os.Stat(filepath.Join(bk, "x", "memory.bin")); err == nil && fi.Mode().Perm()&0o022 == 0 {
				t.Logf("the backup holds memory.bin as %v", fi.Mode())
			}
			if r := u.Run(t, "mv", d.Path("new", name), d.Path(name)); r.code != 0 {
				t.Fatalf("mv: %s\nstatus:\n%s", r.stderr, read(t, d.Path("new", name, "status")))
			}
			nwWaitPublished(t, d, name)
			secNoUnsafeBits(t, filepath.Join(e.store, name))
			if got := string(read(t, d.Path(name, "status"))); !strings.HasPrefix(got, "ok") {
				t.Errorf("status %q", got)
			}
		})
	}
}

// secCapability is a valid security.capability value (revision 2)
// granting CAP_NET_RAW.
func secCapability() []byte {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000)
	binary.LittleEndian.PutUint32(b[4:], 1<<unix.CAP_NET_RAW)
	return b
}

// TestSecStoreUnsafeModes: a STORE file made group/other-writable,
// set-id or given capabilities behind the daemon's back is an error in
// status and in `snapfs validate` (exit 1), naming the file.
func TestSecStoreUnsafeModes(t *testing.T) {
	secRoot(t)
	store := t.TempDir()
	cases := []struct {
		name, file, want string
		make             func(p string) error
	}{
		{"world-writable", "memory.bin", "memory.bin: mode 0666", func(p string) error { return os.Chmod(p, 0o666) }},
		{"setuid", "state.bin", "state.bin: mode 04644", func(p string) error { return unix.Chmod(p, 0o4644) }},
		{"capability", "manifest.bin", "manifest.bin: has file capabilities", func(p string) error {
			return unix.Setxattr(p, "security.capability", secCapability(), 0)
		}},
	}
	for _, c := range cases {
		secChmodSnap(t, makeSnap(t, store, c.name, snapSpec{}), 0o755, 0o644)
	}
	d := mountStore(t, store, "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(read(t, d.Path(c.name, "status"))); !strings.HasPrefix(got, "ok") {
				t.Fatalf("status before: %q", got)
			}
			if err := c.make(filepath.Join(store, c.name, c.file)); err != nil {
				t.Fatal(err)
			}
			var got string
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if got = string(read(t, d.Path(c.name, "status"))); strings.Contains(got, c.want) {
					break
				}
			}
			if !strings.Contains(got, "error: "+c.want) {
				t.Errorf("status %q, want an error %q", got, c.want)
			}
			r := snapfs(t, "validate", filepath.Join(store, c.name))
			if r.code != 1 || !strings.Contains(r.stdout, "error: "+c.want) {
				t.Errorf("snapfs validate: exit %d, want 1 and %q\n%s%s", r.code, c.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestSecLeftoverLinkReadOnly (issue 18, finding 7): OpenVMM's second
// save mode stages memory.bin (and here state.bin) in new/ram and links
// them into new/a; once a is published, nothing through new/ram changes
// it: write, truncate, chmod and touch get EROFS or ENOENT, and the
// published bytes, mode and mtime stay.
func TestSecLeftoverLinkReadOnly(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	u := secNewUser(t, e.probe)
	d := e.mount(t, "--commit-delay", "0")
	for _, dir := range []string{"ram", "a"} {
		if r := u.Run(t, "mkdir", d.Path("new", dir)); r.code != 0 {
			t.Fatalf("mkdir new/%s: %s", dir, r.stderr)
		}
	}
	secWriteSnap(t, filepath.Join(e.dir, "src"), "ram", false)
	for _, f := range []string{"memory.bin", "state.bin"} {
		if r := u.Run(t, "cp", filepath.Join(e.dir, "src", f), d.Path("new", "ram", f)); r.code != 0 {
			t.Fatalf("cp %s: %s", f, r.stderr)
		}
		if r := u.Run(t, "ln", d.Path("new", "ram", f), d.Path("new", "a", f)); r.code != 0 {
			t.Fatalf("ln %s: %s", f, r.stderr)
		}
	}
	if r := u.Run(t, "cp", filepath.Join(e.dir, "src", "manifest.bin"), d.Path("new", "a", "manifest.bin")); r.code != 0 {
		t.Fatalf("cp manifest.bin: %s", r.stderr)
	}
	if r := u.Run(t, "mv", d.Path("new", "a"), d.Path("a")); r.code != 0 {
		t.Fatalf("mv new/a a: %s\n%s", r.stderr, d.Log())
	}
	type fileState struct {
		data  string
		mode  uint32
		mtime unix.Timespec
	}
	snap := func() map[string]fileState {
		m := map[string]fileState{}
		for _, f := range []string{"memory.bin", "state.bin", "manifest.bin"} {
			p := filepath.Join(e.store, "a", f)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				t.Fatal(err)
			}
			m[f] = fileState{string(read(t, p)), st.Mode, st.Mtim}
		}
		return m
	}
	before := snap()
	ok := []string{"Read-only file system", "No such file or directory"}
	for _, f := range []string{"memory.bin", "state.bin"} {
		p := d.Path("new", "ram", f)
		// Nothing that would create the name anew (the daemon may have
		// removed it already: then a new file, not the snapshot's).
		for _, cmd := range [][]string{
			{"dd", "if=/dev/zero", "of=" + p, "bs=4096", "count=1", "conv=notrunc,nocreat"},
			{"truncate", "-c", "-s", "0", p}, {"chmod", "0666", p}, {"touch", "-c", p},
		} {
			r := u.Run(t, cmd[0], cmd[1:]...)
			if _, err := os.Lstat(secStaging(d, "ram", f)); r.code == 0 && os.IsNotExist(err) {
				continue // -c: nothing to change, the name is gone
			}
			if r.code == 0 || !(strings.Contains(r.stderr, ok[0]) || strings.Contains(r.stderr, ok[1])) {
				t.Errorf("as %s: %v: exit %d %q, want EROFS or ENOENT", u.Name, cmd, r.code, r.stderr)
			}
		}
	}
	after := snap()
	for f, b := range before {
		if a := after[f]; a != b {
			t.Errorf("published a/%s changed through new/ram: mode %#o -> %#o, mtime %v -> %v, same data %v",
				f, b.mode, a.mode, b.mtime, a.mtime, a.data == b.data)
		}
	}
	// Once the daemon has removed them, the names are gone.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Lstat(secStaging(d, "ram", "memory.bin")); os.IsNotExist(err) {
			break
		}
	}
	for _, f := range []string{"memory.bin", "state.bin"} {
		if _, err := os.Lstat(secStaging(d, "ram", f)); !os.IsNotExist(err) {
			t.Errorf("the staging link ram/%s to the published a is left: %v", f, err)
		}
	}
	mgLogged(t, d, "removed a staging link", "ram")
}

// TestSecRmdirNeedsDirWrite (issue 18, finding 10): in a STORE others may
// write that is not sticky, rmdir MNT/<name> needs what rm -rf would:
// write and search on the snapshot directory. B cannot delete A's 0700
// snapshot (EACCES, it stays); A can.
func TestSecRmdirNeedsDirWrite(t *testing.T) {
	e := secSetup(t, 0o777)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	dir := makeSnap(t, e.store, "mine", snapSpec{})
	secChownSnap(t, dir, a)
	secChmodSnap(t, dir, 0o700, 0o600)
	d := e.mount(t)
	if got, _ := b.Do(t, "rmdir", d.Path("mine")); got != unix.EACCES {
		t.Errorf("as B: rmdir A's 0700 snapshot: %s, want EACCES", secErr(got))
	}
	if _, err := os.Stat(filepath.Join(e.store, "mine", "memory.bin")); err != nil {
		t.Fatalf("A's snapshot is gone: %v", err)
	}
	a.Want(t, "rmdir", d.Path("mine"), 0)
}

// TestSecStagingCap (issue 18, finding 10): one user's staging
// directories are capped (--max-staging-dirs-per-user); past it mkdir in
// new/ is EDQUOT for that user only.
func TestSecStagingCap(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	d := e.mount(t, "--max-staging-dirs-per-user", "2")
	a.Want(t, "mkdir", d.Path("new", "a1"), 0)
	a.Want(t, "mkdir", d.Path("new", "a2"), 0)
	a.Want(t, "mkdir", d.Path("new", "a3"), unix.EDQUOT)
	b.Want(t, "mkdir", d.Path("new", "b1"), 0)
	if err := os.Mkdir(d.Path("new", "r1"), 0o755); err != nil {
		t.Errorf("root: mkdir new/r1: %v", err)
	}
	a.Want(t, "rmdir", d.Path("new", "a1"), 0)
	a.Want(t, "mkdir", d.Path("new", "a3"), 0)
}

// TestSecTrashSquatted (issue 18, finding 10): a .snapfs-trash another
// user made in a 1777 STORE does not make rmdir fail: it is moved aside
// (logged) and the daemon makes its own.
func TestSecTrashSquatted(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	a := secNewUser(t, e.probe)
	b := secNewUser(t, e.probe)
	secChownSnap(t, makeSnap(t, e.store, "mine", snapSpec{}), a)
	if r := b.Run(t, "mkdir", "-m", "0700", filepath.Join(e.store, ".snapfs-trash")); r.code != 0 {
		t.Fatalf("as B: mkdir STORE/.snapfs-trash: %s", r.stderr)
	}
	d := e.mount(t)
	a.Want(t, "rmdir", d.Path("mine"), 0)
	if _, err := os.Stat(filepath.Join(e.store, "mine")); !os.IsNotExist(err) {
		t.Errorf("STORE/mine after rmdir: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.store, ".snapfs-trash.refused-*")); len(m) != 1 {
		t.Errorf("B's trash not moved aside: %v", m)
	}
	mgLogged(t, d, "moved aside", ".snapfs-trash")
}
