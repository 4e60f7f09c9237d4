package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	snapfs "github.com/snapfs/snapfs/fs"
)

// mountOption is one -o option of `snapfs mount` and of mount(8)'s
// helper. This table is the parser and the help (and so the man page):
// what one lists the other takes.
type mountOption struct {
	name string
	arg  string // the value's placeholder ("N"), "" for an option without one
	flag string // the --flag it is the same as, whose text the help shows
	// about is the help text of an option without a flag.
	about string
	set   func(a *mountArgs, val string) error
}

// mountOptions, in the order the help shows them.
var mountOptions = []mountOption{
	{name: "allow_other", flag: "allow-other", set: func(a *mountArgs, _ string) error { a.cfg.AllowOther = true; return nil }},
	{name: "ro", flag: "read-only", set: setReadOnly},
	{name: "read_only", about: "the same as ro", set: setReadOnly},
	{name: "noexec", about: "files on the mount cannot be executed", set: func(a *mountArgs, _ string) error { a.cfg.NoExec = true; return nil }},
	{name: "exec", about: "files on the mount can be executed (the default; undoes an earlier noexec)", set: func(a *mountArgs, _ string) error { a.cfg.NoExec = false; return nil }},
	{name: "no_passthrough", flag: "no-passthrough", set: func(a *mountArgs, _ string) error { a.cfg.NoPassthrough = true; return nil }},
	{name: "debug", flag: "debug", set: func(a *mountArgs, _ string) error { a.cfg.Debug = true; return nil }},
	{name: "watch", arg: "MODE", flag: "watch", set: func(a *mountArgs, val string) error {
		m, err := snapfs.ParseWatch(val)
		if err != nil {
			return fmt.Errorf("option watch=%q: want auto, inotify or poll", val)
		}
		a.cfg.Watch = m
		return nil
	}},
	{name: "no_watch", about: "the same as watch=poll", set: func(a *mountArgs, _ string) error { a.cfg.Watch = snapfs.WatchPoll; return nil }},
	{name: "watch_budget", arg: "N", flag: "watch-budget", set: func(a *mountArgs, val string) error {
		return positiveOption("watch_budget", val, &a.cfg.WatchBudget)
	}},
	{name: "commit_delay", arg: "DURATION", flag: "commit-delay", set: func(a *mountArgs, val string) error {
		d, err := parseDelay(val)
		if err != nil {
			return fmt.Errorf("option commit_delay=%q: %v", val, err)
		}
		a.cfg.CommitDelay = d
		return nil
	}},
	{name: "max_fds_per_user", arg: "N", flag: "max-fds-per-user", set: func(a *mountArgs, val string) error {
		return positiveOption("max_fds_per_user", val, &a.cfg.MaxFdsPerUser)
	}},
	{name: "max_staging_dirs_per_user", arg: "N", flag: "max-staging-dirs-per-user", set: func(a *mountArgs, val string) error {
		return positiveOption("max_staging_dirs_per_user", val, &a.cfg.MaxStagingDirsPerUser)
	}},
	{name: "decoded_cache_bytes", arg: "SIZE", flag: "decoded-cache-bytes", set: func(a *mountArgs, val string) error {
		return bytesOption("decoded_cache_bytes", val, &a.cfg.DecodedCacheBytes)
	}},
	{name: "max_staged_bytes_per_user", arg: "SIZE", flag: "max-staged-bytes-per-user", set: func(a *mountArgs, val string) error {
		return bytesOption("max_staged_bytes_per_user", val, &a.cfg.MaxStagedBytesPerUser)
	}},
	{name: "log", arg: "FILE", flag: "log", set: func(a *mountArgs, val string) error {
		if val == "" {
			return fmt.Errorf("option log needs a file: log=FILE")
		}
		a.logFile = val
		return nil
	}},
	{name: "schema", arg: "DIR", flag: "schema", set: func(a *mountArgs, val string) error {
		if val == "" {
			return fmt.Errorf("option schema needs a directory: schema=DIR")
		}
		a.cfg.Schema = val
		return nil
	}},
}

func setReadOnly(a *mountArgs, _ string) error { a.cfg.ReadOnly = true; return nil }

// ignoredOptions are mount(8)'s generic options, which mean nothing to
// snapfs (nosuid and nodev are always on); x-* and comment=* too.
var ignoredOptions = []string{"defaults", "rw", "auto", "noauto", "user", "nouser", "users", "nofail", "_netdev",
	"nosuid", "nodev", "async", "sync", "atime", "noatime", "relatime"}

