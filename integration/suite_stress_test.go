package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// stressMounts are the two ways staged files are served: through FUSE
// passthrough, and through the daemon.
var stressMounts = []struct {
	name  string
	flags []string
}{
	{"passthrough", []string{"--commit-delay", "0"}},
	{"no-passthrough", []string{"--commit-delay", "0", "--no-passthrough"}},
}

// TestSuiteStressNG runs stress-ng's filesystem stressors that make sense
// on a flat directory of regular files, with --verify, for a few seconds.
// Each stressor makes its own temporary directory under --temp-path: with
// new/ as the temp path, that is a fresh staging directory, which it
// removes at the end.
func TestSuiteStressNG(t *testing.T) {
	t.Parallel()
	needTool(t, "stress-ng")
	for _, m := range stressMounts {
		t.Run(m.name, func(t *testing.T) {
			d := nwMount(t, "", m.flags...)
			cmd := exec.Command("stress-ng", "--temp-path", d.Path("new"), "--timeout", "3s", "--verify",
				"--hdd", "1", "--hdd-bytes", "4M",
				"--seek", "1", "--seek-size", "8M",
				"--fallocate", "1", "--fallocate-bytes", "8M",
				"--readahead", "1", "--readahead-bytes", "8M",
				"--mmap", "1", "--mmap-bytes", "4M", "--mmap-file",
				"--fpunch", "1",
				"--rename", "1",
				"--xattr", "1",
				"--lockf", "1")
			out, err := cmd.CombinedOutput()
			if err != nil || bytes.Contains(out, []byte("fail:")) || !bytes.Contains(out, []byte("successful run completed")) {
				t.Fatalf("stress-ng: %v\n%s\nlog:\n%s", err, out, d.Log())
			}
			if ents, err := os.ReadDir(d.Path("new")); err != nil || len(ents) != 0 {
				t.Errorf("new/ after stress-ng: %v, %v", ents, err)
			}
			stressLogClean(t, d)
		})
	}
}

// TestSuiteFio writes staged files with fio, 4 KiB random writes and a
// crc32c verification pass, with the psync and mmap engines; then the
// file read through the mount is the file in STORE.
func TestSuiteFio(t *testing.T) {
	t.Parallel()
	needTool(t, "fio")
	for _, m := range stressMounts {
		t.Run(m.name, func(t *testing.T) {
			d := nwMount(t, "", m.flags...)
			for _, engine := range []string{"psync", "mmap"} {
				dir := d.Path("new", "fio-"+engine)
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, rw := range []string{"randwrite", "write"} {
					cmd := exec.Command("fio", "--name=v", "--directory="+dir, "--filename=memory.bin",
						"--size=16M", "--bs=4k", "--rw="+rw, "--ioengine="+engine,
						"--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_state_save=0", "--output-format=terse")
					out, err := cmd.CombinedOutput()
					if err != nil || !strings.HasPrefix(string(out), "3;") || !strings.Contains(string(out), ";v;0;") {
						t.Fatalf("fio %s %s: %v\n%s\nlog:\n%s", engine, rw, err, out, d.Log())
					}
				}
				staged := filepath.Join(d.Store, ".snapfs-staging", "fio-"+engine, "memory.bin")
				if !bytes.Equal(read(t, filepath.Join(dir, "memory.bin")), read(t, staged)) {
					t.Errorf("%s: the mount and STORE disagree", engine)
				}
				run(t, "rm", "-rf", dir)
			}
			stressLogClean(t, d)
		})
	}
}

// stressLogClean fails the test if the daemon logged an error.
func stressLogClean(t *testing.T, d *daemon) {
	t.Helper()
	for _, l := range strings.Split(d.Log(), "\n") {
		if strings.Contains(l, "level=ERROR") || strings.Contains(l, "panic") {
			t.Errorf("daemon: %s", l)
		}
	}
}

// TestSuiteStatfs: statfs answers STORE's figures on every directory of
// the mount (stress-ng sizes its files from statfs of its temp path).
func TestSuiteStatfs(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	if err := os.Mkdir(d.Path("new", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var want unix.Statfs_t
	if err := unix.Statfs(store, &want); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "new", "new/x", "new/x/status", "vm1", "vm1/state", "vm1/memory.bin", "latest"} {
		var got unix.Statfs_t
		if err := unix.Statfs(d.Path(p), &got); err != nil {
			t.Errorf("statfs %s: %v", p, err)
		} else if got.Bsize != want.Bsize || got.Namelen != want.Namelen || got.Blocks != want.Blocks {
			t.Errorf("statfs %s: bsize %d namelen %d blocks %d, STORE has %d %d %d",
				p, got.Bsize, got.Namelen, got.Blocks, want.Bsize, want.Namelen, want.Blocks)
		}
	}
}
