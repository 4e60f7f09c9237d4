package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/snapfs/snapfs/snapshot"
	"github.com/snapfs/snapfs/snapshot/statetext"
)

// inspectState prints the units of DIR/state.bin as JSON (all, or the
// one called unit), decoded with the schema in schemaDir when given; raw
// prints the unit as protoc --decode_raw does instead.
func inspectState(dir, schemaDir, unit string, raw bool, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "snapfs inspect: "+format+"\n", a...)
		return 1
	}
	var schema *statetext.Schema
	if schemaDir != "" {
		s, err := statetext.LoadSchema(schemaDir)
		if err != nil {
			return fail("schema: %v", err)
		}
		schema = s
	}
	path := filepath.Join(dir, "state.bin")
	idx, err := snapshot.IndexStateFile(path)
	if err != nil {
		return fail("%s: %v", path, unwrapPath(err))
	}
	f, err := os.Open(path)
	if err != nil {
		return fail("%s: %v", path, unwrapPath(err))
	}
	defer f.Close()
	read := func(u snapshot.Unit) statetext.Unit {
		out := statetext.Unit{Name: u.Name, TypeURL: u.TypeURL}
		out.Value, out.Err = statetext.ReadValue(f, path, u)
		return out
	}
	if unit == "" {
		units := make([]statetext.Unit, len(idx.Units))
		for i, u := range idx.Units {
			units[i] = read(u)
		}
		doc, problems := statetext.StateJSON(units, schema)
		for _, p := range problems {
			if !strings.HasPrefix(p, path+": ") { // a read error names it already
				p = path + ": " + p
			}
			fmt.Fprintf(stderr, "snapfs inspect: warning: %s\n", p)
		}
		if doc == nil {
			return 1
		}
		stdout.Write(doc)
		return 0
	}
	for _, u := range idx.Units {
		if u.Name != unit {
			continue
		}
		su := read(u)
		if raw {
			if su.Err != nil {
				return fail("%v", su.Err)
			}
			text, err := statetext.DecodeRaw(su.Value)
			if err != nil {
				return fail("%s: unit %q: %v", path, unit, err)
			}
			stdout.Write(text)
			return 0
		}
		doc, err := statetext.UnitJSON(su, schema)
		switch {
		case su.Err != nil:
			fmt.Fprintf(stderr, "snapfs inspect: warning: %v\n", su.Err)
		case err != nil:
			fmt.Fprintf(stderr, "snapfs inspect: warning: %s: unit %q: %v\n", path, unit, err)
		}
		if doc == nil {
			return 1
		}
		stdout.Write(doc)
		return 0
	}
	return fail("%s: no unit %q", path, unit)
}
