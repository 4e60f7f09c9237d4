// Package snapshot reads, checks and writes OpenVMM snapshot directories
// (manifest.bin, state.bin, memory.bin; see docs/format.md) and provides the
// pure logic behind the snapfs views (docs/tree.md).
//
// Design:
//
//   - Wire format is handled with protowire directly, not generated types,
//     because byte-for-byte compatibility with OpenVMM's mesh encoder matters:
//     mesh omits an empty created_at (proto.Marshal would write "12 00") and
//     readers must keep working on fields a newer OpenVMM adds.
//   - Decoders never panic and never allocate a length read from the input
//     before checking it against the bytes actually available, so a hostile
//     or damaged store cannot crash or exhaust the daemon.
//   - state.bin can be large (device state, e.g. framebuffers), so IndexState
//     streams it through an io.ReaderAt with a small window and records only
//     the offsets of unit values; the FUSE layer reads value.bin straight
//     from state.bin.
//   - Check is pure: callers gather the inputs (file bytes, stat results) and
//     may cache them; CheckDir is the convenience wrapper for the CLI.
//   - Writing is atomic: a snapshot is built in a hidden staging directory
//     beside its final name and published with renameat2(RENAME_NOREPLACE),
//     so a reader never sees half a snapshot and an existing one is never
//     replaced.
package snapshot
