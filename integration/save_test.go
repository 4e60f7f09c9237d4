package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/snapfs/snapfs/snapshot"
)

// guestRuns writes the pages a test guest leaves in its RAM.
func guestRuns(ram *vmRAM) {
	for _, page := range []int{0, 7, 4095} {
		copy(ram.mem[page*4096:], bytes.Repeat([]byte{byte(page), 'G'}, 2048))
	}
}

func checkSaved(t *testing.T, d *daemon, name string) {
	t.Helper()
	nwWaitPublished(t, d, name)
	if got := string(read(t, d.Path(name, "status"))); got != "ok\n" {
		t.Errorf("%s/status = %q", name, got)
	}
	mem := read(t, filepath.Join(d.Store, name, "memory.bin"))
	for _, page := range []int{0, 7, 4095} {
		if !bytes.Equal(mem[page*4096:page*4096+4096], bytes.Repeat([]byte{byte(page), 'G'}, 2048)) {
			t.Errorf("%s/memory.bin lacks the guest's page %d", name, page)
		}
	}
}

// TestSaveBackingInSnapshot: the VM's memory backing file is
// MNT/new/<name>/memory.bin; the snapshot publishes once the VM exits.
func TestSaveBackingInSnapshot(t *testing.T) {
	t.Parallel()
	d := nwMount(t, "", "--commit-delay", "200ms")
	dir := d.Path("new", "saved")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ram, err := openvmmStart(filepath.Join(dir, "memory.bin"), memSize)
	if err != nil {
		t.Fatal(err)
	}
	guestRuns(ram)
	m := goodManifest(time.Now())
	if err := openvmmSave(dir, m, snapshot.EncodeState(basicUnits(t)), filepath.Join(dir, "memory.bin")); err != nil {
		t.Fatalf("save: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // past the commit delay
	if _, err := os.Stat(filepath.Join(d.Store, "saved")); err == nil {
		t.Fatal("published while the VM holds its RAM open")
	}
	ram.close() // the user quits OpenVMM
	checkSaved(t, d, "saved")
}

// TestSaveBackingElsewhere: the backing file lives in another staging
// directory and OpenVMM hard-links it into the snapshot's.
func TestSaveBackingElsewhere(t *testing.T) {
	t.Parallel()
	d := nwMount(t, "", "--commit-delay", "200ms")
	if err := os.Mkdir(d.Path("new", "ram"), 0o755); err != nil {
		t.Fatal(err)
	}
	backing := d.Path("new", "ram", "memory.bin")
	ram, err := openvmmStart(backing, memSize)
	if err != nil {
		t.Fatal(err)
	}
	guestRuns(ram)
	dir := d.Path("new", "saved")
	if err := openvmmSave(dir, goodManifest(time.Now()), snapshot.EncodeState(basicUnits(t)), backing); err != nil {
		t.Fatalf("save: %v", err)
	}
	if err := os.Rename(dir, d.Path("saved")); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("mv while the RAM is open through new/ram: %v, want EBUSY", err)
	}
	ram.close()
	checkSaved(t, d, "saved")
	// The RAM file is now a published snapshot's memory.bin: its name in
	// new/ram is read-only, then removed.
	if _, err := os.OpenFile(backing, os.O_RDWR, 0); !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.ENOENT) {
		t.Errorf("opening the published RAM for writing through new/ram: %v, want EROFS or ENOENT", err)
	}
}
