package fs

import (
	"hash/fnv"

	"github.com/snapfs/snapfs/snapshot"
)

// Inode numbers are derived, never allocated, so they are the same after a
// remount and unique within the mount:
//
//	1, 2, 3                 the root, new/, latest
//	D<<20 | slot            a snapshot whose STORE directory has inode D:
//	                        slot 0 is the directory, fixed slots its views,
//	                        unitBase+3i.. the i-th state unit's directory,
//	                        type_url and value.bin; unitTextBase+2i.. its
//	                        value.txt and value.json (a second range, so
//	                        the first keeps the numbers it always had)
//	R<<20 | stagedSlot      a staged file or directory with STORE inode R
//
// Two live STORE objects never share an inode, so neither do their
// derived numbers. A store inode too large to shift (some filesystems use
// all 64 bits) falls back to a hash with the top bit set.
const (
	inoRoot   = 1
	inoNew    = 2
	inoLatest = 3

	slotBits = 20
	slotMask = 1<<slotBits - 1

	slotDir          = 0
	slotManifestBin  = 1
	slotManifestJSON = 2
	slotManifestDir  = 3
	slotStateBin     = 4
	slotStateDir     = 5
	slotMemoryBin    = 6
	slotStatus       = 7
	slotSums         = 8
	slotFieldBase    = 16 // + index in snapshot.ManifestFields
	slotUnitBase     = 64 // + 3*unit index: dir, type_url, value.bin
	// + 2*unit index: value.txt, value.json
	slotUnitTextBase = slotUnitBase + 3*snapshot.MaxUnits
	slotStaged       = slotMask
	slotStagedStatus = slotMask - 1
)

// ino returns the inode number of slot within the object whose STORE inode
// is storeIno; name disambiguates the hash fallback.
func ino(storeIno uint64, slot uint64) uint64 {
	if storeIno < 1<<(63-slotBits) && slot <= slotMask {
		return storeIno<<slotBits | slot
	}
	h := fnv.New64a()
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(storeIno >> (8 * i))
		b[8+i] = byte(slot >> (8 * i))
	}
	h.Write(b[:])
	return h.Sum64() | 1<<63
}

// Entries of a unit directory, for unitSlot.
const (
	unitDir = iota
	unitTypeURL
	unitValueBin
	unitValueTxt
	unitValueJSON
)

// unitSlot returns the slot of entry k (unitDir...) of unit i.
func unitSlot(i, k int) uint64 {
	if k >= unitValueTxt {
		return slotUnitTextBase + 2*uint64(i) + uint64(k-unitValueTxt)
	}
	return slotUnitBase + 3*uint64(i) + uint64(k)
}

// gen derives a FUSE generation from a name, so a STORE directory renamed
// in place (same inode, new name) gets a fresh node instead of the old one.
func gen(name string) uint64 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return uint64(h.Sum32())
}
