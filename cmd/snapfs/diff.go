package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/snapfs/snapfs/snapshot/digest"
	"github.com/snapfs/snapfs/snapshot/statetext"
)

func init() {
	register("diff", "show what differs between two snapshots", runDiff)
}

func runDiff(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("diff", "[--json] [--schema DIR] A B",
		"Compares snapshot directories A and B: manifest fields, state units added,\n"+
			"removed and changed, and memory.bin's changed pages (at A's page size) and\n"+
			"ranges. Memory is compared from the digest records when both have one (only\n"+
			"chunks whose digests differ are read), else by reading both (holes skipped).\n"+
			"Exit status: 0 identical, 1 different, 2 trouble (like diff(1)).",
		stderr)
	asJSON := fl.Bool("json", false, "print the differences as JSON")
	schemaDir := fl.String("schema", "", "the directory `DIR` of OpenVMM's saved-state .proto files: name the changed fields of each changed unit")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 2 {
		return usageError(fl, "need two snapshot directories, got %d arguments", len(pos))
	}
	a, err := digest.OpenDir(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "snapfs diff: %s: %v\n", pos[0], unwrapPath(err))
		return 2
	}
	defer a.Close()
	b, err := digest.OpenDir(pos[1])
	if err != nil {
		fmt.Fprintf(stderr, "snapfs diff: %s: %v\n", pos[1], unwrapPath(err))
		return 2
	}
	defer b.Close()
	d, err := digest.Compare(int(a.Fd()), int(b.Fd()), nil)
	if err != nil {
		fmt.Fprintf(stderr, "snapfs diff: %v\n", err)
		return 2
	}
	var fields map[string][]string
	if *schemaDir != "" {
		s, err := statetext.LoadSchema(*schemaDir)
		if err != nil {
			fmt.Fprintf(stderr, "snapfs diff: schema: %v\n", err)
			return 2
		}
		if fields, err = unitFields(pos[0], pos[1], d.Units.Changed, s); err != nil {
			fmt.Fprintf(stderr, "snapfs diff: %v\n", err)
			return 2
		}
	}
	if *asJSON {
		out, _ := json.MarshalIndent(struct {
			*digest.Diff
			UnitFields map[string][]string `json:"unit_fields,omitempty"`
		}{d, fields}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		printDiff(stdout, d, fields)
	}
	if d.Identical {
		return 0
	}
	return 1
}

func printDiff(w io.Writer, d *digest.Diff, fields map[string][]string) {
	for _, f := range d.Manifest {
		fmt.Fprintf(w, "manifest %s: %s -> %s\n", f.Field, f.A, f.B)
	}
	for _, u := range d.Units.Added {
		fmt.Fprintf(w, "unit added: %s\n", u)
	}
	for _, u := range d.Units.Removed {
		fmt.Fprintf(w, "unit removed: %s\n", u)
	}
	for _, u := range d.Units.Changed {
		if f, ok := fields[u]; ok && !(len(f) == 1 && f[0] == "") {
			fmt.Fprintf(w, "unit changed: %s (fields: %s)\n", u, strings.Join(f, ", "))
		} else {
			fmt.Fprintf(w, "unit changed: %s\n", u)
		}
	}
	if d.StateDiffers && len(d.Units.Added)+len(d.Units.Removed)+len(d.Units.Changed) == 0 {
		fmt.Fprintf(w, "state.bin differs (units in another order, or fields snapfs does not know)\n")
	}
	m := d.Memory
	if m.ChangedPages > 0 {
		fmt.Fprintf(w, "memory: %d changed pages of %d bytes in %d ranges (from %s)\n", m.ChangedPages, m.PageSize, len(m.Ranges), m.Method)
		for _, r := range m.Ranges {
			fmt.Fprintf(w, "memory changed: offset %d length %d\n", r.Offset, r.Length)
		}
	}
	if d.Identical {
		fmt.Fprintf(w, "identical\n")
	}
}