// applyOptions reads a mount(8) -o list.
func (a *mountArgs) applyOptions(list string) error {
	for _, o := range strings.Split(list, ",") {
		key, val, hasVal := strings.Cut(o, "=")
		switch {
		case key == "" || slices.Contains(ignoredOptions, key) || strings.HasPrefix(key, "x-") || key == "comment":
			continue
		case key == "suid" || key == "dev":
			return fmt.Errorf("option %s: snapfs always mounts nosuid,nodev (set-id bits and device files in STORE never take effect); remove it", key)
		}
		i := slices.IndexFunc(mountOptions, func(m mountOption) bool { return m.name == key })
		if i < 0 {
			return fmt.Errorf("unknown mount option %q (snapfs mount --help lists them)", o)
		}
		m := mountOptions[i]
		if m.arg == "" && hasVal {
			return fmt.Errorf("option %s takes no value: write %s", o, key)
		}
		if m.arg != "" && !hasVal {
			return fmt.Errorf("option %s needs a value: %s=%s", key, key, m.arg)
		}
		if err := m.set(a, val); err != nil {
			return err
		}
	}
	return nil
}

// optionAbout is the help text of option m: its flag's, when it has one.
func optionAbout(m mountOption, fl *flag.FlagSet) string {
	if f := fl.Lookup(m.flag); f != nil {
		_, usage := flag.UnquoteUsage(f)
		return usage
	}
	return m.about
}

// optionSpelling is how the help writes option m: "name" or "name=ARG",
// with the flag it is the same as.
func optionSpelling(m mountOption) string {
	s := m.name
	if m.arg != "" {
		s += "=" + m.arg
	}
	if m.flag != "" {
		s += " (--" + m.flag + ")"
	}
	return s
}

// Texts of the -o section, shared with the man page.
const (
	mountOptionsTitle = "mount options (-o LIST, comma-separated; the same in mount -t snapfs and fstab):"
	mountOptionsTail  = "mount(8)'s generic options (%s, x-*, comment=*) are accepted and mean nothing to snapfs. Mounts are always nosuid,nodev: suid and dev are refused."
)

// printMountOptions prints the -o section of the help, in the style of
// flag.PrintDefaults; fl is mount's flag set, for the texts.
func printMountOptions(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n", mountOptionsTitle)
	for _, m := range mountOptions {
		fmt.Fprintf(w, "  %s\n    \t%s\n", optionSpelling(m), optionAbout(m, fl))
	}
	fmt.Fprintf(w, "\n%s\n", wrap(fmt.Sprintf(mountOptionsTail, strings.Join(ignoredOptions, ", ")), 78))
}

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(s) {
		if i > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// positiveOption reads key=val, a count above zero, into n.
func positiveOption(key, val string, n *int) error {
	v, err := strconv.Atoi(val)
	if err != nil || v <= 0 {
		return fmt.Errorf("option %s=%q: not a positive number", key, val)
	}
	*n = v
	return nil
}

// parseDelay reads the value of a duration option: Go's syntax with a
// unit, never negative. The error says what is wrong and what to write;
// the caller names the option and the value.
func parseDelay(val string) (time.Duration, error) {
	const example = "use a duration such as 2s or 500ms"
	d, err := time.ParseDuration(val)
	if err != nil {
		return 0, fmt.Errorf("not a duration: %s", example)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative: %s (0 turns it off)", example)
	}
	return d, nil
}

// delayFlag is a duration flag read by parseDelay; the flag package
// names the flag and the value in its error.
type delayFlag struct{ d *time.Duration }

func (f delayFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f delayFlag) Set(s string) error {
	d, err := parseDelay(s)
	if err == nil {
		*f.d = d
	}
	return err
}

// parseBytes reads a memory budget: a size (parseSize), above zero.
func parseBytes(val string) (int64, error) {
	n, err := parseSize(val)
	if err != nil {
		return 0, err
	}
	if n == 0 || n > math.MaxInt64 {
		return 0, fmt.Errorf("want a size above zero such as 256M or 1G")
	}
	return int64(n), nil
}

// bytesOption sets *n to val, the size given to the option key.
func bytesOption(key, val string, n *int64) error {
	v, err := parseBytes(val)
	if err != nil {
		return fmt.Errorf("option %s=%q: %v", key, val, err)
	}
	*n = v
	return nil
}

// bytesFlag is a size flag read by parseBytes.
type bytesFlag struct{ n *int64 }

func (f bytesFlag) String() string {
	if f.n == nil || *f.n == 0 { // 0: off (no "default 0" in the help)
		return ""
	}
	s := sizeFlag{uint64(*f.n)}
	return s.String()
}

func (f bytesFlag) Set(s string) error {
	n, err := parseBytes(s)
	if err == nil {
		*f.n = n
	}
	return err
}
