/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * execve(2): the exec stage's reset at prepare_bprm_creds, the exec rules
 * and W^X at bprm_check_security, and a multi-call binary's applet after the
 * point of no return (bprm_committing_creds).
 */

#ifndef KRSI_PROGS_EXEC_H
#define KRSI_PROGS_EXEC_H

#include "lib/verdict.h"
#include "lib/scratch.h"
#include "lib/pathmatch.h"
#include "lib/exec.h"
#include "lib/syscall.h"
#include "lib/applet.h"
#include "lib/wx.h"

/*
 * prepare_bprm_creds, at the start of every execve (and every other
 * prepare_creds): a new execve has not met bprm_check_security yet. A task
 * that never exec'd while bound has no storage and pays one pointer test.
 */
SEC("lsm/cred_prepare")
int BPF_PROG(krsi_exec_stage_reset, struct cred *new, const struct cred *old, gfp_t gfp, int ret)
{
	__u32 *st = bpf_task_storage_get(&krsi_exec_stage, bpf_get_current_task_btf(), 0, 0);
	if (st && *st)
		*st = 0;
	return ret;
}

/*
 * runc 1.1 re-executes itself in the container's cgroup before the entrypoint
 * (its CVE-2019-5736 defence): from a sealed memfd (no link), or from a bind
 * mount of its binary that it has already lazily unmounted (MNT_DETACH leaves
 * the mount in no namespace). A container's entrypoint is a path in its
 * root, which is neither.
 */
static __always_inline int runtime_reexec(struct file *file)
{
	if (file->f_inode->i_nlink == 0)
		return 1;
	struct mount *mnt = real_mount(BPF_CORE_READ(file, f_path.mnt));
	return BPF_CORE_READ(mnt, mnt_ns) == NULL;
}

/*
 * The resolved path of the program an execve runs into s (and the path the
 * caller gave, bprm->filename, after it, for the event): 0, or -1.
 */
static __always_inline int exec_paths(struct krsi_scratch *s, struct linux_binprm *bprm)
{
	/* bprm->file, not a probe read: bpf_d_path needs a pointer the verifier trusts. */
	long n = bpf_d_path((struct path *)&bprm->file->f_path, s->path, KRSI_PATH_MAX);
	if (n <= 0)
		return -1;
	s->ev.path_len = n - 1;
	const char *name = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(&s->path[s->ev.path_len & (KRSI_PATH_MAX - 1)],
				      KRSI_INVOKED_MAX, name);
	s->ev.invoked_len = n > 0 ? n - 1 : 0;
	return 0;
}

/*
 * The exec rules at bprm_check_security: fileless, the program's path, and,
 * for a multi-call binary whose applets the profile decides, the applet the
 * caller's argv names (lib/applet.h: best effort before the point of no
 * return; krsi_bprm_committing decides for good).
 */
static __always_inline int check_exec_in(const struct verdict *v, struct krsi_scratch *s,
					 struct linux_binprm *bprm)
{
	const __u8 want = KRSI_ACCESS_EXEC, hook = KRSI_HOOK_BPRM_CHECK;
	struct path_match m = {};
	__u32 rule = KRSI_RULE_NONE;

	if (!s) /* no memory for the scratch buffer: fail closed */
		return -EPERM;
	int fileless = bprm->file->f_inode->i_nlink == 0;
	if (exec_paths(s, bprm))
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, 0);
	if (fileless && (v->profile->flags & KRSI_PF_DENY_FILELESS))
		return report_path(v, s, hook, KRSI_REASON_FILELESS, KRSI_RULE_NONE, want, 0);
	match_path(s, v->profile, want, &m);
	int r = judge_path(v, s, hook, want, 0, KRSI_PF_EXEC_DEFAULT_DENY, &m);
	if (r)
		return r;
	const struct krsi_rule *mc = multicall_of(v->profile, s);
	if (!mc)
		return 0;
	/* Only the program the caller named gets the caller's argv: not a #! interpreter. */
	if (bprm->interp != bprm->filename)
		return 0;
	struct applet_q *q = &s->q;
	applet_query(s, exec_argv(), 0, 0, 0);
	/* Unreadable here: decided after the point of no return. */
	if (!q->base || krsi_applet(s))
		return 0;
	__u8 reason = applet_verdict(v->profile, mc, s, q, &rule);
	if (!reason)
		return 0;
	return report_path(v, s, hook, reason, rule, want, 0);
}

