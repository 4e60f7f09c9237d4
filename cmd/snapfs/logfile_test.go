package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// openLogFile makes a missing log 0600 and appends to an existing one.
func TestOpenLogFileCreates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "snapfs.log")
	for i := 0; i < 2; i++ {
		f, err := openLogFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("line\n")
		f.Close()
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Errorf("new log file is %v, want -rw-------", fi.Mode())
	}
	if b, _ := os.ReadFile(p); string(b) != "line\nline\n" {
		t.Errorf("log holds %q, want two appended lines", b)
	}
	// Reached through a symlinked directory: its real path is checked.
	link := filepath.Join(t.TempDir(), "dirlink")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	f, err := openLogFile(filepath.Join(link, "snapfs.log"))
	if err != nil {
		t.Fatalf("log in a symlinked safe directory: %v", err)
	}
	f.Close()
}

// Every refusal names the path and says what to do; nothing is written.
func TestOpenLogFileRefuses(t *testing.T) {
	root := os.Geteuid() == 0
	for _, c := range []struct {
		name  string
		root  bool // needs root to set up (chown)
		setup func(t *testing.T, dir string) string
		want  string
	}{
		{"symlink", false, func(t *testing.T, dir string) string {
			target := filepath.Join(dir, "target")
			os.WriteFile(target, []byte("keep"), 0o600)
			os.Symlink(target, filepath.Join(dir, "log"))
			return filepath.Join(dir, "log")
		}, "is a symbolic link"},
		{"dangling symlink", false, func(t *testing.T, dir string) string {
			os.Symlink(filepath.Join(dir, "made"), filepath.Join(dir, "log"))
			return filepath.Join(dir, "log")
		}, "is a symbolic link"},
		{"world-writable dir", false, func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "ww")
			os.Mkdir(d, 0o777)
			os.Chmod(d, 0o777)
			return filepath.Join(d, "log")
		}, "has mode 0777: group or others may write there"},
		{"group-writable parent", false, func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "gw")
			os.Mkdir(d, 0o770)
			os.Chmod(d, 0o770)
			os.Mkdir(filepath.Join(d, "sub"), 0o755)
			return filepath.Join(d, "sub", "log")
		}, "/gw has mode 0770"},
		{"readable file", false, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "log")
			os.WriteFile(p, []byte("keep"), 0o644)
			os.Chmod(p, 0o644)
			return p
		}, "has mode 0644: group and others must not read the log"},
		{"fifo", false, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "log")
			syscall.Mkfifo(p, 0o600)
			return p
		}, "is not a regular file"},
		{"hard link", false, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "log")
			os.WriteFile(p, []byte("keep"), 0o600)
			os.Link(p, filepath.Join(dir, "other"))
			return p
		}, "has 2 links"},
		{"directory", false, func(t *testing.T, dir string) string { return dir }, "is not a regular file"},
		{"foreign file", true, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "log")
			os.WriteFile(p, []byte("keep"), 0o600)
			os.Chown(p, 4242, 4242)
			return p
		}, "is owned by uid 4242, not by the daemon's uid 0"},
		{"foreign dir", true, func(t *testing.T, dir string) string {
			d := filepath.Join(dir, "theirs")
			os.Mkdir(d, 0o755)
			os.Chown(d, 4242, 4242)
			return filepath.Join(d, "log")
		}, "/theirs is owned by uid 4242, who could replace the log"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.root && !root {
				t.Skip("needs root to chown")
			}
			dir := t.TempDir()
			p := c.setup(t, dir)
			before := snapshotDir(t, dir)
			f, err := openLogFile(p)
			if err == nil {
				f.Close()
				t.Fatalf("openLogFile(%s) succeeded", p)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q: want the path %s and %q", err, p, c.want)
			}
			if after := snapshotDir(t, dir); after != before {
				t.Errorf("refused open changed %s:\n%s\nwas\n%s", dir, after, before)
			}
		})
	}
}

// A sticky world-writable directory (/tmp) is fine: no one else can
// replace root's file there.
func TestOpenLogFileStickyDir(t *testing.T) {
	d := filepath.Join(t.TempDir(), "sticky")
	os.Mkdir(d, 0o777)
	if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	f, err := openLogFile(filepath.Join(d, "log"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// snapshotDir lists dir's tree with modes, sizes and contents.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			c, _ := os.ReadFile(p)
			b.WriteString(" " + string(c))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}
