package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// These tests run the snapfs binary's non-mount commands: inspect,
// validate, sample.

func TestCLIVersion(t *testing.T) {
	r := snapfs(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "snapfs ") || !strings.HasSuffix(r.stdout, "\n") {
		t.Errorf("--version: %+v", r)
	}
}

func TestCLIHelp(t *testing.T) {
	for _, cmd := range []string{"inspect", "validate", "sample"} {
		for _, h := range []string{"--help", "-h"} {
			r := snapfs(t, cmd, h)
			if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: snapfs "+cmd+" ") || r.stderr != "" {
				t.Errorf("%s %s: %+v", cmd, h, r)
			}
		}
		r := snapfs(t, cmd, "--no-such-flag", "x")
		if r.code != 2 || !strings.Contains(r.stderr, "no-such-flag") || !strings.Contains(r.stderr, "usage: snapfs "+cmd) {
			t.Errorf("%s with a bad flag: %+v", cmd, r)
		}
		r = snapfs(t, cmd)
		if r.code != 2 || !strings.Contains(r.stderr, "usage: snapfs "+cmd) || r.stdout != "" {
			t.Errorf("%s without arguments: %+v", cmd, r)
		}
	}
	r := snapfs(t, "--help")
	for _, cmd := range []string{"inspect", "validate", "sample"} {
		if !strings.Contains(r.stdout, "  "+cmd+" ") {
			t.Errorf("snapfs --help does not list %s:\n%s", cmd, r.stdout)
		}
	}
}

// cliVector is one entry of vectors.json.
type cliVector struct {
	File  string          `json:"file"`
	Kind  string          `json:"kind"`
	JSON  json.RawMessage `json:"json"`
	Error string          `json:"error"`
}

