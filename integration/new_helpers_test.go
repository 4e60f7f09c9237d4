package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nwSource makes a valid snapshot directory outside any store, with
// `snapfs sample`, and returns its path; name is its directory name.
func nwSource(t testing.TB, name string) string {
	t.Helper()
	parent := t.TempDir()
	snapfs(t, "sample", "--count", "1", "--memory-size", "16MiB", parent)
	ents, err := os.ReadDir(parent)
	if err != nil || len(ents) != 1 {
		t.Fatalf("sample made %v (%v)", ents, err)
	}
	src := filepath.Join(parent, name)
	if err := os.Rename(filepath.Join(parent, ents[0].Name()), src); err != nil {
		t.Fatal(err)
	}
	return src
}

// nwMount mounts an empty store (or store, when given).
func nwMount(t testing.TB, store string, flags ...string) *daemon {
	t.Helper()
	if store == "" {
		store = t.TempDir()
	}
	return mountStore(t, store, "", flags...)
}

// nwWaitPublished waits until MNT/name is a published snapshot.
func nwWaitPublished(t testing.TB, d *daemon, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(d.Store, name, "manifest.bin")); err == nil {
			if _, err := os.Stat(d.Path(name, "status")); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			st, _ := os.ReadFile(d.Path("new", name, "status"))
			t.Fatalf("%s not published after 20s; staging status:\n%s\nlog:\n%s", name, st, d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nwSameFiles asserts that dir holds the three snapshot files of src,
// byte for byte.
func nwSameFiles(t testing.TB, src, dir string) {
	t.Helper()
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		a, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("published %s: %v", f, err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s/%s differs from its source", dir, f)
		}
	}
}

// nwOnlyFiles asserts that a STORE directory holds just the snapshot files
// (and the digest record made after publishing, or being made).
func nwOnlyFiles(t testing.TB, dir string) {
	t.Helper()
	var got []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".snapfs-digest") {
			continue
		}
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != "manifest.bin memory.bin state.bin" {
		t.Errorf("%s holds %v, want the 3 snapshot files", dir, got)
	}
}

// nwAllocated is how many bytes of path are allocated on disk.
func nwAllocated(t testing.TB, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// nwSh runs a shell command line and fails the test if it fails.
func nwSh(t testing.TB, line string) {
	t.Helper()
	out, err := exec.Command("bash", "-c", "set -e; "+line).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// nwStatus reads a staging directory's status view.
func nwStatus(t testing.TB, d *daemon, name string) string {
	t.Helper()
	b, err := os.ReadFile(d.Path("new", name, "status"))
	if err != nil {
		t.Fatalf("reading new/%s/status: %v", name, err)
	}
	return string(b)
}

func nwContains(t testing.TB, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s does not mention %q:\n%s", what, want, got)
	}
}
