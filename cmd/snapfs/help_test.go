package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// runOut runs snapfs with args and returns its exit code, stdout, stderr.
func runOut(args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	code := run(args, &out, &errs)
	return code, out.String(), errs.String()
}

// `snapfs help NAME` is `snapfs NAME --help`, for every command.
func TestHelpCommand(t *testing.T) {
	for _, n := range commandNames() {
		code, want, _ := runOut(n, "--help")
		if code != 0 || !strings.HasPrefix(want, "usage: snapfs "+n) {
			t.Errorf("snapfs %s --help: exit %d\n%s", n, code, want)
		}
		code, got, errs := runOut("help", n)
		if code != 0 || got != want || errs != "" {
			t.Errorf("snapfs help %s: exit %d, stderr %q, stdout\n%s\nwant\n%s", n, code, errs, got, want)
		}
	}
	_, global, _ := runOut("--help")
	if code, got, _ := runOut("help"); code != 0 || got != global {
		t.Errorf("snapfs help: exit %d\n%s\nwant snapfs --help:\n%s", code, got, global)
	}
	for _, n := range commandNames() {
		if !strings.Contains(global, "\n  "+n+" ") {
			t.Errorf("snapfs --help does not list %s:\n%s", n, global)
		}
	}
	if code, _, errs := runOut("help", "nosuch"); code != 2 || !strings.Contains(errs, `unknown command "nosuch"`) {
		t.Errorf("snapfs help nosuch: exit %d\n%s", code, errs)
	}
}

// mount.snapfs --help shows the helper's usage and the same -o options.
func TestHelperHelp(t *testing.T) {
	var out bytes.Buffer
	if code := runMountHelper([]string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("mount.snapfs --help: exit %d\n%s", code, out.String())
	}
	_, mountHelp, _ := runOut("mount", "--help")
	_, want, _ := strings.Cut(mountHelp, mountOptionsTitle)
	if !strings.HasPrefix(out.String(), "usage: mount.snapfs STORE MNT") || !strings.HasSuffix(out.String(), want) {
		t.Errorf("mount.snapfs --help:\n%s\nwant its options as in snapfs mount --help:\n%s", out.String(), want)
	}
}

// --version and version print the same lines: version, commit, Go, and
// the kernel's FUSE offer with how it was learned.
func TestVersion(t *testing.T) {
	code, out, errs := runOut("--version")
	if code != 0 || errs != "" {
		t.Fatalf("--version: exit %d, stderr %q", code, errs)
	}
	if _, out2, _ := runOut("version"); out2 != out {
		t.Errorf("version:\n%s\n--version:\n%s", out2, out)
	}
	for _, re := range []string{
		`^snapfs \S+\n`,
		`\ncommit: \S+ \(.+\)\n`,
		`\ngo: go1\.\d+\S* linux/\w+, go-fuse v2\.\d+\.\d+\n`,
		`\nkernel: Linux \S+ \(uname\)\n`,
		`\nFUSE passthrough: (yes|no|unknown) \(.*(uname|/dev/fuse|config).*\)`,
		`\nFUSE protocol: .*fuse_protocol=.*\n$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("--version lacks %s:\n%s", re, out)
		}
	}
}

// The passthrough answer from what was learned.
func TestPassthroughAnswer(t *testing.T) {
	known := "/dev/fuse knows the passthrough ioctl"
	for _, c := range []struct {
		k    kernelInfo
		want string
	}{
		{kernelInfo{major: 6, minor: 8, ioctl: "/dev/fuse does not know the passthrough ioctl", ioctlTried: true}, "no (kernel 6.8 < 6.9 (uname); /dev/fuse does not"},
		{kernelInfo{major: 5, minor: 15, ioctl: "cannot open /dev/fuse (permission denied)"}, "no (kernel 5.15 < 6.9"},
		{kernelInfo{major: 6, minor: 9, ioctl: known, ioctlTried: true, ioctlKnown: true, config: "y", configFrom: "/proc/config.gz"}, "yes (kernel 6.9 >= 6.9 (uname); " + known + "; CONFIG_FUSE_PASSTHROUGH=y in /proc/config.gz)"},
		{kernelInfo{major: 6, minor: 12, ioctl: known, ioctlTried: true, ioctlKnown: true}, "yes (kernel 6.12 >= 6.9 (uname); " + known + ")"},
		{kernelInfo{major: 6, minor: 12, ioctl: known, ioctlTried: true, ioctlKnown: true, config: "n", configFrom: "/boot/config-6.12"}, "no (kernel 6.12 >= 6.9 (uname); " + known + "; CONFIG_FUSE_PASSTHROUGH not set in /boot/config-6.12)"},
		{kernelInfo{major: 6, minor: 12, ioctl: "cannot open /dev/fuse (permission denied)"}, "unknown (kernel 6.12 >= 6.9 (uname); cannot open"},
		{kernelInfo{major: 6, minor: 12, ioctl: "cannot open /dev/fuse (permission denied)", config: "y", configFrom: "/proc/config.gz"}, "yes (kernel 6.12"},
	} {
		if got := c.k.passthrough(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%+v: %q, want %q...", c.k, got, c.want)
		}
	}
	for r, want := range map[string][2]int{"6.9.0-1-amd64": {6, 9}, "6.18.44-fc-v1252": {6, 18}, "5.10.0": {5, 10}, "weird": {0, 0}} {
		if a, b := parseRelease(r); a != want[0] || b != want[1] {
			t.Errorf("parseRelease(%q) = %d.%d, want %d.%d", r, a, b, want[0], want[1])
		}
	}
}
