package snapshot

// Manifest is openvmm.snapshot.SnapshotManifest (manifest.bin).
type Manifest struct {
	Version         uint32
	CreatedAt       Timestamp
	OpenVMMVersion  string
	MemorySizeBytes uint64
	VPCount         uint32
	PageSize        uint32
	Architecture    string
	// Unknown holds fields this version does not know, as read. They are
	// accepted (a newer OpenVMM may add fields) but not re-encoded by Encode.
	Unknown []byte
}

// ManifestVersion is the only manifest format version OpenVMM supports.
const ManifestVersion = 1

// Field numbers of SnapshotManifest.
const (
	fieldVersion = iota + 1
	fieldCreatedAt
	fieldOpenVMMVersion
	fieldMemorySize
	fieldVPCount
	fieldPageSize
	fieldArchitecture
)

// ManifestFields lists the manifest field names in field-number order (the
// keys of manifest.json and the files of manifest/).
var ManifestFields = []string{
	"version", "created_at", "openvmm_version", "memory_size_bytes",
	"vp_count", "page_size", "architecture",
}

// Architectures OpenVMM writes.
const (
	ArchX86_64  = "x86_64"
	ArchAArch64 = "aarch64"
)

// MaxManifestSize bounds how much of a manifest.bin is read. Real manifests
// are under 100 bytes; the bound keeps a bogus file from exhausting memory.
const MaxManifestSize = 1 << 20

// equal reports whether m and o have the same known fields (Unknown ignored).
func (m *Manifest) equal(o *Manifest) bool {
	return m.Version == o.Version && m.CreatedAt == o.CreatedAt &&
		m.OpenVMMVersion == o.OpenVMMVersion && m.MemorySizeBytes == o.MemorySizeBytes &&
		m.VPCount == o.VPCount && m.PageSize == o.PageSize && m.Architecture == o.Architecture
}
