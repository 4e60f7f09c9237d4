package snapshot

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// pruneStore is 50 snapshots spread over 90 days (2025-03-03, a Monday,
// to 2025-05-30), some days holding two, at varied hours.
func pruneStore() []Dated {
	base := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	var out []Dated
	day := 0
	for i := 0; i < 50; i++ {
		if i%5 != 4 { // every fifth shares the day of the one before
			day = i * 90 / 50
		}
		t := base.AddDate(0, 0, day).Add(time.Duration((i*7)%24)*time.Hour + time.Duration(i)*time.Minute)
		out = append(out, Dated{Name: fmt.Sprintf("s%02d", i), Created: t})
	}
	// Listed out of order, as a directory listing may be.
	sort.Slice(out, func(i, j int) bool { return out[i].Name[2:]+out[i].Name < out[j].Name[2:]+out[j].Name })
	return out
}

// oracle computes restic's documented outcome of p directly from the
// documentation's wording, independently of Apply: the union of the
// newest n; per calendar option, the newest snapshot of each of the n
// newest periods that have one, plus the oldest snapshot when fewer
// periods than n exist; and everything after newest-minus-within.
func oracle(snaps []Dated, p Keep, loc *time.Location) []string {
	byAge := slices.Clone(snaps)
	sort.Slice(byAge, func(i, j int) bool { return byAge[i].Created.After(byAge[j].Created) })
	keep := map[string]bool{}
	n := func(c int) int {
		if c < 0 {
			return len(byAge)
		}
		return c
	}
	for i := 0; i < n(p.Last) && i < len(byAge); i++ {
		keep[byAge[i].Name] = true
	}
	periodic := func(count int, period func(time.Time) string) {
		if count == 0 {
			return
		}
		seen := map[string]bool{}
		var order []string
		newestOf := map[string]string{}
		for _, s := range byAge {
			k := period(s.Created.In(loc))
			if !seen[k] {
				seen[k] = true
				order = append(order, k)
				newestOf[k] = s.Name
			}
		}
		for i, k := range order {
			if i < n(count) {
				keep[newestOf[k]] = true
			}
		}
		if len(order) < n(count) || count < 0 {
			keep[byAge[len(byAge)-1].Name] = true
		}
	}
	periodic(p.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	periodic(p.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprint(y, "-W", w) })
	if !p.Within.Zero() {
		from := byAge[0].Created.In(loc).AddDate(-p.Within.Years, -p.Within.Months, -p.Within.Days).Add(-time.Duration(p.Within.Hours) * time.Hour)
		for _, s := range byAge {
			if s.Created.After(from) {
				keep[s.Name] = true
			}
		}
	}
	var out []string
	for k := range keep {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func kept(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Name)
		}
	}
	sort.Strings(out)
	return out
}

