package enforcement

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// SetRecord says which krsi made a pinned set: the id of its BPF object
// (ObjectID) and the layout of its maps (ABI). Two krsi binaries with the
// same record run the same programs over the same maps: a start finding its
// own record reuses the set, any other record (or none) makes it replace
// the set (upgrade.go).
type SetRecord struct {
	Object string `json:"object"`
	ABI    uint32 `json:"abi"`
}

// Running is the record of this binary's own set.
func Running() SetRecord { return SetRecord{Object: ObjectID(), ABI: abi} }

func (r SetRecord) String() string {
	return fmt.Sprintf("object %s (map layout ABI %d)", r.Object, r.ABI)
}

// recordPin is the name of the record's pin in a set's directory. bpffs holds
// only BPF objects, so the record is a one-entry array map that user space
// makes and no program uses: it is not part of the BPF object, and a set
// pinned before krsi recorded anything simply lacks it.
const recordPin = "krsi_object"

// recordSize: the ABI (u32, little endian), then the object id in ASCII,
// NUL padded. Never changes, whatever the ABI: every krsi must read it.
const recordSize = 32

// readRecord reads the record pinned in dir; ok is false when there is none
// (a set pinned by a krsi older than the record, or no set).
func readRecord(dir string) (rec SetRecord, ok bool, err error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, recordPin), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		return SetRecord{}, false, nil
	}
	if err != nil {
		return SetRecord{}, false, fmt.Errorf("open the set's record %s: %w", filepath.Join(dir, recordPin), err)
	}
	defer m.Close()
	if m.ValueSize() != recordSize {
		return SetRecord{}, false, fmt.Errorf("the set's record %s has %d-byte values, want %d: not written by krsi",
			filepath.Join(dir, recordPin), m.ValueSize(), recordSize)
	}
	buf := make([]byte, recordSize)
	if err := m.Lookup(uint32(0), buf); err != nil {
		return SetRecord{}, false, fmt.Errorf("read the set's record %s: %w", filepath.Join(dir, recordPin), err)
	}
	return decodeRecord(buf), true, nil
}

func encodeRecord(r SetRecord) []byte {
	buf := make([]byte, recordSize)
	binary.LittleEndian.PutUint32(buf, r.ABI)
	copy(buf[4:], r.Object)
	return buf
}

func decodeRecord(buf []byte) SetRecord {
	id := buf[4:]
	for i, c := range id {
		if c == 0 {
			id = id[:i]
			break
		}
	}
	return SetRecord{ABI: binary.LittleEndian.Uint32(buf), Object: string(id)}
}

// writeRecord pins this binary's record in dir, replacing any other. In a
// staged set (upgrade.go) it is written last: a staged set with a record is
// complete.
func writeRecord(dir string) error {
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: recordPin, Type: ebpf.Array, KeySize: 4, ValueSize: recordSize, MaxEntries: 1})
	if err != nil {
		return fmt.Errorf("create the set's record: %w", err)
	}
	defer m.Close()
	if err := m.Update(uint32(0), encodeRecord(Running()), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write the set's record: %w", err)
	}
	path := filepath.Join(dir, recordPin)
	if err := removeIfExists(path); err != nil {
		return fmt.Errorf("replace the set's record %s: %w", path, err)
	}
	if err := m.Pin(path); err != nil {
		return fmt.Errorf("pin the set's record at %s: %w", path, err)
	}
	return nil
}
