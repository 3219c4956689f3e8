//go:build krsi_upgrade_test_abi

package enforcement

// The map layout change of the upgrade tests (test/kernel/upgrade_test.go),
// compiled in only with the build tag krsi_upgrade_test_abi (test/vm/run.sh
// builds /bin/krsi-next-abi with it): ABI 4, in which the maps the kernel
// and the plugin write while containers come and go, and the counters, have
// one entry more. Pinned maps of ABI 3 are incompatible with it (cilium/ebpf
// and the kernel see another max_entries), so a start over an ABI 3 set
// runs a migration, as a real layout change would: new maps, entries
// copied, the ABI stamped; and a krsi of ABI 3 started over its set finds a
// layout it does not know.

import "github.com/cilium/ebpf"

func init() {
	abi = 4
	identity := func(k, v []byte) ([]byte, []byte, error) { return k, v, nil }
	migrations = append(migrations, migration{from: 3, maps: map[string]convertFunc{
		bpfMapKrsiBindings: identity, bpfMapKrsiFallback: identity, bpfMapKrsiStaged: identity, bpfMapKrsiStats: identity,
	}})
	layoutChange = func(spec *ebpf.CollectionSpec) {
		for _, name := range []string{bpfMapKrsiBindings, bpfMapKrsiFallback, bpfMapKrsiStaged, bpfMapKrsiStats} {
			spec.Maps[name].MaxEntries++
		}
	}
}
