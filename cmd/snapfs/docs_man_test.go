package main

import (
	"fmt"
	"strings"
)

// Man pages, rendered from the commands' help (docs_gen_test.go).

const manHeader = `.\" Generated from snapfs's help by
.\"   go test ./cmd/snapfs -run TestDocsUpToDate -update-docs
.\" Do not edit: change the help text in cmd/snapfs.
`

// manStyle: no hyphenation (option names must stay whole) and a ragged
// right margin.
const manStyle = ".nh\n.ad l\n"

// roffEsc escapes text for a roff line: backslashes, minus signs (so
// flags copy as ASCII), quotes and a control character at the start.
func roffEsc(s string) string {
	s = strings.NewReplacer(`\`, `\e`, "-", `\-`, "'", `\(aq`, "`", `\(ga`).Replace(s)
	if strings.HasPrefix(s, ".") {
		s = `\&` + s
	}
	return s
}

// roffText is a help paragraph as roff: each line escaped; an indented
// line (a list, an example) keeps its own line.
func roffText(s string) string {
	var b strings.Builder
	indented := false
	for _, line := range strings.Split(s, "\n") {
		was := indented
		indented = strings.HasPrefix(line, " ")
		if indented || was {
			b.WriteString(".br\n")
		}
		if indented {
			line = `\ \ ` + roffEsc(strings.TrimLeft(line, " "))
		} else {
			line = roffEsc(line)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func roffFlags(b *strings.Builder, ds []flagDoc) {
	for _, d := range ds {
		tag := `\fB\-\-` + roffEsc(d.name) + `\fR`
		if d.name == "o" {
			tag = `\fB\-o\fR`
		}
		if d.arg != "" {
			tag += ` \fI` + roffEsc(d.arg) + `\fR`
		}
		text := d.usage
		if d.def != "" {
			text += " (default " + d.def + ")"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s", tag, roffText(text))
	}
}

func roffOptions(b *strings.Builder, h *cmdHelp) {
	for _, m := range mountOptions {
		tag := `\fB` + roffEsc(m.name) + `\fR`
		if m.arg != "" {
			tag += `=\fI` + roffEsc(m.arg) + `\fR`
		}
		text := optionAbout(m, h.fl)
		if m.flag != "" {
			text += " (as --" + m.flag + ")"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s", tag, roffText(text))
	}
	fmt.Fprintf(b, ".PP\n%s", roffText(fmt.Sprintf(mountOptionsTail, strings.Join(ignoredOptions, ", "))))
}

// manSnapfs is snapfs(8): the global help and every command's.
func manSnapfs(hs []*cmdHelp) string {
	var b strings.Builder
	b.WriteString(manHeader)
	b.WriteString(".TH SNAPFS 8 \"\" snapfs \"System Administration\"\n" + manStyle)
	fmt.Fprintf(&b, ".SH NAME\nsnapfs \\- %s\n", roffEsc(summary))
	b.WriteString(".SH SYNOPSIS\n\\fBsnapfs\\fR \\fICOMMAND\\fR [\\fIflags\\fR] \\fIARGS\\fR...\n.br\n\\fBsnapfs \\-\\-version\\fR\n.br\n\\fBsnapfs \\-\\-help\\fR\n")
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s", roffText(about))
	b.WriteString(".PP\nEvery command takes \\fB\\-\\-help\\fR. Flags may come before or after the\narguments, up to a \\fB\\-\\-\\fR; \\fB\\-flag\\fR and \\fB\\-\\-flag\\fR are the same.\n")
	b.WriteString(".SH COMMANDS\n")
	for _, h := range hs {
		fmt.Fprintf(&b, ".SS %s\n%s\n.PP\n%s", h.name, strings.TrimSpace(`\fBsnapfs `+h.name+`\fR `+roffEsc(h.synopsis)), roffText(h.about))
		if ds := flagDocs(h.fl); len(ds) > 0 {
			roffFlags(&b, ds)
		}
		if h.options {
			fmt.Fprintf(&b, ".PP\n%s\n", roffEsc(mountOptionsTitle))
			roffOptions(&b, h)
		}
	}
	b.WriteString(".SH SEE ALSO\n.BR mount.snapfs (8),\n.BR mount (8),\n.BR fstab (5),\n.BR fusermount3 (1)\n")
	return b.String()
}

// manHelper is mount.snapfs(8), from the helper's help.
func manHelper(mount *cmdHelp) string {
	var b strings.Builder
	b.WriteString(manHeader)
	b.WriteString(".TH MOUNT.SNAPFS 8 \"\" snapfs \"System Administration\"\n" + manStyle)
	b.WriteString(".SH NAME\nmount.snapfs, mount.fuse.snapfs \\- mount a snapfs store with mount(8)\n")
	fmt.Fprintf(&b, ".SH SYNOPSIS\n\\fBmount.snapfs\\fR %s\n.br\n\\fBmount \\-t snapfs\\fR STORE MNT [\\-o OPTIONS]\n", roffEsc(helperSynopsis))
	fmt.Fprintf(&b, ".SH DESCRIPTION\n%s", roffText(helperAbout))
	b.WriteString(".SH OPTIONS\n")
	roffOptions(&b, mount)
	b.WriteString(".SH EXAMPLES\n.nf\n")
	for _, e := range helperExamples {
		fmt.Fprintf(&b, "%s\n", roffEsc(e))
	}
	b.WriteString(".fi\n.SH SEE ALSO\n.BR snapfs (8),\n.BR mount (8),\n.BR fstab (5)\n")
	return b.String()
}
