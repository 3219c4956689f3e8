package enforcement

// bpf2go's version is pinned by the tool line in go.mod; -target bpfel gives one
// object for every little-endian architecture (amd64, arm64): CO-RE does the rest.
//go:generate go tool bpf2go -tags linux -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type krsi_binding -type krsi_profile -type krsi_rule_key -type krsi_rule -type krsi_config -type krsi_event -type krsi_cgroup_path -type krsi_profile_meta -type krsi_parent -type krsi_fallback_rec bpf ../bpf/krsi.c -- -I../bpf/include
