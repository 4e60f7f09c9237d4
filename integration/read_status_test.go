package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// statusCase is one snapshot and what its status must say: exact lines,
// or (for wording docs/format.md does not quote) lines that contain all the words.
type statusCase struct {
	name   string
	spec   func(store string) snapSpec
	post   func(t *testing.T, dir string) // changes after writing
	exact  []string                       // the whole status, line by line
	errs   [][]string                     // error lines must contain these
	warns  [][]string                     // warning lines must contain these
	prefix string                         // the first line starts so
}

func manifestWith(f func(m *snapshot.Manifest)) func(string) snapSpec {
	return func(string) snapSpec {
		m := goodManifest(created)
		f(m)
		return snapSpec{Manifest: m}
	}
}

var statusCases = []statusCase{
	{name: "ok", spec: manifestWith(func(m *snapshot.Manifest) {}), exact: []string{"ok"}},
	{name: "aarch64-64k", spec: manifestWith(func(m *snapshot.Manifest) {
		m.Architecture, m.PageSize = "aarch64", 65536
	}), exact: []string{"ok"}},
	{name: "undecodable", spec: func(string) snapSpec {
		return snapSpec{ManifestBytes: []byte{0x08, 0x01, 0x12, 0x0b, 0x08}}
	}, prefix: "error: failed to decode snapshot manifest"},
	{name: "wrong-wire-type", spec: func(string) snapSpec {
		return snapSpec{ManifestBytes: []byte{0x0a, 0x01, 0x01}} // version as bytes
	}, prefix: "error: failed to decode snapshot manifest"},
	{name: "version", spec: manifestWith(func(m *snapshot.Manifest) { m.Version = 2 }),
		exact: []string{"error: snapshot manifest version 2 is not supported (expected 1)"}},
	{name: "version-0", spec: manifestWith(func(m *snapshot.Manifest) { m.Version = 0 }),
		exact: []string{"error: snapshot manifest version 0 is not supported (expected 1)"}},
	{name: "arch", spec: manifestWith(func(m *snapshot.Manifest) { m.Architecture = "riscv64" }),
		errs: [][]string{{"architecture", "riscv64"}}},
	{name: "arch-empty", spec: manifestWith(func(m *snapshot.Manifest) { m.Architecture = "" }),
		errs: [][]string{{"architecture"}}},
	{name: "page-size-small", spec: manifestWith(func(m *snapshot.Manifest) { m.PageSize = 2048 }),
		errs: [][]string{{"page_size", "2048"}}},
	{name: "page-size-not-pow2", spec: manifestWith(func(m *snapshot.Manifest) { m.PageSize = 12288; m.MemorySizeBytes = 12288 * 1024 }),
		errs: [][]string{{"page_size", "12288"}}},
	{name: "vp-count", spec: manifestWith(func(m *snapshot.Manifest) { m.VPCount = 0 }),
		errs: [][]string{{"vp_count"}}},
	{name: "memory-zero", spec: func(string) snapSpec {
		m := goodManifest(created)
		m.MemorySizeBytes = 0
		return snapSpec{Manifest: m}
	}, errs: [][]string{{"memory_size_bytes"}}},
	{name: "memory-not-multiple", spec: func(string) snapSpec {
		m := goodManifest(created)
		m.MemorySizeBytes = memSize + 100
		return snapSpec{Manifest: m}
	}, errs: [][]string{{"memory_size_bytes", "page_size"}}},
	{name: "nanos", spec: manifestWith(func(m *snapshot.Manifest) { m.CreatedAt.Nanos = 1e9 }),
		errs: [][]string{{"created_at", "nanos"}}},
	{name: "nanos-negative", spec: manifestWith(func(m *snapshot.Manifest) { m.CreatedAt.Nanos = -1 }),
		errs: [][]string{{"created_at", "nanos"}}},
	{name: "state-missing", spec: func(string) snapSpec { return snapSpec{NoState: true} },
		errs: [][]string{{"state.bin"}}},
	{name: "state-undecodable", spec: func(string) snapSpec { return snapSpec{StateBytes: []byte{0x0a, 0x7f, 0x0a}} },
		prefix: "error: failed to decode saved state from snapshot"},
	{name: "state-short", spec: func(string) snapSpec {
		b := snapshot.EncodeState([]snapshot.StateUnit{{Name: "pit", TypeURL: "type.googleapis.com/x", Value: []byte("0123456789")}})
		return snapSpec{StateBytes: b[:len(b)-3]}
	}, prefix: "error: failed to decode saved state from snapshot"},
	{name: "state-empty-name", spec: func(string) snapSpec {
		return snapSpec{Units: []snapshot.StateUnit{{Name: "pit", TypeURL: "t/a"}, {Name: "", TypeURL: "t/b"}}}
	}, errs: [][]string{{"unit name", "empty"}}},
	{name: "state-duplicate", spec: func(string) snapSpec {
		return snapSpec{Units: []snapshot.StateUnit{{Name: "pit", TypeURL: "t/a"}, {Name: "rtc", TypeURL: "t/a"}, {Name: "pit", TypeURL: "t/b"}}}
	}, errs: [][]string{{"duplicate unit name", "pit"}}},
	{name: "state-no-units", spec: func(string) snapSpec { return snapSpec{StateBytes: []byte{}} }, exact: []string{"ok"}},
	{name: "memory-missing", spec: func(string) snapSpec { return snapSpec{NoMemory: true} },
		errs: [][]string{{"memory.bin"}}},
	{name: "memory-size", spec: func(string) snapSpec { return snapSpec{MemSize: memSize - 4096} },
		exact: []string{"error: memory.bin size (16773120 bytes) doesn't match manifest (16777216 bytes)"}},
	{name: "memory-dir", post: func(t *testing.T, dir string) {
		os.Mkdir(filepath.Join(dir, "memory.bin"), 0o755)
	}, spec: func(string) snapSpec { return snapSpec{NoMemory: true} }, errs: [][]string{{"memory.bin"}}},
	{name: "created-at-unset", spec: manifestWith(func(m *snapshot.Manifest) { m.CreatedAt = snapshot.Timestamp{} }),
		warns: [][]string{{"created_at is not set"}}},
	{name: "memory-modified", spec: func(string) snapSpec {
		return snapSpec{MemMtime: created.Add(3 * time.Second)}
	}, warns: [][]string{{"memory.bin modified after created_at"}}},
	{name: "memory-modified-within-2s", spec: func(string) snapSpec {
		return snapSpec{MemMtime: created.Add(1500 * time.Millisecond)}
	}, exact: []string{"ok"}},
	{name: "many", spec: func(string) snapSpec {
		m := goodManifest(created)
		m.Version, m.VPCount = 3, 0
		return snapSpec{Manifest: m, NoState: true, NoMemory: true}
	}, errs: [][]string{{"version 3 is not supported"}, {"vp_count"}, {"state.bin"}, {"memory.bin"}}},
}

