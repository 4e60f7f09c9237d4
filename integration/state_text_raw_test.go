package integration

import (
	"bytes"
	"strings"
	"testing"
)

// TestStateTextRaw: without a schema every unit whose value is a
// protobuf message has value.txt, byte for byte protoc --decode_raw's
// output (and the vectors'), and no unit has value.json.
func TestStateTextRaw(t *testing.T) {
	store, vs := stateTextStore(t)
	d := mountStore(t, store, "")
	for _, v := range vs {
		dir := d.Path("vm", "state", v.Unit)
		wantAbsent(t, dir+"/value.json")
		if v.DecodeRaw == nil {
			wantAbsent(t, dir+"/value.txt")
			wantNames(t, dir, "type_url", "value.bin")
			continue
		}
		wantNames(t, dir, "type_url", "value.bin", "value.txt")
		got := read(t, dir+"/value.txt")
		if string(got) != *v.DecodeRaw {
			t.Errorf("%s/value.txt = %q, want %q", v.Unit, got, *v.DecodeRaw)
		}
		if want, ok := protocDecodeRaw(t, read(t, dir+"/value.bin")); !ok || !bytes.Equal(got, want) {
			t.Errorf("%s/value.txt = %q, protoc --decode_raw value.bin gives %q (ok %v)", v.Unit, got, want, ok)
		}
		if st := lstat(t, dir+"/value.txt"); st.Size != int64(len(got)) || st.Mode&0o777 != lstat(t, d.Path("vm", "state.bin")).Mode&0o444 {
			t.Errorf("%s/value.txt: size %d mode %o", v.Unit, st.Size, st.Mode)
		}
	}
	// protoc rejects this value: no value.txt.
	if _, ok := protocDecodeRaw(t, unitNotProto.Value); ok {
		t.Fatal("protoc accepts the garbled unit")
	}
	wantAbsent(t, d.Path("vm", "state", "garbled", "value.txt"))
	wantNames(t, d.Path("vm", "state", "garbled"), "type_url", "value.bin")
	for _, u := range []string{"bad-utf8", "serial"} {
		want, _ := protocDecodeRaw(t, read(t, d.Path("vm", "state", u, "value.bin")))
		if got := read(t, d.Path("vm", "state", u, "value.txt")); !bytes.Equal(got, want) {
			t.Errorf("%s/value.txt = %q, want %q", u, got, want)
		}
	}
	// Without a schema, nothing is wrong with any unit.
	for _, l := range statusLines(t, d, "vm") {
		if strings.Contains(l, "value.json") {
			t.Errorf("status without a schema: %q", l)
		}
	}
}
