package integration

import (
	"bytes"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
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

// TestStateTextLiveState: when state.bin is rewritten, value.txt and
// value.json follow: a unit that was no message gains both, one that
// decoded loses them.
func TestStateTextLiveState(t *testing.T) {
	store, _ := stateTextStore(t)
	d := mountStore(t, store, "", "--schema", schemaCopy(t))
	garbled := d.Path("vm", "state", "garbled")
	rtc := d.Path("vm", "state", "rtc")
	wantAbsent(t, garbled+"/value.txt")
	wantAbsent(t, garbled+"/value.json")
	before := read(t, rtc+"/value.txt")
	read(t, rtc+"/value.json")
	fixed := unitNotProto
	fixed.Value = []byte{0x18, 0x01} // alarm_armed: true
	broken := unitNotProto
	broken.Name = "rtc"
	makeSnap(t, store, "vm", snapSpec{Units: []snapshot.StateUnit{fixed, broken}})
	eventually(t, "garbled/value.txt after state.bin was rewritten", func() bool { return exists(garbled + "/value.txt") })
	if got := string(read(t, garbled+"/value.txt")); got != "3: 1\n" {
		t.Errorf("garbled/value.txt = %q", got)
	}
	sameJSONValue(t, "garbled/value.json", read(t, garbled+"/value.json"), []byte(`{"alarm_armed": true}`))
	eventually(t, "rtc/value.txt gone", func() bool { return !exists(rtc + "/value.txt") })
	wantAbsent(t, rtc+"/value.json")
	wantNames(t, rtc, "type_url", "value.bin")
	if len(before) == 0 {
		t.Fatal("rtc/value.txt was empty")
	}
}
