package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// logHas reports whether the text holds a line with every one of want.
func logHas(text string, want ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(line, w)
		}
		if all && line != "" {
			return true
		}
	}
	return false
}

// SIGHUP never ends a daemon without --schema or --log, SIGUSR2 turns
// debug lines on and off, and the start, the unmount and the exit are
// each a log line saying why.
func TestServiceSignals(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	if !logHas(d.Log(), `msg="starting"`, `store="`+store+`"`, `mnt="`+d.Mnt+`"`, "watch=", "kernel=", "kernel_passthrough=") {
		t.Errorf("no starting line with the configuration and the kernel:\n%s", d.Log())
	}
	for i := 0; i < 3; i++ {
		d.cmd.Process.Signal(syscall.SIGHUP)
		eventually(t, "the SIGHUP line", func() bool { return strings.Count(d.Log(), `msg="SIGHUP"`) == i+1 })
	}
	if !logHas(d.Log(), `msg="SIGHUP"`, "nothing to do") {
		t.Errorf("SIGHUP line does not say what it did:\n%s", d.Log())
	}
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("after SIGHUP: vm1/status = %q\n%s", got, d.Log())
	}
	d.cmd.Process.Signal(syscall.SIGUSR2)
	eventually(t, "debug on", func() bool { return logHas(d.Log(), "SIGUSR2", `level=DEBUG`) })
	d.cmd.Process.Signal(syscall.SIGUSR2)
	eventually(t, "debug off", func() bool { return logHas(d.Log(), "SIGUSR2", "log level changed", `level=INFO`) })

	// An umount from outside ends the daemon, which says so.
	if err := unix.Unmount(d.Mnt, 0); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(t, d); err != nil {
		t.Errorf("exit after umount: %v\n%s", err, d.Log())
	}
	for _, want := range [][]string{
		{`msg="unmounted"`, "umount from outside"},
		{`msg="exiting"`, "code=0", `cause="unmounted from outside"`},
	} {
		if !logHas(d.Log(), want...) {
			t.Errorf("log lacks a line with %q:\n%s", want, d.Log())
		}
	}
}

// SIGTERM: the unmount and the exit are logged with the signal.
func TestServiceSIGTERMLogged(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	d := mountStore(t, store, "")
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(t, d); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.Log())
	}
	for _, want := range [][]string{
		{`msg="unmounting"`, `signal="terminated"`},
		{`msg="unmounted"`, `cause="terminated"`},
		{`msg="exiting"`, "code=0", `cause="terminated"`},
	} {
		if !logHas(d.Log(), want...) {
			t.Errorf("log lacks a line with %q:\n%s", want, d.Log())
		}
	}
}

// SIGHUP after logrotate moved --log FILE away: the mount goes on, the
// old file's last line says the log is reopened, and the new file
// carries on.
func TestServiceSIGHUPRotatedLog(t *testing.T) {
	t.Parallel()
	store, logs := t.TempDir(), t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	log := filepath.Join(logs, "snapfs.log")
	d := mountStore(t, store, "", "--log", log)
	eventually(t, "mounted line", func() bool { return strings.Contains(string(read(t, log)), `msg="mounted"`) })
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "a new log file", func() bool {
		b, err := os.ReadFile(log)
		return err == nil && logHas(string(b), `msg="SIGHUP"`, "reopened the log")
	})
	if !logHas(string(read(t, log+".1")), "SIGHUP: reopening the log") {
		t.Errorf("rotated file does not end saying the log is reopened:\n%s", read(t, log+".1"))
	}
	if st := lstat(t, log); st.Mode&0o777 != 0o600 {
		t.Errorf("new log file mode %#o, want 0600", st.Mode&0o777)
	}
	if got := string(read(t, d.Path("vm1", "status"))); got != "ok\n" {
		t.Errorf("after SIGHUP: vm1/status = %q", got)
	}
	d.stop()
	if !logHas(string(read(t, log)), `msg="exiting"`, "code=0") {
		t.Errorf("new log file lacks the exit:\n%s", read(t, log))
	}
}
