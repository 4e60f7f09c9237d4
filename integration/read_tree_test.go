package integration

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// TestReadTreeLayout checks the shape of the tree: the root, a snapshot
// directory, manifest/, state/ and a unit directory.
func TestReadTreeLayout(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	makeSnap(t, store, "vm1", snapSpec{})
	makeSnap(t, store, "vm2", snapSpec{Manifest: goodManifest(created.Add(time.Hour))})
	d := mountStore(t, store, "")

	wantNames(t, d.Mnt, "latest", "new", "vm1", "vm2")
	if got := readlink(t, d.Path("latest")); got != "vm2" {
		t.Errorf("latest -> %q, want vm2", got)
	}
	if fi, err := os.Lstat(d.Path("latest")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("latest is not a symlink: %v %v", fi, err)
	}
	if fi, err := os.Stat(d.Path("new")); err != nil || !fi.IsDir() {
		t.Errorf("new/ is not a directory: %v", err)
	}
	wantNames(t, d.Path("vm1"), "manifest.bin", "manifest.json", "manifest", "state.bin", "state", "memory.bin", "status")
	wantNames(t, d.Path("vm1", "manifest"), snapshot.ManifestFields...)
	wantNames(t, d.Path("vm1", "state"), "pit", "rtc", "vmbus", "StorageVsp:ba6163d9-04a1-4d29-b605-72e2ffb1dc7f", "input")
	wantNames(t, d.Path("vm1", "state", "pit"), "type_url", "value.bin", "value.txt")
	for _, dir := range []string{"", "vm1", "vm1/manifest", "vm1/state", "vm1/state/pit"} {
		if fi, err := os.Stat(d.Path(dir)); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory: %v", dir, err)
		}
	}
	for _, f := range []string{"manifest.bin", "manifest.json", "state.bin", "memory.bin", "status", "manifest/vp_count", "state/pit/type_url", "state/pit/value.bin"} {
		fi, err := os.Lstat(d.Path("vm1", f))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("vm1/%s: not a regular file: %v", f, err)
			continue
		}
		// Backing files show STORE's mode; views never a write bit.
		if !strings.HasSuffix(f, ".bin") && fi.Mode().Perm()&0o222 != 0 {
			t.Errorf("vm1/%s: mode %v is writable", f, fi.Mode())
		}
	}
	// Names that are not there.
	for _, p := range []string{"vm3", "vm1/nope", "vm1/manifest/nope", "vm1/state/nope", "vm1/state/pit/nope", ".hidden"} {
		wantAbsent(t, d.Path(p))
	}
	// The backing files are STORE's bytes.
	for _, f := range []string{"manifest.bin", "state.bin", "memory.bin"} {
		if got, want := read(t, d.Path("vm1", f)), read(t, filepath.Join(store, "vm1", f)); !bytes.Equal(got, want) {
			t.Errorf("vm1/%s differs from STORE (%d vs %d bytes)", f, len(got), len(want))
		}
	}
	if got := read(t, d.Path("vm1", "status")); string(got) != "ok\n" {
		t.Errorf("vm1/status = %q, want ok", got)
	}
	// Through latest.
	if got := read(t, d.Path("latest", "manifest", "created_at")); string(got) != created.Add(time.Hour).Format(time.RFC3339Nano)+"\n" {
		t.Errorf("latest/manifest/created_at = %q", got)
	}

	t.Run("read-only", func(t *testing.T) {
		t.Parallel()
		d := mountStore(t, store, "", "--read-only")
		wantNames(t, d.Mnt, "latest", "vm1", "vm2")
		wantAbsent(t, d.Path("new"))
	})
}

