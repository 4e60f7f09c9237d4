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
	fl := newCmdFlags("inspect", "[--field NAME] DIR",
		"Prints DIR/manifest.bin as the manifest.json view of a snapfs mount, or with\n"+
			"--field one field as the manifest/NAME view. Fields:\n  "+strings.Join(snapshot.ManifestFields, ", "),
		stderr)
	field := fl.String("field", "", "print only this manifest field")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fl, "need exactly one snapshot DIR, got %d arguments", len(pos))
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
