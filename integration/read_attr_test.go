package integration

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/snapfs/snapfs/snapshot"
)

// attrStore is a store with a valid snapshot, one with broken files and
// one with unusual unit names, for walks.
func attrStore(t *testing.T) string {
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Minute)), NoMemory: true})
	makeSnap(t, store, "vm3", snapSpec{Units: []snapshot.StateUnit{{Name: "a/b", TypeURL: "t/x", Value: []byte("v")}, {Name: "..", TypeURL: "t/y"}}})
	return store
}

// walk lists every path under root (relative), with its lstat.
func walk(t *testing.T, root string) map[string]*unix.Stat_t {
	t.Helper()
	out := map[string]*unix.Stat_t{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", p, err)
		}
		out[rel] = &st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadAttrSizes checks that every file's size is what a read returns,
// and latest's size is its target's length.
func TestReadAttrSizes(t *testing.T) {
	t.Parallel()
	store := attrStore(t)
	for _, passthrough := range []bool{true, false} {
		t.Run(fmt.Sprintf("passthrough=%v", passthrough), func(t *testing.T) {
			t.Parallel()
			var flags []string
			if !passthrough {
				flags = []string{"--no-passthrough"}
			}
			d := mountStore(t, store, "", flags...)
			n := 0
			for rel, st := range walk(t, d.Mnt) {
				p := d.Path(rel)
				switch st.Mode & unix.S_IFMT {
				case unix.S_IFREG:
					n++
					b, err := os.ReadFile(p)
					if err != nil {
						t.Errorf("read %s: %v", rel, err)
						continue
					}
					if int64(len(b)) != st.Size {
						t.Errorf("%s: size %d, read %d bytes", rel, st.Size, len(b))
					}
					// Reading at odd offsets agrees too.
					f, err := os.Open(p)
					if err != nil {
						t.Fatal(err)
					}
					buf := make([]byte, 7)
					for off := int64(0); off < int64(len(b)) && off < 200; off += 5 {
						k, err := f.ReadAt(buf, off)
						if err != nil && err != io.EOF {
							t.Errorf("%s: pread at %d: %v", rel, off, err)
						}
						if string(buf[:k]) != string(b[off:min(off+7, int64(len(b)))]) {
							t.Errorf("%s: pread at %d = %q", rel, off, buf[:k])
						}
					}
					if k, err := f.ReadAt(buf, st.Size); k != 0 || err != io.EOF {
						t.Errorf("%s: pread at the end: %d, %v", rel, k, err)
					}
					f.Close()
				case unix.S_IFLNK:
					target := readlink(t, p)
					if int64(len(target)) != st.Size {
						t.Errorf("%s: size %d, target %q", rel, st.Size, target)
					}
				}
			}
			if n < 30 {
				t.Errorf("walk found only %d files", n)
			}
		})
	}
}

// TestReadAttrBacking checks that the STORE files served as themselves
// have STORE's size, mtime and st_blocks, and views the mtime of their
// source.
func TestReadAttrBacking(t *testing.T) {
	t.Parallel()
	store := attrStore(t)
	// Distinct mtimes, so a wrong source shows.
	base := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.UTC)
	for i, f := range []string{"manifest.bin", "state.bin", "memory.bin", ""} {
		tm := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(filepath.Join(store, "vm1", f), tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	d := mountStore(t, store, "")
	sst := func(f string) *unix.Stat_t { return lstat(t, filepath.Join(store, "vm1", f)) }
	mst := func(f string) *unix.Stat_t { return lstat(t, d.Path("vm1", f)) }
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		s, m := sst(f), mst(f)
		if s.Size != m.Size || s.Mtim != m.Mtim || s.Blocks != m.Blocks {
			t.Errorf("%s: mount size/mtime/blocks %d/%v/%d, STORE %d/%v/%d", f, m.Size, m.Mtim, m.Blocks, s.Size, s.Mtim, s.Blocks)
		}
		want := s.Mode
		if f == "memory.bin" { // restoring needs read permission only
			want |= (want & 0o444) >> 1
		}
		if m.Mode != want || m.Uid != s.Uid || m.Gid != s.Gid {
			t.Errorf("%s: mode/uid/gid %o/%d/%d, STORE %o/%d/%d", f, m.Mode, m.Uid, m.Gid, s.Mode, s.Uid, s.Gid)
		}
	}
	if m := mst("memory.bin"); m.Blocks*512 >= m.Size/2 {
		t.Errorf("memory.bin: %d blocks for %d bytes: holes lost", m.Blocks, m.Size)
	}
	for _, f := range append([]string{"manifest.json"}, prefixed("manifest/", snapshot.ManifestFields)...) {
		if got, want := mst(f).Mtim, sst("manifest.bin").Mtim; got != want {
			t.Errorf("%s: mtime %v, want manifest.bin's %v", f, got, want)
		}
	}
	for _, f := range []string{"state/pit/type_url", "state/pit/value.bin", "state/rtc/value.bin"} {
		if got, want := mst(f).Mtim, sst("state.bin").Mtim; got != want {
			t.Errorf("%s: mtime %v, want state.bin's %v", f, got, want)
		}
	}
	if got, want := lstat(t, d.Path("vm1")).Mtim, sst("").Mtim; got != want {
		t.Errorf("vm1/: mtime %v, want STORE/vm1's %v", got, want)
	}
	// status is made from all of them: it takes one of their times, the
	// newest.
	st := mst("status").Mtim
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin", ""} {
		if s := sst(f).Mtim; s.Sec > st.Sec || s.Sec == st.Sec && s.Nsec > st.Nsec {
			t.Errorf("status mtime %v is older than %q's %v", st, f, s)
		}
	}
}

