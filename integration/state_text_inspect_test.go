package integration

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestStateTextInspect: snapfs inspect --state prints every unit as one
// JSON object in state.bin's order, decoded with --schema; --unit one
// unit, --raw its value.txt.
func TestStateTextInspect(t *testing.T) {
	store, vs := stateTextStore(t)
	dir := store + "/vm"
	schema := schemaCopy(t)

	r := snapfs(t, "inspect", "--state", "--schema", schema, dir)
	if r.code != 0 {
		t.Fatalf("inspect --state: %d %s", r.code, r.stderr)
	}
	var doc map[string]struct {
		TypeURL string          `json:"type_url"`
		Value   json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("inspect --state output is not JSON: %v\n%s", err, r.stdout)
	}
	order := []string{}
	for _, v := range vs {
		order = append(order, v.Unit)
		u, ok := doc[v.Unit]
		if !ok || u.TypeURL != v.TypeURL {
			t.Fatalf("unit %s: %+v", v.Unit, u)
		}
		sameJSONValue(t, "inspect "+v.Unit, u.Value, v.JSON)
	}
	order = append(order, "garbled", "bad-utf8", "serial")
	for _, name := range []string{"garbled", "bad-utf8", "serial"} {
		if string(doc[name].Value) != "null" {
			t.Errorf("unit %s: value %s, want null", name, doc[name].Value)
		}
	}
	if len(doc) != len(order) {
		t.Errorf("%d units, want %d", len(doc), len(order))
	}
	// Units in state.bin's order, the document indented and ended.
	last := -1
	for _, name := range order {
		i := strings.Index(r.stdout, "\n  \""+name+"\": {")
		if i < last {
			t.Errorf("unit %s out of order in\n%s", name, r.stdout)
		}
		last = i
	}
	if !strings.HasSuffix(r.stdout, "}\n") {
		t.Errorf("no final newline: %q", r.stdout)
	}
	// Units that do not decode are warned about on stderr, not fatal.
	if !strings.Contains(r.stderr, `unit "bad-utf8"`) || !strings.Contains(r.stderr, `unit "garbled"`) || strings.Contains(r.stderr, `"serial"`) {
		t.Errorf("stderr %q", r.stderr)
	}

	// Without a schema every value is null.
	r = snapfs(t, "inspect", "--state", dir)
	if r.code != 0 || strings.Count(r.stdout, `"value": null`) != len(order) {
		t.Errorf("inspect --state without schema: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// One unit.
	r = snapfs(t, "inspect", "--unit", "rtc", "--schema", schema, dir)
	var one struct {
		TypeURL string          `json:"type_url"`
		Value   json.RawMessage `json:"value"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &one) != nil || one.TypeURL != vs[1].TypeURL {
		t.Fatalf("inspect --unit rtc: %d %q %s", r.code, r.stdout, r.stderr)
	}
	sameJSONValue(t, "inspect --unit rtc", one.Value, vs[1].JSON)

	// --raw is value.txt.
	for _, v := range vs {
		r = snapfs(t, "inspect", "--unit", v.Unit, "--raw", dir)
		if v.DecodeRaw == nil {
			if r.code != 1 {
				t.Errorf("inspect --unit %s --raw: %d, want failure", v.Unit, r.code)
			}
			continue
		}
		if r.code != 0 || r.stdout != *v.DecodeRaw {
			t.Errorf("inspect --unit %s --raw = %d %q, want %q", v.Unit, r.code, r.stdout, *v.DecodeRaw)
		}
	}
	if r = snapfs(t, "inspect", "--unit", "garbled", "--raw", dir); r.code != 1 || !strings.Contains(r.stderr, "not a protobuf message") {
		t.Errorf("garbled --raw: %d %q", r.code, r.stderr)
	}
	if r = snapfs(t, "inspect", "--unit", "nope", dir); r.code != 1 || !strings.Contains(r.stderr, `no unit "nope"`) {
		t.Errorf("missing unit: %d %q", r.code, r.stderr)
	}
	if r = snapfs(t, "inspect", "--raw", dir); r.code != 2 {
		t.Errorf("--raw without --unit: %d", r.code)
	}
	if r = snapfs(t, "inspect", "--state", "--field", "vp_count", dir); r.code != 2 {
		t.Errorf("--state with --field: %d", r.code)
	}
}
