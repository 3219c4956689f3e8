package enforcement

// bpf2go's version is pinned by the tool line in go.mod. One object per
// architecture krsi ships for (-target amd64,arm64): bpf_x86_bpfel.{go,o}
// (built for 386 and amd64) and bpf_arm64_bpfel.{go,o}, each compiled with
// its __TARGET_ARCH_* define, because the few lines that read a system call's
// registers differ by architecture (bpf/lib/syscall.h). Everything else
// is the same C and CO-RE fits it to the running kernel; bpf/include/vmlinux.h
// is x86's and serves both (arm64's own pt_regs layout is declared as a CO-RE
// flavour). Other architectures have no object: enforcement does not build there.
//
// The second line builds the same source into a second object per
// architecture, compiled into krsi only with the build tag krsi_upgrade_test
// (test/vm/run.sh builds /bin/krsi-next with it): the upgrade tests
// (test/kernel/upgrade_test.go) need two binaries whose BPF objects differ.
// Same identifiers, other files.
//
// -type names what Go reads of bpf/include/krsi.h besides the maps' keys and
// values (which bpf2go generates anyway): the enums, whose values become Go
// constants (bpfKrsiHookKRSI_HOOK_FILE_MPROTECT, ...). An enum is in the
// object's BTF only if something uses it: bpf/krsi.c's krsi_enums does.
// -I../bpf: krsi.c includes its lib/ and progs/ headers by those paths.
//go:generate go tool bpf2go -tags linux,!krsi_upgrade_test -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target amd64,arm64 -type krsi_binding -type krsi_profile -type krsi_rule_key -type krsi_rule -type krsi_config -type krsi_event -type krsi_cgroup_path -type krsi_profile_meta -type krsi_parent -type krsi_fallback_rec -type krsi_abi -type krsi_access -type krsi_match -type krsi_mode -type krsi_binding_flag -type krsi_parent_kind -type krsi_profile_flag -type krsi_hook -type krsi_reason -type krsi_action -type krsi_stat -type krsi_rule_none -type krsi_exec_limit bpf ../bpf/krsi.c -- -I../bpf/include -I../bpf
//go:generate go tool bpf2go -tags linux,krsi_upgrade_test -output-stem bpfnext -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target amd64,arm64 -type krsi_binding -type krsi_profile -type krsi_rule_key -type krsi_rule -type krsi_config -type krsi_event -type krsi_cgroup_path -type krsi_profile_meta -type krsi_parent -type krsi_fallback_rec -type krsi_abi -type krsi_access -type krsi_match -type krsi_mode -type krsi_binding_flag -type krsi_parent_kind -type krsi_profile_flag -type krsi_hook -type krsi_reason -type krsi_action -type krsi_stat -type krsi_rule_none -type krsi_exec_limit bpf ../bpf/krsi.c -- -I../bpf/include -I../bpf -DKRSI_UPGRADE_TEST_OBJECT=1
