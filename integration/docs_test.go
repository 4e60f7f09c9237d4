package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The docs name the tests that cover what they say. TestDocsTestsExist
// fails when a named test is gone, and TestDocsRefusals when a test the
// refusal table of docs/tree.md names no longer mentions the errno of
// its row (by name, or by its message, as a tool prints it).

var docFiles = []string{"tree.md", "format.md", "operations.md"}

// testSources maps each test function of the repository to its file's text.
func testSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	decl := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	for _, dir := range []string{".", "../fs", "../snapshot", "../snapshot/digest", "../snapshot/statetext", "../cmd/snapfs"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
				out[m[1]] += string(b)
			}
		}
	}
	return out
}

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDocsTestsExist(t *testing.T) {
	src := testSources(t)
	for _, doc := range docFiles {
		for _, name := range regexp.MustCompile(`\bTest[A-Z]\w*`).FindAllString(readDoc(t, doc), -1) {
			if _, ok := src[name]; !ok {
				t.Errorf("docs/%s names %s, which no test file declares", doc, name)
			}
		}
	}
}

func TestDocsRefusals(t *testing.T) {
	src := testSources(t)
	doc := readDoc(t, "tree.md")
	_, table, ok := strings.Cut(doc, "## Refused operations")
	if !ok {
		t.Fatal("docs/tree.md has no Refused operations section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	errnoRe := regexp.MustCompile("`(E[A-Z0-9]+)`")
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || !strings.Contains(cells[2], "`E") {
			continue
		}
		rows++
		tests := strings.Split(strings.TrimSpace(cells[3]), ", ")
		for _, m := range errnoRe.FindAllStringSubmatch(cells[2], -1) {
			name := m[1]
			errno := errnoNamed(name)
			if errno == 0 {
				t.Errorf("row %q: %s is no errno", strings.TrimSpace(cells[1]), name)
				continue
			}
			found := false
			for _, test := range tests {
				s, ok := src[test]
				if !ok {
					t.Errorf("row %q: no test %s", strings.TrimSpace(cells[1]), test)
					continue
				}
				found = found || strings.Contains(s, name) ||
					strings.Contains(strings.ToLower(s), strings.ToLower(errno.Error()))
			}
			if !found {
				t.Errorf("row %q: none of %v checks %s", strings.TrimSpace(cells[1]), tests, name)
			}
		}
	}
	if rows < 30 {
		t.Errorf("read %d rows of the refusal table, expected its whole length", rows)
	}
}

// errnoNamed is the errno called name (EROFS), 0 if none is.
func errnoNamed(name string) syscall.Errno {
	if name == "EOPNOTSUPP" { // ENOTSUP's other name on Linux
		return unix.EOPNOTSUPP
	}
	for e := syscall.Errno(1); e < 200; e++ {
		if unix.ErrnoName(e) == name {
			return e
		}
	}
	return 0
}
