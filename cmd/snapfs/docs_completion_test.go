package main

import (
	"fmt"
	"strings"
)

// completionScript is the bash completion of snapfs, from the commands'
// help (docs_gen_test.go). It needs nothing but bash (no bash-completion
// helpers); after a flag that takes a value, and for arguments, bash
// completes file names (complete -o default).
func completionScript(hs []*cmdHelp) string {
	var names []string
	for _, h := range hs {
		names = append(names, h.name)
	}
	var b strings.Builder
	b.WriteString(`# bash completion for snapfs. Generated from snapfs's help by
#   go test ./cmd/snapfs -run TestDocsUpToDate -update-docs
# Do not edit: change the help text in cmd/snapfs.

_snapfs() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local flags valued
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
`)
	fmt.Fprintf(&b, "\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\treturn 0\n\tfi\n", strings.Join(names, " ")+" --help --version")
	b.WriteString("\tcase ${COMP_WORDS[1]} in\n")
	for _, h := range hs {
		var fs, vs []string
		for _, d := range flagDocs(h.fl) {
			dash := "--"
			if len(d.name) == 1 {
				dash = "-"
			}
			fs = append(fs, dash+d.name)
			if d.arg != "" {
				vs = append(vs, dash+d.name)
			}
		}
		fs = append(fs, "--help")
		fmt.Fprintf(&b, "\t%s)\n\t\tflags=%q\n\t\tvalued=%q\n", h.name, strings.Join(fs, " "), " "+strings.Join(vs, " ")+" ")
		if h.name == "help" {
			fmt.Fprintf(&b, "\t\t[ \"$COMP_CWORD\" -eq 2 ] && [[ $cur != -* ]] && COMPREPLY=($(compgen -W %q -- \"$cur\"))\n", strings.Join(names, " "))
		}
		b.WriteString("\t\t;;\n")
	}
	b.WriteString("\t*)\n\t\treturn 0\n\t\t;;\n\tesac\n")
	var opts []string
	for _, m := range mountOptions {
		if m.arg != "" {
			opts = append(opts, m.name+"=")
		} else {
			opts = append(opts, m.name)
		}
	}
	fmt.Fprintf(&b, `	if [ "${COMP_WORDS[1]}" = mount ] && [ "$prev" = -o ]; then
		# a comma-separated list: complete its last item
		local head=
		case $cur in *,*) head=${cur%%,*}, ;; esac
		COMPREPLY=($(compgen -P "$head" -W %q -- "${cur##*,}"))
		compopt -o nospace 2>/dev/null
		return 0
	fi
	case $valued in *" $prev "*) return 0 ;; esac
	case $cur in -*) COMPREPLY=($(compgen -W "$flags" -- "$cur")) ;; esac
	return 0
}
complete -o default -F _snapfs snapfs
`, strings.Join(opts, " "))
	return b.String()
}