func prefixed(p string, s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = p + x
	}
	return out
}

// TestReadAttrSeek checks SEEK_DATA and SEEK_HOLE on memory.bin against
// STORE, including ENXIO at and past the end.
func TestReadAttrSeek(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	for _, passthrough := range []bool{true, false} {
		t.Run(fmt.Sprintf("passthrough=%v", passthrough), func(t *testing.T) {
			t.Parallel()
			var flags []string
			if !passthrough {
				flags = []string{"--no-passthrough"}
			}
			d := mountStore(t, store, "", flags...)
			sf, err := os.Open(filepath.Join(store, "vm1", "memory.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer sf.Close()
			mf, err := os.Open(d.Path("vm1", "memory.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			offs := []int64{0, 1, 4095, 4096, 4097, 1 << 20, 8<<20 - 1, 8 << 20, 8<<20 + 4096, memSize - 1}
			for _, whence := range []int{unix.SEEK_DATA, unix.SEEK_HOLE} {
				for _, off := range offs {
					want, werr := unix.Seek(int(sf.Fd()), off, whence)
					got, gerr := unix.Seek(int(mf.Fd()), off, whence)
					if got != want || errnoOf(gerr) != errnoOf(werr) {
						t.Errorf("lseek(%d, whence %d) = %d, %v; STORE gives %d, %v", off, whence, got, gerr, want, werr)
					}
				}
				for _, off := range []int64{memSize, memSize + 1, 1 << 40} {
					if _, err := unix.Seek(int(mf.Fd()), off, whence); errnoOf(err) != syscall.ENXIO {
						t.Errorf("lseek(%d, whence %d): %v, want ENXIO", off, whence, err)
					}
				}
			}
			// The data regions are where SEEK_DATA says, with the bytes.
			if off, _ := unix.Seek(int(mf.Fd()), 4096, unix.SEEK_DATA); off != 8<<20 {
				t.Errorf("SEEK_DATA from 4096 = %d, want %d", off, 8<<20)
			}
			buf := make([]byte, 4096)
			if _, err := mf.ReadAt(buf, 8<<20); err != nil || string(buf) != string(memPattern(8<<20)) {
				t.Errorf("data at 8 MiB differs: %v", err)
			}
			// SEEK_END/SET/CUR still work.
			if off, err := mf.Seek(0, io.SeekEnd); err != nil || off != memSize {
				t.Errorf("SEEK_END = %d, %v", off, err)
			}
		})
	}
}

// TestReadAttrInodes checks that inode numbers are unique across a walk
// and the same after unmount and remount.
func TestReadAttrInodes(t *testing.T) {
	t.Parallel()
	store := attrStore(t)
	mnt := t.TempDir()
	d := mountStore(t, store, mnt)
	inos := func() map[string]uint64 {
		out := map[string]uint64{}
		seen := map[uint64]string{}
		for rel, st := range walk(t, d.Mnt) {
			out[rel] = st.Ino
			if other, dup := seen[st.Ino]; dup {
				t.Errorf("inode %d is both %s and %s", st.Ino, other, rel)
			}
			seen[st.Ino] = rel
		}
		// Readdir's d_ino agrees with stat's.
		for rel := range out {
			if st, ok := walk1(t, d.Path(rel)); ok {
				for name, ino := range st {
					if want := out[filepath.Join(rel, name)]; ino != want {
						t.Errorf("readdir %s: %s has d_ino %d, stat says %d", rel, name, ino, want)
					}
				}
			}
		}
		return out
	}
	first := inos()
	if len(first) < 40 {
		t.Fatalf("walk found only %d entries", len(first))
	}
	d.stop()
	if isFUSE(mnt) {
		t.Fatal("still mounted after stop")
	}
	d = mountStore(t, store, mnt)
	second := inos()
	var keys []string
	for k := range first {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if first[k] != second[k] {
			t.Errorf("%s: inode %d, after remount %d", k, first[k], second[k])
		}
	}
	if len(first) != len(second) {
		t.Errorf("walk: %d entries, after remount %d", len(first), len(second))
	}
}

// walk1 returns the d_ino of each entry of dir, if it is a directory.
func walk1(t *testing.T, dir string) (map[string]uint64, bool) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, false
	}
	out := map[string]uint64{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Getdents(int(f.Fd()), buf)
		if err != nil {
			t.Fatalf("getdents %s: %v", dir, err)
		}
		if n == 0 {
			break
		}
		for b := buf[:n]; len(b) > 0; {
			reclen := int(b[16]) | int(b[17])<<8
			ino := uint64(0)
			for i := 0; i < 8; i++ {
				ino |= uint64(b[i]) << (8 * i)
			}
			name := b[19:reclen]
			if i := strings.IndexByte(string(name), 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				out[s] = ino
			}
			b = b[reclen:]
		}
	}
	return out, true
}

// storeDigest is a fingerprint of everything in STORE: names, modes,
// sizes, mtimes and contents.
func storeDigest(t *testing.T, store string) string {
	t.Helper()
	var lines []string
	for rel, st := range walk(t, store) {
		l := fmt.Sprintf("%s %o %d %d.%09d", rel, st.Mode, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			l += fmt.Sprintf(" %x", sha256.Sum256(read(t, filepath.Join(store, rel))))
		}
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestReadAttrReadOnly checks that every change inside a snapshot and at
// the root fails with EROFS and changes nothing in STORE (deleting and
// renaming snapshots aside: manage_*_test.go).
func TestReadAttrReadOnly(t *testing.T) {
	t.Parallel()
	store := attrStore(t)
	d := mountStore(t, store, "")
	before := storeDigest(t, store)
	contents := map[string]string{}
	for _, f := range []string{"vm1/manifest.bin", "vm1/status", "vm1/manifest.json"} {
		contents[f] = string(read(t, d.Path(f)))
	}

	type op struct {
		name string
		f    func(p func(...string) string) error
	}
	write := func(path string, flag int) error {
		f, err := os.OpenFile(path, flag, 0o644)
		if err == nil {
			_, err = f.Write([]byte("x"))
			f.Close()
		}
		return err
	}
	inSnap := []op{
		{"write manifest.bin", func(p func(...string) string) error { return write(p("vm1", "manifest.bin"), os.O_WRONLY) }},
		{"write memory.bin", func(p func(...string) string) error { return write(p("vm1", "memory.bin"), os.O_WRONLY) }},
		{"O_RDWR|O_TRUNC memory.bin", func(p func(...string) string) error {
			return write(p("vm1", "memory.bin"), os.O_RDWR|os.O_TRUNC)
		}},
		{"O_RDWR|O_APPEND memory.bin", func(p func(...string) string) error {
			return write(p("vm1", "memory.bin"), os.O_RDWR|os.O_APPEND)
		}},
		{"O_RDWR manifest.bin", func(p func(...string) string) error { return write(p("vm1", "manifest.bin"), os.O_RDWR) }},
		{"O_RDWR state.bin", func(p func(...string) string) error { return write(p("vm1", "state.bin"), os.O_RDWR) }},
		{"append status", func(p func(...string) string) error { return write(p("vm1", "status"), os.O_WRONLY|os.O_APPEND) }},
		{"write manifest.json", func(p func(...string) string) error { return write(p("vm1", "manifest.json"), os.O_WRONLY) }},
		{"write field", func(p func(...string) string) error { return write(p("vm1", "manifest", "vp_count"), os.O_WRONLY) }},
		{"write value.bin", func(p func(...string) string) error { return write(p("vm1", "state", "pit", "value.bin"), os.O_WRONLY) }},
		{"O_TRUNC state.bin", func(p func(...string) string) error { return write(p("vm1", "state.bin"), os.O_RDONLY|os.O_TRUNC) }},
		{"create", func(p func(...string) string) error { return write(p("vm1", "new-file"), os.O_WRONLY|os.O_CREATE) }},
		{"create in manifest/", func(p func(...string) string) error { return write(p("vm1", "manifest", "x"), os.O_WRONLY|os.O_CREATE) }},
		{"create in state/", func(p func(...string) string) error { return write(p("vm1", "state", "x"), os.O_WRONLY|os.O_CREATE) }},
		{"create in unit", func(p func(...string) string) error {
			return write(p("vm1", "state", "pit", "x"), os.O_WRONLY|os.O_CREATE)
		}},
		{"mkdir", func(p func(...string) string) error { return os.Mkdir(p("vm1", "d"), 0o755) }},
		{"mkdir in state/", func(p func(...string) string) error { return os.Mkdir(p("vm1", "state", "d"), 0o755) }},
		{"mknod", func(p func(...string) string) error { return unix.Mknod(p("vm1", "fifo"), unix.S_IFIFO|0o644, 0) }},
		{"unlink memory.bin", func(p func(...string) string) error { return os.Remove(p("vm1", "memory.bin")) }},
		{"unlink status", func(p func(...string) string) error { return os.Remove(p("vm1", "status")) }},
		{"unlink type_url", func(p func(...string) string) error { return os.Remove(p("vm1", "state", "pit", "type_url")) }},
		{"rmdir state", func(p func(...string) string) error { return unix.Rmdir(p("vm1", "state")) }},
		{"rmdir unit", func(p func(...string) string) error { return unix.Rmdir(p("vm1", "state", "pit")) }},
		{"rmdir manifest", func(p func(...string) string) error { return unix.Rmdir(p("vm1", "manifest")) }},
		{"rename file", func(p func(...string) string) error {
			return unix.Rename(p("vm1", "state.bin"), p("vm1", "state2.bin"))
		}},
		{"rename over", func(p func(...string) string) error {
			return unix.Rename(p("vm1", "state.bin"), p("vm1", "manifest.bin"))
		}},
		{"rename dir", func(p func(...string) string) error {
			return unix.Rename(p("vm1", "state", "pit"), p("vm1", "state", "pit2"))
		}},
		{"rename across", func(p func(...string) string) error { return unix.Rename(p("vm1", "status"), p("vm2", "status2")) }},
		{"chmod", func(p func(...string) string) error { return os.Chmod(p("vm1", "memory.bin"), 0o666) }},
		{"chmod dir", func(p func(...string) string) error { return os.Chmod(p("vm1"), 0o777) }},
		{"chown", func(p func(...string) string) error { return os.Chown(p("vm1", "status"), 1, 1) }},
		{"utimes", func(p func(...string) string) error {
			return os.Chtimes(p("vm1", "memory.bin"), time.Unix(1, 0), time.Unix(1, 0))
		}},
		{"truncate memory.bin", func(p func(...string) string) error { return os.Truncate(p("vm1", "memory.bin"), 0) }},
		{"truncate manifest.json", func(p func(...string) string) error { return os.Truncate(p("vm1", "manifest.json"), 1) }},
		{"setxattr", func(p func(...string) string) error {
			return unix.Setxattr(p("vm1", "memory.bin"), "user.x", []byte("1"), 0)
		}},
		{"setxattr dir", func(p func(...string) string) error { return unix.Setxattr(p("vm1"), "user.x", []byte("1"), 0) }},
		{"removexattr", func(p func(...string) string) error { return unix.Removexattr(p("vm1", "state.bin"), "user.x") }},
		{"symlink", func(p func(...string) string) error { return os.Symlink("memory.bin", p("vm1", "link")) }},
		{"link", func(p func(...string) string) error { return os.Link(p("vm1", "memory.bin"), p("vm1", "mem2")) }},
		{"link view", func(p func(...string) string) error { return os.Link(p("vm1", "status"), p("vm1", "state", "s")) }},
	}
	atRoot := []op{
		{"create", func(p func(...string) string) error { return write(p("file"), os.O_WRONLY|os.O_CREATE) }},
		{"mkdir", func(p func(...string) string) error { return os.Mkdir(p("vm9"), 0o755) }},
		{"mknod", func(p func(...string) string) error { return unix.Mknod(p("fifo"), unix.S_IFIFO|0o644, 0) }},
		// rmdir and mv of a snapshot delete and rename it (manage_*_test.go).
		{"rmdir new", func(p func(...string) string) error { return unix.Rmdir(p("new")) }},
		{"unlink latest", func(p func(...string) string) error { return os.Remove(p("latest")) }},
		{"rename latest", func(p func(...string) string) error { return unix.Rename(p("latest"), p("l2")) }},
		{"chmod", func(p func(...string) string) error { return os.Chmod(p(), 0o700) }},
		{"utimes", func(p func(...string) string) error { return os.Chtimes(p(), time.Unix(1, 0), time.Unix(1, 0)) }},
		{"setxattr", func(p func(...string) string) error { return unix.Setxattr(p(), "user.x", []byte("1"), 0) }},
		{"symlink", func(p func(...string) string) error { return os.Symlink("vm1", p("l")) }},
		{"link", func(p func(...string) string) error { return os.Link(p("vm1", "status"), p("status")) }},
	}
	for _, group := range []struct {
		where string
		ops   []op
	}{{"snapshot", inSnap}, {"root", atRoot}} {
		for _, o := range group.ops {
			err := o.f(d.Path)
			if errnoOf(err) != syscall.EROFS {
				t.Errorf("%s: %s: %v, want EROFS", group.where, o.name, err)
			}
		}
	}
	// Never replacing: a rename over a snapshot is EEXIST.
	if err := unix.Rename(d.Path("vm1"), d.Path("vm2")); errnoOf(err) != syscall.EEXIST {
		t.Errorf("root: rename over snapshot: %v, want EEXIST", err)
	}
	for _, p := range []string{"vm1/new-file", "vm1/d", "vm1/fifo", "vm1/link", "vm1/mem2", "vm1/state2.bin", "vm1/state/pit2", "file", "vm9", "fifo", "l", "l2", "status"} {
		if _, err := os.Lstat(d.Path(p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after a failed change: %v", p, err)
		}
	}
	for f, want := range contents {
		if got := string(read(t, d.Path(f))); got != want {
			t.Errorf("%s changed: %q, was %q", f, got, want)
		}
	}
	if fi, err := os.Stat(d.Mnt); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("root mode changed: %v %v", fi.Mode(), err)
	}
	if after := storeDigest(t, store); after != before {
		t.Errorf("STORE changed:\nbefore %s\nafter  %s", before, after)
	}
}
