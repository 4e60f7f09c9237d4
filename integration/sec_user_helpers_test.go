package integration

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// secUser is an unprivileged local user made for one test.
type secUser struct {
	Name     string
	UID, GID uint32
	probe    string // the probe binary, executable by anyone
}

// secRequireTool skips a test that needs a missing tool, except in CI,
// where that is a failure; it also needs root to make users.
func secRequireTool(t testing.TB, tools ...string) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "not root: cannot create users"
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil && why == "" {
			why = "no " + tool + " on PATH"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("the hostile-user tests need it in CI: %s", why)
	}
	t.Skip(why)
}

// secDir is a fresh directory every user can traverse (t.TempDir's
// parent is 0700), removed at the end of the test.
func secDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "snapfs-sec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// secMkdir makes dir/name with mode (umask aside) and returns it.
func secMkdir(t testing.TB, dir, name string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// secNewUser creates a user (with its own group) for this test, removed
// with its home at the end; probe is the binary secBuildProbe built.
func secNewUser(t testing.TB, probe string) *secUser {
	t.Helper()
	secRequireTool(t, "useradd", "userdel", "runuser")
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "snapfs-t-" + hex.EncodeToString(rnd[:])
	if out, err := exec.Command("useradd", "-m", "-U", "-s", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			t.Errorf("userdel -r %s: %v\n%s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &secUser{Name: name, UID: uint32(uid), GID: uint32(gid), probe: probe}
}

// command is `runuser -u USER -- name args...`, run from /.
func (u *secUser) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command("runuser", append([]string{"-u", u.Name, "--", name}, args...)...)
	cmd.Dir = "/"
	return cmd
}

// Run runs a command as the user and returns its output and exit code.
func (u *secUser) Run(t testing.TB, name string, args ...string) result {
	t.Helper()
	cmd := u.command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("runuser %s %v: %v", name, args, err)
	}
	return result{out.String(), errb.String(), code}
}

// Do runs one probe operation as the user (see secProbeSrc) and returns
// its errno (0 when it succeeded) and what it printed after "ok" or the
// errno.
func (u *secUser) Do(t testing.TB, op string, args ...string) (syscall.Errno, string) {
	t.Helper()
	r := u.Run(t, u.probe, append([]string{op}, args...)...)
	return secParse(t, op, args, r.stdout, r.stderr)
}

func secParse(t testing.TB, op string, args []string, out, stderr string) (syscall.Errno, string) {
	t.Helper()
	line := strings.TrimSuffix(out, "\n")
	if rest, ok := strings.CutPrefix(line, "ok"); ok {
		return 0, strings.TrimPrefix(rest, " ")
	}
	if rest, ok := strings.CutPrefix(line, "errno "); ok {
		n, detail, _ := strings.Cut(rest, " ")
		if e, err := strconv.Atoi(n); err == nil {
			return syscall.Errno(e), detail
		}
	}
	t.Fatalf("probe %s %v printed %q (stderr %q)", op, args, out, stderr)
	return 0, ""
}

// Want runs a probe as the user and fails the test unless its errno is
// one of want (0: success).
func (u *secUser) Want(t testing.TB, op, path string, want ...syscall.Errno) {
	t.Helper()
	got, _ := u.Do(t, op, path)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("as %s: %s %s: %s, want %s", u.Name, op, path, secErr(got), secErrs(want))
}

func secErr(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	return e.Error() + " (" + strconv.Itoa(int(e)) + ")"
}

func secErrs(es []syscall.Errno) string {
	var s []string
	for _, e := range es {
		s = append(s, secErr(e))
	}
	return strings.Join(s, " or ")
}

// secHolder is a probe that holds files open until Release.
type secHolder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// Hold opens path as the user up to max times and keeps them open; it
// returns how many opens succeeded and the errno of the first failure.
func (u *secUser) Hold(t testing.TB, path string, max int) (*secHolder, int, syscall.Errno) {
	t.Helper()
	cmd := u.command(u.probe, "hold", path, strconv.Itoa(max))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &secHolder{cmd: cmd, stdin: stdin}
	t.Cleanup(h.Release)
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	fields := strings.Fields(line)
	if len(fields) != 3 || fields[0] != "held" {
		h.Release()
		t.Fatalf("hold %s printed %q (stderr %q)", path, line, errb.String())
	}
	n, _ := strconv.Atoi(fields[1])
	e, _ := strconv.Atoi(fields[2])
	return h, n, syscall.Errno(e)
}

// Release closes the held files and waits for the probe to exit.
func (h *secHolder) Release() {
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	h.cmd.Wait()
}

// secBuildProbe builds the probe program into dir (which every user can
// traverse) and returns its path.
func secBuildProbe(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "probe.go")
	if err := os.WriteFile(src, []byte(secProbeSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "probe")
	cmd := exec.Command("go", "build", "-o", out, src)
	cmd.Dir = filepath.Dir(src)
	cmd.Env = append(os.Environ(), "GO111MODULE=off", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, b)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// secProbeSrc is a tiny program run as a test user: one file operation,
// printing "ok [detail]" or "errno N", so tests compare errnos exactly.
const secProbeSrc = `package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func report(detail string, err error) {
	if err == nil {
		fmt.Println(strings.TrimSpace("ok " + detail))
		return
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(strings.TrimSpace(fmt.Sprint("errno ", int(e), " ", detail)))
}

// fill writes size bytes at the end of path in 64 KiB writes: the bytes
// written. Read-write without O_APPEND, so memory.bin opens a clone.
func fill(path, size string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	total, _ := strconv.ParseInt(size, 10, 64)
	var n int64
	for err == nil && n < total {
		var k int
		k, err = f.Write(make([]byte, min(64<<10, total-n)))
		n += int64(k)
	}
	if f != nil {
		f.Close()
	}
	return strconv.FormatInt(n, 10), err
}

func main() {
	syscall.Umask(0o022)
	a := os.Args[1:]
	switch a[0] {
	case "read":
		b, err := os.ReadFile(a[1])
		report(strconv.Itoa(len(b)), err)
	case "ls":
		ents, err := os.ReadDir(a[1])
		var n []string
		for _, e := range ents {
			n = append(n, e.Name())
		}
		report(strings.Join(n, " "), err)
	case "stat":
		_, err := os.Lstat(a[1])
		report("", err)
	case "mkdir":
		mode := uint64(0o755)
		if len(a) > 2 {
			mode, _ = strconv.ParseUint(a[2], 8, 32)
		}
		report("", syscall.Mkdir(a[1], uint32(mode)))
	case "write":
		f, err := os.OpenFile(a[1], os.O_WRONLY|os.O_CREATE, 0o600)
		if err == nil {
			_, err = f.Write([]byte("probe"))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		report("", err)
	case "create":
		f, err := os.OpenFile(a[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			err = f.Close()
		}
		report("", err)
	case "fill": // PATH BYTES: write up to BYTES more at the end in 64 KiB writes; ok N
		report(fill(a[1], a[2]))
	case "allocate": // PATH BYTES [FILL BYTES2]: open read-write, allocate
		// BYTES from 0; with FILL, then fill it while PATH is still open
		f, err := os.OpenFile(a[1], os.O_RDWR, 0)
		if err == nil {
			size, _ := strconv.ParseInt(a[2], 10, 64)
			err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
			defer f.Close()
		}
		if len(a) > 3 {
			if err != nil {
				fmt.Fprintln(os.Stderr, "fallocate before the fill:", err)
				os.Exit(2)
			}
			report(fill(a[3], a[4]))
			return
		}
		report("", err)
	case "openrw":
		f, err := os.OpenFile(a[1], os.O_RDWR, 0)
		if err == nil {
			err = f.Close()
		}
		report("", err)
	case "rm":
		report("", syscall.Unlink(a[1]))
	case "rmdir":
		report("", syscall.Rmdir(a[1]))
	case "rename":
		report("", syscall.Rename(a[1], a[2]))
	case "mvthen":
		// Renames a[1] to a[2] and, the moment that succeeds, tries each
		// change on a[3:], again until all are gone (ENOENT) or for 200
		// rounds; prints the ones that got through.
		if err := syscall.Rename(a[1], a[2]); err != nil {
			report("", err)
			return
		}
		var through []string
		for round, gone := 0, false; round < 200 && !gone; round++ {
			gone = true
			for _, p := range a[3:] {
				for op, change := range map[string]func() error{
					"pwrite": func() error {
						f, err := os.OpenFile(p, os.O_WRONLY, 0)
						if err == nil {
							_, err = f.WriteAt([]byte("probe"), 0)
							f.Close()
						}
						return err
					},
					"truncate":  func() error { return syscall.Truncate(p, 1) },
					"chmod":     func() error { return syscall.Chmod(p, 0o600) },
					"chown":     func() error { return os.Lchown(p, os.Getuid(), os.Getgid()) },
					"utimes":    func() error { return syscall.UtimesNano(p, []syscall.Timespec{{Sec: 1}, {Sec: 1}}) },
					"setxattr":  func() error { return syscall.Setxattr(p, "user.snapfs-probe", []byte("1"), 0) },
					"fallocate": func() error {
						f, err := os.OpenFile(p, os.O_WRONLY, 0)
						if err == nil {
							err = syscall.Fallocate(int(f.Fd()), 0, 0, 1<<20)
							f.Close()
						}
						return err
					},
				} {
					if err := change(); err == nil {
						through = append(through, op+":"+p)
					} else if !errors.Is(err, syscall.ENOENT) {
						gone = false
					}
				}
			}
		}
		report(strings.Join(through, " "), nil)
	case "chmod":
		mode, _ := strconv.ParseUint(a[2], 8, 32)
		report("", syscall.Chmod(a[1], uint32(mode)))
	case "pwrite": // no O_CREAT, no O_TRUNC: only what is there changes
		f, err := os.OpenFile(a[1], os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteAt([]byte("probe"), 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		report("", err)
	case "truncate":
		report("", syscall.Truncate(a[1], 0))
	case "fallocate":
		f, err := os.OpenFile(a[1], os.O_WRONLY, 0)
		if err == nil {
			err = syscall.Fallocate(int(f.Fd()), 0, 0, 1<<20)
			f.Close()
		}
		report("", err)
	case "chown":
		report("", os.Lchown(a[1], os.Getuid(), os.Getgid()))
	case "utimes":
		report("", syscall.UtimesNano(a[1], []syscall.Timespec{{Sec: 1}, {Sec: 1}}))
	case "setxattr":
		report("", syscall.Setxattr(a[1], "user.snapfs-probe", []byte("1"), 0))
	case "writer":
		// Opens a[1] read-write (after a first line of stdin, with
		// "wait"), then runs one change per line of stdin on that handle.
		in := bufio.NewScanner(os.Stdin)
		if len(a) > 2 && a[2] == "wait" {
			fmt.Println("ready")
			in.Scan()
		}
		f, err := os.OpenFile(a[1], os.O_RDWR, 0)
		report("", err)
		if err != nil {
			return
		}
		var m []byte
		for in.Scan() {
			switch err = nil; in.Text() {
			case "pwrite":
				_, err = f.WriteAt([]byte("WRITER"), 0)
			case "ftruncate": // to its size: a change the snapshot survives
				var st os.FileInfo
				if st, err = f.Stat(); err == nil {
					err = f.Truncate(st.Size())
				}
			case "fallocate":
				err = syscall.Fallocate(int(f.Fd()), 0, 0, 4096)
			case "fchmod":
				err = f.Chmod(0o666)
			case "mmap":
				m, err = syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			case "mwrite":
				copy(m, "MAPPED")
			case "munmap":
				err = syscall.Munmap(m)
			case "close":
				err = f.Close()
			}
			report("", err)
		}
	case "hold":
		max, _ := strconv.Atoi(a[2])
		var files []*os.File
		errno := 0
		for len(files) < max {
			f, err := os.Open(a[1])
			if err != nil {
				var e syscall.Errno
				errors.As(err, &e)
				errno = int(e)
				break
			}
			files = append(files, f)
		}
		fmt.Println("held", len(files), errno)
		io.Copy(io.Discard, os.Stdin)
		for _, f := range files {
			f.Close()
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown op", a[0])
		os.Exit(2)
	}
}
`
