package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Each ordinary way of writing a snapshot into new/ ends in a published
// snapshot byte-identical to its source, holes kept.
func TestNewWriteWays(t *testing.T) {
	d := nwMount(t, "", "--commit-delay", "1s")
	mnt := d.Mnt
	// maxAlloc: how much of the 16 MiB memory.bin may be allocated once
	// published; every way but a plain copy keeps holes.
	const sparse, punched = 4 << 20, 12 << 20
	ways := []struct {
		name     string
		maxAlloc int64
		write    func(t *testing.T, src, dst string)
	}{
		{"cp-r", sparse, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("cp -r --sparse=always %q %q", src, filepath.Join(mnt, "new")))
		}},
		{"cp-sparse", sparse, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("mkdir %q && cp --sparse=always %q/* %q/", dst, src, dst))
		}},
		{"tar", sparse, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("tar -C %q -cSf - %q | tar -C %q -xSf -", filepath.Dir(src), filepath.Base(src), filepath.Join(mnt, "new")))
		}},
		{"rsync", sparse, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("rsync -aS %q/ %q/", src, dst))
		}},
		{"dd", sparse, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("mkdir %q && for f in manifest state memory; do dd status=none bs=1M conv=sparse if=%q/$f.bin of=%q/$f.bin; done", dst, src, dst))
		}},
		{"truncate", sparse, func(t *testing.T, src, dst string) {
			// Rewrite the source's memory as holes, then stage it the same way.
			nwSh(t, fmt.Sprintf("sz=$(stat -c %%s %q/memory.bin); rm %q/memory.bin; truncate -s $sz %q/memory.bin; mkdir %q; cp %q/manifest.bin %q/state.bin %q/; truncate -s $sz %q/memory.bin",
				src, src, src, dst, src, src, dst, dst))
		}},
		{"punch-hole", punched, func(t *testing.T, src, dst string) {
			nwSh(t, fmt.Sprintf("fallocate --punch-hole --offset 1MiB --length 4MiB %q/memory.bin; mkdir %q; cp --sparse=never %q/* %q/; fallocate --punch-hole --offset 1MiB --length 4MiB %q/memory.bin",
				src, dst, src, dst, dst))
		}},
		{"copy-file-range", 16 << 20, func(t *testing.T, src, dst string) {
			// From a published snapshot of the same mount: copy_file_range
			// between two files of the mount.
			other := filepath.Join(d.Store, "cfr-src")
			nwSh(t, fmt.Sprintf("cp -a %q %q", src, other))
			nwSh(t, fmt.Sprintf("mkdir %q && cp --reflink=auto %q/cfr-src/*.bin %q/", dst, mnt, dst))
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			src := nwSource(t, w.name)
			dst := filepath.Join(mnt, "new", w.name)
			w.write(t, src, dst)
			staged := lstat(t, filepath.Join(d.Store, ".snapfs-staging", w.name, "memory.bin"))
			nwWaitPublished(t, d, w.name)
			store := filepath.Join(d.Store, w.name)
			nwSameFiles(t, src, store)
			nwOnlyFiles(t, store)
			if got := lstat(t, filepath.Join(store, "memory.bin")).Ino; got != staged.Ino {
				t.Errorf("memory.bin was copied, not moved: inode %d published, %d staged", got, staged.Ino)
			}
			if got := nwAllocated(t, filepath.Join(store, "memory.bin")); got > w.maxAlloc {
				t.Errorf("memory.bin holes lost: %d bytes allocated, at most %d expected", got, w.maxAlloc)
			}
			nwSameFiles(t, src, d.Path(w.name))
			if st, _ := os.ReadFile(d.Path(w.name, "status")); len(st) == 0 {
				t.Errorf("published %s has no status", w.name)
			}
			if _, err := os.Stat(d.Path("new", w.name)); !os.IsNotExist(err) {
				t.Errorf("new/%s still there after publishing: %v", w.name, err)
			}
			// The listings the kernel may cache follow too.
			if slices.Contains(names(t, d.Path("new")), w.name) {
				t.Errorf("ls new/ still lists %s after publishing", w.name)
			}
			if !slices.Contains(names(t, d.Mnt), w.name) {
				t.Errorf("ls MNT does not list the published %s", w.name)
			}
		})
	}
}
