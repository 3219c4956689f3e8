package enforcement

import "unsafe"

// unsafeBytes views the C char arrays bpf2go renders as []int8 as bytes.
func unsafeBytes(b []int8) []byte {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), len(b))
}
