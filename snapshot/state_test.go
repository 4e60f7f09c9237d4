package snapshot

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestIndexStateErrors(t *testing.T) {
	for _, tt := range []struct{ name, hex, want string }{
		{"truncated tag", "0a", "offset 0: field 1: length: truncated input"},
		{"length past end", "0a05", "offset 0: field 1: length 5 goes past the end of its message at offset 2"},
		{"huge length", "0a" + "808080808080808010", "length 1152921504606846976 goes past the end"},
		{"wrong type units", "0801", "offset 0: field 1 (units): wrong wire type 0"},
		{"wrong type name", "0a020801", "unit #1: offset 2: field 1 (name): wrong wire type 0"},
		{"wrong type state", "0a021001", "unit #1: offset 2: field 2 (state): wrong wire type 0"},
		{"wrong type value", "0a0412021001", "unit #1: offset 4: field 2 (value): wrong wire type 0"},
		{"name past unit", "0a030a0561", "unit #1: offset 2: field 1: length 5 goes past the end of its message at offset 5"},
		{"bad utf8", "0a030a01ff", "unit #1: offset 2: name is not valid UTF-8"},
		{"group", "0b0c", "unsupported wire type 3"},
		{"fixed32 truncated", "0d0000", "truncated"},
		{"field zero", "0000", "invalid field number 0"},
	} {
		b, _ := hex.DecodeString(tt.hex)
		_, err := IndexState(bytes.NewReader(b), int64(len(b)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestIndexStateSkipsUnknown(t *testing.T) {
	// Unknown top-level fields of every wire type; a unit with an unknown
	// field; an empty unit; a unit whose Any appears twice (merged).
	b, _ := hex.DecodeString("1001" + "1d00000000" + "190000000000000000" + "2200" +
		"0a051801" + "0a0161" + "0a00" +
		"0a0e" + "0a0162" + "12030a0174" + "120412020102") // name b, Any{type_url t}, Any{value 0102}
	x, err := IndexState(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Units) != 3 {
		t.Fatalf("units %+v", x.Units)
	}
	if x.Units[0].Name != "a" || x.Units[1].Name != "" {
		t.Errorf("units %+v", x.Units)
	}
	u := x.Units[2]
	if u.Name != "b" || u.TypeURL != "t" || !bytes.Equal(b[u.ValueOff:u.ValueOff+u.ValueLen], []byte{1, 2}) {
		t.Errorf("merged unit %+v", u)
	}
	if p := x.Problems(); len(p) != 1 || p[0] != "unit name is empty (unit #2)" {
		t.Errorf("Problems = %q", p)
	}
}

func TestProblems(t *testing.T) {
	x := &StateIndex{Units: []Unit{{Name: "pit"}, {Name: ""}, {Name: "pit"}, {Name: "rtc"}, {Name: "pit"}, {Name: "rtc"}}}
	want := []string{`duplicate unit name "pit"`, "unit name is empty (unit #2)", `duplicate unit name "rtc"`}
	got := x.Problems()
	if strings.Join(got, "|") != strings.Join([]string{want[1], want[0], want[2]}, "|") {
		t.Errorf("Problems = %q", got)
	}
}

func TestEncodeStateEmptyUnits(t *testing.T) {
	b := EncodeState([]StateUnit{{}, {Name: "x"}})
	if hex.EncodeToString(b) != "0a00"+"0a030a0178" {
		t.Errorf("got %x", b)
	}
}

// countingReader records the largest single read.
type countingReader struct {
	r       io.ReaderAt
	maxRead int
	reads   int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.reads++
	c.maxRead = max(c.maxRead, len(p))
	return c.r.ReadAt(p, off)
}

func TestIndexStateReadsBounded(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 8<<20)
	b := EncodeState([]StateUnit{{"a", "t/a", big}, {"b", "t/b", big}, {"c", "t/c", nil}})
	cr := &countingReader{r: bytes.NewReader(b)}
	x, err := IndexState(cr, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Units) != 3 || x.Units[1].ValueLen != int64(len(big)) || x.Units[2].Name != "c" {
		t.Fatalf("units %+v", x.Units)
	}
	if cr.maxRead > windowSize || cr.reads > 10 {
		t.Errorf("reads: %d, largest %d", cr.reads, cr.maxRead)
	}
}

// shortReader pretends the file is shorter than its stated size.
type shortReader struct{ b []byte }

func (s shortReader) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(s.b).ReadAt(p, off)
}

func TestIndexStateShortFile(t *testing.T) {
	b := EncodeState([]StateUnit{{"a", "t", []byte{1}}})
	if _, err := IndexState(shortReader{b[:3]}, int64(len(b))); err == nil {
		t.Error("no error for a file shorter than its size")
	}
	ioErr := errors.New("disk on fire")
	if _, err := IndexState(errReader{ioErr}, 10); !errors.Is(err, ioErr) {
		t.Errorf("err = %v", err)
	}
	x, err := IndexState(bytes.NewReader(nil), 0)
	if err != nil || len(x.Units) != 0 {
		t.Errorf("empty: %v %v", x, err)
	}
}

type errReader struct{ err error }

func (e errReader) ReadAt([]byte, int64) (int, error) { return 0, e.err }

// The names and type URLs of one state.bin are bounded in all, with an
// error that says so; the index of a file within the bound is whole.
func TestIndexStateStringBudget(t *testing.T) {
	long := strings.Repeat("n", 60<<10)
	var units []StateUnit
	for i := 0; i*2*len(long) <= MaxStateStrings; i++ {
		units = append(units, StateUnit{Name: fmt.Sprint(i, long), TypeURL: "type.googleapis.com/" + long})
	}
	b := EncodeState(units)
	_, err := IndexState(bytes.NewReader(b), int64(len(b)))
	if err == nil || !strings.Contains(err.Error(), "in all") {
		t.Fatalf("%d units of %d-byte names: %v, want the string budget", len(units), len(long), err)
	}
	b = EncodeState(units[:len(units)/2])
	if x, err := IndexState(bytes.NewReader(b), int64(len(b))); err != nil || len(x.Units) != len(units)/2 {
		t.Fatalf("half as many units: %v", err)
	}
}
