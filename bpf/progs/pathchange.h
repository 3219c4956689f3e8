/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Changes to a file that never open it (unlink, rmdir, mkdir, mknod,
 * symlink, truncate, chmod, chown): the path_* hooks, held to the files
 * rules; a link or rename is refused too when the new name would allow what
 * the old one denies, or moves a folder a rule's path lies beneath (read,
 * write and exec rules alike: "rename and link" below); and chroot, which
 * would change what every path rule names. docs/threat-model.md says which
 * attack each one stops.
 */

#ifndef KRSI_PROGS_PATHCHANGE_H
#define KRSI_PROGS_PATHCHANGE_H

#include "lib/verdict.h"
#include "lib/scratch.h"
#include "lib/pathcheck.h"
#include "lib/applet.h"

#define RENAME_EXCHANGE 2

static __always_inline int change_in_dir(const struct path *dir, struct dentry *d, __u8 hook,
					 __u8 want, int ret)
{
	struct verdict v = {};
	int out;

	if (!rules_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_dentry(&v, BPF_CORE_READ(dir, mnt), d, hook, want);
}

static __always_inline int change_path(const struct path *path, __u8 hook, __u8 want, int ret)
{
	struct verdict v = {};
	int out;

	if (!rules_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_dentry(&v, BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry), hook, want);
}

/* Removing a name changes the file it names: the write bit of that file. */
SEC("lsm/path_unlink")
int BPF_PROG(krsi_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	return change_in_dir(dir, dentry, KRSI_HOOK_PATH_UNLINK, KRSI_ACCESS_WRITE, ret);
}

SEC("lsm/path_rmdir")
int BPF_PROG(krsi_path_rmdir, const struct path *dir, struct dentry *dentry, int ret)
{
	return change_in_dir(dir, dentry, KRSI_HOOK_PATH_RMDIR, KRSI_ACCESS_WRITE, ret);
}

/* A new name of any kind is a create at that name. */
SEC("lsm/path_mkdir")
int BPF_PROG(krsi_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode, int ret)
{
	return change_in_dir(dir, dentry, KRSI_HOOK_PATH_MKDIR, KRSI_ACCESS_CREATE, ret);
}

SEC("lsm/path_mknod")
int BPF_PROG(krsi_path_mknod, const struct path *dir, struct dentry *dentry, umode_t mode,
	     unsigned int dev, int ret)
{
	return change_in_dir(dir, dentry, KRSI_HOOK_PATH_MKNOD, KRSI_ACCESS_CREATE, ret);
}

SEC("lsm/path_symlink")
int BPF_PROG(krsi_path_symlink, const struct path *dir, struct dentry *dentry, const char *old_name,
	     int ret)
{
	return change_in_dir(dir, dentry, KRSI_HOOK_PATH_SYMLINK, KRSI_ACCESS_CREATE, ret);
}

/* truncate(2), ftruncate(2) and open(O_TRUNC): as opening with O_TRUNC. */
SEC("lsm/path_truncate")
int BPF_PROG(krsi_path_truncate, const struct path *path, int ret)
{
	return change_path(path, KRSI_HOOK_PATH_TRUNCATE, KRSI_ACCESS_TRUNCATE, ret);
}

/* Metadata is part of what a read-only file keeps: the write bit. */
SEC("lsm/path_chmod")
int BPF_PROG(krsi_path_chmod, const struct path *path, umode_t mode, int ret)
{
	return change_path(path, KRSI_HOOK_PATH_CHMOD, KRSI_ACCESS_WRITE, ret);
}

SEC("lsm/path_chown")
int BPF_PROG(krsi_path_chown, const struct path *path, __u32 uid, __u32 gid, int ret) /* kuid_t, kgid_t */
{
	return change_path(path, KRSI_HOOK_PATH_CHOWN, KRSI_ACCESS_WRITE, ret);
}

/* ---- rename and link: names change, decisions must not widen ---------- */

/*
 * Path rules follow names, and rename(2) and link(2) change names: a file
 * moved or linked out of a rule's path, or a folder renamed above it, would
 * leave the rule behind. krsi decides these two operations by what they do to
 * the paths rules decide (path based, so that it holds for rules compiled
 * before the container's file system exists):
 *
 *  1. the object gets no access at its new path that the old path denies
 *     (every access bit, exec included; by a rule or by the profile's
 *     default): allowed(new) must be a subset of allowed(old). For
 *     RENAME_EXCHANGE, each of the two objects at the other's path: the
 *     decisions at both paths must be equal;
 *  2. a directory carries its contents: every path old/R becomes new/R. The
 *     keys that can match old/R are subtree keys at old's ancestors (the same
 *     for every R), and keys that lie beneath old ("old/" is a prefix of the
 *     key: exact, children or subtree keys below it, and children or subtree
 *     keys "old/" itself). Beneath-keys are what tell one R from another, so
 *     when no key lies beneath old nor beneath new, the contents' decision is
 *     one constant on each side (the "above" match) and the condition for all
 *     R is the subset test of those two constants. When a key does lie
 *     beneath either path, the rename is refused (rename-moves-rules): the
 *     rule would stop matching what it names, or start matching what it does
 *     not. User space writes a KRSI_MATCH_ANCESTOR key for every prefix
 *     ending in '/' of every rule key, so this costs one lookup per path.
 *
 * The older checks stay as they were: the old name is removed (write), the
 * new one created (create, and write of a file it replaces), and a program
 * whose exec a rule denies keeps its one name. Decisions are made on each
 * path once, for every access bit: two walks, two matches.
 */
struct path_decision {
	struct path_match m; /* every access bit asked */
	__u8 allowed;        /* bits allowed at the path, defaults applied */
	__u8 contents;       /* bits allowed beneath it, when no key lies beneath */
	__u8 beneath;        /* some rule key lies beneath the path */
};

/* The access bits a match allows, the profile's defaults applied to the rest. */
static __always_inline __u8 allowed_bits(const struct krsi_profile *p, const struct path_match *m)
{
	__u8 dflt = 0;

	if (!(p->flags & KRSI_PF_FILE_DEFAULT_DENY))
		dflt |= KRSI_ACCESS_ALL & ~KRSI_ACCESS_EXEC;
	if (!(p->flags & KRSI_PF_EXEC_DEFAULT_DENY))
		dflt |= KRSI_ACCESS_EXEC;
	return ((m->decided & ~m->denied) | (~m->decided & dflt)) & KRSI_ACCESS_ALL;
}

/* Resolve (mnt, d) into s; 0, or -1 (see resolve_dentry). */
static __noinline int resolve_into(struct krsi_scratch *s, struct vfsmount *mnt, struct dentry *d)
{
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	return resolve_dentry(s, mnt, d);
}

/*
 * Resolve (mnt, d) into s and decide every access bit there. 0, or -1.
 *
 * A global function, so that the verifier checks it once, on its own, rather
 * than once per call in every state the caller can be in: inlined (or as a
 * static subprogram) in path_rename and path_link it cost 250,000 and 430,000
 * processed instructions on 6.1, half a minute of each load under TCG. Its
 * arguments are what a global function may take: the kernel pointers travel
 * as scalars (they are only ever read with probe reads), the rest are memory
 * the verifier knows the size of, any of which could be NULL.
 */
/* A kernel pointer as a plain number: a global function's arguments must be scalars. */
static __always_inline __u64 kptr_scalar(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

__attribute__((noinline)) int krsi_decide_all(struct krsi_scratch *s, const struct krsi_profile *p,
					      __u64 mnt, __u64 d, struct path_decision *out)
{
	struct path_match above = {};

	if (!s || !p || !out)
		return -1;
	if (resolve_into(s, (struct vfsmount *)mnt, (struct dentry *)d))
		return -1;
	match_path_at(s, p, KRSI_ACCESS_ALL, &out->m, &above, &out->beneath);
	out->allowed = allowed_bits(p, &out->m);
	out->contents = allowed_bits(p, &above);
	return 0;
}

static __always_inline int is_dir(struct dentry *d)
{
	return (BPF_CORE_READ(d, d_inode, i_mode) & 0170000) == 0040000; /* S_ISDIR */
}

/*
 * Why moving an object (a directory when dir) from the path `from` decides to
 * the path `to` decides would widen what the rules allow, or 0; *bits: the
 * access bits it would gain.
 */
static __always_inline __u8 move_widens(const struct path_decision *from,
					const struct path_decision *to, int dir, __u8 *bits)
{
	*bits = to->allowed & ~from->allowed;
	if (*bits)
		return KRSI_REASON_RENAME_WIDENS;
	if (!dir)
		return 0;
	if (from->beneath || to->beneath)
		return KRSI_REASON_RENAME_MOVES_RULES;
	*bits = to->contents & ~from->contents;
	return *bits ? KRSI_REASON_RENAME_WIDENS : 0;
}

/* The checks of the old name, whose path is in s. */
static __always_inline int old_name_checks(const struct verdict *v, struct krsi_scratch *s,
					   const struct path_decision *o, __u8 hook, __u8 want)
{
	/* A file whose exec a rule denies may not get another name. */
	int r = judge_path(v, s, hook, KRSI_ACCESS_EXEC, 0, 0, &o->m);
	if (r)
		return r;
	/* Nor may a multi-call binary whose applets are decided: they are decided at its path. */
	const struct krsi_rule *mc = multicall_of(v->profile, s); /* o's hashes: the last match */
	if (mc)
		return report_path(v, s, hook, KRSI_REASON_RULE, mc->origin[5], KRSI_ACCESS_EXEC, 0);
	if (!(v->profile->flags & KRSI_PF_USES_FILES))
		return r;
	return judge_path(v, s, hook, want, 0, KRSI_PF_FILE_DEFAULT_DENY, &o->m);
}

/*
 * rename(2) and link(2) (link: flags RENAME_LINK, never an exchange). The old
 * dentry is on mnt, the new one on nmnt (the kernel refuses either across
 * mounts with EXDEV, after this hook).
 */
#define RENAME_LINK (1U << 31)
static __always_inline int rename_in(const struct verdict *v, struct krsi_scratch *s,
				     struct vfsmount *mnt, struct dentry *old_dentry,
				     struct vfsmount *nmnt, struct dentry *new_dentry, unsigned int flags,
				     __u8 hook)
{
	struct path_decision o = {}, n = {};
	int exchange = (flags & RENAME_EXCHANGE) && !(flags & RENAME_LINK);
	__u8 old_want = KRSI_ACCESS_WRITE, new_want = KRSI_ACCESS_CREATE;
	__u8 bits = 0, reason;
	int r;

	if (!s) /* no memory for the scratch buffer: fail closed */
		return -EPERM;
	if (BPF_CORE_READ(new_dentry, d_inode))
		new_want |= KRSI_ACCESS_WRITE;
	if (exchange)
		old_want |= KRSI_ACCESS_CREATE;

	if (krsi_decide_all(s, v->profile, kptr_scalar(mnt), kptr_scalar(old_dentry), &o))
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, old_want, 0);
	r = old_name_checks(v, s, &o, hook, old_want);
	if (r)
		return r;
	if (krsi_decide_all(s, v->profile, kptr_scalar(nmnt), kptr_scalar(new_dentry), &n))
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, new_want, 0);
	if (exchange) { /* the new name's object gets the old name too */
		r = old_name_checks(v, s, &n, hook, 0);
		if (r)
			return r;
	}
	if (v->profile->flags & KRSI_PF_USES_FILES) {
		r = judge_path(v, s, hook, new_want, 0, KRSI_PF_FILE_DEFAULT_DENY, &n.m);
		if (r)
			return r;
	}
	/* The exchanged object, from the new path (in s) to the old one. */
	if (exchange) {
		reason = move_widens(&n, &o, is_dir(new_dentry), &bits);
		if (reason)
			return report_path(v, s, hook, reason, first_origin(&n.m, bits & n.m.decided),
					   bits, 0);
	}
	reason = move_widens(&o, &n, is_dir(old_dentry), &bits);
	if (!reason)
		return 0;
	/* The event names the object's old path: the one whose rules would be lost. */
	if (resolve_into(s, mnt, old_dentry))
		s->ev.path_len = 0;
	return report_path(v, s, hook, reason, first_origin(&o.m, bits & o.m.decided), bits, 0);
}

