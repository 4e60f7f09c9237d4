package main

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"0": 0, "7B": 7, "1024": 1024, "4k": 4096, "4K": 4096, "4KiB": 4096, "4kb": 4096, "4Ki": 4096,
		"64M": 64 << 20, "512MiB": 512 << 20, "4G": 4 << 30, "2GiB": 2 << 30, "1T": 1 << 40, "3tib": 3 << 40,
		"16777215T": 16777215 << 40, "18446744073709551615": 1<<64 - 1,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "1.5G", "1P", "1MM", "1Bi", "1 M", "1iB", "16777216T", "18446744073709551616", "x", "0x10", "1kB2"} {
		if got, err := parseSize(bad); err == nil || !strings.Contains(err.Error(), "\""+bad+"\"") {
			t.Errorf("parseSize(%q) = %d, %v; want an error naming it", bad, got, err)
		}
	}
}

func TestSizeFlagString(t *testing.T) {
	for v, want := range map[uint64]string{0: "0", 100: "100", 4096: "4KiB", 64 << 20: "64MiB", 3 << 30: "3GiB", 1 << 40: "1TiB", 1<<20 + 1: "1048577"} {
		f := sizeFlag{v}
		if got := f.String(); got != want {
			t.Errorf("%d: %q, want %q", v, got, want)
		}
		if back, err := parseSize(want); err != nil || back != v {
			t.Errorf("%q parses to %d, %v", want, back, err)
		}
	}
}
