// Command snapfs inspects, validates, creates and mounts OpenVMM snapshots.
//
// Each subcommand lives in its own file (inspect.go, validate.go, sample.go,
// mount.go) and is registered in the commands table below.
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

func usage(w io.Writer) {
	fmt.Fprintf(w, "snapfs %s: inspect, validate, create and mount OpenVMM snapshots\n\n", version)
	fmt.Fprintf(w, "usage: snapfs COMMAND [flags] ARGS...\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'snapfs COMMAND --help' for a command's flags.\n")
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
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	case "-version", "--version", "version":
		fmt.Fprintf(stdout, "snapfs %s\n", version)
		return 0
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