// TestReadStatus checks each status check and its wording.
func TestReadStatus(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	for _, c := range statusCases {
		dir := makeSnap(t, store, c.name, c.spec(store))
		if c.post != nil {
			c.post(t, dir)
		}
	}
	d := mountStore(t, store, "")
	for _, c := range statusCases {
		t.Run(c.name, func(t *testing.T) {
			lines := statusLines(t, d, c.name)
			if c.exact != nil {
				if !slices.Equal(lines, c.exact) {
					t.Errorf("status = %q, want %q", lines, c.exact)
				}
				return
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "error: ") && !strings.HasPrefix(l, "warning: ") {
					t.Errorf("status line %q is neither error: nor warning:", l)
				}
			}
			if c.prefix != "" && !strings.HasPrefix(lines[0], c.prefix) {
				t.Errorf("status = %q, want the first line to start with %q", lines, c.prefix)
			}
			match := func(kind string, words []string) bool {
				for _, l := range lines {
					if !strings.HasPrefix(l, kind+": ") {
						continue
					}
					ok := true
					for _, w := range words {
						ok = ok && strings.Contains(l, w)
					}
					if ok {
						return true
					}
				}
				return false
			}
			for _, w := range c.errs {
				if !match("error", w) {
					t.Errorf("status = %q, want an error line with %q", lines, w)
				}
			}
			for _, w := range c.warns {
				if !match("warning", w) {
					t.Errorf("status = %q, want a warning line with %q", lines, w)
				}
			}
			nerr := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "error: ") {
					nerr++
				}
			}
			if c.warns != nil && c.errs == nil && nerr != 0 {
				t.Errorf("status = %q: a warning case has errors", lines)
			}
			if len(c.errs) > nerr {
				t.Errorf("status = %q: want at least %d error lines", lines, len(c.errs))
			}
			if (c.errs != nil || c.prefix != "") && nerr == 0 {
				t.Errorf("status = %q: want an error", lines)
			}
		})
	}
	// Only the valid ones (no error: line) can be latest; here all have
	// the same created_at but "state-no-units" sorts greatest of those
	// with the default time... so just check latest is valid.
	if l := readlink(t, d.Path("latest")); slices.ContainsFunc(statusLines(t, d, l), func(s string) bool { return strings.HasPrefix(s, "error: ") }) {
		t.Errorf("latest -> %s, which has errors", l)
	}
}

