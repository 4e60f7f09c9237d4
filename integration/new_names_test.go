package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Every name rule of new/: invalid names are EINVAL (too long:
// ENAMETOOLONG), a published name is EEXIST, and a rename onto a taken
// name is EEXIST before any validation.
func TestNewNameRules(t *testing.T) {
	store := t.TempDir()
	snapfs(t, "sample", "--count", "1", "--memory-size", "1MiB", store)
	d := nwMount(t, store, "--commit-delay", "0")
	taken := "vm1" // from sample
	cases := []struct {
		name string
		want syscall.Errno
	}{
		{".hidden", syscall.EINVAL},
		{"new", syscall.EINVAL},
		{"latest", syscall.EINVAL},
		{"tab\there", syscall.EINVAL},
		{"bell\x07", syscall.EINVAL},
		{"del\x7f", syscall.EINVAL},
		{strings.Repeat("x", 256), syscall.ENAMETOOLONG},
		{taken, syscall.EEXIST},
	}
	for _, c := range cases {
		err := os.Mkdir(d.Path("new", c.name), 0o755)
		if errnoOf(err) != c.want {
			t.Errorf("mkdir new/%q: %v, want %v", c.name, err, c.want)
		}
	}
	for _, ok := range []string{"vm-2", strings.Repeat("y", 255), "with space", "ünïcode", "a.b"} {
		if err := os.Mkdir(d.Path("new", ok), 0o755); err != nil {
			t.Errorf("mkdir new/%q: %v", ok, err)
		}
	}
	if err := os.Mkdir(d.Path("new", "vm-2"), 0o755); errnoOf(err) != syscall.EEXIST {
		t.Errorf("second mkdir new/vm-2: %v, want EEXIST", err)
	}
	// The target name is checked first: EEXIST even for an invalid staging.
	if err := os.Rename(d.Path("new", "vm-2"), d.Path(taken)); errnoOf(err) != syscall.EEXIST {
		t.Errorf("mv new/vm-2 onto published %s: %v, want EEXIST", taken, err)
	}
	if err := os.Rename(d.Path("new", "vm-2"), d.Path(".bad")); errnoOf(err) != syscall.EINVAL {
		t.Errorf("mv new/vm-2 to .bad: %v, want EINVAL", err)
	}
	if _, err := os.Stat(d.Path("new", "vm-2")); err != nil {
		t.Errorf("staging vm-2 lost after failed renames: %v", err)
	}
	// Renaming within new/ and removing an empty staging directory work.
	if err := os.Rename(d.Path("new", "vm-2"), d.Path("new", "vm-3")); err != nil {
		t.Errorf("mv within new/: %v", err)
	}
	if err := os.Remove(d.Path("new", "vm-3")); err != nil {
		t.Errorf("rmdir new/vm-3: %v", err)
	}
	// Only staging directories live in new/, only files in them.
	if err := os.WriteFile(d.Path("new", "file"), nil, 0o644); errnoOf(err) != syscall.EPERM {
		t.Errorf("creating a file in new/: %v, want EPERM", err)
	}
	if err := os.Mkdir(d.Path("new", "a.b", "sub"), 0o755); errnoOf(err) != syscall.EPERM {
		t.Errorf("mkdir inside a staging directory: %v, want EPERM", err)
	}
	// A status written back (from a backup) is accepted and dropped.
	before := read(t, d.Path("new", "a.b", "status"))
	if err := os.WriteFile(d.Path("new", "a.b", "status"), []byte("ok\n"), 0o644); err != nil {
		t.Errorf("writing new/a.b/status: %v", err)
	}
	if after := read(t, d.Path("new", "a.b", "status")); string(after) != string(before) {
		t.Errorf("new/a.b/status after a write: %q, was %q", after, before)
	}
	if _, err := os.Stat(filepath.Join(store, ".snapfs-staging", "a.b", "status")); !os.IsNotExist(err) {
		t.Errorf("a written status reached STORE: %v", err)
	}
	if _, err := os.Stat(filepath.Join(store, ".snapfs-staging", "vm-3")); !os.IsNotExist(err) {
		t.Errorf("removed staging still in STORE: %v", err)
	}
}
