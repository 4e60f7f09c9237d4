package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot/digest"
)

// dgWait polls cond until it holds, failing after 30 s (a guard against a
// hang, not a timing).
func dgWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dgWaitSums waits until MNT/name/sha256sums exists.
func dgWaitSums(t testing.TB, d *daemon, name string) {
	t.Helper()
	dgWait(t, name+"/sha256sums appearing", func() bool {
		_, err := os.Stat(d.Path(name, "sha256sums"))
		return err == nil
	})
}

// dgSha256Check runs `sha256sum -c sha256sums` in dir and reports
// whether it passed, with its output.
func dgSha256Check(t testing.TB, dir string) (bool, string) {
	t.Helper()
	needTool(t, "sha256sum")
	cmd := exec.Command("sha256sum", "-c", "sha256sums")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("sha256sum: %v", err)
		}
	}
	return err == nil, string(out)
}

// dgVerify runs `snapfs verify --json dir` and returns its exit code and
// decoded result.
func dgVerify(t testing.TB, dir string) (int, *digest.Result) {
	t.Helper()
	r := snapfs(t, "verify", "--json", dir)
	if r.code == 2 {
		return 2, nil
	}
	var res digest.Result
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("verify --json %s: %v\n%s%s", dir, err, r.stdout, r.stderr)
	}
	return r.code, &res
}

// dgStatusHas waits until MNT/name/status does (or does not) hold line.
func dgStatusHas(t testing.TB, d *daemon, name, line string, want bool) {
	t.Helper()
	var got string
	dgWait(t, name+"/status "+map[bool]string{true: "showing", false: "dropping"}[want]+" "+line, func() bool {
		b, _ := os.ReadFile(d.Path(name, "status"))
		got = string(b)
		return strings.Contains(got, line) == want
	})
}

// dgPatch overwrites bytes of path at off and returns what was there.
func dgPatch(t testing.TB, path string, off int64, b []byte) []byte {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := make([]byte, len(b))
	f.ReadAt(old, off)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return old
}

// dgStorePath is STORE/name/file.
func dgStorePath(d *daemon, name, file string) string { return filepath.Join(d.Store, name, file) }