static __always_inline int rename_hook(struct vfsmount *mnt, struct dentry *old_dentry,
				       struct vfsmount *nmnt, struct dentry *new_dentry,
				       unsigned int flags, __u8 hook, int ret)
{
	struct verdict v = {};
	__u64 *held;
	int out;

	if (!rules_start(&v, ret, KRSI_PF_USES_FILES | KRSI_PF_USES_EXEC, &out))
		return out;
	struct krsi_scratch *s = scratch_begin(&held);
	int r = rename_in(&v, s, mnt, old_dentry, nmnt, new_dentry, flags, hook);
	scratch_release(held);
	return r;
}

/*
 * link(2): a create at the new name, the write bit of the old one (a second
 * name under a writable rule would let a read-only file be written), and no
 * access at the new name that the old one denies: read, write and exec rules
 * alike. Both are on one mount (the kernel refuses links across mounts).
 */
SEC("lsm/path_link")
int BPF_PROG(krsi_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, int ret)
{
	struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);

	return rename_hook(mnt, old_dentry, mnt, new_dentry, RENAME_LINK, KRSI_HOOK_PATH_LINK, ret);
}

/*
 * rename(2): the old name is removed (write), the new one created, a file it
 * replaces is changed (write), RENAME_EXCHANGE creates both names anew; and
 * no object, nor a directory's contents, gains access by its new path.
 */
SEC("lsm/path_rename")
int BPF_PROG(krsi_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	return rename_hook(BPF_CORE_READ(old_dir, mnt), old_dentry, BPF_CORE_READ(new_dir, mnt),
			   new_dentry, flags, KRSI_HOOK_PATH_RENAME, ret);
}

/*
 * Path rules name paths from the process's root (what bpf_d_path and the walk
 * give). After chroot(DIR) a copy at DIR/usr/bin/app would be /usr/bin/app:
 * a process whose profile has path rules may not change its root. Runtimes
 * use pivot_root, not chroot, to enter the container's root file system.
 */
SEC("lsm/path_chroot")
int BPF_PROG(krsi_path_chroot, const struct path *path, int ret)
{
	struct verdict v = {};
	int out;

	if (!rules_start(&v, ret, KRSI_PF_USES_FILES | KRSI_PF_USES_EXEC, &out))
		return out;
	return report_walked(&v, BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry),
			     KRSI_HOOK_PATH_CHROOT, KRSI_REASON_REROOT, 0);
}

#endif /* KRSI_PROGS_PATHCHANGE_H */
