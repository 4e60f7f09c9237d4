package main

import (
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// The package doc names every command, and only those.
func TestPackageDocNamesCommands(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok {
			if name, _, ok := strings.Cut(rest, ":"); ok {
				named[name] = true
			}
		}
	}
	for name := range commands {
		if !named[name] {
			t.Errorf("command %q is not in main.go's package doc", name)
		}
		delete(named, name)
	}
	for name := range named {
		t.Errorf("main.go's package doc names %q, which is no command", name)
	}
}
