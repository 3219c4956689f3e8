package enforcement

// bpf2go's version is pinned by the tool line in go.mod; -target bpfel gives one
// object for every little-endian architecture (amd64, arm64): CO-RE does the rest.
//
// The second line builds the same source into a second object, compiled into
// krsi only with the build tag krsi_upgrade_test (test/vm/run.sh builds
// /bin/krsi-next with it): the upgrade tests (test/kernel/upgrade_test.go)
// need two binaries whose BPF objects differ. Same identifiers, other files.
//go:generate go tool bpf2go -tags linux,!krsi_upgrade_test -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type krsi_binding -type krsi_profile -type krsi_rule_key -type krsi_rule -type krsi_config -type krsi_event -type krsi_cgroup_path -type krsi_profile_meta -type krsi_parent -type krsi_fallback_rec bpf ../bpf/krsi.c -- -I../bpf/include
//go:generate go tool bpf2go -tags linux,krsi_upgrade_test -output-stem bpfnext -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type krsi_binding -type krsi_profile -type krsi_rule_key -type krsi_rule -type krsi_config -type krsi_event -type krsi_cgroup_path -type krsi_profile_meta -type krsi_parent -type krsi_fallback_rec bpf ../bpf/krsi.c -- -I../bpf/include -DKRSI_UPGRADE_TEST_OBJECT=1