func cliVectors(t *testing.T) []cliVector {
	t.Helper()
	b, err := os.ReadFile(testdata("vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []cliVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// cliManifestDir makes a directory holding the vector file as manifest.bin.
func cliManifestDir(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(testdata(file))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), strings.TrimSuffix(file, ".bin"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.bin"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cliIndent formats a JSON value as manifest.json is: 2-space indent,
// trailing newline.
func cliIndent(t *testing.T, raw []byte) string {
	var c, out bytes.Buffer
	if err := json.Compact(&c, raw); err != nil {
		t.Fatal(err)
	}
	if err := json.Indent(&out, c.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	return out.String() + "\n"
}

func TestInspectVectors(t *testing.T) {
	n := 0
	for _, v := range cliVectors(t) {
		if v.Kind != "manifest" {
			continue
		}
		n++
		dir := cliManifestDir(t, v.File)
		r := snapfs(t, "inspect", dir)
		if v.Error != "" {
			path := filepath.Join(dir, "manifest.bin")
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, path) || !strings.Contains(r.stderr, "truncated") {
				t.Errorf("%s: %+v", v.File, r)
			}
			continue
		}
		if want := cliIndent(t, v.JSON); r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("%s: got %+v\nwant stdout:\n%s", v.File, r, want)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(v.JSON, &fields); err != nil {
			t.Fatal(err)
		}
		for name, raw := range fields {
			want := strings.Trim(string(raw), `"`) + "\n"
			if r := snapfs(t, "inspect", "--field", name, dir); r.code != 0 || r.stdout != want {
				t.Errorf("%s --field %s: %+v, want %q", v.File, name, r, want)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d manifest vectors", n)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := cliManifestDir(t, "manifest-x86_64.bin")
	if r := snapfs(t, "inspect", dir, "--field", "vp_count"); r.code != 0 || r.stdout != "4\n" {
		t.Errorf("flag after DIR: %+v", r)
	}
	if r := snapfs(t, "inspect", "--field", "colour", dir); r.code != 2 || !strings.Contains(r.stderr, `"colour"`) {
		t.Errorf("unknown field: %+v", r)
	}
	if r := snapfs(t, "inspect", dir, dir); r.code != 2 {
		t.Errorf("two dirs: %+v", r)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if r := snapfs(t, "inspect", missing); r.code != 1 || !strings.Contains(r.stderr, filepath.Join(missing, "manifest.bin")) ||
		!strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing: %+v", r)
	}
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "manifest.bin"), []byte{0x2a, 0x01, 0x00}, 0o644)
	if r := snapfs(t, "inspect", bad); r.code != 1 || !strings.Contains(r.stderr, "field 5 (vp_count): wrong wire type 2") {
		t.Errorf("wrong wire type: %+v", r)
	}
}

// cliSample writes count sample snapshots into a new store.
func cliSample(t *testing.T, args ...string) string {
	t.Helper()
	store := filepath.Join(t.TempDir(), "store")
	r := snapfs(t, append(append([]string{"sample"}, args...), store)...)
	if r.code != 0 {
		t.Fatalf("sample: %+v", r)
	}
	return store
}

func TestSample(t *testing.T) {
	store := cliSample(t, "--count", "4", "--memory-size", "2MiB")
	entries, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "vm1 vm2 vm3 vm4" {
		t.Fatalf("store holds %q (temporary files left?)", names)
	}
	archs := map[string]bool{}
	var last string
	for _, name := range names {
		dir := filepath.Join(store, name)
		if r := snapfs(t, "validate", dir); r.code != 0 || r.stdout != "ok\n" {
			t.Errorf("validate %s: %+v", name, r)
		}
		arch := snapfs(t, "inspect", "--field", "architecture", dir).stdout
		archs[arch] = true
		created := snapfs(t, "inspect", "--field", "created_at", dir).stdout
		if created <= last {
			t.Errorf("%s created_at %s not after %s", name, created, last)
		}
		last = created
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "memory.bin"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Size != 2<<20 || st.Blocks*512 >= st.Size || st.Nlink != 1 {
			t.Errorf("%s memory.bin: size %d, %d blocks, %d links; want 2 MiB, sparse, 1 link", name, st.Size, st.Blocks, st.Nlink)
		}
	}
	if !archs["x86_64\n"] || !archs["aarch64\n"] {
		t.Errorf("architectures %v", archs)
	}
	// Names taken: an error, and nothing changes.
	r := snapfs(t, "sample", "--count", "5", store)
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(store, "vm1")) || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second sample: %+v", r)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 4 {
		t.Errorf("store has %d entries after a failed sample", len(entries))
	}
}

func TestSampleRoundsToPageSize(t *testing.T) {
	store := cliSample(t, "--count", "2", "--memory-size", "100k")
	for name, want := range map[string]string{"vm1": "102400\n", "vm2": "131072\n"} {
		if got := snapfs(t, "inspect", "--field", "memory_size_bytes", filepath.Join(store, name)).stdout; got != want {
			t.Errorf("%s memory_size_bytes %q, want %q", name, got, want)
		}
	}
	for _, bad := range [][]string{{"--count", "0"}, {"--memory-size", "12X"}, {"--memory-size", "0"}} {
		r := snapfs(t, append(append([]string{"sample"}, bad...), t.TempDir())...)
		if r.code != 2 || !strings.Contains(r.stderr, bad[1]) {
			t.Errorf("sample %v: %+v", bad, r)
		}
	}
}

func TestValidateRestoreCheck(t *testing.T) {
	store := cliSample(t, "--count", "1", "--memory-size", "1M")
	dir := filepath.Join(store, "vm1") // x86_64, 2 VPs, 4096
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--arch", "x86_64", "--memory-size", "1M", "--vp-count", "2", "--page-size", "4096"}, 0, "ok\n"},
		{[]string{"--vp-count", "2"}, 0, "ok\n"},
		{[]string{"--arch", "aarch64", "--vp-count", "8"}, 1, "error: snapshot architecture 'x86_64' doesn't match expected 'aarch64'\n"},
		{[]string{"--memory-size", "2GiB"}, 1, "error: snapshot memory size (1048576 bytes) doesn't match expected (2147483648 bytes)\n"},
		{[]string{"--vp-count", "4"}, 1, "error: snapshot VP count (2) doesn't match expected (4)\n"},
		{[]string{"--page-size", "64K"}, 1, "error: snapshot page size (4096) doesn't match expected (65536)\n"},
	} {
		r := snapfs(t, append(append([]string{"validate"}, tt.args...), dir)...)
		if r.code != tt.code || r.stdout != tt.out {
			t.Errorf("validate %v: %+v, want %d %q", tt.args, r, tt.code, tt.out)
		}
	}
	for _, bad := range [][]string{{"--memory-size", "12X"}, {"--vp-count", "-1"}, {"--page-size", "lots"}} {
		r := snapfs(t, append(append([]string{"validate"}, bad...), dir)...)
		if r.code != 2 || !strings.Contains(r.stderr, bad[1]) {
			t.Errorf("validate %v: %+v", bad, r)
		}
	}
	if r := snapfs(t, "validate", filepath.Join(store, "nope")); r.code != 1 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("missing dir: %+v", r)
	}
}

func TestValidateErrors(t *testing.T) {
	store := cliSample(t, "--count", "2", "--memory-size", "1M")
	vm1, vm2 := filepath.Join(store, "vm1"), filepath.Join(store, "vm2")

	// memory.bin the wrong size.
	if err := os.Truncate(filepath.Join(vm1, "memory.bin"), 4096); err != nil {
		t.Fatal(err)
	}
	r := snapfs(t, "validate", vm1)
	if r.code != 1 || !strings.Contains(r.stdout, "error: memory.bin size (4096 bytes) doesn't match manifest (1048576 bytes)\n") {
		t.Errorf("short memory: %+v", r)
	}
	// Restored and run: memory.bin changed after created_at is a warning only.
	os.Truncate(filepath.Join(vm2, "memory.bin"), 1<<20)
	r = snapfs(t, "validate", vm2)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "warning: memory.bin modified after created_at (") {
		t.Errorf("modified memory: %+v", r)
	}
	// Missing files.
	os.Remove(filepath.Join(vm1, "memory.bin"))
	os.Remove(filepath.Join(vm1, "state.bin"))
	r = snapfs(t, "validate", vm1)
	if r.code != 1 || r.stdout != "error: state.bin is missing\nerror: memory.bin is missing\n" {
		t.Errorf("missing files: %+v", r)
	}
	// Undecodable state.bin and an unsupported version (reported once,
	// also with a restore check).
	os.WriteFile(filepath.Join(vm1, "state.bin"), []byte{0x0a, 0x05, 0x0a}, 0o644)
	os.WriteFile(filepath.Join(vm1, "manifest.bin"), []byte{0x08, 0x02}, 0o644)
	r = snapfs(t, "validate", "--arch", "x86_64", vm1)
	if r.code != 1 || !strings.HasPrefix(r.stdout, "error: snapshot manifest version 2 is not supported (expected 1)\n") ||
		strings.Count(r.stdout, "version 2") != 1 ||
		!strings.Contains(r.stdout, "error: failed to decode saved state from snapshot: offset 0: ") {
		t.Errorf("bad files: %+v", r)
	}
	os.WriteFile(filepath.Join(vm1, "manifest.bin"), []byte{0x08}, 0o644)
	r = snapfs(t, "validate", vm1)
	if r.code != 1 || !strings.HasPrefix(r.stdout, "error: failed to decode snapshot manifest: ") {
		t.Errorf("truncated manifest: %+v", r)
	}
}
