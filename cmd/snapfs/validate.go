package main

import (
	"fmt"
	"io"
	"math"
	"os"

	"github.com/snapfs/snapfs/snapshot"
)

func init() {
	register("validate", "check a snapshot directory, optionally against a VM", runValidate)
}

func runValidate(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("validate", "[--arch A] [--memory-size SIZE] [--vp-count N] [--page-size N] DIR",
		"Checks the snapshot in DIR as the status view of a snapfs mount does and prints\n"+
			"\"ok\" or one \"error: ...\" / \"warning: ...\" line per finding. With any\n"+
			"expectation flag it also runs OpenVMM's restore check against a VM configured\n"+
			"so; flags left out are not checked. Exit status: 0 valid, 1 errors, 2 usage.",
		stderr)
	arch := fl.String("arch", "", "expected architecture `A` (x86_64 or aarch64)")
	var mem, page sizeFlag
	fl.Var(&mem, "memory-size", "expected guest RAM `SIZE`, e.g. 4G or 512MiB")
	vps := fl.Uint("vp-count", 0, "expected number `N` of virtual processors")
	fl.Var(&page, "page-size", "expected page size `N` in bytes, e.g. 4096 or 64K")
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 1 {
		return usageError(fl, "need exactly one snapshot DIR, got %d arguments", len(pos))
	}
	if *vps > math.MaxUint32 || page.v > math.MaxUint32 {
		return usageError(fl, "--vp-count and --page-size must fit in 32 bits")
	}
	dir := pos[0]
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("not a directory")
		}
		fmt.Fprintf(stderr, "snapfs validate: %s: %v\n", dir, unwrapPath(err))
		return 1
	}
	r := snapshot.CheckDir(dir)
	if r.Manifest != nil && (*arch != "" || mem.v != 0 || *vps != 0 || page.v != 0) {
		if err := snapshot.RestoreCheck(r.Manifest, *arch, mem.v, uint32(*vps), uint32(page.v)); err != nil {
			addOnce(r, err.Error())
		}
	}
	stdout.Write(r.Text())
	if !r.Valid() {
		return 1
	}
	return 0
}

// addOnce adds an error finding unless the report has it already (a bad
// version is both a status error and the restore check's first error).
func addOnce(r *snapshot.Report, msg string) {
	for _, f := range r.Findings {
		if f.Severity == snapshot.Error && f.Msg == msg {
			return
		}
	}
	// Restore errors go before warnings, so errors stay together.
	at := len(r.Findings)
	for i, f := range r.Findings {
		if f.Severity == snapshot.Warning {
			at = i
			break
		}
	}
	r.Findings = append(r.Findings[:at], append([]snapshot.Finding{{Severity: snapshot.Error, Msg: msg}}, r.Findings[at:]...)...)
}
