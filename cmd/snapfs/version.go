package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register("version", "print the version, the commit and what the kernel offers", runVersion)
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("version", "",
		"Prints the version of snapfs, the commit and Go it was built from, and what\n"+
			"the running kernel offers FUSE, each line saying how it was learned. The same\n"+
			"as snapfs --version.",
		stderr)
	pos, code, done := parseCmdArgs(fl, args, stdout)
	if done {
		return code
	}
	if len(pos) != 0 {
		return usageError(fl, "takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintf(stdout, "snapfs %s\n", buildVersion(bi))
	fmt.Fprintf(stdout, "commit: %s\n", buildCommit(bi))
	fmt.Fprintf(stdout, "go: %s %s/%s, go-fuse %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, depVersion(bi, "github.com/hanwen/go-fuse/v2"))
	k := probeKernel()
	fmt.Fprintf(stdout, "kernel: Linux %s (uname)\n", k.release)
	fmt.Fprintf(stdout, "FUSE passthrough: %s\n", k.passthrough())
	fmt.Fprintf(stdout, "FUSE protocol: agreed with the kernel at each mount, whose log line \"mounted\" shows the kernel's (fuse_protocol=\"7.N\"); it cannot be learned without mounting\n")
	return 0
}

// buildVersion is -X main.version (make build: git describe), else the
// module's version (go install ...@v1.2.3).
func buildVersion(bi *debug.BuildInfo) string {
	if version == "dev" && bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// commit is set by make build with -ldflags "-X main.commit=...": go
// build's own stamp is missing with -buildvcs=false, in a git worktree or
// without git.
var commit = ""

// buildCommit is -X main.commit, else the commit go build stamped
// (vcs.revision).
func buildCommit(bi *debug.BuildInfo) string {
	if commit != "" {
		return commit + " (make build)"
	}
	set := map[string]string{}
	if bi != nil {
		for _, s := range bi.Settings {
			set[s.Key] = s.Value
		}
	}
	rev := set["vcs.revision"]
	if rev == "" {
		return "unknown (not built by make build, and without go build's VCS stamp)"
	}
	s := rev + " (go build's VCS stamp"
	if t := set["vcs.time"]; t != "" {
		s += " of " + t
	}
	if set["vcs.modified"] == "true" {
		s += ", with uncommitted changes"
	}
	return s + ")"
}

func depVersion(bi *debug.BuildInfo, path string) string {
	if bi != nil {
		for _, d := range bi.Deps {
			if d.Path == path {
				if d.Replace != nil {
					return d.Replace.Version + " (replaced)"
				}
				return d.Version
			}
		}
	}
	return "(unknown version)"
}
