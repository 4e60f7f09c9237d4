package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
)

// newCmdFlags makes the flag set of a subcommand whose help shows synopsis
// ("[--field NAME] DIR") and about. Errors go to stderr.
func newCmdFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintf(w, "usage: snapfs %s %s\n\n%s\n", name, synopsis, about)
		hasFlags := false
		fl.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nflags:\n")
			fl.PrintDefaults()
		}
	}
	return fl
}

// parseCmdArgs parses args, allowing flags after positional arguments
// (`snapfs inspect DIR --field vp_count`) until a "--". It returns the
// positional arguments; done reports that the command is over with code:
// 0 after --help (usage on stdout), 2 after a usage error (on stderr).
func parseCmdArgs(fl *flag.FlagSet, args []string, stdout io.Writer) (pos []string, code int, done bool) {
	usage := fl.Usage
	fl.Usage = func() {} // flag would print it to stderr even for --help
	defer func() { fl.Usage = usage }()
	for {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fl.SetOutput(stdout)
				usage()
				return nil, 0, true
			}
			usage() // after flag's own error line, on stderr
			return nil, 2, true
		}
		rest := fl.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), 0, false
		}
		if len(rest) == 0 {
			return pos, 0, false
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageError reports a usage problem with the command line and returns 2.
func usageError(fl *flag.FlagSet, format string, a ...any) int {
	fmt.Fprintf(fl.Output(), "snapfs %s: %s\n\n", fl.Name(), fmt.Sprintf(format, a...))
	fl.Usage()
	return 2
}

// unwrapPath drops the "open PATH:" of a *fs.PathError for messages that
// name the path already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
