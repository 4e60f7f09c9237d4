package snapshot

import "fmt"

// RestoreCheck is OpenVMM's validate_manifest: it compares m with the VM
// being started, in OpenVMM's order and wording, and returns the first
// mismatch. The version is always checked; an empty arch or a zero size or
// count is not (so the CLI can check partial expectations).
func RestoreCheck(m *Manifest, arch string, memorySize uint64, vpCount, pageSize uint32) error {
	switch {
	case m.Version != ManifestVersion:
		return fmt.Errorf("snapshot manifest version %d is not supported (expected %d)", m.Version, ManifestVersion)
	case arch != "" && m.Architecture != arch:
		return fmt.Errorf("snapshot architecture '%s' doesn't match expected '%s'", m.Architecture, arch)
	case memorySize != 0 && m.MemorySizeBytes != memorySize:
		return fmt.Errorf("snapshot memory size (%d bytes) doesn't match expected (%d bytes)", m.MemorySizeBytes, memorySize)
	case vpCount != 0 && m.VPCount != vpCount:
		return fmt.Errorf("snapshot VP count (%d) doesn't match expected (%d)", m.VPCount, vpCount)
	case pageSize != 0 && m.PageSize != pageSize:
		return fmt.Errorf("snapshot page size (%d) doesn't match expected (%d)", m.PageSize, pageSize)
	}
	return nil
}