// wantJSON renders the expected manifest.json from a vector's object:
// the fields in field-number order, 2-space indent, newline at the end.
func wantJSON(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, f := range snapshot.ManifestFields {
		v, ok := obj[f]
		if !ok {
			t.Fatalf("vector lacks %s", f)
		}
		var compact bytes.Buffer
		json.Compact(&compact, v)
		b.WriteString(`  "` + f + `": ` + compact.String())
		if i < len(snapshot.ManifestFields)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// TestReadTreeManifestVectors serves every manifest vector and checks
// manifest.bin, manifest.json and manifest/<field> against vectors.json.
func TestReadTreeManifestVectors(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	vs := vectors(t)
	for _, v := range vs {
		if v.Kind != "manifest" {
			continue
		}
		b := read(t, vectorPath(v.File))
		if h := hex.EncodeToString(b); h != v.Hex {
			t.Fatalf("%s does not match its hex in vectors.json", v.File)
		}
		name := strings.TrimSuffix(v.File, ".bin")
		spec := snapSpec{ManifestBytes: b, NoMemory: true}
		if m, err := snapshot.DecodeManifest(b); err == nil {
			spec = snapSpec{ManifestBytes: b, Manifest: m}
		}
		makeSnap(t, store, name, spec)
	}
	d := mountStore(t, store, "")
	for _, v := range vs {
		if v.Kind != "manifest" {
			continue
		}
		name := strings.TrimSuffix(v.File, ".bin")
		t.Run(name, func(t *testing.T) {
			if got := read(t, d.Path(name, "manifest.bin")); hex.EncodeToString(got) != v.Hex {
				t.Errorf("manifest.bin = %x, want %s", got, v.Hex)
			}
			if v.Error != "" {
				wantAbsent(t, d.Path(name, "manifest.json"))
				wantAbsent(t, d.Path(name, "manifest"))
				lines := statusLines(t, d, name)
				if !strings.HasPrefix(lines[0], "error: failed to decode snapshot manifest") {
					t.Errorf("status = %q, want a decode error first", lines)
				}
				return
			}
			want := wantJSON(t, v.JSON)
			got := read(t, d.Path(name, "manifest.json"))
			if !bytes.Equal(got, want) {
				t.Errorf("manifest.json =\n%s\nwant\n%s", got, want)
			}
			var obj map[string]json.RawMessage
			json.Unmarshal(v.JSON, &obj)
			for _, f := range snapshot.ManifestFields {
				val := string(obj[f])
				var s string
				if json.Unmarshal(obj[f], &s) == nil {
					val = s
				}
				if got := read(t, d.Path(name, "manifest", f)); string(got) != val+"\n" {
					t.Errorf("manifest/%s = %q, want %q", f, got, val+"\n")
				}
			}
			// The same bytes as snapfs inspect prints.
			r := snapfs(t, "inspect", filepath.Join(store, name))
			if r.code != 0 {
				t.Fatalf("snapfs inspect: exit %d: %s", r.code, r.stderr)
			}
			if got := string(read(t, d.Path(name, "manifest.json"))); got != r.stdout {
				t.Errorf("manifest.json differs from snapfs inspect:\n%s\nvs\n%s", got, r.stdout)
			}
		})
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// TestReadTreeManifestJSONEdges checks manifest.json rules the vectors do
// not: integers above 2^53, fractions only as long as needed, absent
// fields as zero, and strings that need escaping.
func TestReadTreeManifestJSONEdges(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	big := &snapshot.Manifest{Version: 1, MemorySizeBytes: 1<<63 + 4096*3, VPCount: 1<<32 - 1, PageSize: 4096, Architecture: "x86_64",
		CreatedAt: snapshot.Timestamp{Seconds: created.Unix(), Nanos: 120000000}, OpenVMMVersion: `v"1"<&>\`}
	makeSnap(t, store, "big", snapSpec{Manifest: big, NoMemory: true})
	makeSnap(t, store, "empty", snapSpec{ManifestBytes: []byte{}, NoMemory: true})
	d := mountStore(t, store, "")

	got := string(read(t, d.Path("big", "manifest.json")))
	want := "{\n" +
		`  "version": 1,` + "\n" +
		`  "created_at": "2025-11-28T15:04:05.12Z",` + "\n" +
		`  "openvmm_version": "v\"1\"<&>\\",` + "\n" +
		`  "memory_size_bytes": 9223372036854788096,` + "\n" +
		`  "vp_count": 4294967295,` + "\n" +
		`  "page_size": 4096,` + "\n" +
		`  "architecture": "x86_64"` + "\n" +
		"}\n"
	if got != want {
		t.Errorf("manifest.json =\n%s\nwant\n%s", got, want)
	}
	for f, v := range map[string]string{"memory_size_bytes": "9223372036854788096", "created_at": "2025-11-28T15:04:05.12Z", "openvmm_version": `v"1"<&>\`, "vp_count": "4294967295"} {
		if got := string(read(t, d.Path("big", "manifest", f))); got != v+"\n" {
			t.Errorf("manifest/%s = %q, want %q", f, got, v+"\n")
		}
	}
	// An empty manifest.bin decodes to all zero values.
	want = "{\n" +
		`  "version": 0,` + "\n" +
		`  "created_at": "1970-01-01T00:00:00Z",` + "\n" +
		`  "openvmm_version": "",` + "\n" +
		`  "memory_size_bytes": 0,` + "\n" +
		`  "vp_count": 0,` + "\n" +
		`  "page_size": 0,` + "\n" +
		`  "architecture": ""` + "\n" +
		"}\n"
	if got := string(read(t, d.Path("empty", "manifest.json"))); got != want {
		t.Errorf("empty manifest.json =\n%s\nwant\n%s", got, want)
	}
	if got := string(read(t, d.Path("empty", "manifest", "architecture"))); got != "\n" {
		t.Errorf("empty manifest/architecture = %q, want a lone newline", got)
	}
}

// TestReadTreeState checks state/<unit>/{type_url,value.bin} against the
// bytes of state.bin, using state-basic.bin itself.
func TestReadTreeState(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	sb := read(t, vectorPath("state-basic.bin"))
	makeSnap(t, store, "vm1", snapSpec{StateBytes: sb})
	d := mountStore(t, store, "")
	var units int
	for _, v := range vectors(t) {
		if v.File != "state-basic.bin" {
			continue
		}
		if hex.EncodeToString(sb) != v.Hex {
			t.Fatal("state-basic.bin does not match its hex")
		}
		for _, u := range v.Units {
			units++
			dir := d.Path("vm1", "state", u.Name)
			if got := string(read(t, filepath.Join(dir, "type_url"))); got != u.TypeURL+"\n" {
				t.Errorf("%s/type_url = %q, want %q", u.Name, got, u.TypeURL+"\n")
			}
			got := read(t, filepath.Join(dir, "value.bin"))
			if hex.EncodeToString(got) != u.ValueHex {
				t.Errorf("%s/value.bin = %x, want %s", u.Name, got, u.ValueHex)
			}
			// value.bin is a slice of state.bin.
			if len(got) > 0 && !bytes.Contains(sb, got) {
				t.Errorf("%s/value.bin is not in state.bin", u.Name)
			}
		}
	}
	if n := len(names(t, d.Path("vm1", "state"))); n != units {
		t.Errorf("state/ has %d units, want %d", n, units)
	}
}

// TestReadTreeUnitNames checks the percent-encoding of unit names, and that
// empty and duplicate names get no extra directory.
func TestReadTreeUnitNames(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	tu := func(s string) string { return "type.googleapis.com/t." + s }
	units := []snapshot.StateUnit{
		{Name: "a/b", TypeURL: tu("slash"), Value: []byte("slash")},
		{Name: "50%", TypeURL: tu("pct"), Value: []byte("pct")},
		{Name: ".", TypeURL: tu("dot"), Value: []byte("dot")},
		{Name: "..", TypeURL: tu("dotdot"), Value: []byte("dotdot")},
		{Name: "nul\x00x", TypeURL: tu("nul"), Value: []byte("nul")},
		{Name: "%2F", TypeURL: tu("lit"), Value: []byte("literal")},
		{Name: "...", TypeURL: tu("three"), Value: []byte("three")},
		{Name: ".hidden", TypeURL: tu("hidden"), Value: []byte("hidden")},
		{Name: "sp ace:ü", TypeURL: tu("utf8"), Value: []byte("utf8")},
	}
	makeSnap(t, store, "names", snapSpec{Units: units})
	dupUnits := []snapshot.StateUnit{
		{Name: "pit", TypeURL: tu("first"), Value: []byte("first")},
		{Name: "", TypeURL: tu("empty"), Value: []byte("empty")},
		{Name: "pit", TypeURL: tu("second"), Value: []byte("second")},
	}
	makeSnap(t, store, "dups", snapSpec{Units: dupUnits})
	d := mountStore(t, store, "")

	want := map[string]string{
		"a%2Fb": "slash", "50%25": "pct", "%2E": "dot", "%2E%2E": "dotdot", "nul%00x": "nul",
		"%252F": "literal", "...": "three", ".hidden": "hidden", "sp ace:ü": "utf8",
	}
	var files []string
	for f := range want {
		files = append(files, f)
	}
	wantNames(t, d.Path("names", "state"), files...)
	for f, v := range want {
		if got := string(read(t, d.Path("names", "state", f, "value.bin"))); got != v {
			t.Errorf("state/%s/value.bin = %q, want %q", f, got, v)
		}
		if got := string(read(t, d.Path("names", "state", f, "type_url"))); got != tu(v)+"\n" && !(v == "literal" && got == tu("lit")+"\n") {
			t.Errorf("state/%s/type_url = %q", f, got)
		}
		if got := snapshot.EncodeUnitName(mustDecode(t, f)); got != f {
			t.Errorf("%q does not round-trip: %q", f, got)
		}
	}
	// Names that are not what the encoding produces are not there.
	for _, f := range []string{"%2f", "%2e", "%", "a%2fb", "%41"} {
		wantAbsent(t, d.Path("names", "state", f))
	}
	if got := statusLines(t, d, "names"); len(got) != 1 || got[0] != "ok" {
		t.Errorf("names/status = %q, want ok", got)
	}

	// Duplicates: one directory, the first unit's; the empty name has none.
	wantNames(t, d.Path("dups", "state"), "pit")
	if got := string(read(t, d.Path("dups", "state", "pit", "value.bin"))); got != "first" {
		t.Errorf("dups/state/pit/value.bin = %q, want the first unit's", got)
	}
	status := strings.Join(statusLines(t, d, "dups"), "\n")
	if !strings.Contains(status, `error: state.bin: duplicate unit name "pit"`) && !strings.Contains(status, "duplicate unit name") {
		t.Errorf("dups/status = %q, want a duplicate unit name error", status)
	}
	if !strings.Contains(status, "empty") {
		t.Errorf("dups/status = %q, want an empty unit name error", status)
	}
}

func mustDecode(t *testing.T, f string) string {
	t.Helper()
	n, err := snapshot.DecodeUnitName(f)
	if err != nil {
		t.Fatalf("DecodeUnitName(%q): %v", f, err)
	}
	return n
}
