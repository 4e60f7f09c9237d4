package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// These tests play a user who can write STORE and swaps what the root
// daemon works on for symlinks to files outside STORE. Everything
// "outside" lives in its own temp dir, whose every entry must keep its
// name, content, mode, owner and times.

// secMemSize keeps the staged snapshots of these tests small.
const secMemSize = 4 * 4096

// secManifest is a valid manifest of secMemSize bytes of RAM, with tag as
// its openvmm_version, so a published manifest tells where it came from.
func secManifest(tag string) *snapshot.Manifest {
	m := goodManifest(created)
	m.MemorySizeBytes = secMemSize
	m.OpenVMMVersion = tag
	return m
}

// secMemory is a memory.bin of secMemSize bytes filled with tag.
func secMemory(tag string) []byte {
	return bytes.Repeat([]byte(tag), secMemSize/len(tag)+1)[:secMemSize]
}

// secWriteSnap writes a valid snapshot tagged tag into the directory dir
// (through the mount or not), its manifest as manifest.json when json,
// and returns its memory.bin.
func secWriteSnap(t testing.TB, dir, tag string, json bool) []byte {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	m := secManifest(tag)
	if json {
		writeFile(t, filepath.Join(dir, "manifest.json"), m.JSON())
	} else {
		writeFile(t, filepath.Join(dir, "manifest.bin"), m.Encode())
	}
	writeFile(t, filepath.Join(dir, "state.bin"), snapshot.EncodeState(basicUnits(t)))
	mem := secMemory(tag)
	writeFile(t, filepath.Join(dir, "memory.bin"), mem)
	return mem
}

// secPast is the times given to outside files, so any access shows.
var secPast = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// secOutside makes a temp dir outside STORE holding `file` (0600, old
// times) and, when snap, a complete snapshot `snap/` with manifest.json.
func secOutside(t testing.TB, snap bool) string {
	t.Helper()
	out := t.TempDir()
	f := filepath.Join(out, "file")
	if err := os.WriteFile(f, []byte("outside secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if snap {
		secWriteSnap(t, filepath.Join(out, "snap"), "outside", true)
	}
	filepath.WalkDir(out, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			os.Chtimes(p, secPast, secPast)
		}
		return nil
	})
	return out
}

// secTree records every entry under root without following symlinks:
// type, mode, owner, size, times (atime too for files) and content.
func secTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		s := fmt.Sprintf("mode %o uid %d gid %d size %d mtime %v ctime %v",
			st.Mode, st.Uid, st.Gid, st.Size, st.Mtim, st.Ctim)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			s += fmt.Sprintf(" atime %v sha256 %x", st.Atim, secHash(t, p))
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			s += " -> " + l
		}
		out[p] = s
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return out
}

// secHash hashes a file read with O_NOATIME, so reading it changes nothing.
func secHash(t testing.TB, p string) []byte {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOATIME|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return h.Sum(nil)
}

// secSame fails unless root is exactly as recorded in before.
func secSame(t testing.TB, what, root string, before map[string]string) {
	t.Helper()
	after := secTree(t, root)
	for p, b := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s: outside %s is gone", what, p)
		} else if a != b {
			t.Errorf("%s: outside %s changed:\n was %s\n now %s", what, p, b, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: outside %s appeared", what, p)
		}
	}
}

// secStaging is STORE/.snapfs-staging/elem...
func secStaging(d *daemon, elem ...string) string {
	return filepath.Join(append([]string{d.Store, ".snapfs-staging"}, elem...)...)
}

// secRoot skips a test that plays root's daemon against a STORE writer.
func secRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the swap and race tests run as root")
	}
}

