package statetext

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

const boxURL = "type.googleapis.com/nest.Box"

// boxSchema is a schema of one message that holds an Any.
func boxSchema(t testing.TB) *Schema {
	t.Helper()
	dir := t.TempDir()
	src := "syntax = \"proto3\";\npackage nest;\nimport \"google/protobuf/any.proto\";\n" +
		"message Box {\n  google.protobuf.Any inner = 1;\n  repeated google.protobuf.Any many = 2;\n  uint32 v = 3;\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "nest.proto"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSchema(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// anyOf is an Any of url holding value.
func anyOf(url string, value []byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendString(b, url)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}

// nestedBoxes is a Box holding n levels of Box-in-Any.
func nestedBoxes(n int) []byte {
	b := protowire.AppendTag(nil, 3, protowire.VarintType)
	return nestBoxes(protowire.AppendVarint(b, 1), n)
}

// nestBoxes wraps the Box core in n levels of Box-in-Any, in linear time:
// the prefixes are made inside out, then joined once.
func nestBoxes(core []byte, n int) []byte {
	prefixes := make([][]byte, n)
	size := len(core)
	for i := 0; i < n; i++ {
		a := protowire.AppendTag(nil, 1, protowire.BytesType)
		a = protowire.AppendString(a, boxURL)
		a = protowire.AppendTag(a, 2, protowire.BytesType)
		a = protowire.AppendVarint(a, uint64(size))
		anyLen := len(a) + size
		p := protowire.AppendTag(nil, 1, protowire.BytesType)
		p = protowire.AppendVarint(p, uint64(anyLen))
		prefixes[i] = append(p, a...)
		size += len(prefixes[i])
	}
	out := make([]byte, 0, size)
	for i := n - 1; i >= 0; i-- {
		out = append(out, prefixes[i]...)
	}
	return append(out, core...)
}

func TestAnyDepthWithinLimit(t *testing.T) {
	s := boxSchema(t)
	out, err := s.JSON(boxURL, nestedBoxes(MaxAnyDepth))
	if err != nil {
		t.Fatalf("%d nested Anys: %v", MaxAnyDepth, err)
	}
	if n := strings.Count(string(out), `"@type"`); n != MaxAnyDepth {
		t.Errorf("JSON holds %d @type, want %d", n, MaxAnyDepth)
	}
}

// Nested Anys past the depth, up to the whole value size, are refused
// quickly with ErrTooLarge naming the limit.
func TestAnyDepthPastLimit(t *testing.T) {
	s := boxSchema(t)
	for _, n := range []int{MaxAnyDepth + 1, 20000} {
		v := nestedBoxes(n)
		if len(v) > MaxValueSize {
			t.Fatalf("%d levels make %d bytes", n, len(v))
		}
		start := time.Now()
		_, err := s.JSON(boxURL, v)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "google.protobuf.Any") {
			t.Errorf("%d nested Anys (%d bytes): %v, want ErrTooLarge", n, len(v), err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%d nested Anys took %v", n, d)
		}
	}
}

// Sibling Anys, each nested within the depth around a large value, are
// refused by the byte budget: each level counts the bytes it decodes.
func TestAnyBytesPastLimit(t *testing.T) {
	s := boxSchema(t)
	core := protowire.AppendTag(nil, 4, protowire.BytesType) // unknown to Box
	core = protowire.AppendBytes(core, make([]byte, 60<<10))
	one := protowire.AppendTag(nil, 2, protowire.BytesType)
	one = protowire.AppendBytes(one, anyOf(boxURL, nestBoxes(core, MaxAnyDepth-2)))
	var v []byte
	for len(v)+len(one) <= MaxValueSize {
		v = append(v, one...)
	}
	_, err := s.JSON(boxURL, v)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "bytes in all") {
		t.Errorf("%d bytes of sibling Anys: %v, want the byte budget", len(v), err)
	}
}

// FuzzAnyLimits: whatever the bytes, JSON of a Box ends within the caps
// and never panics.
func FuzzAnyLimits(f *testing.F) {
	s := boxSchema(f)
	f.Add(nestedBoxes(3))
	f.Add(nestedBoxes(MaxAnyDepth + 1))
	f.Add(anyOf(boxURL, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := s.JSON(boxURL, b)
		if err == nil && len(out) > MaxTextSize {
			t.Fatalf("%d bytes of JSON", len(out))
		}
	})
}
