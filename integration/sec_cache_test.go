package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// secWriteBigState writes a sparse state.bin of units units, each with a
// name of about nameLen bytes and a value of valueLen zero bytes (a hole),
// and returns its size.
func secWriteBigState(t *testing.T, path string, units, nameLen int, valueLen int64) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const url = "type.googleapis.com/big.Unit"
	var off int64
	for i := 0; i < units; i++ {
		name := fmt.Sprintf("unit-%06d-", i)
		name += strings.Repeat("n", nameLen-len(name))
		any := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), url)
		any = protowire.AppendVarint(protowire.AppendTag(any, 2, protowire.BytesType), uint64(valueLen))
		anyLen := int64(len(any)) + valueLen
		unit := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), name)
		unit = protowire.AppendVarint(protowire.AppendTag(unit, 2, protowire.BytesType), uint64(anyLen))
		unitLen := int64(len(unit)) + anyLen
		head := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), uint64(unitLen))
		head = append(append(head, unit...), any...)
		if _, err := f.WriteAt(head, off); err != nil {
			t.Fatal(err)
		}
		off += int64(len(head)) + valueLen
	}
	if err := f.Truncate(off); err != nil {
		t.Fatal(err)
	}
	return off
}

// A 1.2 GB sparse state.bin of 30,000 units with long names (3.9 MB of
// names and type URLs, within the index's limit, some 8 MiB decoded) is
// hard-linked into 100 published snapshots, and another user cats every
// status: the decoded index is kept once, by the file's identity, so the
// daemon's peak RSS stays under 160 MiB (each snapshot kept its own copy
// before: some 800 MiB). With a decoded cache smaller than one index,
// status says so and the daemon stays up.
func TestSecHardLinkedIndexShared(t *testing.T) {
	e := secSetup(t, 0o755)
	u := secNewUser(t, e.probe)
	first := makeSnap(t, e.store, "n0", snapSpec{NoState: true})
	size := secWriteBigState(t, filepath.Join(first, "state.bin"), 30000, 100, 40<<10)
	if size < 1_200_000_000 {
		t.Fatalf("state.bin is %d bytes, want 1.2 GB", size)
	}
	if err := os.Chmod(filepath.Join(first, "state.bin"), 0o644); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 1; i < n; i++ {
		dir := makeSnap(t, e.store, fmt.Sprint("n", i), snapSpec{NoState: true})
		if err := os.Link(filepath.Join(first, "state.bin"), filepath.Join(dir, "state.bin")); err != nil {
			t.Fatal(err)
		}
	}
	cat := func(d *daemon, i int) string {
		t.Helper()
		r := u.Run(t, "cat", d.Path(fmt.Sprint("n", i), "status"))
		if r.code != 0 {
			t.Fatalf("cat n%d/status as %s: %d %s", i, u.Name, r.code, r.stderr)
		}
		return r.stdout
	}

	d := e.mount(t)
	for i := 0; i < n; i++ {
		if s := cat(d, i); i == 0 && (strings.Contains(s, "error") || strings.Contains(s, "decoded cache")) {
			t.Errorf("n0/status:\n%s", s)
		}
	}
	if r := u.Run(t, "cat", d.Path("n99", "state", fmt.Sprintf("unit-029999-%s", strings.Repeat("n", 88)), "type_url")); r.code != 0 ||
		strings.TrimSpace(r.stdout) != "type.googleapis.com/big.Unit" {
		t.Errorf("the last unit's type_url: %d %q %s", r.code, r.stdout, r.stderr)
	}
	secAlive(t, d, "after the cats")
	pid := d.cmd.Process.Pid
	if hwm := secVmKB(t, pid, "VmHWM"); hwm > 160<<10 {
		t.Errorf("daemon peak RSS %d MiB (VmRSS %d MiB) after %d statuses, want under 160 MiB", hwm>>10, secVmKB(t, pid, "VmRSS")>>10, n)
	}
	t.Logf("daemon VmHWM %d MiB, VmRSS %d MiB", secVmKB(t, pid, "VmHWM")>>10, secVmKB(t, pid, "VmRSS")>>10)
	d.stop()

	d = e.mount(t, "--decoded-cache-bytes", "1M")
	for i := 0; i < 3; i++ {
		s := cat(d, i)
		if !strings.Contains(s, "warning: state.bin's index takes") || !strings.Contains(s, "more than the whole decoded cache (1048576 bytes, --decoded-cache-bytes)") {
			t.Errorf("n%d/status with a 1 MiB cache does not say the index is past it:\n%s", i, s)
		}
	}
	secAlive(t, d, "with a decoded cache smaller than the index")
	nwContains(t, "log", d.Log(), "larger than the whole decoded cache")
}
