package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// checkSchemaViews checks value.json of every vector unit and of the
// extra units against a mount with the shared schema.
func checkSchemaViews(t *testing.T, d *daemon, vs []schemaVector) {
	t.Helper()
	for _, v := range vs {
		dir := d.Path("vm", "state", v.Unit)
		if string(v.JSON) == "null" {
			wantAbsent(t, dir+"/value.json")
			continue
		}
		got := read(t, dir+"/value.json")
		sameJSONValue(t, v.Unit+"/value.json", got, v.JSON)
		if !bytes.HasSuffix(got, []byte("\n")) || (len(got) > 3 && !bytes.Contains(got, []byte("\n  "))) {
			t.Errorf("%s/value.json not indented with a final newline: %q", v.Unit, got)
		}
		names := []string{"type_url", "value.bin", "value.json"}
		if v.DecodeRaw != nil {
			names = append(names, "value.txt")
		}
		wantNames(t, dir, names...)
	}
	// A type the schema lacks, bytes that do not decode, bytes that
	// are no message at all: no value.json.
	for _, u := range []string{"serial", "bad-utf8", "garbled"} {
		wantAbsent(t, d.Path("vm", "state", u, "value.json"))
	}
}

// TestStateTextSchema: with --schema (and with -o schema=), value.json
// is the proto3 JSON mapping of each unit the schema decodes; a unit
// whose bytes do not decode as its type is named in status.
func TestStateTextSchema(t *testing.T) {
	store, vs := stateTextStore(t)
	schema := schemaCopy(t)
	for i, flags := range [][]string{{"--schema", schema}, {"-o", "ro,schema=" + schema}} {
		t.Run([]string{"flag", "option"}[i], func(t *testing.T) {
			d := mountStore(t, store, "", flags...)
			checkSchemaViews(t, d, vs)
			var warned []string
			for _, l := range statusLines(t, d, "vm") {
				if strings.Contains(l, "value.json") {
					warned = append(warned, l)
				}
			}
			// garbled is not a message; bad-utf8 has an invalid string.
			if len(warned) != 2 || !strings.HasPrefix(warned[0], `warning: state unit "garbled"`) ||
				!strings.HasPrefix(warned[1], `warning: state unit "bad-utf8"`) || !strings.Contains(warned[1], "rtc.SavedState") {
				t.Errorf("status warnings %q, want one for garbled and one for bad-utf8", warned)
			}
		})
	}
}

// TestStateTextSchemaLive: the daemon follows its schema directory: a
// new type shows as value.json, a schema that stops parsing keeps the
// last good one (and says why in the log), a removed type takes its
// value.json away. With --no-watch, SIGHUP reloads.
func TestStateTextSchemaLive(t *testing.T) {
	store, _ := stateTextStore(t)
	schema := schemaCopy(t)
	d := mountStore(t, store, "", "--schema", schema)
	opaque := d.Path("vm", "state", "opaque", "value.json")
	wantAbsent(t, opaque) // cached negative entry too
	writeFile(t, filepath.Join(schema, "pit.proto"), []byte(pitProto))
	eventually(t, "opaque/value.json after pit.proto appeared", func() bool { return exists(opaque) })
	sameJSONValue(t, "opaque/value.json", read(t, opaque), []byte(`{"counter": 150, "name": "abc"}`))
	wantNames(t, d.Path("vm", "state", "opaque"), "type_url", "value.bin", "value.json", "value.txt")

	// A change of field names shows in the content of an open-cached file.
	writeFile(t, filepath.Join(schema, "pit.proto"), []byte(strings.Replace(pitProto, "counter", "ticks", 1)))
	eventually(t, "opaque/value.json with the new field name", func() bool {
		return bytes.Contains(read(t, opaque), []byte(`"ticks"`))
	})

	// Broken: the last good schema stays.
	writeFile(t, filepath.Join(schema, "pit.proto"), []byte("syntax = \"proto3\";\npackage pit;\nmessage SavedState {\n  uint32 = 1;\n}\n"))
	eventually(t, "a log line for the broken schema", func() bool {
		return strings.Contains(d.Log(), filepath.Join(schema, "pit.proto")+":4:")
	})
	sameJSONValue(t, "opaque/value.json", read(t, opaque), []byte(`{"ticks": 150, "name": "abc"}`))

	// Removed: the type goes, and its value.json.
	if err := os.Remove(filepath.Join(schema, "pit.proto")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "opaque/value.json gone after pit.proto was removed", func() bool { return !exists(opaque) })
	if names(t, d.Path("vm", "state", "opaque")); exists(opaque) {
		t.Error("value.json still listed")
	}
}

func TestStateTextSchemaSIGHUP(t *testing.T) {
	store, _ := stateTextStore(t)
	schema := schemaCopy(t)
	d := mountStore(t, store, "", "--schema", schema, "--no-watch")
	opaque := d.Path("vm", "state", "opaque", "value.json")
	wantAbsent(t, opaque)
	writeFile(t, filepath.Join(schema, "pit.proto"), []byte(pitProto))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "opaque/value.json after SIGHUP", func() bool { return exists(opaque) })
	sameJSONValue(t, "opaque/value.json", read(t, opaque), []byte(`{"counter": 150, "name": "abc"}`))
}

// TestStateTextBrokenSchema: a schema that does not parse stops the
// mount with the parser's file:line:column.
func TestStateTextBrokenSchema(t *testing.T) {
	requireFUSE(t)
	store, _ := stateTextStore(t)
	schema := schemaCopy(t)
	bad := filepath.Join(schema, "rtc.proto")
	writeFile(t, bad, []byte("syntax = \"proto3\";\npackage rtc;\n\nmessage SavedState {\n  repeated uint32 cmos = 1\n}\n"))
	mnt := t.TempDir()
	for _, flags := range [][]string{{"--schema", schema}, {"-o", "schema=" + schema}, {"--daemon", "--schema", schema}} {
		cmd := exec.Command(bin, append(append([]string{"mount"}, flags...), store, mnt)...)
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("mount %q with a broken schema: %v\n%s", flags, err, out)
		}
		if !strings.Contains(string(out), bad+":6:1: ") {
			t.Errorf("mount %q: %q does not name %s:6:1", flags, out, bad)
		}
		if isFUSE(mnt) {
			t.Fatalf("mounted despite the broken schema")
		}
	}
	// A type the schema refers to but does not define.
	writeFile(t, bad, []byte("syntax = \"proto3\";\npackage rtc;\nmessage SavedState {\n  .rtc.Missing m = 1;\n}\n"))
	out, err := exec.Command(bin, "mount", "--schema", schema, store, mnt).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":4:3: ") {
		t.Errorf("unresolved type: %v %q", err, out)
	}
}
