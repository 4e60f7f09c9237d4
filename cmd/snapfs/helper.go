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

// The helper's help (mount.snapfs --help), shared with mount.snapfs(8).
const (
	helperSynopsis = "STORE MNT [-sfnv] [-o OPTIONS]"
	helperAbout    = "mount(8) runs /sbin/mount.snapfs for mount -t snapfs, and mount.fuse.snapfs for\n" +
		"-t fuse.snapfs. Both are links to snapfs, which then mounts STORE at MNT as\n" +
		"snapfs mount --daemon -o OPTIONS STORE MNT does: it returns once the mount is\n" +
		"ready, or fails saying why. Flags other than -o and -t are accepted and\n" +
		"ignored. umount MNT unmounts."
)

var helperExamples = []string{
	"mount -t snapfs /var/lib/openvmm/snapshots /snapshots -o allow_other",
	"# /etc/fstab:",
	"/var/lib/openvmm/snapshots  /snapshots  snapfs  defaults,nofail  0 0",
}

func helperUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: mount.snapfs %s\n       mount -t snapfs STORE MNT [-o OPTIONS]\n\n%s\n\nexamples:\n", helperSynopsis, helperAbout)
	for _, e := range helperExamples {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprintf(w, "\n")
	printMountOptions(w, mountFlags(&mountArgs{}, io.Discard))
}

// runMountHelper takes mount(8)'s calling convention,
// `STORE MNT [-sfnv] [-o OPTS] [-t TYPE]`, and daemonizes the mount.
func runMountHelper(args []string, stdout, stderr io.Writer) int {
	var pos []string
	opts := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-h" || a == "--help":
			helperUsage(stdout)
			return 0
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
		fmt.Fprintf(stderr, "usage: mount.snapfs %s\n(mount.snapfs --help says more)\n", helperSynopsis)
		return 2
	}
	margs := []string{"--daemon"}
	if len(opts) > 0 {
		margs = append(margs, "-o", strings.Join(opts, ","))
	}
	margs = append(margs, pos[0], pos[1])
	return runMount(margs, stdout, stderr)
}
