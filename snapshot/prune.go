package snapshot

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Keep is a retention policy with restic's semantics (`restic forget`,
// doc/060_forget.rst) for the options snapfs prune takes. A count of -1
// means unlimited, 0 that the option is off.
type Keep struct {
	Last   int    // the n newest snapshots
	Daily  int    // the newest snapshot of each of the n newest days that have one
	Weekly int    // the same per ISO week (Monday to Sunday)
	Within Within // every snapshot within this of the newest one
}

// Empty reports whether p keeps by nothing; restic then removes nothing.
func (p Keep) Empty() bool { return p.Last == 0 && p.Daily == 0 && p.Weekly == 0 && p.Within.Zero() }

// String describes p as restic does ("keep 3 latest, 7 daily snapshots").
func (p Keep) String() string {
	if p.Empty() {
		return "no policy: keep everything"
	}
	var parts []string
	for _, o := range []struct {
		n    int
		what string
	}{{p.Last, "latest"}, {p.Daily, "daily"}, {p.Weekly, "weekly"}} {
		switch {
		case o.n > 0:
			parts = append(parts, fmt.Sprintf("%d %s", o.n, o.what))
		case o.n < 0:
			parts = append(parts, "all "+o.what)
		}
	}
	s := ""
	if len(parts) > 0 {
		s = strings.Join(parts, ", ") + " snapshots"
	}
	if !p.Within.Zero() {
		if s != "" {
			s += " and "
		}
		s += "all snapshots within " + p.Within.String() + " of the newest"
	}
	return "keep " + s
}

// Within is restic's duration: years, months, days and hours, written
// like "1y2m3d4h" (m is months).
type Within struct{ Years, Months, Days, Hours int }

// Zero reports whether w is no duration.
func (w Within) Zero() bool { return w == Within{} }

func (w Within) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit byte
	}{{w.Years, 'y'}, {w.Months, 'm'}, {w.Days, 'd'}, {w.Hours, 'h'}} {
		if p.n != 0 {
			b.WriteString(strconv.Itoa(p.n))
			b.WriteByte(p.unit)
		}
	}
	return b.String()
}

// before is the moment w before t, on the calendar of t's location.
func (w Within) before(t time.Time) time.Time {
	return t.AddDate(-w.Years, -w.Months, -w.Days).Add(-time.Duration(w.Hours) * time.Hour)
}

// ParseWithin parses a duration like "2y5m7d3h": numbers each followed by
// y (years), m (months), d (days) or h (hours).
func ParseWithin(s string) (Within, error) {
	var w Within
	rest := s
	if rest == "" {
		return w, fmt.Errorf("empty duration: want e.g. 30d, 2m or 1y6m")
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return Within{}, fmt.Errorf("duration %q: expected a number at %q", s, rest)
		}
		if i == len(rest) {
			return Within{}, fmt.Errorf("duration %q: no unit (y, m, d or h) after %s", s, rest)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > 1e6 {
			return Within{}, fmt.Errorf("duration %q: %s is too large", s, rest[:i])
		}
		switch rest[i] {
		case 'y':
			w.Years = n
		case 'm':
			w.Months = n
		case 'd':
			w.Days = n
		case 'h':
			w.Hours = n
		default:
			return Within{}, fmt.Errorf("duration %q: unknown unit %q (want y, m, d or h)", s, rest[i])
		}
		rest = rest[i+1:]
	}
	return w, nil
}

// Dated is a snapshot as a policy sees it: its name, created_at and
// group. The policy applies to each group on its own, so one group's
// snapshots never push out another's (snapfs prune groups by owner).
type Dated struct {
	Name    string
	Created time.Time
	Group   string
}

// Decision is what a policy does with one snapshot, and why it keeps it.
// Ignored is set (with its reason) for a snapshot the policy neither
// keeps nor removes: one dated in the future.
type Decision struct {
	Dated
	Keep    bool
	Ignored string
	Reasons []string // empty when removed or ignored
}

// Apply decides for each snapshot whether p keeps it, as restic's forget
// does, for each group apart: newest first (equal times: the greater
// name first, as latest orders them), a snapshot is kept when any option
// keeps it. Calendar options (daily, weekly) use the days and weeks of
// loc and count only days and weeks that have a snapshot; while one has
// counts left at the oldest snapshot, that one is kept too ("oldest
// daily snapshot"). --keep-within counts back from the group's newest
// snapshot. A snapshot dated more than MaxClockSkew after now counts for
// no option and is not removed either (Ignored). An empty policy keeps
// everything. The decisions come newest first.
func Apply(snaps []Dated, p Keep, now time.Time, loc *time.Location) []Decision {
	out := make([]Decision, len(snaps))
	for i, s := range snaps {
		out[i].Dated = s
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Created, out[j].Created
		if !a.Equal(b) {
			return a.After(b)
		}
		return out[i].Name > out[j].Name
	})
	if p.Empty() {
		for i := range out {
			out[i].Keep, out[i].Reasons = true, []string{"policy is empty"}
		}
		return out
	}
	groups := map[string][]*Decision{}
	var order []string
	for i := range out {
		d := &out[i]
		if d.Created.After(now.Add(MaxClockSkew)) {
			d.Ignored = fmt.Sprintf("created_at %s is in the future (later than now plus %v): not kept or removed by any rule; remove it by hand",
				d.Created.UTC().Format(time.RFC3339), MaxClockSkew)
			continue
		}
		if groups[d.Group] == nil {
			order = append(order, d.Group)
		}
		groups[d.Group] = append(groups[d.Group], d)
	}
	for _, g := range order {
		applyGroup(groups[g], p, loc)
	}
	return out
}

// applyGroup applies p to one group's snapshots, newest first.
func applyGroup(ds []*Decision, p Keep, loc *time.Location) {
	bound := p.Within.before(ds[0].Created.In(loc))
	type bucket struct {
		left   int
		key    func(t time.Time, nr int) int
		last   int
		reason string
	}
	buckets := []*bucket{
		{p.Last, func(_ time.Time, nr int) int { return nr }, -1, "last snapshot"},
		{p.Daily, func(t time.Time, _ int) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }, -1, "daily snapshot"},
		{p.Weekly, func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }, -1, "weekly snapshot"},
	}
	for nr, d := range ds {
		t := d.Created.In(loc)
		if !p.Within.Zero() && t.After(bound) {
			d.Reasons = append(d.Reasons, "within "+p.Within.String())
		}
		oldest := nr == len(ds)-1
		for _, b := range buckets {
			if b.left == 0 {
				continue
			}
			k := b.key(t, nr)
			if k == b.last && !oldest {
				continue
			}
			reason := b.reason
			if k == b.last {
				reason = "oldest " + reason
			}
			d.Reasons = append(d.Reasons, reason)
			b.last = k
			if b.left > 0 {
				b.left--
			}
		}
		d.Keep = len(d.Reasons) > 0
	}
}