/*
 * execve(2), at each #! level: arms a container's path rules at its
 * entrypoint (KRSI_BINDING_EXEC_PENDING), notes the exec stage (an ELF's
 * interpreter open comes next), the exec rules on the program's path, then
 * W^X: an ELF file written by the container under W^X, open for writing, or
 * a kernel object is refused with EPERM; a program that passes is marked
 * EXEC_MAPPED from here (not only when the loader maps it). A file with no
 * name is not refused by W^X: that is exec.fileless's decision (runtimes run
 * themselves from sealed memfds inside the container's cgroup). Scripts are
 * not machine code: only ELF files are checked (the interpreter is, when it
 * is exec'd in turn).
 */
SEC("lsm.s/bprm_check_security")
int BPF_PROG(krsi_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct verdict v = {};
	int runtime = 0;

	int out;

	if (!caller_start(&v, ret, &out))
		return out;
	if (v.binding->flags & KRSI_BINDING_EXEC_PENDING) {
		if (runtime_reexec(bprm->file))
			runtime = 1;
		else /* The entrypoint: from here on the cgroup is the container's. */
			((struct krsi_binding *)v.binding)->flags &= ~KRSI_BINDING_EXEC_PENDING;
	}
	int elf = exec_stage_checked(bprm);
	if (!runtime && (v.profile->flags & KRSI_PF_USES_EXEC)) {
		__u64 *held;
		struct krsi_scratch *s = scratch_begin(&held);
		int r = check_exec_in(&v, s, bprm);

		scratch_release(held);
		if (r)
			return r;
	}
	if (!elf || !(v.profile->flags & KRSI_PF_DENY_WX))
		return 0;
	__u8 reason = wx_exec_map(bprm->file->f_inode, caller_root(&v));
	if (reason == KRSI_REASON_WX_FILELESS)
		return 0;
	return wx_report(&v, KRSI_HOOK_BPRM_CHECK, reason, PROT_EXEC);
}

/*
 * After execve's point of no return (begin_new_exec: the old threads are
 * gone, the new mm is current's, the new creds not yet committed): the
 * applet a multi-call binary will run, read from the argv strings the
 * kernel copied into the new stack (bprm->p), which nothing but the new
 * program can change now. A denial here cannot fail the exec: the task gets
 * SIGKILL, which ends it before its first instruction (action "killed"). This
 * is the decision that counts; bprm_check_security's EPERM is the ordinary
 * case of it. lib/applet.h.
 */
#define SIGKILL 9
SEC("lsm.s/bprm_committing_creds")
int BPF_PROG(krsi_bprm_committing, struct linux_binprm *bprm)
{
	struct verdict v = {};

	int out;

	/* Not before the entrypoint: the runtime re-executing itself (krsi_bprm_check). */
	if (!rules_start(&v, 0, KRSI_PF_USES_APPLETS, &out))
		return 0;

	__u64 *held;
	struct krsi_scratch *s = scratch_begin(&held);
	struct path_match m = {};
	__u32 rule = KRSI_RULE_NONE;
	__u8 reason = 0;

	if (!s) {
		if (v.binding->mode != KRSI_MODE_AUDIT)
			bpf_send_signal(SIGKILL);
		goto out;
	}
	if (exec_paths(s, bprm)) {
		reason = KRSI_REASON_NO_PATH;
	} else {
		match_path(s, v.profile, KRSI_ACCESS_EXEC, &m);
		const struct krsi_rule *mc = multicall_of(v.profile, s);
		if (!mc)
			goto out;
		__u64 p = BPF_CORE_READ(bprm, p);
		applet_query(s, p, p, BPF_CORE_READ(bprm, argc), 1);
		if (krsi_applet(s))
			reason = KRSI_REASON_APPLET_UNKNOWN;
		else
			reason = applet_verdict(v.profile, mc, s, &s->q, &rule);
	}
	if (!reason)
		goto out;
	report_path(&v, s, KRSI_HOOK_BPRM_COMMITTING, reason, rule, KRSI_ACCESS_EXEC, 0);
	if (v.binding->mode != KRSI_MODE_AUDIT)
		bpf_send_signal(SIGKILL);
out:
	scratch_release(held);
	return 0;
}

#endif /* KRSI_PROGS_EXEC_H */
