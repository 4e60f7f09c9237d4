package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/snapfs/snapfs/snapshot"
)

func init() {
	register("inspect", "print a snapshot's manifest as JSON", runInspect)
}

func runInspect(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("inspect", "[--field NAME | --state | --unit NAME [--raw]] [--schema SCHEMADIR] DIR",
		"Prints DIR/manifest.bin as the manifest.json view of a snapfs mount, or with\n"+
			"--field one field as the manifest/NAME view. Fields:\n  "+strings.Join(snapshot.ManifestFields, ", ")+"\n"+
			"With --state, prints the units of DIR/state.bin as one JSON object\n"+
			"{\"<unit>\": {\"type_url\": ..., \"value\": ...}}, each value decoded with the\n"+
			"--schema directory of OpenVMM .proto files (null without one, or when the\n"+
			"schema lacks its type or the bytes do not decode); --unit NAME prints one\n"+
			"unit, --raw its value as protoc --decode_raw does.",
		stderr)
	field := fl.String("field", "", "print only the manifest field `NAME`")
	state := fl.Bool("state", false, "print the state units as JSON")
	unit := fl.String("unit", "", "print only the state unit `NAME`")
	raw := fl.Bool("raw", false, "with --unit: print the value as protoc --decode_raw does")
	schemaDir := fl.String("schema", "", "the directory `DIR` of OpenVMM's saved-state .proto files")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fl, "need exactly one snapshot DIR, got %d arguments", len(pos))
	}
	if *raw && *unit == "" {
		return usageError(fl, "--raw needs --unit NAME")
	}
	if *state || *unit != "" || *schemaDir != "" {
		if *field != "" {
			return usageError(fl, "--field is for the manifest; it does not go with --state, --unit or --schema")
		}
		return inspectState(pos[0], *schemaDir, *unit, *raw, stdout, stderr)
	}
	if *field != "" && !slices.Contains(snapshot.ManifestFields, *field) {
		return usageError(fl, "unknown field %q (fields: %s)", *field, strings.Join(snapshot.ManifestFields, ", "))
	}
	path := filepath.Join(pos[0], "manifest.bin")
	b, err := snapshot.ReadManifestFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "snapfs inspect: %s: %v\n", path, unwrapPath(err))
		return 1
	}
	m, err := snapshot.DecodeManifest(b)
	if err != nil {
		fmt.Fprintf(stderr, "snapfs inspect: %s: failed to decode snapshot manifest: %v\n", path, err)
		return 1
	}
	out := m.JSON()
	if *field != "" {
		out, _ = m.Field(*field)
	}
	stdout.Write(out)
	return 0
}
