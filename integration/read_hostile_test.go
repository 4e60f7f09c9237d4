package integration

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadHostileEntries checks which STORE entries are not snapshots:
// symlinked directories, dot-directories, directories without
// manifest.bin, plain files.
func TestReadHostileEntries(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	outside := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, outside, "elsewhere", snapSpec{})
	os.Symlink(filepath.Join(store, "vm1"), filepath.Join(store, "link-in"))
	os.Symlink(filepath.Join(outside, "elsewhere"), filepath.Join(store, "link-out"))
	os.Symlink("vm1", filepath.Join(store, "link-rel"))
	makeSnap(t, store, ".hidden", snapSpec{})
	makeSnap(t, store, "..dots", snapSpec{})
	os.Mkdir(filepath.Join(store, "no-manifest"), 0o755)
	writeFile(t, filepath.Join(store, "no-manifest", "state.bin"), []byte{})
	writeFile(t, filepath.Join(store, "plain-file"), []byte("x"))
	unix.Mkfifo(filepath.Join(store, "fifo"), 0o644)
	d := mountStore(t, store, "")

	wantNames(t, d.Mnt, "latest", "new", "vm1")
	for _, n := range []string{"link-in", "link-out", "link-rel", ".hidden", "..dots", "no-manifest", "plain-file", "fifo"} {
		wantAbsent(t, d.Path(n))
		wantAbsent(t, d.Path(n, "status"))
	}
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest -> %q", got)
	}
}

// noLeak walks MNT/name and fails if any file's content holds secret.
func noLeak(t *testing.T, d *daemon, name string, secret []byte) {
	t.Helper()
	filepath.WalkDir(d.Path(name), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", p, err)
			return nil
		}
		if de.Type().IsRegular() {
			var b []byte
			withTimeout(t, "reading "+p, func() { b, err = os.ReadFile(p) })
			if err == nil && bytes.Contains(b, secret) {
				t.Errorf("%s leaks content from outside STORE: %q", p, b)
			}
		}
		return nil
	})
}

// TestReadHostileNames checks that unusual but legal directory names are
// shown as they are: a newline, invalid UTF-8, 255 bytes, spaces, a
// leading dash.
func TestReadHostileNames(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	odd := []string{"we\nird", "\xff\xfe", strings.Repeat("x", 255), "with space", "-dash", "%2F", "new.", "latest~"}
	for _, n := range odd {
		makeSnap(t, store, n, snapSpec{})
	}
	d := mountStore(t, store, "")
	wantNames(t, d.Mnt, append(odd, "latest", "new")...)
	for _, n := range odd {
		if got := string(read(t, d.Path(n, "status"))); got != "ok\n" {
			t.Errorf("%q/status = %q", n, got)
		}
	}
	// Ties on created_at: the greatest name, byte-wise.
	if got := readlink(t, d.Path("latest")); got != "\xff\xfe" {
		t.Errorf("latest -> %q, want the greatest name", got)
	}
}

