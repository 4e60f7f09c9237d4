package fs

import (
	"testing"

	"github.com/snapfs/snapfs/snapshot"
)

// TestUnitSlots checks every unit entry of the largest state.bin has
// its own slot below the staged slots, and that the entries snapfs had
// before value.txt keep their numbers.
func TestUnitSlots(t *testing.T) {
	seen := map[uint64]bool{}
	for i := 0; i < snapshot.MaxUnits; i++ {
		for k := unitDir; k <= unitValueJSON; k++ {
			s := unitSlot(i, k)
			if seen[s] || s < slotUnitBase || s >= slotStagedStatus {
				t.Fatalf("unitSlot(%d, %d) = %d: taken or out of range", i, k, s)
			}
			seen[s] = true
		}
	}
	if unitSlot(5, unitValueBin) != 64+3*5+2 || unitSlot(2, unitTypeURL) != 64+3*2+1 {
		t.Fatal("type_url and value.bin slots changed")
	}
}

func TestInoUniqueAndStable(t *testing.T) {
	seen := map[uint64]string{inoRoot: "root", inoNew: "new", inoLatest: "latest"}
	slots := []uint64{slotDir, slotManifestBin, slotManifestJSON, slotManifestDir, slotStateBin,
		slotStateDir, slotMemoryBin, slotStatus, slotFieldBase, slotFieldBase + 6,
		unitSlot(0, 0), unitSlot(0, 2), unitSlot(1000, 1), slotStaged, slotStagedStatus}
	for _, i := range []int{0, 1, 1000, snapshot.MaxUnits - 1} {
		slots = append(slots, unitSlot(i, unitValueTxt), unitSlot(i, unitValueJSON))
	}
	for _, storeIno := range []uint64{2, 11, 12, 1 << 30, 1<<43 - 1, 1 << 50, 1<<64 - 1} {
		for _, slot := range slots {
			n := ino(storeIno, slot)
			what := "store inode " + string(rune('0'+storeIno%10))
			if prev, ok := seen[n]; ok {
				t.Fatalf("ino(%d, %d) = %d, already %s", storeIno, slot, n, prev)
			}
			seen[n] = what
			if ino(storeIno, slot) != n {
				t.Fatalf("ino(%d, %d) not stable", storeIno, slot)
			}
		}
	}
}