// chmod, chown, utimes and truncate through MNT/new/x/memory.bin, by the
// open handle and by path, after STORE/.snapfs-staging/x became a
// directory holding memory.bin -> OUTSIDE/file, never touch that file.
func TestSecSetattrSwappedStaging(t *testing.T) {
	secRoot(t)
	for _, flags := range [][]string{nil, {"--no-passthrough"}} {
		t.Run(fmt.Sprint("flags", flags), func(t *testing.T) {
			d := nwMount(t, "", append(flags, "--commit-delay", "0")...)
			out := secOutside(t, false)
			secWriteSnap(t, d.Path("new", "x"), "staged", false)
			path := d.Path("new", "x", "memory.bin")
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			nwSh(t, "mv "+secStaging(d, "x")+" "+filepath.Join(d.Store, ".aside"))
			nwSh(t, "mkdir "+secStaging(d, "x")+" && ln -s "+filepath.Join(out, "file")+" "+secStaging(d, "x", "memory.bin"))
			before := secTree(t, out)
			attack := func(round string) {
				fd := int(f.Fd())
				unix.Fchmod(fd, 0o666)
				unix.Fchown(fd, 4321, 4321)
				unix.Futimes(fd, []unix.Timeval{{Sec: 1}, {Sec: 1}})
				unix.Ftruncate(fd, 1)
				os.Chmod(path, 0o666)
				os.Chown(path, 4322, 4322)
				os.Lchown(path, 4323, 4323)
				os.Chtimes(path, time.Unix(2, 0), time.Unix(2, 0))
				os.Truncate(path, 2)
				if g, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0); err == nil {
					g.Close()
				}
				secSame(t, round, out, before)
			}
			attack("with the dentry cached")
			// Let the daemon see the swap and the kernel's entry expire,
			// so the path is looked up afresh.
			time.Sleep(visible)
			os.ReadDir(d.Path("new", "x"))
			attack("after a fresh lookup")
		})
	}
}

// A staging directory replaced by a symlink to a valid snapshot outside
// STORE is not validated, written, listed or published: not by mv, not by
// the automatic publish, not by a remount.
func TestSecStagingDirSymlink(t *testing.T) {
	secRoot(t)
	cases := []struct {
		name      string
		aside, mv bool // keep the original in STORE/.aside; try mv
	}{{"mv", false, true}, {"mv, original kept aside", true, true}, {"automatic publish", false, false}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := nwMount(t, "", "--commit-delay", "1s")
			out := secOutside(t, true)
			secWriteSnap(t, d.Path("new", "x"), "staged", false)
			if c.aside {
				nwSh(t, "mv "+secStaging(d, "x")+" "+filepath.Join(d.Store, ".aside"))
			} else {
				nwSh(t, "rm -r "+secStaging(d, "x"))
			}
			if err := os.Symlink(filepath.Join(out, "snap"), secStaging(d, "x")); err != nil {
				t.Fatal(err)
			}
			before := secTree(t, out)
			// Writes into new/x land nowhere outside STORE.
			os.WriteFile(d.Path("new", "x", "written"), []byte("x\n"), 0o644)
			os.Mkdir(d.Path("new", "x", "sub"), 0o755)
			os.Truncate(d.Path("new", "x", "memory.bin"), 1)
			if c.mv {
				var err error
				withTimeout(t, "mv", func() { err = os.Rename(d.Path("new", "x"), d.Path("x")) })
				if err == nil {
					t.Errorf("mv of a staging directory swapped for a symlink succeeded")
				}
				wantAbsent(t, filepath.Join(d.Store, "x"))
				secSame(t, "mv", out, before)
			}
			for _, r := range []string{"at once", "after the commit delay"} {
				if ents, err := os.ReadDir(d.Path("new", "x")); err == nil {
					for _, e := range ents {
						if e.Name() == "manifest.json" || (!c.aside && strings.HasSuffix(e.Name(), ".bin")) {
							t.Errorf("ls new/x (%s) shows %s of the outside directory", r, e.Name())
						}
					}
				}
				time.Sleep(time.Second + visible)
			}
			wantAbsent(t, filepath.Join(d.Store, "x"))
			secSame(t, "ls and the automatic publish", out, before)

			d.stop()
			d = mountStore(t, d.Store, "", "--commit-delay", "300ms")
			os.ReadDir(d.Path("new"))
			os.ReadDir(d.Path("new", "x"))
			time.Sleep(visible)
			wantAbsent(t, filepath.Join(d.Store, "x"))
			wantAbsent(t, d.Path("x"))
			secSame(t, "remount", out, before)
		})
	}
}

