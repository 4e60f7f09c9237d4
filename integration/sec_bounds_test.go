package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/snapfs/snapfs/snapshot"
)

// secHugeUnitState is the head of a state.bin whose one unit, "big",
// declares a value of n bytes; the file is meant to be extended to its
// full size sparsely.
func secHugeUnitState(n int64) (head []byte, size int64) {
	any := protowire.AppendTag(nil, 1, protowire.BytesType)
	any = protowire.AppendString(any, "type.googleapis.com/x.Big")
	any = protowire.AppendTag(any, 2, protowire.BytesType)
	any = protowire.AppendVarint(any, uint64(n))
	anyLen := int64(len(any)) + n
	unit := protowire.AppendTag(nil, 1, protowire.BytesType)
	unit = protowire.AppendString(unit, "big")
	unit = protowire.AppendTag(unit, 2, protowire.BytesType)
	unit = protowire.AppendVarint(unit, uint64(anyLen))
	unitLen := int64(len(unit)) + anyLen
	head = protowire.AppendTag(nil, 1, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(unitLen))
	size = int64(len(head)) + unitLen
	return append(append(head, unit...), any...), size
}

// secAlive fails unless the daemon process runs and its mount answers.
func secAlive(t *testing.T, d *daemon, what string) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("%s: the daemon exited: %v\n%s", what, d.err, d.Log())
	default:
	}
	if !serving(d.Mnt) {
		t.Fatalf("%s: the mount does not answer\n%s", what, d.Log())
	}
}

// secWaitStatus waits until new/name/status holds want, the daemon
// staying up meanwhile.
func secWaitStatus(t *testing.T, d *daemon, name, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		secAlive(t, d, "waiting for new/"+name+"/status")
		b, _ := os.ReadFile(d.Path("new", name, "status"))
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("new/%s/status does not say %q after 20s:\n%s", name, want, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A user stages a 1 TiB sparse state.bin whose unit declares nearly all
// of it, with a written-back value.bin: the check compares in chunks, so
// the daemon stays up, at this mount and at the next one on the same
// STORE, and status says why the directory was refused.
func TestSecHugeUnitWrittenBack(t *testing.T) {
	e := secSetup(t, 0o1777)
	u := secNewUser(t, e.probe)
	head, size := secHugeUnitState(1<<40 - 64)
	src := filepath.Join(e.dir, "src")
	secWriteSnap(t, src, "huge", false)
	writeFile(t, filepath.Join(src, "state.bin"), head)
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	d := e.mount(t) // the default commit delay validates it by itself
	x := d.Path("new", "x")
	sh := "set -e; mkdir " + x + "; cp " + src + "/manifest.bin " + src + "/memory.bin " + src + "/state.bin " + x +
		"/; truncate -s " + fmt.Sprint(size) + " " + x + "/state.bin; mkdir -p " + x + "/state/big; printf x > " + x + "/state/big/value.bin"
	if r := u.Run(t, "sh", "-c", sh); r.code != 0 {
		t.Fatalf("staging as %s: %d %s", u.Name, r.code, r.stderr)
	}
	const why = "state/big/value.bin: differs from the staged state.bin's unit"
	secWaitStatus(t, d, "x", why)
	time.Sleep(3 * time.Second) // past another commit delay
	secAlive(t, d, "after the refusal")
	d.stop()

	d2 := e.mount(t)
	secWaitStatus(t, d2, "x", why)
	time.Sleep(3 * time.Second)
	secAlive(t, d2, "the remount, after the refusal")
	wantAbsent(t, filepath.Join(e.store, "x"))
}

// secNestedAnys is a nest.Box value holding n levels of Box-in-Any,
// built in linear time.
func secNestedAnys(n int) []byte {
	const url = "type.googleapis.com/nest.Box"
	core := protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1)
	var prefixes [][]byte
	size := len(core)
	for i := 0; i < n; i++ {
		a := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), url)
		a = protowire.AppendVarint(protowire.AppendTag(a, 2, protowire.BytesType), uint64(size))
		p := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), uint64(len(a)+size))
		prefixes = append(prefixes, append(p, a...))
		size += len(prefixes[i])
	}
	out := make([]byte, 0, size)
	for i := n - 1; i >= 0; i-- {
		out = append(out, prefixes[i]...)
	}
	return append(out, core...)
}

