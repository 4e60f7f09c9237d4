package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cwdProbe is a process standing in a directory of the mount and asking
// getcwd(2) (not $PWD) where it is, until told to stop.
type cwdProbe struct {
	dir  string
	cmd  *exec.Cmd
	out  *syncBuffer
	stop string
}

// startCwdProbe runs the test binary as a probe standing in dir.
func startCwdProbe(t *testing.T, dir string) *cwdProbe {
	t.Helper()
	p := &cwdProbe{dir: dir, out: &syncBuffer{}, stop: filepath.Join(t.TempDir(), "stop")}
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestSuiteCwd$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), "SNAPFS_BIN="+bin, "SNAPFS_CWD_PROBE="+dir, "SNAPFS_CWD_STOP="+p.stop)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// finish stops the probe and fails the test if its getcwd() ever failed.
func (p *cwdProbe) finish(t *testing.T) {
	t.Helper()
	writeFile(t, p.stop, nil)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("probe in %s: %v\n%s", p.dir, err, p.out)
	}
}

// cwdProbeLoop is the probe itself (the child): getcwd() must name dir,
// and "." must stat, every time.
func cwdProbeLoop(t *testing.T, dir, stop string) {
	for n := 0; ; n++ {
		wd, err := unix.Getwd()
		if err != nil || wd != dir {
			t.Fatalf("getcwd after %d calls: %q, %v; want %q", n, wd, err, dir)
		}
		if _, err := os.Stat("."); err != nil {
			t.Fatalf("stat . after %d calls: %v", n, err)
		}
		if _, err := os.Stat(stop); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSuiteCwd: processes standing in a staging directory, in a snapshot
// and in state/<unit> keep a working getcwd() while the store changes
// around them (snapshots added and removed in STORE, files copied into
// the staging directory, other snapshots published through new/) and
// while 1,100 snapshots are walked, past the 1,024 the daemon keeps
// cached (eviction asks the kernel to forget the least recently used:
// the probes' directories among them).
func TestSuiteCwd(t *testing.T) {
	if dir := os.Getenv("SNAPFS_CWD_PROBE"); dir != "" {
		cwdProbeLoop(t, dir, os.Getenv("SNAPFS_CWD_STOP"))
		return
	}
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	src := nwSource(t, "src")
	d := mountStore(t, store, "", "--commit-delay", "0")
	if err := os.Mkdir(d.Path("new", "cwd"), 0o755); err != nil {
		t.Fatal(err)
	}
	units, err := os.ReadDir(d.Path("vm1", "state"))
	if err != nil || len(units) == 0 {
		t.Fatalf("vm1/state: %v %v", units, err)
	}
	var probes []*cwdProbe
	for _, dir := range []string{d.Path("new", "cwd"), d.Path("vm1"), d.Path("vm1", "state", units[0].Name())} {
		probes = append(probes, startCwdProbe(t, dir))
	}
	defer func() {
		for _, p := range probes {
			if p.cmd.ProcessState == nil {
				p.cmd.Process.Kill()
				p.cmd.Wait()
			}
		}
	}()

	// The store changes around them.
	for i := range 20 {
		name := fmt.Sprintf("direct%d", i)
		makeSnap(t, store, name, snapSpec{})
		if i%2 == 0 {
			cwdSeen(t, d, name)
			if err := os.RemoveAll(filepath.Join(store, name)); err != nil {
				t.Fatal(err)
			}
		}
		nwSh(t, fmt.Sprintf("cp --sparse=always %q %q", filepath.Join(src, "memory.bin"), d.Path("new", "cwd", fmt.Sprintf("copy%d", i%3))))
		pub := fmt.Sprintf("pub%d", i)
		nwSh(t, fmt.Sprintf("mkdir %q && cp --sparse=always %q/* %q/ && mv %q %q",
			d.Path("new", pub), src, d.Path("new", pub), d.Path("new", pub), d.Path(pub)))
	}

	// 1,100 snapshots walked: the probes' directories are the least
	// recently used, the first the daemon asks the kernel to forget.
	for i := range 1100 {
		makeSnap(t, store, fmt.Sprintf("walk%04d", i), snapSpec{})
	}
	for i := range 1100 {
		name := fmt.Sprintf("walk%04d", i)
		if b, err := os.ReadFile(d.Path(name, "status")); err != nil || !strings.HasPrefix(string(b), "ok") {
			t.Fatalf("%s/status: %q %v", name, b, err)
		}
	}
	time.Sleep(time.Second) // let eviction run (it runs every 250 ms)
	for i := 0; i < 1100; i += 100 {
		os.RemoveAll(filepath.Join(store, fmt.Sprintf("walk%04d", i)))
	}
	time.Sleep(500 * time.Millisecond)

	for _, p := range probes {
		p.finish(t)
	}
	for _, f := range []string{"vm1/status", "vm1/state/" + units[0].Name() + "/type_url", "new/cwd/status"} {
		if _, err := os.ReadFile(d.Path(f)); err != nil {
			t.Errorf("after the walk: %v", err)
		}
	}
	for i := range 20 {
		nwSameFiles(t, src, filepath.Join(store, fmt.Sprintf("pub%d", i)))
	}
}

// cwdSeen waits until the mount shows a snapshot added to STORE.
func cwdSeen(t *testing.T, d *daemon, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := os.Stat(d.Path(name, "status"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s added to STORE, not in the mount after 10 s: %v", name, err)
		}
	}
}