// The staging directory is swapped (atomically, RENAME_EXCHANGE) for a
// symlink to a valid outside snapshot while mv validates and publishes:
// the outside directory never changes, and what is published, if
// anything, is the staged snapshot.
func TestSecStagingSwapDuringPublish(t *testing.T) {
	secRoot(t)
	d := nwMount(t, "", "--commit-delay", "0")
	outs := t.TempDir()
	const trials = 200
	published := 0
	for i := 0; i < trials; i++ {
		name := fmt.Sprintf("r%d", i)
		out := filepath.Join(outs, name)
		secWriteSnap(t, out, "outside", true)
		before := secTree(t, out)
		mem := secWriteSnap(t, d.Path("new", name), "staged", false)
		link := filepath.Join(d.Store, ".swap-"+name)
		if err := os.Symlink(out, link); err != nil {
			t.Fatal(err)
		}
		var mvErr, swapErr error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); mvErr = os.Rename(d.Path("new", name), d.Path(name)) }()
		go func() {
			defer wg.Done()
			// Swap at a different moment of the publish in each trial.
			for deadline := time.Now().Add(time.Duration(i%25) * 200 * time.Microsecond); time.Now().Before(deadline); {
			}
			swapErr = unix.Renameat2(unix.AT_FDCWD, secStaging(d, name), unix.AT_FDCWD, link, unix.RENAME_EXCHANGE)
		}()
		withTimeout(t, "mv racing a swap", wg.Wait)
		secSame(t, name, out, before)
		dst := filepath.Join(d.Store, name)
		if mvErr != nil {
			if fi, err := os.Lstat(dst); err == nil {
				t.Errorf("trial %d: mv failed (%v; swap: %v), yet STORE/%s exists: %v", i, mvErr, swapErr, name, fi.Mode())
			}
			continue
		}
		published++
		if fi, err := os.Lstat(dst); err != nil || !fi.IsDir() {
			t.Errorf("trial %d: mv succeeded (swap: %v) but STORE/%s is not a directory (%v)", i, swapErr, name, err)
			continue
		}
		if got, err := os.ReadFile(filepath.Join(dst, "memory.bin")); err != nil || !bytes.Equal(got, mem) {
			t.Errorf("trial %d: published memory.bin is not the staged one (%v)", i, err)
		}
	}
	t.Logf("%d of %d trials published before the swap", published, trials)
}

// secTreeRel is secTree keyed by the path below root, without root's own
// ctime (a rename changes it): what a squatter's entry moved aside keeps.
func secTreeRel(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, s := range secTree(t, root) {
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			s = regexp.MustCompile(` ctime \{[0-9 ]*\}`).ReplaceAllString(s, "")
		}
		out[rel] = s
	}
	return out
}

