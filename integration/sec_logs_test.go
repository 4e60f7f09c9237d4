package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// refusedMount runs `snapfs mount --daemon ARGS STORE MNT`, which must
// fail before mounting; a mount that comes up anyway fails the test and
// is taken down.
func refusedMount(t *testing.T, args ...string) result {
	t.Helper()
	requireFUSE(t)
	store, mnt := t.TempDir(), t.TempDir()
	r := snapfs(t, append(append([]string{"mount", "--daemon"}, args...), store, mnt)...)
	if r.code == 0 || isFUSE(mnt) {
		t.Errorf("snapfs mount %q: exit %d and mounted, want a refusal", args, r.code)
		for i := 0; isFUSE(mnt) && i < 100; i++ {
			if unix.Unmount(mnt, 0) != nil {
				time.Sleep(50 * time.Millisecond)
			}
		}
		unix.Unmount(mnt, unix.MNT_DETACH)
	}
	return r
}

// wantRefusal fails unless a refused command's stderr says all of want.
func wantRefusal(t *testing.T, r result, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q lacks %q", r.stderr, w)
		}
	}
}

// --log never follows a symlink: the mount is refused, the target stays
// as it was.
func TestSecLogSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "passwd")
	writeFile(t, target, []byte("root:x:0:0\n"))
	os.Chmod(target, 0o644)
	link := filepath.Join(dir, "snapfs.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	r := refusedMount(t, "--log", link)
	wantRefusal(t, r, link, "symbolic link")
	if b := read(t, target); string(b) != "root:x:0:0\n" {
		t.Errorf("symlink target now holds %q", b)
	}
	if st := lstat(t, target); st.Mode&0o7777 != 0o644 {
		t.Errorf("symlink target mode now %#o", st.Mode&0o7777)
	}
}

// --log in a directory others may write (not sticky) is refused, and
// nothing is created there.
func TestSecLogWorldWritableDirRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	log := filepath.Join(dir, "snapfs.log")
	r := refusedMount(t, "--log", log)
	wantRefusal(t, r, log, dir+" has mode 0777", "chmod go-w")
	wantAbsent(t, log)
	// -o log= is the same option.
	r = refusedMount(t, "-o", "log="+log)
	wantRefusal(t, r, log, dir+" has mode 0777")
	wantAbsent(t, log)
}

// A new log file is 0600 (under any umask) and gets the daemon's lines.
func TestSecLogFileMode(t *testing.T) {
	log := filepath.Join(t.TempDir(), "snapfs.log")
	old := unix.Umask(0)
	d := nwMount(t, "", "--log", log)
	unix.Umask(old)
	if st := lstat(t, log); st.Mode&0o7777 != 0o600 || st.Uid != uint32(os.Geteuid()) {
		t.Errorf("new log file is %#o, uid %d; want 0600, uid %d", st.Mode&0o7777, st.Uid, os.Geteuid())
	}
	d.stop()
	if b := string(read(t, log)); !strings.Contains(b, `msg="mounted"`) {
		t.Errorf("log file lacks the mounted line:\n%s", b)
	}
}

// A snapshot name a user chose with shell syntax in it appears quoted in
// every log line about its staging and publishing.
func TestSecLogQuotesNames(t *testing.T) {
	e := secSetup(t, 0o777|os.ModeSticky)
	u := secNewUser(t, e.probe)
	src := secSample(t, e)
	d := e.mount(t, "--commit-delay", "0")
	const name = "x;$(id)#"
	if r := u.Run(t, "mkdir", d.Path("new", name)); r.code != 0 {
		t.Fatalf("mkdir new/%s as %s: %s", name, u.Name, r.stderr)
	}
	var cp []string
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		cp = append(cp, filepath.Join(src, f))
	}
	if r := u.Run(t, "cp", append(cp, d.Path("new", name)+"/")...); r.code != 0 {
		t.Fatalf("cp as %s: %s", u.Name, r.stderr)
	}
	if got, _ := u.Do(t, "rename", d.Path("new", name), d.Path(name)); got != 0 {
		t.Fatalf("mv as %s: %s\nlog:\n%s", u.Name, secErr(got), d.Log())
	}
	mgLogged(t, d, `msg="published snapshot"`, `name="x;$(id)#"`, `staged_as="x;$(id)#"`)
	if !strings.Contains(d.Log(), "x;$(id)#") {
		t.Fatalf("the log never names the snapshot:\n%s", d.Log())
	}
	for _, l := range strings.Split(d.Log(), "\n") {
		if strings.Contains(l, "=x;") || strings.Contains(l, "= x;") {
			t.Errorf("unquoted name in the log: %s", l)
		}
	}
}

// --debug logs every operation, with names quoted, but never file data:
// neither a write's bytes nor a read's.
func TestSecDebugLogNoData(t *testing.T) {
	d := nwMount(t, "", "--debug", "--no-passthrough", "--commit-delay", "0")
	if err := os.Mkdir(d.Path("new", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Letters only: digits would match request ids and sizes.
	const secret = "SECRETPAYLOAD-QZXJKVWQZXJK"
	file := d.Path("new", "x", "f;$(id)#")
	writeFile(t, file, []byte(secret))
	if b := read(t, file); string(b) != secret {
		t.Fatalf("read back %q", b)
	}
	if err := unix.Setxattr(file, "user.k", []byte(secret), 0); err == nil {
		unix.Getxattr(file, "user.k", make([]byte, 64))
	}
	d.stop()
	log := d.Log()
	for _, op := range []string{`op="WRITE"`, `op="READ"`, `\"f;$(id)#\"`} {
		if !strings.Contains(log, op) {
			t.Errorf("debug log lacks %s:\n%s", op, log)
		}
	}
	for _, part := range []string{"SECRET", "PAYLOAD", "QZXJ"} {
		if strings.Contains(log, part) {
			t.Errorf("debug log holds the file's data (%s):\n%s", part, log)
		}
	}
}
