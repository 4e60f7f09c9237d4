package fs

import "testing"

func TestInoUniqueAndStable(t *testing.T) {
	seen := map[uint64]string{inoRoot: "root", inoNew: "new", inoLatest: "latest"}
	slots := []uint64{slotDir, slotManifestBin, slotManifestJSON, slotManifestDir, slotStateBin,
		slotStateDir, slotMemoryBin, slotStatus, slotFieldBase, slotFieldBase + 6,
		unitSlot(0, 0), unitSlot(0, 2), unitSlot(1000, 1), slotStaged, slotStagedStatus}
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
