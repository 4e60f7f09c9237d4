package integration

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

// TestDiffSchema: with --schema, snapfs diff names the changed fields of
// each changed unit whose type the schema defines.
func TestDiffSchema(t *testing.T) {
	t.Parallel()
	rtc, _ := hex.DecodeString("0a070001ff01f0a2041080a2dfb4faffffffff011801220608031202c3a7")
	store := t.TempDir()
	unit := func(v []byte) []snapshot.StateUnit {
		return []snapshot.StateUnit{{Name: "clock", TypeURL: "type.googleapis.com/rtc.SavedState", Value: v}}
	}
	a := makeSnap(t, store, "a", snapSpec{Units: unit(rtc)})
	b := makeSnap(t, store, "b", snapSpec{Units: unit(nil)})
	schema := testdata("schema")
	r := snapfs(t, "diff", "--schema", schema, a, b)
	if r.code != 1 || !strings.Contains(r.stdout, "unit changed: clock (fields: ") || !strings.Contains(r.stdout, "cmos") {
		t.Fatalf("diff --schema: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = snapfs(t, "diff", "--json", "--schema", schema, a, b)
	var out struct {
		UnitFields map[string][]string `json:"unit_fields"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.UnitFields["clock"]) == 0 {
		t.Fatalf("diff --json --schema: %v\n%s", err, r.stdout)
	}
	if r := snapfs(t, "diff", "--schema", schema, a, a); r.code != 0 {
		t.Errorf("a snapshot against itself: exit %d\n%s", r.code, r.stdout)
	}
}
