// Command snapfs inspects, validates, creates and mounts OpenVMM snapshots.
//
// Its commands, each in its own file and registered in the commands
// table below (main_test.go checks this list against it):
//
//   - mount: serve a STORE as a FUSE filesystem (mount.go, mountopts.go;
//     helper.go is mount(8)'s /sbin/mount.snapfs under that name)
//   - inspect: print a snapshot's manifest, state units or fields
//   - validate: check a snapshot directory, optionally against a VM
//   - diff: show what differs between two snapshots
//   - digest: make digest records for snapshots that have none
//   - verify: check snapshots against their digest records
//   - prune: delete the snapshots a retention policy does not keep
//   - sample: write demo snapshots into a store
//   - version: the version, the commit and what the kernel offers
//   - help: the help of snapfs or of one command
//
// Only mount needs FUSE; the others work on STORE's directories directly.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// command is one subcommand: run gets the arguments after its name and
// returns the process exit code (0 ok, 1 failure, 2 usage error).
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) int) {
	commands[name] = command{summary: summary, run: run}
}

// The global help's texts, shared with snapfs(8).
const (
	summary = "inspect, validate, create and mount OpenVMM snapshots"
	about   = "snapfs serves a STORE directory of OpenVMM snapshots (manifest.bin, state.bin,\n" +
		"memory.bin) as a FUSE filesystem, where each snapshot's files, manifest fields\n" +
		"and device state can be read, restored from and checked, and new snapshots are\n" +
		"saved into new/. Its other commands work on snapshot directories without a mount."
)

func usage(w io.Writer) {
	fmt.Fprintf(w, "snapfs %s: %s\n\n%s\n\n", version, summary, about)
	fmt.Fprintf(w, "usage: snapfs COMMAND [flags] ARGS...\n\ncommands:\n")
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'snapfs help COMMAND' (or 'snapfs COMMAND --help') for a command's flags.\n")
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func main() {
	if isMountHelper(os.Args[0]) {
		os.Exit(runMountHelper(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "snapfs: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	// What commands log (prune's deletions) is quoted like the daemon's.
	slog.SetDefault(slog.New(newLogHandler(stderr, slog.LevelInfo)))
	return c.run(args[1:], stdout, stderr)
}