// A unit of ~750 KiB of nested google.protobuf.Any values, with a schema
// that knows the type, gives a status warning naming the unit and the
// limit, quickly, and no value.json.
func TestSecNestedAnyBounded(t *testing.T) {
	store := t.TempDir()
	makeSnap(t, store, "vm", snapSpec{Units: []snapshot.StateUnit{
		{Name: "nest", TypeURL: "type.googleapis.com/nest.Box", Value: secNestedAnys(20000)},
	}})
	schema := schemaCopy(t)
	writeFile(t, schema+"/nest.proto", []byte("syntax = \"proto3\";\npackage nest;\nimport \"google/protobuf/any.proto\";\n"+
		"message Box {\n  google.protobuf.Any inner = 1;\n  uint32 v = 3;\n}\n"))
	d := mountStore(t, store, "", "--schema", schema)
	done := make(chan string, 1)
	go func() { done <- strings.Join(statusLines(t, d, "vm"), "\n") }()
	select {
	case status := <-done:
		if !strings.Contains(status, `state unit "nest" has no value.json`) || !strings.Contains(status, "google.protobuf.Any nested more than") &&
			!strings.Contains(status, "google.protobuf.Any values of more than") {
			t.Errorf("status does not name the unit and the Any limit:\n%s", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("cat vm/status: no answer in 10s")
	}
	wantAbsent(t, d.Path("vm", "state", "nest", "value.json"))
	secAlive(t, d, "after the nested Anys")
}

// secVmKB is a field (VmRSS, VmHWM) of /proc/pid/status, in KiB.
func secVmKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// Twenty published snapshots share, by hard link, one 64 MiB state.bin
// of 64 KiB unit names; another user cats each status. The index refuses
// names past MaxStateStrings in all, so the daemon's peak RSS stays
// under 400 MiB (it grew by the file's size per snapshot before).
func TestSecHardLinkedBigNamesRSS(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	long := strings.Repeat("n", 64<<10-64)
	units := make([]snapshot.StateUnit, 1000)
	for i := range units {
		units[i] = snapshot.StateUnit{Name: fmt.Sprint(i, long), TypeURL: "type.googleapis.com/x." + long}
	}
	first := makeSnap(t, e.store, "n0", snapSpec{StateBytes: snapshot.EncodeState(units)})
	const n = 20
	for i := 1; i < n; i++ {
		dir := makeSnap(t, e.store, fmt.Sprint("n", i), snapSpec{NoState: true})
		if err := os.Link(filepath.Join(first, "state.bin"), filepath.Join(dir, "state.bin")); err != nil {
			t.Fatal(err)
		}
	}
	d := e.mount(t)
	for i := 0; i < n; i++ {
		r := u.Run(t, "cat", d.Path(fmt.Sprint("n", i), "status"))
		if r.code != 0 {
			t.Fatalf("cat n%d/status as %s: %d %s", i, u.Name, r.code, r.stderr)
		}
		if i == 0 && !strings.Contains(r.stdout, "in all") {
			t.Errorf("n0/status does not say the names are over the limit:\n%s", r.stdout)
		}
	}
	secAlive(t, d, "after the cats")
	pid := d.cmd.Process.Pid
	if hwm := secVmKB(t, pid, "VmHWM"); hwm > 400<<10 {
		t.Errorf("daemon peak RSS %d MiB (VmRSS %d MiB), want under 400 MiB", hwm>>10, secVmKB(t, pid, "VmRSS")>>10)
	}
}

// secWaitFor waits until ok holds, failing with what after 20s.
func secWaitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
	}
}

// The daemon is killed (SIGKILL, as the OOM killer does) while it
// validates a user's staged snapshot by itself. The next daemon comes up
// and stays up, and does not publish it by itself again: the staging
// directory stays, its status and the log say the validation did not
// finish, and once the user touches a file it publishes.
func TestSecValidationCrashNotRetried(t *testing.T) {
	e := secSetup(t, 0o1777)
	u := secNewUser(t, e.probe)
	src := filepath.Join(e.dir, "src")
	secWriteSnap(t, src, "crash", false)
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SNAPFS_TEST_VALIDATE_DELAY", "1h") // the daemon's validation waits, marker written
	d := e.mount(t, "--commit-delay", "300ms")
	x := d.Path("new", "x")
	if r := u.Run(t, "sh", "-c", "set -e; mkdir "+x+"; cp "+src+"/manifest.bin "+src+"/state.bin "+src+"/memory.bin "+x+"/"); r.code != 0 {
		t.Fatalf("staging as %s: %d %s", u.Name, r.code, r.stderr)
	}
	staged := filepath.Join(e.store, ".snapfs-staging", "x")
	marker := filepath.Join(e.store, ".snapfs-staging", ".snapfs-validating", fmt.Sprint(lstat(t, staged).Ino))
	secWaitFor(t, "no validation marker "+marker, func() bool { _, err := os.Lstat(marker); return err == nil })
	d.kill()
	unix.Unmount(d.Mnt, unix.MNT_DETACH)

	t.Setenv("SNAPFS_TEST_VALIDATE_DELAY", "")
	for _, round := range []string{"restart", "second restart"} {
		d = e.mount(t, "--commit-delay", "300ms")
		status := secWaitStatus(t, d, "x", "validation did not finish last time")
		nwContains(t, round+": status", status, "change a file or mv it to try again")
		secWaitFor(t, round+": the log does not say x was not published", func() bool {
			return strings.Contains(d.Log(), "not published by itself") && strings.Contains(d.Log(), `name="x"`)
		})
		time.Sleep(visible) // past more commit delays: nothing tries again
		secAlive(t, d, round)
		wantAbsent(t, filepath.Join(e.store, "x"))
		wantNames(t, d.Path("new"), "x")
		if round == "restart" {
			d.stop()
		}
	}
	if r := u.Run(t, "touch", d.Path("new", "x", "memory.bin")); r.code != 0 {
		t.Fatalf("touch as %s: %d %s", u.Name, r.code, r.stderr)
	}
	secWaitFor(t, "x not published after the touch", func() bool {
		_, err := os.Lstat(filepath.Join(e.store, "x", "manifest.bin"))
		return err == nil
	})
	secAlive(t, d, "after publishing")
	wantAbsent(t, marker)
}
