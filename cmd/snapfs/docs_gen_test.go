package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
)

// Helpers of the generated docs (man pages, bash completion): they are
// made from the help each command builds, never from separate text.

// allHelp runs `snapfs NAME --help` for every command and keeps the help
// each one made.
func allHelp(t *testing.T) []*cmdHelp {
	t.Helper()
	var hs []*cmdHelp
	for _, n := range commandNames() {
		var got *cmdHelp
		helpSeen = func(h *cmdHelp) {
			if got == nil {
				got = h
			}
		}
		code := commands[n].run([]string{"--help"}, io.Discard, io.Discard)
		helpSeen = nil
		if code != 0 || got == nil || got.name != n {
			t.Fatalf("snapfs %s --help: exit %d, help %+v", n, code, got)
		}
		hs = append(hs, got)
	}
	return hs
}

// flagDoc is one flag as the docs show it.
type flagDoc struct {
	name, arg, usage, def string
}

func flagDocs(fl *flag.FlagSet) []flagDoc {
	var ds []flagDoc
	fl.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		d := flagDoc{name: f.Name, arg: arg, usage: usage}
		if !zeroDefault(f) {
			d.def = f.DefValue
		}
		ds = append(ds, d)
	})
	return ds
}

// zeroDefault reports whether f's default is its type's zero value,
// which flag.PrintDefaults does not show either.
func zeroDefault(f *flag.Flag) (zero bool) {
	defer func() {
		if recover() != nil {
			zero = f.DefValue == ""
		}
	}()
	typ := reflect.TypeOf(f.Value)
	var z reflect.Value
	if typ.Kind() == reflect.Pointer {
		z = reflect.New(typ.Elem())
	} else {
		z = reflect.Zero(typ)
	}
	return f.DefValue == z.Interface().(flag.Value).String()
}