// TestReadHostileSymlinks checks source files that are symlinks out of
// STORE: the snapshot is shown, broken, and nothing of the target leaks.
func TestReadHostileSymlinks(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	outside := t.TempDir()
	secret := []byte("SECRET-outside-store")
	m := goodManifest(created)
	m.OpenVMMVersion = string(secret)
	makeSnap(t, outside, "real", snapSpec{Manifest: m})
	sm := snapSpecUnitsWithSecret(secret)
	makeSnap(t, outside, "real2", sm)
	writeFile(t, filepath.Join(outside, "passwd"), append(secret, '\n'))

	link := func(name string, targets map[string]string) {
		makeSnap(t, store, name, snapSpec{})
		for f, target := range targets {
			os.Remove(filepath.Join(store, name, f))
			if err := os.Symlink(target, filepath.Join(store, name, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	link("manifest-out", map[string]string{"manifest.bin": filepath.Join(outside, "real", "manifest.bin")})
	link("manifest-rel", map[string]string{"manifest.bin": "../../" + filepath.Base(outside) + "/real/manifest.bin"})
	link("state-out", map[string]string{"state.bin": filepath.Join(outside, "real2", "state.bin")})
	link("memory-out", map[string]string{"memory.bin": filepath.Join(outside, "passwd")})
	link("memory-in", map[string]string{"memory.bin": "../manifest-out/memory.bin"})
	link("all-out", map[string]string{
		"manifest.bin": filepath.Join(outside, "real", "manifest.bin"),
		"state.bin":    filepath.Join(outside, "real2", "state.bin"),
		"memory.bin":   filepath.Join(outside, "passwd"),
	})
	link("dangling", map[string]string{"manifest.bin": filepath.Join(outside, "nothing")})
	d := mountStore(t, store, "")

	for _, name := range []string{"manifest-out", "manifest-rel", "state-out", "memory-out", "memory-in", "all-out", "dangling"} {
		t.Run(name, func(t *testing.T) {
			noLeak(t, d, name, secret)
			lines := statusLines(t, d, name)
			if !strings.HasPrefix(lines[0], "error: ") {
				t.Errorf("status = %q, want an error", lines)
			}
			if l, err := os.Readlink(d.Path("latest")); err == nil && l == name {
				t.Errorf("latest -> %s, a snapshot with a symlinked file", name)
			}
		})
	}
	// A symlinked manifest.bin gives no manifest views.
	wantAbsent(t, d.Path("manifest-out", "manifest.json"))
	wantAbsent(t, d.Path("manifest-out", "manifest"))
	wantAbsent(t, d.Path("state-out", "state"))
	// And open() on the name gives nothing either.
	for _, p := range []string{"manifest-out/manifest.bin", "state-out/state.bin", "memory-out/memory.bin"} {
		if b, err := os.ReadFile(d.Path(p)); err == nil && bytes.Contains(b, secret) {
			t.Errorf("%s leaks", p)
		}
	}
}

func snapSpecUnitsWithSecret(secret []byte) snapSpec {
	return snapSpec{StateBytes: append([]byte{0x0a, byte(len(secret) + 2), 0x0a, byte(len(secret))}, secret...)}
}

// daemonRSS is the daemon's peak resident set, in bytes.
func daemonRSS(t *testing.T, d *daemon) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/pid/status")
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return n << 10
}

// TestReadHostileFiles checks damaged source files: a 1 GiB sparse
// manifest.bin, FIFOs, a directory, a device. None may hang or crash the
// daemon or make it read the whole thing.
func TestReadHostileFiles(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	// 1 GiB sparse manifest.bin.
	makeSnap(t, store, "huge", snapSpec{})
	if err := os.Truncate(filepath.Join(store, "huge", "manifest.bin"), 1<<30); err != nil {
		t.Fatal(err)
	}
	// 1 GiB sparse state.bin: a run of zero bytes is field 0, invalid.
	makeSnap(t, store, "huge-state", snapSpec{})
	if err := os.Truncate(filepath.Join(store, "huge-state", "state.bin"), 1<<30); err != nil {
		t.Fatal(err)
	}
	fifo := func(name, f string) {
		makeSnap(t, store, name, snapSpec{})
		os.Remove(filepath.Join(store, name, f))
		if err := unix.Mkfifo(filepath.Join(store, name, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fifo("fifo-state", "state.bin")
	fifo("fifo-manifest", "manifest.bin")
	fifo("fifo-memory", "memory.bin")
	makeSnap(t, store, "dir-state", snapSpec{NoState: true})
	os.Mkdir(filepath.Join(store, "dir-state", "state.bin"), 0o755)
	makeSnap(t, store, "dev-memory", snapSpec{NoMemory: true})
	if err := unix.Mknod(filepath.Join(store, "dev-memory", "memory.bin"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))); err != nil {
		t.Logf("mknod /dev/zero copy: %v", err)
	}
	d := mountStore(t, store, "")

	broken := []string{"huge", "huge-state", "fifo-state", "fifo-manifest", "fifo-memory", "dir-state", "dev-memory"}
	wantNames(t, d.Mnt, append(broken, "latest", "new", "vm1")...)
	for _, name := range broken {
		t.Run(name, func(t *testing.T) {
			var lines []string
			withTimeout(t, name+"/status", func() { lines = statusLines(t, d, name) })
			if !strings.HasPrefix(lines[0], "error: ") {
				t.Errorf("status = %q, want an error", lines)
			}
			// Every entry can be listed, stat'ed and read without hanging.
			withTimeout(t, "walking "+name, func() {
				filepath.WalkDir(d.Path(name), func(p string, de fs.DirEntry, err error) error {
					if err != nil {
						t.Errorf("walk %s: %v", p, err)
						return nil
					}
					if de.Type().IsRegular() && !strings.HasSuffix(p, "huge/manifest.bin") && !strings.HasSuffix(p, "huge-state/state.bin") {
						if _, err := os.ReadFile(p); err != nil {
							t.Errorf("read %s: %v", p, err)
						}
					}
					return nil
				})
			})
		})
	}
	// The FIFOs and non-regular files are not served as files.
	for _, p := range []string{"fifo-state/state.bin", "fifo-state/state", "fifo-manifest/manifest.json", "fifo-memory/memory.bin", "dir-state/state.bin", "dev-memory/memory.bin"} {
		if fi, err := os.Lstat(d.Path(p)); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
			t.Errorf("%s is served as %v", p, fi.Mode())
		} else if err == nil && strings.HasSuffix(p, ".bin") {
			t.Errorf("%s is served: %v", p, fi.Mode())
		}
	}
	wantAbsent(t, d.Path("huge", "manifest.json"))
	wantAbsent(t, d.Path("huge-state", "state"))
	// The huge manifest.bin is still STORE's file: its size and a read
	// at its end.
	if st := lstat(t, d.Path("huge", "manifest.bin")); st.Size != 1<<30 {
		t.Errorf("huge/manifest.bin size %d", st.Size)
	}
	f, err := os.Open(d.Path("huge", "manifest.bin"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := f.ReadAt(buf, 1<<30-16); n != 16 || err != nil || !bytes.Equal(buf, make([]byte, 16)) {
		t.Errorf("read at the end of huge/manifest.bin: %d %v %x", n, err, buf)
	}
	f.Close()
	// The daemon read neither giant into memory.
	if rss := daemonRSS(t, d); rss > 200<<20 {
		t.Errorf("daemon peak RSS %d MiB after the 1 GiB files", rss>>20)
	}
	// And still serves the good one.
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("vm1/status = %q", got)
	}
	if got := readlink(t, d.Path("latest")); got != "vm1" {
		t.Errorf("latest -> %q", got)
	}
}

// TestReadHostileReserved checks that STORE directories named new and
// latest are hidden, and that the log says so once per name.
func TestReadHostileReserved(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, store, "new", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	makeSnap(t, store, "latest", snapSpec{Manifest: goodManifest(created.Add(2 * time.Hour))})
	d := mountStore(t, store, "")

	for i := 0; i < 3; i++ {
		wantNames(t, d.Mnt, "latest", "new", "vm1")
		if got := readlink(t, d.Path("latest")); got != "vm1" {
			t.Errorf("latest -> %q, want vm1 (the store's latest/ is hidden)", got)
		}
		if fi, err := os.Lstat(d.Path("latest")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("latest is not the symlink: %v", err)
		}
		// MNT/new is the staging area, not STORE/new.
		wantAbsent(t, d.Path("new", "manifest.bin"))
		wantAbsent(t, d.Path("new", "status"))
		if i < 2 {
			time.Sleep(visible) // past every cache, so STORE is read again
		}
	}
	for _, name := range []string{"new", "latest"} {
		re := regexp.MustCompile(`(^|[^A-Za-z_./-])` + name + `($|[^A-Za-z_./-])`)
		n := 0
		for _, l := range strings.Split(d.Log(), "\n") {
			if re.MatchString(l) && (strings.Contains(l, "reserved") || strings.Contains(l, "hidden")) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("log mentions the hidden %s %d times, want once:\n%s", name, n, d.Log())
		}
	}
}

// TestReadHostileRemovedWhileOpen removes a snapshot from STORE while its
// files are open under MNT: reads of the open files go on, nothing hangs,
// and the snapshot goes.
func TestReadHostileRemovedWhileOpen(t *testing.T) {
	t.Parallel()
	for _, passthrough := range []bool{true, false} {
		t.Run(fmt.Sprintf("passthrough=%v", passthrough), func(t *testing.T) {
			t.Parallel()
			store := t.TempDir()
			makeSnap(t, store, "vm1", snapSpec{})
			makeSnap(t, store, "vm2", snapSpec{})
			var flags []string
			if !passthrough {
				flags = []string{"--no-passthrough"}
			}
			d := mountStore(t, store, "", flags...)
			files := []string{"memory.bin", "state.bin", "manifest.bin", "manifest.json", "status", "manifest/vp_count", "state/pit/value.bin", "state/pit/type_url"}
			want := map[string][]byte{}
			open := map[string]*os.File{}
			for _, f := range files {
				want[f] = read(t, d.Path("vm1", f))
				fh, err := os.Open(d.Path("vm1", f))
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				open[f] = fh
			}
			if err := os.RemoveAll(filepath.Join(store, "vm1")); err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				var got []byte
				var err error
				withTimeout(t, "reading "+f, func() { got, err = io.ReadAll(open[f]) })
				if err != nil {
					t.Errorf("reading open %s after removal: %v", f, err)
				} else if !bytes.Equal(got, want[f]) {
					t.Errorf("open %s after removal: %d bytes, want %d", f, len(got), len(want[f]))
				}
			}
			time.Sleep(visible)
			wantAbsent(t, d.Path("vm1"))
			wantNames(t, d.Mnt, "latest", "new", "vm2")
			for _, f := range files {
				if _, err := open[f].Seek(0, io.SeekStart); err == nil {
					buf := make([]byte, 10)
					_, err = open[f].Read(buf)
					if err != nil && err != io.EOF && errnoOf(err) != syscall.ESTALE && errnoOf(err) != syscall.ENOENT {
						t.Errorf("re-reading %s: %v", f, err)
					}
				}
			}
			if got := string(read(t, d.Path("vm2", "status"))); got != "ok\n" {
				t.Errorf("vm2/status = %q", got)
			}
			if !slices.Contains(names(t, d.Mnt), "vm2") {
				t.Error("daemon lost vm2")
			}
		})
	}
}

// A state.bin of a million tiny units is refused as a whole (IndexState's
// unit cap), costs little memory, and its status stays short.
func TestReadHostileManyUnits(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "many", snapSpec{StateBytes: bytes.Repeat([]byte{0x0a, 0x00}, 1<<20)})
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	var lines []string
	withTimeout(t, "many/status", func() { lines = statusLines(t, d, "many") })
	if !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("status starts %q, want an error", lines[0])
	}
	if len(lines) > 1000 {
		t.Errorf("status has %d lines: one per broken unit is no use to anyone", len(lines))
	}
	if rss := daemonRSS(t, d); rss > 200<<20 {
		t.Errorf("daemon peak RSS %d MiB for a 2 MiB state.bin", rss>>20)
	}
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("vm1/status = %q", got)
	}
}