// TestReadStatusSharedMemory checks the warning for a memory.bin that is
// the same inode as another snapshot's.
func TestReadStatusSharedMemory(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "a", snapSpec{})
	makeSnap(t, store, "b", snapSpec{NoMemory: true})
	if err := os.Link(filepath.Join(store, "a", "memory.bin"), filepath.Join(store, "b", "memory.bin")); err != nil {
		t.Fatal(err)
	}
	makeSnap(t, store, "c", snapSpec{})
	d := mountStore(t, store, "")
	for name, other := range map[string]string{"a": "b", "b": "a"} {
		lines := statusLines(t, d, name)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: ") || !strings.Contains(lines[0], "memory.bin") || !strings.Contains(lines[0], other) {
			t.Errorf("%s/status = %q, want one warning naming %s", name, lines, other)
		}
	}
	if got := statusLines(t, d, "c"); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("c/status = %q, want ok", got)
	}
}

// TestReadStatusLatest checks which snapshot latest points at.
func TestReadStatusLatest(t *testing.T) {
	t.Parallel()
	t.Run("newest-valid", func(t *testing.T) {
		t.Parallel()
		store := t.TempDir()
		makeSnap(t, store, "old", snapSpec{Manifest: goodManifest(created)})
		makeSnap(t, store, "mid", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
		// Newer but invalid: latest skips it.
		makeSnap(t, store, "newer-broken", snapSpec{Manifest: goodManifest(created.Add(2 * time.Hour)), NoMemory: true})
		bad := goodManifest(created.Add(3 * time.Hour))
		bad.Version = 2
		makeSnap(t, store, "newest-bad-version", snapSpec{Manifest: bad})
		// Greatest name but older.
		makeSnap(t, store, "zzz", snapSpec{Manifest: goodManifest(created.Add(-time.Hour))})
		// Nanoseconds count.
		makeSnap(t, store, "mid-minus-1ns", snapSpec{Manifest: goodManifest(created.Add(time.Hour - 1))})
		d := mountStore(t, store, "")
		if got := readlink(t, d.Path("latest")); got != "mid" {
			t.Errorf("latest -> %q, want mid", got)
		}
		if got := read(t, d.Path("latest", "status")); string(got) != "ok\n" {
			t.Errorf("latest/status = %q", got)
		}
	})
	t.Run("warnings-are-valid", func(t *testing.T) {
		t.Parallel()
		store := t.TempDir()
		makeSnap(t, store, "a", snapSpec{Manifest: goodManifest(created)})
		makeSnap(t, store, "b", snapSpec{Manifest: goodManifest(created.Add(time.Hour)), MemMtime: created.Add(48 * time.Hour)})
		d := mountStore(t, store, "")
		if got := readlink(t, d.Path("latest")); got != "b" {
			t.Errorf("latest -> %q, want b (a warning does not make it invalid)", got)
		}
	})
	t.Run("tie-greatest-name", func(t *testing.T) {
		t.Parallel()
		store := t.TempDir()
		for _, n := range []string{"b", "c", "a", "B"} {
			makeSnap(t, store, n, snapSpec{Manifest: goodManifest(created)})
		}
		makeSnap(t, store, "d", snapSpec{Manifest: goodManifest(created), NoState: true}) // invalid
		d := mountStore(t, store, "")
		if got := readlink(t, d.Path("latest")); got != "c" {
			t.Errorf("latest -> %q, want c (ties: the greatest name)", got)
		}
	})
	t.Run("none-valid", func(t *testing.T) {
		t.Parallel()
		store := t.TempDir()
		makeSnap(t, store, "a", snapSpec{NoMemory: true})
		makeSnap(t, store, "b", snapSpec{ManifestBytes: []byte{0xff}})
		d := mountStore(t, store, "")
		wantAbsent(t, d.Path("latest"))
		if slices.Contains(names(t, d.Mnt), "latest") {
			t.Errorf("latest listed with no valid snapshot: %q", names(t, d.Mnt))
		}
		if _, err := os.Readlink(d.Path("latest")); errnoOf(err) != syscall.ENOENT {
			t.Errorf("readlink latest: %v, want ENOENT", err)
		}
	})
	t.Run("empty-store", func(t *testing.T) {
		t.Parallel()
		d := mountStore(t, t.TempDir(), "")
		wantAbsent(t, d.Path("latest"))
		wantNames(t, d.Mnt, "new")
	})
}
