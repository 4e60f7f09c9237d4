package integration

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// What `snapfs --version` says of the kernel is what a mount then finds:
// passthrough "yes" exactly when the daemon (root) mounts with it, and
// the mount logs the kernel's FUSE protocol version it points to.
func TestCLIVersionKernel(t *testing.T) {
	r := snapfs(t, "--version")
	if r.code != 0 {
		t.Fatalf("--version: %+v", r)
	}
	m := regexp.MustCompile(`\nFUSE passthrough: (yes|no|unknown) `).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("--version has no passthrough line:\n%s", r.stdout)
	}
	if os.Getenv("SNAPFS_BIN") != "" && strings.Contains(r.stdout, "\ncommit: unknown") {
		t.Errorf("a binary from make build has no commit:\n%s", r.stdout)
	}
	d := mountStore(t, t.TempDir(), "")
	d.stop()
	log := d.Log()
	if !regexp.MustCompile(`msg="mounted" .*fuse_protocol="7\.\d+`).MatchString(log) {
		t.Errorf("the mounted line lacks fuse_protocol=7.N:\n%s", log)
	}
	if os.Geteuid() != 0 {
		return // passthrough needs root: the mount never uses it
	}
	used := strings.Contains(log, "passthrough=true")
	if (m[1] == "yes") != used {
		t.Errorf("--version says passthrough %s, the mount used it: %v\n%s\n%s", m[1], used, r.stdout, log)
	}
}
