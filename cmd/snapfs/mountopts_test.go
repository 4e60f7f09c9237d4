package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// parseMount parses `snapfs mount` flags as runMount does.
func parseMount(args ...string) (*mountArgs, int, string) {
	var a mountArgs
	var stderr bytes.Buffer
	fl := mountFlags(&a, &stderr)
	_, code, _ := parseCmdArgs(fl, append(args, "STORE", "MNT"), &bytes.Buffer{})
	return &a, code, stderr.String()
}

func TestMountOptions(t *testing.T) {
	a, code, errs := parseMount()
	if code != 0 || a.cfg.CommitDelay != 2*time.Second || a.cfg.NoExec {
		t.Fatalf("defaults: code %d, delay %v, noexec %v (%s)", code, a.cfg.CommitDelay, a.cfg.NoExec, errs)
	}
	for _, c := range []struct {
		args  []string
		check func(*mountArgs) bool
	}{
		{[]string{"-o", "noexec"}, func(a *mountArgs) bool { return a.cfg.NoExec }},
		{[]string{"-o", "noexec,exec"}, func(a *mountArgs) bool { return !a.cfg.NoExec }},
		{[]string{"-o", "defaults,nosuid,nodev,noexec,ro"}, func(a *mountArgs) bool { return a.cfg.NoExec && a.cfg.ReadOnly }},
		{[]string{"-o", "commit_delay=500ms"}, func(a *mountArgs) bool { return a.cfg.CommitDelay == 500*time.Millisecond }},
		{[]string{"-o", "commit_delay=0"}, func(a *mountArgs) bool { return a.cfg.CommitDelay == 0 }},
		{[]string{"--commit-delay", "1m30s"}, func(a *mountArgs) bool { return a.cfg.CommitDelay == 90*time.Second }},
		{[]string{"--commit-delay=0"}, func(a *mountArgs) bool { return a.cfg.CommitDelay == 0 }},
		{nil, func(a *mountArgs) bool { return a.cfg.DecodedCacheBytes == 256<<20 }},
		{[]string{"--decoded-cache-bytes", "1G"}, func(a *mountArgs) bool { return a.cfg.DecodedCacheBytes == 1<<30 }},
		{[]string{"-o", "decoded_cache_bytes=4096"}, func(a *mountArgs) bool { return a.cfg.DecodedCacheBytes == 4096 }},
		{[]string{"-o", "max_staged_bytes_per_user=1G"}, func(a *mountArgs) bool { return a.cfg.MaxStagedBytesPerUser == 1<<30 }},
		{[]string{"--max-staged-bytes-per-user", "64MiB"}, func(a *mountArgs) bool { return a.cfg.MaxStagedBytesPerUser == 64<<20 }},
		{[]string{}, func(a *mountArgs) bool { return a.cfg.MaxStagedBytesPerUser == 0 }},
	} {
		a, code, errs := parseMount(c.args...)
		if code != 0 || !c.check(a) {
			t.Errorf("%q: code %d, config %+v\n%s", c.args, code, a.cfg, errs)
		}
	}
}

// A bad value is a usage error naming the option, the value and an
// example of what to write.
func TestMountOptionsRefused(t *testing.T) {
	const example = "use a duration such as 2s or 500ms"
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"-o", "commit_delay=-5s"}, []string{`commit_delay="-5s"`, "negative", example}},
		{[]string{"-o", "commit_delay=5"}, []string{`commit_delay="5"`, "not a duration", example}},
		{[]string{"-o", "commit_delay="}, []string{`commit_delay=""`, "not a duration", example}},
		{[]string{"--commit-delay", "5"}, []string{`"5"`, "-commit-delay", "not a duration", example}},
		{[]string{"--commit-delay", "-1s"}, []string{`"-1s"`, "-commit-delay", "negative", example}},
		{[]string{"--commit-delay=soon"}, []string{`"soon"`, "-commit-delay", "not a duration", example}},
		{[]string{"-o", "watch_budget=0"}, []string{`watch_budget="0"`, "not a positive number"}},
		{[]string{"-o", "decoded_cache_bytes=0"}, []string{`decoded_cache_bytes="0"`, "above zero"}},
		{[]string{"--decoded-cache-bytes", "lots"}, []string{`"lots"`, "-decoded-cache-bytes", "invalid size"}},
		{[]string{"-o", "max_staged_bytes_per_user=lots"}, []string{`max_staged_bytes_per_user="lots"`, "K, M, G or T"}},
		{[]string{"--max-staged-bytes-per-user", "9T9"}, []string{`"9T9"`, "-max-staged-bytes-per-user"}},
		{[]string{"-o", "suid"}, []string{"option suid", "always mounts nosuid,nodev"}},
		{[]string{"-o", "rw,dev"}, []string{"option dev", "always mounts nosuid,nodev"}},
	} {
		_, code, errs := parseMount(c.args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage error)", c.args, code)
		}
		first, _, _ := strings.Cut(errs, "\n")
		for _, w := range c.want {
			if !strings.Contains(first, w) {
				t.Errorf("%q: first error line %q lacks %q", c.args, first, w)
			}
		}
	}
}
