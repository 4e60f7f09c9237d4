package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/snapfs/snapfs/snapshot/digest"
)

func init() {
	register("digest", "make digest records for snapshots that have none", runDigest)
}

func runDigest(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("digest", "[--force] STORE/NAME...",
		"Makes the digest record of each snapshot directory that has none (one written\n"+
			"straight into STORE by OpenVMM, say): SHA-256 of manifest.bin, state.bin and\n"+
			"memory.bin, and of each 1 MiB chunk of memory.bin's data, kept in the snapshot\n"+
			"directory as "+digest.RecordName+" (see README). A snapfs mount then shows\n"+
			"MNT/NAME/sha256sums. Shows progress on a terminal.\n"+
			"Exit status: 0 done, 1 a record could not be made, 2 usage.",
		stderr)
	force := fl.Bool("force", false, "make the record again even if there is one (and forget the last verification)")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) == 0 {
		return usageError(fl, "need at least one snapshot directory")
	}
	status := 0
	for _, path := range pos {
		if err := digestOne(path, *force, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "snapfs digest: %s: %v\n", path, err)
			status = 1
		}
	}
	return status
}

func digestOne(path string, force bool, stdout, stderr io.Writer) error {
	dir, err := digest.OpenDir(path)
	if err != nil {
		return unwrapPath(err)
	}
	defer dir.Close()
	// Started first so that it counts everything; gone before it shows
	// when there is a record already.
	p := startProgress(stderr, filepath.Base(path), digest.Total(int(dir.Fd())))
	made, err := digest.MakeRecord(dir, force, &digest.Options{Done: &p.done})
	p.end()
	if err != nil {
		return err
	}
	if !made {
		fmt.Fprintf(stdout, "%s: has a digest record already\n", path)
		return nil
	}
	fmt.Fprintf(stdout, "%s: digest record made\n", path)
	return nil
}
