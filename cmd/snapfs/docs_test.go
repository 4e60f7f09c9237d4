package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated man pages and bash completion")

// generatedDocs are the files made from the commands' help.
func generatedDocs(t *testing.T) map[string]string {
	hs := allHelp(t)
	var mount *cmdHelp
	for _, h := range hs {
		if h.name == "mount" {
			mount = h
		}
	}
	return map[string]string{
		"docs/man/snapfs.8":              manSnapfs(hs),
		"docs/man/mount.snapfs.8":        manHelper(mount),
		"contrib/bash-completion/snapfs": completionScript(hs),
	}
}

// The man pages and the completion in the repository are what the help
// makes today.
func TestDocsUpToDate(t *testing.T) {
	for path, want := range generatedDocs(t) {
		p := filepath.Join(root, path)
		if *updateDocs {
			if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%s is not what the help makes (%v): run go test ./cmd/snapfs -run TestDocsUpToDate -update-docs", path, err)
		}
	}
}

// needTool fails with CI=true and skips elsewhere when a command is
// missing (make test installs it).
func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (make deps installs it)", name)
		}
		t.Skipf("%s not installed", name)
	}
}

// runTool runs a command and returns its stdout; anything on stderr or
// a failure fails the test.
func runTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil || errs.Len() > 0 {
		t.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errs.String())
	}
	return out.String()
}

// Each man page renders without a warning, through groff and man -l.
func TestManPagesRender(t *testing.T) {
	needTool(t, "groff")
	needTool(t, "man")
	for _, page := range []string{"snapfs.8", "mount.snapfs.8"} {
		p := filepath.Join(root, "docs/man", page)
		runTool(t, nil, "groff", "-man", "-ww", "-z", "-Tutf8", p)
		// As lintian checks a page.
		runTool(t, []string{"LC_ALL=C.UTF-8", "MANROFFSEQ=", "MANWIDTH=80"},
			"man", "--warnings=w", "-E", "UTF-8", "-l", "-Tutf8", "-Z", p)
	}
}

// manText renders a page as plain text, one paragraph a line as far as
// the width allows.
func manText(t *testing.T, page string) string {
	t.Helper()
	needTool(t, "groff")
	return runTool(t, nil, "groff", "-man", "-Tutf8", "-P-cbou", "-rLL=2000n", filepath.Join(root, "docs/man", page))
}

// Every flag of every command's --help is in snapfs(8), and every -o
// option of mount's --help in both pages: read from the rendered pages.
func TestManPagesMatchHelp(t *testing.T) {
	snapfs8 := manText(t, "snapfs.8")
	helper8 := manText(t, "mount.snapfs.8")
	for _, n := range commandNames() {
		var out bytes.Buffer
		if code := run([]string{n, "--help"}, &out, &out); code != 0 {
			t.Fatalf("snapfs %s --help: exit %d", n, code)
		}
		first, _, _ := strings.Cut(out.String(), "\n")
		synopsis := strings.TrimPrefix(first, "usage: ")
		if !strings.Contains(snapfs8, synopsis) {
			t.Errorf("snapfs(8) lacks %q", synopsis)
		}
		for _, line := range strings.Split(out.String(), "\n") {
			f, ok := strings.CutPrefix(line, "  -")
			if !ok || f == "" || f[0] == ' ' {
				continue
			}
			name, _, _ := strings.Cut(f, " ")
			dash := "--"
			if len(name) == 1 {
				dash = "-"
			}
			if !strings.Contains(snapfs8, dash+name) {
				t.Errorf("snapfs(8) lacks %s%s of snapfs %s --help", dash, name, n)
			}
		}
	}
	for _, o := range helpOptions(t) {
		for page, text := range map[string]string{"snapfs(8)": snapfs8, "mount.snapfs(8)": helper8} {
			if !strings.Contains(text, "\n       "+o) {
				t.Errorf("%s lacks the option %s", page, o)
			}
		}
	}
}
