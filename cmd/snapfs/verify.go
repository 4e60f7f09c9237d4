package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/snapfs/snapfs/snapshot/digest"
)

func init() {
	register("verify", "check snapshots against their digest records", runVerify)
}

func runVerify(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("verify", "[--json] STORE/NAME...",
		"Re-reads each snapshot's files (holes skipped, chunks hashed in parallel) and\n"+
			"compares them with its digest record. Prints \"NAME: ok\" or one line per file\n"+
			"that differs, with every differing chunk of memory.bin; with --json one JSON\n"+
			"object per snapshot. The result is stored beside the record, where the status\n"+
			"view of a mount shows a failure until a later verification passes.\n"+
			"Shows progress on a terminal.\n"+
			"Exit status: 0 intact, 1 a mismatch, 2 no record (or usage; a mismatch wins).",
		stderr)
	asJSON := fl.Bool("json", false, "print each result as JSON")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) == 0 {
		return usageError(fl, "need at least one snapshot directory")
	}
	mismatch, missing := false, false
	for _, path := range pos {
		res, err := verifyOne(path, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "snapfs verify: %s: %v\n", path, err)
			missing = true
			continue
		}
		mismatch = mismatch || !res.Intact
		if *asJSON {
			b, _ := json.Marshal(res)
			fmt.Fprintf(stdout, "%s\n", b)
			continue
		}
		printVerify(stdout, path, res)
	}
	switch {
	case mismatch:
		return 1
	case missing:
		return 2
	}
	return 0
}

func verifyOne(path string, stderr io.Writer) (*digest.Result, error) {
	dir, err := digest.OpenDir(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer dir.Close()
	fd := int(dir.Fd())
	rec, err := digest.ReadRecord(fd)
	if errors.Is(err, digest.ErrNoRecord) {
		return nil, fmt.Errorf("no digest record (make one with snapfs digest)")
	}
	if err != nil {
		return nil, err
	}
	p := startProgress(stderr, filepath.Base(path), digest.Total(fd))
	res, err := digest.Verify(fd, filepath.Base(filepath.Clean(path)), rec, &digest.Options{Done: &p.done})
	p.end()
	if err != nil {
		return nil, err
	}
	if err := res.Store(dir); err != nil {
		fmt.Fprintf(stderr, "snapfs verify: %s: the result is not stored: %v\n", path, err)
	}
	return res, nil
}

func printVerify(w io.Writer, path string, res *digest.Result) {
	if res.Intact {
		fmt.Fprintf(w, "%s: ok\n", path)
		return
	}
	for _, f := range res.Files {
		if f.OK {
			continue
		}
		switch {
		case f.Error != "":
			fmt.Fprintf(w, "%s: %s differs from its digest: %s\n", path, f.Name, f.Error)
		case f.Size != f.DigestSize:
			fmt.Fprintf(w, "%s: %s differs from its digest: %d bytes, the digest is of %d\n", path, f.Name, f.Size, f.DigestSize)
		case f.Name != "memory.bin": // memory.bin's chunks follow
			fmt.Fprintf(w, "%s: %s differs from its digest\n", path, f.Name)
		}
	}
	for _, m := range res.Mismatches {
		if m.File == "memory.bin" {
			fmt.Fprintf(w, "%s: memory.bin differs from its digest at offset %d (chunk of %d bytes)\n", path, m.Offset, m.Length)
		}
	}
	if n := res.MismatchCount - len(res.Mismatches); n > 0 {
		fmt.Fprintf(w, "%s: and %d more differing chunks\n", path, n)
	}
}
