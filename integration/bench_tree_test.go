package integration

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Metadata and small views: the tree walked and its small files read,
// against STORE's tree and a native directory of as many small files.

// benchStatTree times an lstat walk of MNT and of STORE (1,000 snapshots),
// per entry. Every timed walk is at least the second (the warm-up round
// walks both first).
func benchStatTree(b *testing.B, env *benchEnv) benchMeasured {
	store := env.manyStore(b, env.fewSnaps())
	d := mountStore(b, store, "")
	var nMnt, nStore int
	s, bl := benchRounds(env.rounds,
		func() float64 {
			var el time.Duration
			nMnt, el = benchLstatWalk(b, d.Mnt, nil)
			return float64(el) / float64(time.Microsecond) / float64(nMnt)
		},
		func() float64 {
			var el time.Duration
			nStore, el = benchLstatWalk(b, store, nil)
			return float64(el) / float64(time.Microsecond) / float64(nStore)
		})
	return benchMeasured{snapfs: s, baseline: bl,
		notes: map[string]any{"entries_mnt": nMnt, "entries_store": nStore}}
}

// benchLstatWalk walks root (not following symlinks), lstat-ing every entry
// and calling visit, if not nil, on each regular file; it returns the
// number of entries and the time taken.
func benchLstatWalk(b *testing.B, root string, visit func(path string)) (int, time.Duration) {
	n := 0
	el := benchElapsed(func() {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return &fs.PathError{Op: "lstat", Path: p, Err: err}
			}
			n++
			if visit != nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
				visit(p)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	return n, el
}

// benchCatFields reads every MNT/<snap>/manifest/<field> of 1,000
// snapshots against as many files of the same sizes in a native directory
// tree of the same shape; microseconds per file (open, read, close).
func benchCatFields(b *testing.B, env *benchEnv) benchMeasured {
	store := env.manyStore(b, env.fewSnaps())
	d := mountStore(b, store, "")
	native := b.TempDir()
	snaps, err := os.ReadDir(store)
	if err != nil {
		b.Fatal(err)
	}
	var mntFiles, nativeFiles []string
	for _, s := range snaps {
		if strings.HasPrefix(s.Name(), ".") {
			continue // the mount's staging directory
		}
		fields, err := os.ReadDir(d.Path(s.Name(), "manifest"))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(native, s.Name()), 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range fields {
			p := d.Path(s.Name(), "manifest", f.Name())
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			np := filepath.Join(native, s.Name(), f.Name())
			if err := os.WriteFile(np, data, 0o644); err != nil {
				b.Fatal(err)
			}
			mntFiles = append(mntFiles, p)
			nativeFiles = append(nativeFiles, np)
		}
	}
	readAll := func(files []string) float64 {
		el := benchElapsed(func() {
			for _, p := range files {
				if _, err := os.ReadFile(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		return float64(el) / float64(time.Microsecond) / float64(len(files))
	}
	s, bl := benchRounds(env.rounds,
		func() float64 { return readAll(mntFiles) },
		func() float64 { return readAll(nativeFiles) })
	return benchMeasured{snapfs: s, baseline: bl, notes: map[string]any{"files": len(mntFiles)}}
}