func TestApplyMatchesRestic(t *testing.T) {
	snaps := pruneStore()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	w := func(s string) Within {
		v, err := ParseWithin(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	plus2 := time.FixedZone("UTC+2", 2*3600)
	cases := []struct {
		p    Keep
		loc  *time.Location
		want int // kept, counted by hand from pruneStore
	}{
		{Keep{Last: 5}, time.UTC, 5},
		{Keep{Last: 60}, time.UTC, 50},
		{Keep{Last: -1}, time.UTC, 50},
		{Keep{Daily: 7}, time.UTC, 7},
		{Keep{Daily: 100}, time.UTC, 40},  // 40 days have a snapshot, the oldest is the newest of its day
		{Keep{Weekly: 4}, time.UTC, 4},    // 13 weeks have one
		{Keep{Weekly: 100}, time.UTC, 14}, // all 13, plus the oldest
		{Keep{Weekly: -1}, time.UTC, 14},
		{Keep{Within: w("10d")}, time.UTC, 7},
		{Keep{Within: w("1m")}, time.UTC, 18},
		{Keep{Within: w("2m15d")}, time.UTC, 44}, // from 03-13 07:49: s06 on
		{Keep{Within: w("1y")}, time.UTC, 50},
		{Keep{Within: w("36h")}, time.UTC, 2}, // s48 and s49
		{Keep{Last: 3, Daily: 7, Weekly: 4}, time.UTC, 9},
		{Keep{Last: 3, Daily: 7, Weekly: 4, Within: w("14d")}, time.UTC, 11},
		{Keep{Daily: 10}, plus2, 10},
		{Keep{Daily: 10, Weekly: 8}, plus2, 14},
		{Keep{Daily: 40, Within: w("3d")}, plus2, 41},
	}
	for _, c := range cases {
		t.Run(c.p.String()+" "+c.loc.String(), func(t *testing.T) {
			got := kept(Apply(snaps, c.p, now, c.loc))
			want := oracle(snaps, c.p, c.loc)
			if !slices.Equal(got, want) {
				t.Errorf("kept %v\nwant %v", got, want)
			}
			if len(got) != c.want {
				t.Errorf("kept %d, counted %d by hand", len(got), c.want)
			}
		})
	}
}

// TestApplyResticExample is the example of restic's documentation: one
// snapshot every Sunday for 12 weeks, --keep-daily 4 keeps the last four.
func TestApplyResticExample(t *testing.T) {
	var snaps []Dated
	for i := 0; i < 12; i++ {
		snaps = append(snaps, Dated{Name: fmt.Sprint("w", i), Created: time.Date(2019, 9, 1+7*i, 11, 0, 0, 0, time.UTC)})
	}
	ds := Apply(snaps, Keep{Daily: 4}, time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	if got := strings.Join(kept(ds), " "); got != "w10 w11 w8 w9" {
		t.Errorf("kept %s, want the last four", got)
	}
	if ds[0].Name != "w11" || ds[11].Name != "w0" || ds[0].Reasons[0] != "daily snapshot" {
		t.Errorf("decisions not newest first with reasons: %+v", ds)
	}
	// --keep-weekly 20 > 12 weeks: all of them (the oldest by its own week).
	if got := kept(Apply(snaps, Keep{Weekly: 20}, time.Now(), time.UTC)); len(got) != 12 {
		t.Errorf("weekly 20 kept %v", got)
	}
}

func TestApplyOldestAndFuture(t *testing.T) {
	day := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	snaps := []Dated{{Name: "a", Created: day.Add(time.Hour)}, {Name: "b", Created: day.Add(2 * time.Hour)}, {Name: "c", Created: day.AddDate(0, 0, 1)}}
	now := day.AddDate(0, 0, 2)
	ds := Apply(snaps, Keep{Daily: 5}, now, time.UTC)
	if got := kept(ds); strings.Join(got, " ") != "a b c" {
		t.Fatalf("kept %v: counts left at the oldest keep it", got)
	}
	if r := ds[2].Reasons; ds[2].Name != "a" || len(r) != 1 || r[0] != "oldest daily snapshot" {
		t.Errorf("oldest: %+v", ds[2])
	}
	// A snapshot from the future neither counts as the newest for
	// --keep-within nor is removed by it: it is ignored.
	snaps = append(snaps, Dated{Name: "future", Created: now.AddDate(1, 0, 0)})
	ds = Apply(snaps, Keep{Within: Within{Hours: 1}}, now, time.UTC)
	if got := strings.Join(kept(ds), " "); got != "c" {
		t.Errorf("within 1h kept %s, want c", got)
	}
	if ds[0].Name != "future" || ds[0].Keep || !strings.Contains(ds[0].Ignored, "in the future") {
		t.Errorf("future: %+v, want ignored", ds[0])
	}
	// Equal times: the greater name is the newer, as for latest.
	ds = Apply([]Dated{{Name: "x", Created: day}, {Name: "y", Created: day}}, Keep{Last: 1}, now, time.UTC)
	if got := kept(ds); len(got) != 1 || got[0] != "y" {
		t.Errorf("tie kept %v, want y", got)
	}
	// An empty policy keeps everything.
	if got := kept(Apply(snaps, Keep{}, now, time.UTC)); len(got) != 4 {
		t.Errorf("empty policy kept %v", got)
	}
}

// TestApplyPerGroup: each group (snapfs prune: each owner) keeps its own
// snapshots by every rule, however many newer ones another group has;
// a group's snapshot dated in the future counts for no rule (it would
// push out its own group's others) and is never removed by one.
func TestApplyPerGroup(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var snaps []Dated
	for i := 0; i < 6; i++ {
		at := now.AddDate(0, 0, -10+i) // days -10..-5: the victim's
		snaps = append(snaps, Dated{Name: fmt.Sprint("v", i), Created: at, Group: "uid 1001"})
	}
	for i := 0; i < 6; i++ {
		at := now.AddDate(0, 0, -4).Add(time.Duration(i) * time.Hour) // newer, one day
		snaps = append(snaps, Dated{Name: fmt.Sprint("a", i), Created: at, Group: "uid 1002"})
	}
	for i, at := range []time.Time{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), now.Add(MaxClockSkew + time.Second)} {
		snaps = append(snaps, Dated{Name: fmt.Sprint("future", i), Created: at, Group: "uid 1002"})
	}
	snaps = append(snaps, Dated{Name: "skewed", Created: now.Add(MaxClockSkew - time.Second), Group: "uid 1001"})
	for _, c := range []struct {
		p    Keep
		want string
	}{
		{Keep{Last: 3}, "a3 a4 a5 skewed v4 v5"},
		{Keep{Daily: 3}, "a0 a5 skewed v4 v5"}, // a0: the oldest, counts left
		{Keep{Weekly: 1}, "a5 skewed"},
		{Keep{Within: Within{Days: 2}}, "a0 a1 a2 a3 a4 a5 skewed"},
	} {
		ds := Apply(snaps, c.p, now, time.UTC)
		if got := strings.Join(kept(ds), " "); got != c.want {
			t.Errorf("%s: kept %s, want %s", c.p, got, c.want)
		}
		for _, d := range ds {
			future := strings.HasPrefix(d.Name, "future")
			if future != (d.Ignored != "") || future && (d.Keep || len(d.Reasons) > 0) {
				t.Errorf("%s: %s: %+v", c.p, d.Name, d)
			}
			if future && !strings.Contains(d.Ignored, d.Created.Format(time.RFC3339)) {
				t.Errorf("%s: %s: reason %q does not name created_at", c.p, d.Name, d.Ignored)
			}
		}
	}
}

func TestParseWithin(t *testing.T) {
	for in, want := range map[string]Within{
		"30d": {Days: 30}, "2y5m7d3h": {2, 5, 7, 3}, "12h": {Hours: 12}, "1m": {Months: 1},
	} {
		got, err := ParseWithin(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%q prints as %q", in, got.String())
		}
	}
	for _, bad := range []string{"", "d", "30", "30s", "-1d", "1w", "3d 4h", "99999999999999999999d"} {
		if _, err := ParseWithin(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
