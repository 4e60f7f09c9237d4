package integration

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// mountOptionsOf is the per-mount options field of MNT's line in
// /proc/self/mountinfo.
func mountOptionsOf(t *testing.T, mnt string) []string {
	t.Helper()
	for _, line := range strings.Split(string(read(t, "/proc/self/mountinfo")), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == mnt {
			return strings.Split(f[5], ",")
		}
	}
	t.Fatalf("%s not in /proc/self/mountinfo", mnt)
	return nil
}

// -o noexec is honoured; nosuid and nodev are always on.
func TestMountNoexec(t *testing.T) {
	for _, noexec := range []bool{false, true} {
		var flags []string
		if noexec {
			flags = []string{"-o", "noexec"}
		}
		d := nwMount(t, "", flags...)
		opts := strings.Join(mountOptionsOf(t, d.Mnt), ",")
		for _, want := range []string{"nosuid", "nodev"} {
			if !strings.Contains(","+opts+",", ","+want+",") {
				t.Errorf("flags %q: mount options %s lack %s", flags, opts, want)
			}
		}
		if got := strings.Contains(","+opts+",", ",noexec,"); got != noexec {
			t.Errorf("flags %q: mount options %s: noexec %v, want %v", flags, opts, got, noexec)
		}
		if err := os.Mkdir(d.Path("new", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		prog := d.Path("new", "x", "run.sh")
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		// Without noexec the file runs (the exec's open reaches the
		// daemon with __FMODE_EXEC); with it, the kernel refuses.
		out, err := exec.Command(prog).Output()
		if got := errors.Is(err, syscall.EACCES); got != noexec {
			t.Errorf("flags %q: exec of a 0755 file: %v %q; EACCES %v, want %v", flags, err, out, got, noexec)
		}
		if !noexec && (err != nil || string(out) != "ran\n") {
			t.Errorf("flags %q: exec of a 0755 file: %v %q, want it to run", flags, err, out)
		}
		d.stop()
	}
}

// A negative or unparsable duration is refused, naming the option, the
// value and an example.
func TestMountDurationRefused(t *testing.T) {
	const example = "use a duration such as 2s or 500ms"
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-o", "commit_delay=-5s"}, []string{`commit_delay="-5s"`, "negative", example}},
		{[]string{"--commit-delay", "5"}, []string{"commit-delay", `"5"`, "not a duration", example}},
		{[]string{"--commit-delay", "-1s"}, []string{"commit-delay", `"-1s"`, "negative", example}},
	} {
		r := refusedMount(t, c.args...)
		wantRefusal(t, r, c.want...)
	}
}
