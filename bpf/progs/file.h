/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Files opened, received and mapped: mmap_file, file_open and file_receive,
 * each one program for every rule kind that acts there (the exec and files
 * rules on the kernel-resolved path, W^X, the cgroup move check).
 */

#ifndef KRSI_PROGS_FILE_H
#define KRSI_PROGS_FILE_H

#include "lib/verdict.h"
#include "lib/scratch.h"
#include "lib/pathmatch.h"
#include "lib/exec.h"
#include "lib/applet.h"
#include "lib/wx.h"
#include "lib/cgroup.h"

/*
 * Decide an access to file by the profile's rules: fileless check for exec,
 * then the most specific rule for each requested access bit, then the default.
 */
static __always_inline int check_file_in(const struct verdict *v, struct krsi_scratch *s,
					 struct file *file, __u8 hook, __u8 want, __u32 prot)
{
	int fileless = 0;

	if (!s) /* no memory for the scratch buffer: fail closed */
		return -EPERM;
	if (want & KRSI_ACCESS_EXEC)
		fileless = file->f_inode->i_nlink == 0;

	long n = bpf_d_path((struct path *)&file->f_path, s->path, KRSI_PATH_MAX);
	if (n <= 0)
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, prot);
	s->ev.path_len = n - 1;

	if (fileless && (v->profile->flags & KRSI_PF_DENY_FILELESS))
		return report_path(v, s, hook, KRSI_REASON_FILELESS, KRSI_RULE_NONE, want, prot);

	struct path_match m = {};
	match_path(s, v->profile, want, &m);
	int r = judge_path(v, s, hook, want, prot,
			   (want & KRSI_ACCESS_EXEC) ? KRSI_PF_EXEC_DEFAULT_DENY
						     : KRSI_PF_FILE_DEFAULT_DENY,
			   &m);
	if (r || hook != KRSI_HOOK_MMAP_FILE || !(want & KRSI_ACCESS_EXEC))
		return r;
	/*
	 * A multi-call binary whose applets are decided runs only through its
	 * own execve, where argv picks the applet: mapped executable by a loader
	 * in user space (ld.so BINARY sh), its argv[0] would be the loader's
	 * choice, unchecked. The kernel's ELF loader maps it inside execve.
	 */
	const struct krsi_rule *mc = multicall_of(v->profile, s);
	if (mc && !in_execve())
		return report_path(v, s, hook, KRSI_REASON_APPLET_LOADER, mc->origin[5], want, prot);
	return 0;
}

static __always_inline int check_file(const struct verdict *v, struct file *file, __u8 hook,
				      __u8 want, __u32 prot)
{
	__u64 *held;
	struct krsi_scratch *s = scratch_begin(&held);
	int ret = check_file_in(v, s, file, hook, want, prot);

	scratch_release(held);
	return ret;
}

/*
 * mmap(2) and the ELF loader's mappings. W^X for anonymous and W+X mappings;
 * a PROT_EXEC mapping of a file is held to the exec rules, so running a
 * denied binary through ld.so, or mapping a memfd executable, is denied too,
 * and to W^X's file checks (lib/wx.h). The kernel may add PROT_EXEC
 * (READ_IMPLIES_EXEC): check prot, not reqprot.
 *
 * And mmap(MAP_SHARED) of a descriptor open for appending, whatever prot: the
 * pages are the file's, and the mapping can write them anywhere (with
 * PROT_WRITE now, or later: the kernel gives a shared mapping of a writable
 * descriptor VM_MAYWRITE, and mprotect(PROT_WRITE) then needs nothing more).
 * file_mprotect could not resolve the path of an overlay file (vm_file is the
 * upper layer's file there, on a private mount), so the setup step is
 * decided, by the write rule.
 */
SEC("lsm.s/mmap_file")
int BPF_PROG(krsi_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct verdict v = {};
	int r;

	if (ret)
		return ret;
	/*
	 * Anonymous memory is told by MAP_ANONYMOUS, not by file == NULL: newer
	 * verifiers treat the hook's file argument as never NULL and drop that
	 * test as dead code (seen on 6.12). MAP_ANONYMOUS is set exactly when no
	 * file was given (anonymous hugetlb memory gets an internal file). It is
	 * tested first: the file is not looked at for anonymous memory.
	 */
	int anon = flags & MAP_ANONYMOUS;
	int append = !anon && (flags & MAP_SHARED) && opened_for_append(file);
	if (!(prot & PROT_EXEC) && !append)
		return 0;
	if (!caller_start(&v, ret, &r))
		return r;
	/* Before the entrypoint only the runtime works here (KRSI_BINDING_EXEC_PENDING). */
	int rules = !(v.binding->flags & KRSI_BINDING_EXEC_PENDING);
	__u32 pf = v.profile->flags;

	if (append && rules && (pf & KRSI_PF_USES_FILES)) {
		r = check_file(&v, file, KRSI_HOOK_MMAP_FILE, KRSI_ACCESS_WRITE, prot);
		if (r)
			return r;
	}
	if (!(prot & PROT_EXEC))
		return 0;
	if (pf & KRSI_PF_DENY_WX) {
		if (anon)
			return report_memory(&v, KRSI_HOOK_MMAP_FILE, KRSI_REASON_WX_ANON, prot, 0, 0, 0);
		if (prot & PROT_WRITE)
			return report_memory(&v, KRSI_HOOK_MMAP_FILE, KRSI_REASON_WX_WRITABLE, prot, 0, 0,
					     0);
	}
	if (anon)
		return 0;
	if (rules && (pf & KRSI_PF_USES_EXEC)) {
		r = check_file(&v, file, KRSI_HOOK_MMAP_FILE, KRSI_ACCESS_EXEC, prot);
		if (r)
			return r;
	}
	if (!(pf & KRSI_PF_DENY_WX))
		return 0;
	__u64 root = caller_root(&v);
	__u8 reason = in_execve() ? wx_loader_map(file, root) : wx_exec_map(file->f_inode, root);
	return wx_report(&v, KRSI_HOOK_MMAP_FILE, reason, prot);
}

