package main

import "io"

func init() {
	register("help", "show the help of snapfs or of one command", runHelp)
}

// runHelp shows the global help, or COMMAND's: the same as
// `snapfs COMMAND --help`.
func runHelp(args []string, stdout, stderr io.Writer) int {
	fl := newCmdFlags("help", "[COMMAND]",
		"Without COMMAND, shows what snapfs is and lists its commands; with one, shows\n"+
			"the command's help, as snapfs COMMAND --help does.",
		stderr)
	pos, code, done := parseCmdArgs(fl, args, stdout)
	switch {
	case done:
		return code
	case len(pos) == 0:
		usage(stdout)
		return 0
	case len(pos) > 1:
		return usageError(fl, "one COMMAND at most, got %d", len(pos))
	}
	c, ok := commands[pos[0]]
	if !ok {
		return usageError(fl, "unknown command %q (snapfs help lists them)", pos[0])
	}
	return c.run([]string{"--help"}, stdout, stderr)
}