// A .snapfs-staging that is a symlink to an outside directory of complete
// staged snapshots, a regular file, or a directory owned by another user
// (a squatter, in a STORE others may write) is moved aside with a log
// line naming it, keeping what it holds, and made anew: new/ works,
// nothing of the squatter's is published or followed, and a remount
// keeps the daemon's own staging area as it is.
func TestSecStagingAreaMovedAside(t *testing.T) {
	secRoot(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, store, out string) // out holds a/ and b/
	}{
		{"symlink", func(t *testing.T, store, out string) {
			if err := os.Symlink(out, filepath.Join(store, ".snapfs-staging")); err != nil {
				t.Fatal(err)
			}
		}},
		{"regular file", func(t *testing.T, store, out string) {
			writeFile(t, filepath.Join(store, ".snapfs-staging"), []byte("not a directory\n"))
		}},
		{"foreign owner", func(t *testing.T, store, out string) {
			nwSh(t, "cp -a "+out+" "+filepath.Join(store, ".snapfs-staging"))
			nwSh(t, "chown -R 4242:4242 "+filepath.Join(store, ".snapfs-staging"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, out := t.TempDir(), t.TempDir()
			secWriteSnap(t, filepath.Join(out, "a"), "outside", false)
			secWriteSnap(t, filepath.Join(out, "b"), "outside", true)
			c.setup(t, store, out)
			outBefore := secTree(t, out)
			squat := secTreeRel(t, filepath.Join(store, ".snapfs-staging"))
			var aside string
			for _, round := range []string{"mount", "remount"} {
				d := mountStore(t, store, "", "--commit-delay", "300ms")
				if round == "mount" {
					wantNames(t, d.Path("new"))
					if err := os.Mkdir(d.Path("new", "c"), 0o755); err != nil {
						t.Fatalf("mkdir new/c: %v, want a staging area made anew", err)
					}
				}
				wantNames(t, d.Path("new"), "c")
				for _, n := range []string{"a", "b"} {
					if _, err := os.ReadDir(d.Path("new", n)); err == nil {
						t.Errorf("%s: new/%s can be listed", round, n)
					}
				}
				time.Sleep(visible)
				for _, n := range names(t, d.Mnt) {
					if n != "new" {
						t.Errorf("%s: MNT shows %s", round, n)
					}
				}
				got, _ := filepath.Glob(filepath.Join(store, ".snapfs-staging.refused-*"))
				if len(got) != 1 {
					t.Fatalf("%s: moved aside %v, want one entry (STORE holds %v)", round, got, names(t, store))
				}
				aside = got[0]
				wantNames(t, store, ".snapfs-staging", filepath.Base(aside))
				st := lstat(t, filepath.Join(store, ".snapfs-staging"))
				if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 {
					t.Errorf("%s: .snapfs-staging made anew is mode %#o uid %d, want root's directory", round, st.Mode, st.Uid)
				}
				wantNames(t, filepath.Join(store, ".snapfs-staging"), "c")
				secSame(t, round, out, outBefore)
				after := secTreeRel(t, aside)
				for p, b := range squat {
					if after[p] != b {
						t.Errorf("%s: the squatter's %s changed:\n was %s\n now %s", round, p, b, after[p])
					}
				}
				if len(after) != len(squat) {
					t.Errorf("%s: the squatter's entry holds %d entries, was %d", round, len(after), len(squat))
				}
				if round == "mount" {
					nwContains(t, round+" log", d.Log(), filepath.Base(aside))
				} else if strings.Contains(d.Log(), "moved aside") {
					t.Errorf("remount: the daemon's own staging area was moved aside:\n%s", d.Log())
				}
				d.stop()
			}
		})
	}
}

// A symlink, FIFO, device or whiteout in a staging directory is never
// followed or opened: mv answers EINVAL and status names the entry.
func TestSecStagingSpecialEntries(t *testing.T) {
	secRoot(t)
	d := nwMount(t, "", "--commit-delay", "0")
	out := secOutside(t, false)
	outMem := filepath.Join(out, "mem")
	if err := os.WriteFile(outMem, secMemory("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(outMem, secPast, secPast)
	before := secTree(t, out)
	cases := []struct {
		name, entry string
		replace     bool // the entry takes the place of a snapshot file
		make        func(p string) error
	}{
		{"symlink", "link", false, func(p string) error { return os.Symlink(filepath.Join(out, "file"), p) }},
		{"symlink-memory", "memory.bin", true, func(p string) error { return os.Symlink(outMem, p) }},
		{"fifo", "pipe", false, func(p string) error { return unix.Mkfifo(p, 0o644) }},
		{"whiteout", "wh", false, func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, 0) }},
		{"device", "null", false, func(p string) error {
			return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
		}},
		// Last: a daemon that opens it hangs.
		{"fifo-state", "state.bin", true, func(p string) error { return unix.Mkfifo(p, 0o644) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			secWriteSnap(t, d.Path("new", c.name), "staged", false)
			p := secStaging(d, c.name, c.entry)
			if c.replace {
				os.Remove(p)
			}
			if err := c.make(p); err != nil {
				t.Fatal(err)
			}
			var err error
			withTimeout(t, "mv", func() { err = os.Rename(d.Path("new", c.name), d.Path(c.name)) })
			if errnoOf(err) != syscall.EINVAL {
				t.Errorf("mv with a %s in staging: %v, want EINVAL", c.name, err)
			}
			wantAbsent(t, filepath.Join(d.Store, c.name))
			var st string
			withTimeout(t, "status", func() { st = nwStatus(t, d, c.name) })
			named := false
			for _, l := range strings.Split(st, "\n") {
				named = named || strings.Contains(l, c.entry)
			}
			if !named {
				t.Errorf("new/%s/status names no %s:\n%s", c.name, c.entry, st)
			}
			lstat(t, p) // still there, as it was
			secSame(t, c.name, out, before)
		})
	}
}

// renameat2(RENAME_WHITEOUT) within a staging directory fails with
// EINVAL and leaves no whiteout behind.
func TestSecRenameWhiteout(t *testing.T) {
	secRoot(t)
	d := nwMount(t, "", "--commit-delay", "0")
	if err := os.Mkdir(d.Path("new", "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.Path("new", "w", "a"), []byte("a\n"))
	err := unix.Renameat2(unix.AT_FDCWD, d.Path("new", "w", "a"), unix.AT_FDCWD, d.Path("new", "w", "b"), unix.RENAME_WHITEOUT)
	if errnoOf(err) != syscall.EINVAL {
		t.Errorf("renameat2(RENAME_WHITEOUT) in new/w: %v, want EINVAL", err)
	}
	wantNames(t, secStaging(d, "w"), "a")
	if fi, err := os.Lstat(secStaging(d, "w", "a")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("STORE/.snapfs-staging/w/a after the rename: %v %v", fi, err)
	}
}
