package main

import (
	"crypto/sha256"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/snapfs/snapfs/snapshot"
)

// sample is one demo snapshot.
type sample struct {
	name  string
	m     *snapshot.Manifest
	units []snapshot.StateUnit
}

// newSample describes demo snapshot i of n: odd ones x86_64 with 4 KiB
// pages, even ones aarch64 with 64 KiB pages; created_at an hour apart,
// ending an hour before now, with distinct fractions of a second.
func newSample(i, n int, now time.Time, memSize uint64) *sample {
	arch, page := snapshot.ArchX86_64, uint32(4096)
	if i%2 == 0 {
		arch, page = snapshot.ArchAArch64, 65536
	}
	memSize = (memSize + uint64(page) - 1) / uint64(page) * uint64(page)
	created := now.Add(-time.Duration(n-i+1) * time.Hour).Add(time.Duration(i%10) * 111111111)
	s := &sample{
		name: fmt.Sprintf("vm%d", i),
		m: &snapshot.Manifest{
			Version:         snapshot.ManifestVersion,
			CreatedAt:       snapshot.Timestamp{Seconds: created.Unix(), Nanos: int32(created.Nanosecond())},
			OpenVMMVersion:  "0.1.0",
			MemorySizeBytes: memSize,
			VPCount:         []uint32{2, 4, 1, 8}[(i-1)%4],
			PageSize:        page,
			Architecture:    arch,
		},
	}
	s.units = sampleUnits(i, arch)
	return s
}

const typePrefix = "type.googleapis.com/"

// sampleUnits returns typical OpenVMM state units: the x86 chipset only on
// x86_64, infrastructure and VMBus devices everywhere.
func sampleUnits(i int, arch string) []snapshot.StateUnit {
	var u []snapshot.StateUnit
	add := func(name, msg string, fields ...any) {
		u = append(u, snapshot.StateUnit{Name: name, TypeURL: typePrefix + msg, Value: message(fields...)})
	}
	if arch == snapshot.ArchX86_64 {
		add("pit", "chipset.pit.SavedState", uint64(3), uint64(0xffff), []byte{1, 2})
		add("rtc", "chipset.cmos_rtc.SavedState", []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"), uint64(1))
		add("ide", "ide.SavedState", uint64(2), []byte("channel-0"))
	}
	add("uefi", "firmware_uefi.SavedState", uint64(i), []byte("nvram"))
	add("vmtime", "vmcore.vmtime.SavedState", uint64(1_000_000*i))
	add("vmbus", "vmbus_server.SavedState", uint64(5), []byte("channel-0"))
	add("input", "input.SavedState")
	add("StorageVsp:"+guid(i), "storvsp.SavedState", uint64(42))
	return u
}

// message encodes values as fields 1, 2, ... (uint64 as varint, []byte as
// bytes), schema-less like a real device's saved state.
func message(fields ...any) []byte {
	var b []byte
	for i, f := range fields {
		num := protowire.Number(i + 1)
		switch v := f.(type) {
		case uint64:
			b = protowire.AppendTag(b, num, protowire.VarintType)
			b = protowire.AppendVarint(b, v)
		case []byte:
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	}
	return b
}

// guid is a stable, version-4 style instance GUID for demo snapshot i.
func guid(i int) string {
	h := sha256.Sum256(fmt.Appendf(nil, "snapfs sample storvsp %d", i))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
