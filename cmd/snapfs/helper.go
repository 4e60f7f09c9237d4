package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// isMountHelper reports whether snapfs runs as mount(8)'s helper
// (/sbin/mount.snapfs or /sbin/mount.fuse.snapfs, links to snapfs).
func isMountHelper(argv0 string) bool {
	base := filepath.Base(argv0)
	return base == "mount.snapfs" || base == "mount.fuse.snapfs"
}

// runMountHelper takes mount(8)'s calling convention,
// `STORE MNT [-sfnv] [-o OPTS] [-t TYPE]`, and daemonizes the mount.
func runMountHelper(args []string, stdout, stderr io.Writer) int {
	var pos []string
	opts := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			opts = append(opts, args[i+1])
			i++
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts = append(opts, a[2:])
		case a == "-t" && i+1 < len(args):
			i++
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// -s (sloppy), -f (fake), -n (no mtab), -v (verbose): nothing to do.
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "usage: mount.snapfs STORE MNT [-o OPTIONS]")
		return 2
	}
	margs := []string{"--daemon"}
	if len(opts) > 0 {
		margs = append(margs, "-o", strings.Join(opts, ","))
	}
	margs = append(margs, pos[0], pos[1])
	return runMount(margs, stdout, stderr)
}
