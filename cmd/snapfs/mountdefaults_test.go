package main

import (
	"testing"
	"time"

	snapfs "github.com/snapfs/snapfs/fs"
)

// The defaults and the -o options docs/operations.md names.
func TestMountDefaults(t *testing.T) {
	a, code, errs := parseMount()
	if code != 0 {
		t.Fatalf("no flags: exit %d: %s", code, errs)
	}
	c := a.cfg
	if c.CommitDelay != 2*time.Second || c.MaxFdsPerUser != 1024 || c.MaxStagingDirsPerUser != 64 ||
		c.WatchBudget != 0 || c.Watch != "" || c.AllowOther || c.ReadOnly || c.NoPassthrough || c.Debug || c.NoExec ||
		a.daemon || a.logFile != "" || c.Schema != "" {
		t.Errorf("defaults: %+v daemon %v log %q", c, a.daemon, a.logFile)
	}
	if snapfs.DefaultWatchBudget != 8192 {
		t.Errorf("DefaultWatchBudget %d", snapfs.DefaultWatchBudget)
	}
}

func TestMountOptionsEach(t *testing.T) {
	for _, c := range []struct {
		o     string
		check func(*mountArgs) bool
	}{
		{"allow_other", func(a *mountArgs) bool { return a.cfg.AllowOther }},
		{"ro", func(a *mountArgs) bool { return a.cfg.ReadOnly }},
		{"noexec", func(a *mountArgs) bool { return a.cfg.NoExec }},
		{"no_passthrough", func(a *mountArgs) bool { return a.cfg.NoPassthrough }},
		{"debug", func(a *mountArgs) bool { return a.cfg.Debug }},
		{"no_watch", func(a *mountArgs) bool { return a.cfg.Watch == snapfs.WatchPoll }},
		{"watch=inotify", func(a *mountArgs) bool { return a.cfg.Watch == snapfs.WatchInotify }},
		{"watch=poll", func(a *mountArgs) bool { return a.cfg.Watch == snapfs.WatchPoll }},
		{"watch=auto", func(a *mountArgs) bool { return a.cfg.Watch == snapfs.WatchAuto }},
		{"watch_budget=100", func(a *mountArgs) bool { return a.cfg.WatchBudget == 100 }},
		{"commit_delay=500ms", func(a *mountArgs) bool { return a.cfg.CommitDelay == 500*time.Millisecond }},
		{"max_fds_per_user=10", func(a *mountArgs) bool { return a.cfg.MaxFdsPerUser == 10 }},
		{"max_staging_dirs_per_user=3", func(a *mountArgs) bool { return a.cfg.MaxStagingDirsPerUser == 3 }},
		{"log=/var/log/snapfs.log", func(a *mountArgs) bool { return a.logFile == "/var/log/snapfs.log" }},
		{"schema=/etc/snapfs/schema", func(a *mountArgs) bool { return a.cfg.Schema == "/etc/snapfs/schema" }},
		// What fstab lines carry for mount(8) and systemd: accepted, no effect.
		{"defaults,rw,auto,noauto,user,nouser,users,nofail,_netdev,nosuid,nodev,async,sync,atime,noatime,relatime,exec,x-systemd.requires=glusterd.service", func(a *mountArgs) bool {
			return !a.cfg.ReadOnly && !a.cfg.NoExec && !a.cfg.AllowOther
		}},
	} {
		a, code, errs := parseMount("-o", c.o)
		if code != 0 || !c.check(a) {
			t.Errorf("-o %s: exit %d, config %+v\n%s", c.o, code, a.cfg, errs)
		}
	}
	if _, code, _ := parseMount("-o", "bogus"); code != 2 {
		t.Errorf("-o bogus: exit %d, want 2", code)
	}
}
