//go:build ignore
// SPDX-License-Identifier: GPL-2.0-only
/*
 * krsi's kernel side: BPF LSM programs that enforce a per-cgroup profile, and
 * cgroup tracepoints that bind new cgroups before anything runs in them.
 *
 * Step in the pipeline: profile -> map entries (Go, enforcement package) ->
 * the decision made here -> an event on krsi_events.
 *
 * Every hook starts with one lookup of the caller's cgroup id in
 * krsi_bindings; a caller that is not bound pays that and nothing more.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "krsi.h"
#include "krsi_maps.h"

char LICENSE[] SEC("license") = "GPL";

#ifdef KRSI_UPGRADE_TEST_OBJECT
/*
 * Only in the second object generated for the upgrade tests (build tag
 * krsi_upgrade_test, enforcement/gen.go): the same programs in an object whose
 * bytes, and so whose id, differ, so that test/kernel can replace one krsi's
 * pinned set with another's. Never read.
 */
const volatile __u32 krsi_upgrade_test_object = KRSI_UPGRADE_TEST_OBJECT;
#endif

/*
 * Never read. Clang writes a type into the object's BTF only when something
 * uses it; this variable uses the enums Go reads (bpf2go -type, in
 * enforcement/gen.go), so that their Go constants are generated from here.
 */
const volatile struct krsi_enums {
	enum krsi_abi abi;
	enum krsi_access access;
	enum krsi_match match;
	enum krsi_mode mode;
	enum krsi_binding_flag binding_flag;
	enum krsi_parent_kind parent_kind;
	enum krsi_profile_flag profile_flag;
	enum krsi_hook hook;
	enum krsi_reason reason;
	enum krsi_action action;
	enum krsi_stat stat;
	enum krsi_rule_none rule_none;
	enum krsi_exec_limit exec_limit;
} krsi_enums;

/*
 * What is attached: the programs, by concern. Each file holds every program
 * of its hooks (lib/ holds what they share; the maps are include/krsi_maps.h).
 * Where several rule kinds act on one hook (file_open, file_receive,
 * mmap_file, file_mprotect, bprm_check_security), one program does all of
 * it, so that every caller pays one trampoline and one lookup of its binding
 * per hook, and a bound caller only the parts its profile's flags ask for. In
 * each, the path rules come first and the W^X file checks last: those mark
 * the file (lib/wx.h), which must not happen for an operation the rules
 * deny. Which of them krsi run attaches: enforcement.go, programs.
 */

/*
 * cgroup_mkdir and cgroup_rmdir: bind a container's cgroup as the kernel
 * makes it; task_alloc: no clone3 into another cgroup.
 */
#include "progs/cgroup.h"

/* cred_prepare, bprm_check_security, bprm_committing_creds: execve. */
#include "progs/exec.h"

/* mmap_file, file_open, file_receive: files mapped, opened, received. */
#include "progs/file.h"

/*
 * W^X on memory: file_mprotect; ptrace_access_check, ptrace_traceme,
 * shm_shmat, inode_init_security_anon (userfaultfd).
 */
#include "progs/memory.h"

/*
 * Changes by path: path_unlink, path_rmdir, path_mkdir, path_mknod,
 * path_symlink, path_truncate, path_chmod, path_chown, path_link,
 * path_rename, path_chroot.
 */
#include "progs/pathchange.h"

/*
 * A descriptor's later uses and inode attributes: file_fcntl,
 * file_permission, file_ioctl; inode_setattr (two programs: the hook's two
 * signatures), inode_setxattr, inode_removexattr, inode_set_acl,
 * inode_remove_acl.
 */
#include "progs/access.h"
