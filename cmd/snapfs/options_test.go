package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// root is the repository's top directory, seen from this package.
const root = "../.."

// helpOptions are the -o options `snapfs mount --help` lists, read from
// its text.
func helpOptions(t *testing.T) []string {
	t.Helper()
	var out bytes.Buffer
	if code := run([]string{"mount", "--help"}, &out, &out); code != 0 {
		t.Fatalf("snapfs mount --help: exit %d\n%s", code, out.String())
	}
	_, section, ok := strings.Cut(out.String(), "\n"+mountOptionsTitle+"\n")
	if !ok {
		t.Fatalf("snapfs mount --help has no %q section:\n%s", mountOptionsTitle, out.String())
	}
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if line == "" {
			break
		}
		if o, ok := strings.CutPrefix(line, "  "); ok && !strings.HasPrefix(o, " ") {
			name, _, _ := strings.Cut(o, " ")
			name, _, _ = strings.Cut(name, "=")
			names = append(names, name)
		}
	}
	return names
}

// readmeOptions are the options README.md's table lists: the rows
// "| `name` | ..." or "| `name=VALUE` | ..." between the markers.
func readmeOptions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok1 := strings.Cut(string(b), "<!-- mount-options:begin -->")
	table, _, ok2 := strings.Cut(rest, "<!-- mount-options:end -->")
	if !ok1 || !ok2 {
		t.Fatalf("README.md lacks the <!-- mount-options:begin --> ... <!-- mount-options:end --> markers")
	}
	var names []string
	for _, line := range strings.Split(table, "\n") {
		cell, ok := strings.CutPrefix(strings.TrimSpace(line), "| `")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(cell, "`")
		name, _, _ = strings.Cut(name, "=")
		names = append(names, name)
	}
	return names
}

// optionSample is a value option m accepts, to try the parser with.
func optionSample(m mountOption) string {
	switch m.arg {
	case "":
		return m.name
	case "MODE":
		return m.name + "=inotify"
	case "DURATION":
		return m.name + "=5s"
	case "N":
		return m.name + "=3"
	case "SIZE":
		return m.name + "=3M"
	}
	return m.name + "=/some/" + strings.ToLower(m.arg)
}

// README, --help and the parser take the same -o options: each listed
// one parses and changes the mount's settings, and an option none of
// them lists is refused.
func TestMountOptionSets(t *testing.T) {
	var parser []string
	for _, m := range mountOptions {
		parser = append(parser, m.name)
		var a, want mountArgs
		fl := mountFlags(&want, &bytes.Buffer{}) // the defaults
		if (m.flag != "" && fl.Lookup(m.flag) == nil) || optionAbout(m, fl) == "" {
			t.Errorf("option %s: flag %q, help text %q", m.name, m.flag, optionAbout(m, fl))
		}
		a = want
		list := optionSample(m)
		if m.name == "exec" {
			list = "noexec,exec" // back to the default
		}
		if err := a.applyOptions(list); err != nil {
			t.Errorf("-o %s: %v", list, err)
			continue
		}
		if changed := !reflect.DeepEqual(a, want); changed == (m.name == "exec") {
			t.Errorf("-o %s: settings %+v, defaults %+v", list, a.cfg, want.cfg)
		}
	}
	help, readme := helpOptions(t), readmeOptions(t)
	for _, s := range [][]string{parser, help, readme} {
		slices.Sort(s)
	}
	if !slices.Equal(parser, help) {
		t.Errorf("the parser takes %v, snapfs mount --help lists %v", parser, help)
	}
	if !slices.Equal(parser, readme) {
		var rows strings.Builder
		for _, m := range mountOptions {
			rows.WriteString("| `" + strings.SplitN(optionSpelling(m), " ", 2)[0] + "` | ... |\n")
		}
		t.Errorf("the parser takes %v, README.md's table lists %v; its rows should be:\n%s", parser, readme, rows.String())
	}
	var a mountArgs
	if err := a.applyOptions("no_such_option"); err == nil || !strings.Contains(err.Error(), "unknown mount option") {
		t.Errorf("-o no_such_option: %v", err)
	}
}
