package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree lists every path under dir with its kind.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var list []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		list = append(list, rel+" "+d.Type().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// make install puts down the binary, the mount(8) helpers, the man pages
// and the completion, which man and bash find; make uninstall leaves the
// tree as it was (here the directories a Debian system has).
func TestMakeInstallUninstall(t *testing.T) {
	for _, tool := range []string{"make", "bash", "man"} {
		needTool(t, tool)
	}
	tmp := t.TempDir()
	dest := filepath.Join(tmp, "root")
	for _, d := range []string{"usr/local/bin", "usr/local/share/man", "sbin"} {
		if err := os.MkdirAll(filepath.Join(dest, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, dest)
	// BIN: build into the test's directory, never over the bin/snapfs
	// other tests may be running.
	vars := []string{"-C", root, "DESTDIR=" + dest, "BIN=" + filepath.Join(tmp, "snapfs")}
	mustRun(t, "make", append(vars, "install")...)

	if out := mustRun(t, filepath.Join(dest, "usr/local/bin/snapfs"), "--version"); !strings.HasPrefix(out, "snapfs ") {
		t.Errorf("installed snapfs --version: %q", out)
	}
	for _, l := range []string{"sbin/mount.snapfs", "sbin/mount.fuse.snapfs"} {
		if to, err := os.Readlink(filepath.Join(dest, l)); err != nil || to != "/usr/local/bin/snapfs" {
			t.Errorf("%s -> %q (%v), want /usr/local/bin/snapfs", l, to, err)
		}
	}
	mandir := filepath.Join(dest, "usr/local/share/man")
	for _, page := range []string{"snapfs", "mount.snapfs", "mount.fuse.snapfs"} {
		if out := mustRun(t, "man", "-M", mandir, "-w", page); !strings.HasPrefix(out, mandir+"/man8/") {
			t.Errorf("man -w %s: %q", page, out)
		}
	}
	comp := filepath.Join(dest, "usr/local/share/bash-completion/completions/snapfs")
	if out := mustRun(t, "bash", "-c", `source "$1" && complete -p snapfs`, "bash", comp); strings.TrimSpace(out) != "complete -o default -F _snapfs snapfs" {
		t.Errorf("complete -p snapfs after sourcing %s: %q", comp, out)
	}

	mustRun(t, "make", append(vars, "uninstall")...)
	if after := tree(t, dest); !slices.Equal(after, before) {
		t.Errorf("after make uninstall the tree is\n%s\nwant as before make install:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}
