package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSecUserPaysClone checks that the daemon keeps no CAP_SYS_RESOURCE
// on any thread (quota limits bind the writes the kernel makes on its
// fds) and that a read-only user's restore clone is owned by that user
// (quotas charge them, not root).
func TestSecUserPaysClone(t *testing.T) {
	e := secSetup(t, 0o755)
	reader := secNewUser(t, e.probe)
	makeSnap(t, e.store, "vm", snapSpec{})
	secChmodSnap(t, filepath.Join(e.store, "vm"), 0o755, 0o644)
	d := e.mount(t)
	pid := d.cmd.Process.Pid
	if strings.Contains(d.Log(), "CAP_SYS_RESOURCE") {
		t.Errorf("the daemon could not drop CAP_SYS_RESOURCE:\n%s", d.Log())
	}

	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("the daemon's threads: %v", err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			for _, set := range []string{"CapEff:", "CapPrm:"} {
				if v, ok := strings.CutPrefix(l, set); ok {
					caps, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
					if caps&(1<<24) != 0 { // CAP_SYS_RESOURCE
						t.Errorf("%s: %s %s has CAP_SYS_RESOURCE", task, set, strings.TrimSpace(v))
					}
				}
			}
		}
	}

	cmd := reader.command("sh", "-c", `exec 3<>"$1" && echo ready && read x`, "sh", d.Path("vm", "memory.bin"))
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); cmd.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		t.Fatalf("reader: opening memory.bin read-write for a restore failed")
	}
	fds, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	clones := 0
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasSuffix(target, "(deleted)") {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			continue
		}
		clones++
		if st.Uid != reader.UID || st.Gid != reader.GID {
			t.Errorf("restore clone %s: owner %d:%d, want the restoring user's %d:%d", target, st.Uid, st.Gid, reader.UID, reader.GID)
		}
	}
	if clones != 1 {
		t.Errorf("the daemon holds %d restore clones, want 1", clones)
	}
}
