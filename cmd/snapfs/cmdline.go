package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// cmdHelp is what `snapfs NAME --help` shows. It is kept whole, not only
// printed, so the man page and the bash completion are made from the same
// text (docs_test.go).
type cmdHelp struct {
	name     string
	synopsis string // "[--field NAME] DIR"
	about    string
	fl       *flag.FlagSet
	options  bool // mount: the -o options follow the flags
}

// helpSeen, when set, is told of each command's help as the command
// makes its flag set: `snapfs NAME --help` then hands over all of it.
var helpSeen func(*cmdHelp)

// newCmdFlags makes the flag set of a subcommand whose help shows synopsis
// ("[--field NAME] DIR") and about. Errors go to stderr.
func newCmdFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	return newCmdHelp(name, synopsis, about, stderr).fl
}

func newCmdHelp(name, synopsis, about string, stderr io.Writer) *cmdHelp {
	h := &cmdHelp{name: name, synopsis: synopsis, about: about}
	h.fl = flag.NewFlagSet(name, flag.ContinueOnError)
	h.fl.SetOutput(stderr)
	h.fl.Usage = func() { h.print(h.fl.Output()) }
	if helpSeen != nil {
		helpSeen(h)
	}
	return h
}

func (h *cmdHelp) print(w io.Writer) {
	fmt.Fprintf(w, "usage: snapfs %s\n\n%s\n", strings.TrimSpace(h.name+" "+h.synopsis), h.about)
	hasFlags := false
	h.fl.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nflags:\n")
		h.fl.PrintDefaults()
	}
	if h.options {
		fmt.Fprintf(w, "\n")
		printMountOptions(w, h.fl)
	}
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
