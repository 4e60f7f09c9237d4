package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// complete runs the completion in the repository on the words of a
// command line (the last one being completed) and returns its replies.
func complete(t *testing.T, words ...string) string {
	t.Helper()
	script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _snapfs; echo "${COMPREPLY[*]}"`
	out, err := exec.Command("bash", append([]string{"-c", script, "bash", filepath.Join(root, "contrib/bash-completion/snapfs")}, words...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("completing %q: %v\n%s", words, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBashCompletion(t *testing.T) {
	needTool(t, "bash")
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"snapfs", "mo"}, "mount"},
		{[]string{"snapfs", "v"}, "validate verify version"},
		{[]string{"snapfs", "--v"}, "--version"},
		{[]string{"snapfs", "mount", "--al"}, "--allow-other"},
		{[]string{"snapfs", "prune", "--keep-w"}, "--keep-weekly --keep-within"},
		{[]string{"snapfs", "mount", "-o", "ro,comm"}, "ro,commit_delay="},
		{[]string{"snapfs", "mount", "-o", "no_"}, "no_passthrough no_watch"},
		{[]string{"snapfs", "mount", "--log", "-"}, ""}, // a value: file names
		{[]string{"snapfs", "help", "pr"}, "prune"},
		{[]string{"snapfs", "inspect", "--"}, "--field --raw --schema --state --unit --help"},
	} {
		if got := complete(t, c.words...); got != c.want {
			t.Errorf("%q: %q, want %q", c.words, got, c.want)
		}
	}
}
