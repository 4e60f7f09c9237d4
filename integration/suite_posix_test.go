package integration

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixExpected is what snapfs answers, in a staging directory, to the
// posixtest cases that cannot pass there. A staging directory is flat: it
// takes regular files (the snapshot files, rsync's temporary names,
// scratch files, hard links between them) and the written-back views
// (manifest/, state/<unit>/), and refuses what a snapshot cannot hold.
var posixExpected = map[string]struct {
	fail   bool   // the case fails (else it skips)
	output string // what its output says
	why    string
}{
	"DirSeek":                    {true, "ttt: operation not permitted", "makes a subdirectory ttt: a staging directory takes no directories but the views, EPERM"},
	"MkdirRmdir":                 {true, "operation not permitted", "makes a subdirectory: EPERM"},
	"OpenAt":                     {true, "operation not permitted", "makes a subdirectory dir1: EPERM"},
	"RenameOpenDir":              {true, "operation not permitted", "makes subdirectories dir1, dir2: EPERM"},
	"RenameOverwriteDestExist":   {true, "operation not permitted", "renames into a subdirectory dir: EPERM"},
	"RenameOverwriteDestNoExist": {true, "operation not permitted", "renames into a subdirectory dir: EPERM"},
	"SetattrSymlink":             {true, "operation not permitted", "a snapshot holds no symlinks: EPERM"},
	"SymlinkReadlink":            {true, "operation not permitted", "a snapshot holds no symlinks: EPERM"},
	"OpenSymlinkRace":            {true, "Symlink: operation not permitted", "a snapshot holds no symlinks: EPERM"},
	"ReadDirBasic": {true, `got extra entry "status"`,
		"expects exactly the files it wrote; a staging directory always lists its status view"},
	"FcntlFlockLocksFile": {true, "returned <nil>, expected EAGAIN",
		"snapfs leaves record locks to the kernel (no POSIX_LOCKS), where POSIX makes the locks of one process never conflict; " +
			"the test expects the per-open-file locks of go-fuse's loopback, which forwards them to the backing file"},
	"Tmpfile": {false, "does not support O_TMPFILE",
		"a file in no directory can never become part of a snapshot: O_TMPFILE answers EOPNOTSUPP"},
}

// posixMaybeSkip are cases that skip on some backing filesystems.
var posixMaybeSkip = map[string]string{
	"XAttrLarge": "an 8 KiB xattr does not fit an ext4 inode (ENOSPC from STORE's filesystem), and the case skips",
}

// TestSuitePosix runs every test of go-fuse's posixtest against a fresh
// staging directory of a mounted snapfs (mkdir MNT/new/<x>). The cases
// listed in posixExpected run in a child process, which must fail (or
// skip) saying what is listed; all others must pass. At the end every
// staging directory is discarded with rm -rf.
func TestSuitePosix(t *testing.T) {
	if name := os.Getenv("SNAPFS_POSIX_CASE"); name != "" { // the child
		posixtest.All[name](t, os.Getenv("SNAPFS_POSIX_DIR"))
		return
	}
	t.Parallel()
	d := nwMount(t, "", "--commit-delay", "0")
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for name := range posixExpected {
		if posixtest.All[name] == nil {
			t.Errorf("posixExpected lists %s, which posixtest no longer has", name)
		}
	}
	for i, name := range names {
		dir := d.Path("new", fmt.Sprintf("px%02d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("mkdir %s: %v", dir, err)
		}
		t.Run(name, func(t *testing.T) {
			want, ok := posixExpected[name]
			if !ok {
				posixtest.All[name](t, dir)
				if t.Skipped() && posixMaybeSkip[name] == "" {
					t.Errorf("skipped, and it is not known to skip")
				}
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuitePosix$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "SNAPFS_BIN="+bin, "SNAPFS_POSIX_CASE="+name, "SNAPFS_POSIX_DIR="+dir)
			out, err := cmd.CombinedOutput()
			switch {
			case want.fail && (err == nil || !strings.Contains(string(out), "--- FAIL: TestSuitePosix")):
				t.Errorf("expected to fail (%s), but it does not: update posixExpected\n%v\n%s", want.why, err, out)
			case !want.fail && !strings.Contains(string(out), "--- SKIP"):
				t.Errorf("expected to skip (%s): %v\n%s", want.why, err, out)
			case !strings.Contains(string(out), want.output):
				t.Errorf("expected %q in its output (%s):\n%s", want.output, want.why, out)
			}
		})
	}
	// Whatever the cases left, rm -rf discards each staging directory.
	for i := range names {
		run(t, "rm", "-rf", d.Path("new", fmt.Sprintf("px%02d", i)))
	}
	if ents, err := os.ReadDir(d.Path("new")); err != nil || len(ents) != 0 {
		t.Errorf("new/ after rm -rf: %v, %v", ents, err)
	}
	if strings.Contains(d.Log(), "panic") {
		t.Errorf("daemon log:\n%s", d.Log())
	}
}
