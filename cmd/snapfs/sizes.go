package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseSize parses a byte count: a decimal integer with an optional unit
// K, M, G or T (any case, optionally followed by "i", "iB" or "B"), all
// binary multiples as memory sizes are: "64M" = "64MiB" = 64<<20, "4k" = 4096.
// A bare "B" means bytes.
func parseSize(s string) (uint64, error) {
	num := strings.TrimRight(s, "kKmMgGtTiIbB")
	unit := strings.ToUpper(s[len(num):])
	shift := 0
	if unit != "" && unit != "B" {
		i := strings.IndexByte("KMGT", unit[0])
		switch rest := unit[1:]; {
		case i < 0, rest != "" && rest != "I" && rest != "IB" && rest != "B":
			return 0, fmt.Errorf("invalid size %q: unknown unit %q (use K, M, G or T, optionally with iB)", s, s[len(num):])
		}
		shift = 10 * (i + 1)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: want an integer with an optional unit K, M, G or T", s)
	}
	if n > math.MaxUint64>>shift {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return n << shift, nil
}

// sizeFlag is a flag.Value holding a size parsed by parseSize.
type sizeFlag struct{ v uint64 }

func (f *sizeFlag) String() string {
	if f == nil {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}} {
		if f.v != 0 && f.v%(1<<u.shift) == 0 {
			return strconv.FormatUint(f.v>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatUint(f.v, 10)
}

func (f *sizeFlag) Set(s string) (err error) {
	f.v, err = parseSize(s)
	return err
}
