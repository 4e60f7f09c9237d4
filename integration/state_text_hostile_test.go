package integration

import (
	"bytes"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

// nestLD wraps inner in n levels of field-1 messages.
func nestLD(inner []byte, n int) []byte {
	b := inner
	for i := 0; i < n; i++ {
		l := len(b)
		var pre []byte
		for l >= 0x80 {
			pre = append(pre, byte(l)|0x80)
			l >>= 7
		}
		pre = append(append([]byte{0x0a}, pre...), byte(l))
		b = append(pre, b...)
	}
	return b
}

// TestStateTextHostile: values past the caps or at protoc's limits cost
// bounded work and give protoc's answer or no view, never an error
// (EIO) or a hang.
func TestStateTextHostile(t *testing.T) {
	groups := func(n int) []byte {
		return append(append(bytes.Repeat([]byte{0x0b}, n), 0x08, 0x01), bytes.Repeat([]byte{0x0c}, n)...)
	}
	units := []snapshot.StateUnit{
		{Name: "big", TypeURL: "type.googleapis.com/rtc.SavedState", Value: bytes.Repeat([]byte{0x18, 0x01}, 1<<20)},
		{Name: "groups100", TypeURL: "type.googleapis.com/x.Y", Value: groups(100)},
		{Name: "groups101", TypeURL: "type.googleapis.com/x.Y", Value: groups(101)},
		{Name: "deep", TypeURL: "type.googleapis.com/deep.Node", Value: nestLD([]byte{0x08, 0x01}, 3000)},
		{Name: "wide", TypeURL: "type.googleapis.com/x.Y", Value: bytes.Repeat(nestLD([]byte{0x08, 0x01}, 12), 2000)},
	}
	store := t.TempDir()
	makeSnap(t, store, "vm", snapSpec{Units: units})
	schema := schemaCopy(t)
	writeFile(t, schema+"/deep.proto", []byte("syntax = \"proto3\";\npackage deep;\nmessage Node {\n  Node child = 1;\n  uint32 v = 2;\n}\n"))
	d := mountStore(t, store, "", "--schema", schema)
	withTimeout(t, "reading the hostile units", func() {
		wantAbsent(t, d.Path("vm", "state", "big", "value.txt"))
		wantAbsent(t, d.Path("vm", "state", "big", "value.json"))
		for _, u := range units[1:] {
			dir := d.Path("vm", "state", u.Name)
			want, ok := protocDecodeRaw(t, u.Value)
			if !ok {
				wantAbsent(t, dir+"/value.txt")
				continue
			}
			if got := read(t, dir+"/value.txt"); !bytes.Equal(got, want) {
				t.Errorf("%s/value.txt differs from protoc --decode_raw (%d and %d bytes)", u.Name, len(got), len(want))
			}
		}
		// 3000 nested nodes: deeper than decoding goes.
		wantAbsent(t, d.Path("vm", "state", "deep", "value.json"))
		status := strings.Join(statusLines(t, d, "vm"), "\n")
		for _, u := range []string{"big", "deep"} {
			if !strings.Contains(status, `state unit "`+u+`" has no value.json`) {
				t.Errorf("status does not name %s:\n%s", u, status)
			}
		}
	})
}
