package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// bin is the snapfs binary every test runs.
var bin string

func TestMain(m *testing.M) {
	bin = os.Getenv("SNAPFS_BIN")
	if bin == "" {
		dir, err := os.MkdirTemp("", "snapfs-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin = filepath.Join(dir, "snapfs")
		cmd := exec.Command("go", "build", "-o", bin, "../cmd/snapfs")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building snapfs:", err)
			os.Exit(1)
		}
		code := m.Run()
		stopGlusterd()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	code := m.Run()
	stopGlusterd()
	os.Exit(code)
}

// result is what one run of the binary produced.
type result struct {
	stdout, stderr string
	code           int
}

// snapfs runs the binary with args and returns its output and exit code.
func snapfs(t testing.TB, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running snapfs %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// testdata names a file of the golden vectors (snapshot/testdata/openvmm,
// whose README says where they come from).
func testdata(name string) string {
	return filepath.Join("..", "snapshot", "testdata", "openvmm", name)
}
