package snapshot

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

func TestUnitNames(t *testing.T) {
	for name, file := range map[string]string{
		"pit": "pit",
		"StorageVsp:ba6163d9-04a1-4d29-b605-72e2ffb1dc7f": "StorageVsp:ba6163d9-04a1-4d29-b605-72e2ffb1dc7f",
		"a/b":          "a%2Fb",
		"100%":         "100%25",
		"nul\x00x":     "nul%00x",
		".":            "%2E",
		"..":           "%2E%2E",
		"...":          "...",
		".hidden":      ".hidden",
		"%2E":          "%252E",
		"/":            "%2F",
		"caf\u00e9 \n": "caf\u00e9 \n",
	} {
		if got := EncodeUnitName(name); got != file {
			t.Errorf("EncodeUnitName(%q) = %q, want %q", name, got, file)
		}
		if got, err := DecodeUnitName(file); err != nil || got != name {
			t.Errorf("DecodeUnitName(%q) = %q, %v, want %q", file, got, err, name)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00", "%", "%2", "%2f", "%41", "x%2E", "%2E%2Ex"} {
		if got, err := DecodeUnitName(bad); err == nil {
			t.Errorf("DecodeUnitName(%q) = %q, want error", bad, got)
		}
	}
}

func FuzzUnitNames(f *testing.F) {
	for _, s := range []string{"pit", "a/b", "%", ".", "..", "\x00", "%2E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		file := EncodeUnitName(s)
		if got, err := DecodeUnitName(file); s != "" && (err != nil || got != s) {
			t.Errorf("round trip %q -> %q -> %q, %v", s, file, got, err)
		}
		if strings.ContainsAny(file, "/\x00") || file == "." || file == ".." {
			t.Errorf("%q encodes to unusable file name %q", s, file)
		}
		if name, err := DecodeUnitName(s); err == nil && EncodeUnitName(name) != s {
			t.Errorf("file %q decodes to %q which encodes to %q", s, name, EncodeUnitName(name))
		}
	})
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"vm1", "a", "my snapshot", "caf\u00e9", "new1", "latest.old", "a.b", strings.Repeat("x", 255), "\xff"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", "a\x00b", "tab\there", "nl\n", "del\x7f", "c1\u0085", "new", "latest"} {
		if err := ValidName(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ValidName(%q) = %v, want EINVAL", bad, err)
		}
	}
	if err := ValidName(strings.Repeat("x", 256)); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("256 bytes: %v", err)
	}
}