/*
 * Whether the files rules could deny one of the access bits want: false when
 * the profile says (KRSI_PF_FILE_NODENY_SHIFT) that no rule denies any of
 * them and its default allows them all. Then the path is not resolved at
 * all: every path gets the same answer, allow. (A W^X-only profile has no
 * KRSI_PF_USES_FILES and never gets here; a profile that denies writes only,
 * as builtin/readonly-root, pays nothing on a read-only open.)
 */
static __always_inline int rules_may_deny(__u32 pf, __u8 want)
{
	return ((pf >> KRSI_PF_FILE_NODENY_SHIFT) & want) != want;
}

/*
 * The files rules on an open (or a received descriptor) for the access bits
 * want. Before the entrypoint only the runtime works in the cgroup
 * (KRSI_BINDING_EXEC_PENDING).
 */
static __always_inline int files_rules(const struct verdict *v, struct file *file, __u8 hook,
				       __u8 want)
{
	__u32 pf = v->profile->flags;

	if (!(pf & KRSI_PF_USES_FILES) || (v->binding->flags & KRSI_BINDING_EXEC_PENDING) ||
	    !want || !rules_may_deny(pf, want))
		return 0;
	return check_file(v, file, hook, want, 0);
}

/*
 * The path rules of an open: the opens that execve and uselib do are decided
 * by the exec rules (at bprm_check_security for the program, here for the
 * interpreter the ELF loader opens, PT_INTERP, which meets no other exec
 * check before it runs: a copy of a denied program used as an interpreter
 * is denied by its path like the program); every other open by the files
 * rules.
 */
static __always_inline int open_rules(const struct verdict *v, struct file *file)
{
	__u32 pf = v->profile->flags;

	if (v->binding->flags & KRSI_BINDING_EXEC_PENDING)
		return 0; /* the runtime's own opens, before the entrypoint */
	if (exec_open(file)) {
		if (!(pf & KRSI_PF_USES_EXEC) || !interp_open(file))
			return 0;
		return check_file(v, file, KRSI_HOOK_ELF_INTERP, KRSI_ACCESS_EXEC, 0);
	}
	return files_rules(v, file, KRSI_HOOK_FILE_OPEN, open_access(file));
}

/*
 * The common start of file_open and file_receive: 1 and the verdict when the
 * caller is bound and the file is no move out of its container's cgroups
 * (progs/cgroup.h), else 0 and what to return in *out.
 */
static __always_inline int open_start(struct verdict *v, struct file *file, __u8 hook, int ret,
				      int *out)
{
	if (!caller_start(v, ret, out))
		return 0;
	*out = check_cgroup_move(v, file, hook);
	return *out == 0;
}

/*
 * A file opened (file_open: open(2) and every other open) or received
 * (file_receive: a descriptor passed over a unix socket with SCM_RIGHTS or
 * taken with pidfd_getfd, where no open happens in the receiver): the cgroup
 * move check, the path rules, then W^X, in that order.
 *
 * Both programs are attached for every profile, for the cgroup move check:
 * whatever the profile's rules and from the cgroup's creation, a move out of
 * the container's cgroups (a writable cgroup.procs of another cgroup)
 * defeats every rule (progs/cgroup.h). A received file is held to the files
 * rules by the access it was opened with (open_access: the kernel cleared
 * O_CREAT and O_TRUNC after that open); an open to the exec or files rules
 * (open_rules).
 *
 * W^X: a file opened or received for writing, see wx_writable_file. The ELF
 * loader's open of a program's interpreter (interp_open) is held to what a
 * mapping of it would be: an interpreter the container wrote, that is open
 * for writing, has no name (/proc/self/fd/N of a memfd) or is a kernel
 * object is refused here, before the point of no return, so execve fails
 * with EPERM. One that passes is marked EXEC_MAPPED.
 *
 * Sleepable on both kernels: bpf_d_path.
 */
static __always_inline int opened(struct file *file, int ret, __u8 hook)
{
	struct verdict v = {};
	int r;

	if (!open_start(&v, file, hook, ret, &r))
		return r;
	if (hook == KRSI_HOOK_FILE_OPEN)
		r = open_rules(&v, file);
	else
		r = files_rules(&v, file, hook, open_access(file));
	if (r || !(v.profile->flags & KRSI_PF_DENY_WX))
		return r;
	if (file_writable(file))
		return wx_writable_file(&v, file, hook);
	if (hook != KRSI_HOOK_FILE_OPEN || !interp_open(file))
		return 0;
	return wx_report(&v, KRSI_HOOK_ELF_INTERP, wx_exec_map(file->f_inode, caller_root(&v)),
			 PROT_EXEC);
}

SEC("lsm.s/file_open")
int BPF_PROG(krsi_file_open, struct file *file, int ret)
{
	return opened(file, ret, KRSI_HOOK_FILE_OPEN);
}

SEC("lsm.s/file_receive")
int BPF_PROG(krsi_file_receive, struct file *file, int ret)
{
	return opened(file, ret, KRSI_HOOK_FILE_RECEIVE);
}

#endif /* KRSI_PROGS_FILE_H */
