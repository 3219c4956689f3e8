/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hooks that close routes around krsi.c's per-hook programs (issue 7's
 * bypass suite; docs/threat-model.md says which attack each one stops):
 *
 *  - changes to a file that never open it (unlink, rename, link, truncate,
 *    chmod, chown, mkdir, mknod, symlink): the path_* hooks, held to the files
 *    rules; a link or rename is refused too when the new name would allow
 *    what the old one denies, or moves a folder a rule's path lies beneath
 *    (read, write and exec rules alike: "rename and link" below);
 *  - chroot, which would change what every path rule names;
 *  - other writers of code under W^X: ptrace, userfaultfd and SHM_EXEC. (W^X
 *    through files is krsi_wx.h's, called by krsi.c's programs; a file
 *    received over a unix socket is krsi.c's krsi_file_receive.)
 *
 * Included by krsi.c after the helpers it uses: verdict, lookup_caller,
 * caller_root, report_memory, report_path, decide_path, judge_path, and
 * krsi_wx.h's wx_caller.
 *
 * The path_* hooks cannot call bpf_d_path on 6.1 (not sleepable there), so the
 * path is built by walking the dentry and mount tree up to the task's root, as
 * d_path does; the VM suite checks that both give the same path.
 */
#ifndef KRSI_PATHHOOKS_H
#define KRSI_PATHHOOKS_H

#define PTRACE_MODE_ATTACH 0x02
#define SHM_EXEC 0100000
#define RENAME_EXCHANGE 2

/* ---- the dentry walk -------------------------------------------------- */

/* Longest single name (NAME_MAX + 1, a power of two used as a mask). */
#define KRSI_NAME_MASK 255
/* Components plus mount crossings visited before giving up (fail closed). */
#define KRSI_WALK_STEPS 1024

/* The walk's working memory: krsi_walk_buf (krsi_maps.h). */

struct dwalk {
	struct krsi_walk_tail *t;
	struct dentry *d;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_d;
	struct vfsmount *root_mnt;
	__u32 pos; /* the path is t->buf[pos .. KRSI_PATH_MAX) */
	int done;
	int err;
};

static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

static long dwalk_step(__u32 i, void *ctx)
{
	struct dwalk *w = ctx;
	/*
	 * Plain locals for BPF_CORE_READ: given w->d, it would also relocate the
	 * access to struct dwalk, which no kernel has, and the load would fail.
	 */
	struct dentry *d = w->d;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;

	if (d == w->root_d && vfsmnt == w->root_mnt) {
		w->done = 1;
		return 1;
	}
	if (d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
		if (parent == mnt) { /* the namespace's root: outside the task's root */
			w->done = 1;
			return 1;
		}
		w->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = parent;
		w->vfsmnt = (struct vfsmount *)((void *)parent + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (up == d) { /* a filesystem's root that is no mount's root */
		w->done = 1;
		return 1;
	}
	__u32 len = BPF_CORE_READ(d, d_name.len);
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	/* Keep pos >= 1 so that the whole path fits in KRSI_PATH_MAX - 1 bytes. */
	if (len > KRSI_NAME_MASK || w->pos < len + 2) {
		w->err = 1;
		return 1;
	}
	w->pos -= len;
	if (bpf_probe_read_kernel(&w->t->buf[w->pos & (KRSI_PATH_MAX - 1)], len & KRSI_NAME_MASK, name)) {
		w->err = 1;
		return 1;
	}
	w->pos -= 1;
	w->t->buf[w->pos & (KRSI_PATH_MAX - 1)] = '/';
	w->d = up;
	return 0;
}

/*
 * Resolve (mnt, d) to the path d_path would give, relative to the caller's
 * root, into s->path and s->ev.path_len. Returns 0, or -1 when the path is
 * longer than KRSI_PATH_MAX - 1 or deeper than the walk goes.
 */
static __always_inline int resolve_dentry(struct krsi_scratch *s, struct vfsmount *mnt,
					  struct dentry *d)
{
	struct krsi_walk_tail *t = bpf_task_storage_get(&krsi_walk_buf, bpf_get_current_task_btf(),
							0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t)
		return -1;
	struct task_struct *task = bpf_get_current_task_btf();
	struct dwalk w = {
		.t = t,
		.d = d,
		.vfsmnt = mnt,
		.mnt = real_mount(mnt),
		.root_d = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.pos = KRSI_PATH_MAX,
	};
	bpf_loop(KRSI_WALK_STEPS, dwalk_step, &w, 0);
	if (w.err || !w.done)
		return -1;
	__u32 len = KRSI_PATH_MAX - w.pos;
	if (len == 0) {
		s->path[0] = '/';
		s->ev.path_len = 1;
		return 0;
	}
	if (bpf_probe_read_kernel(s->path, len & (KRSI_PATH_MAX - 1),
				  &t->buf[w.pos & (KRSI_PATH_MAX - 1)]))
		return -1;
	s->ev.path_len = len;
	return 0;
}

/* ---- files rules on a walked path ------------------------------------- */

/* Hold the change of (mnt, d) to the files rules for the access bits want. */
static __always_inline int check_dentry(const struct verdict *v, struct vfsmount *mnt,
					struct dentry *d, __u8 hook, __u8 want)
{
	__u64 *held;
	struct krsi_scratch *s = scratch_claim(&held);
	int r;

	if (!s)
		return -EPERM;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	if (resolve_dentry(s, mnt, d))
		r = report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, 0);
	else /* For the exec bit only a rule that denies counts. */
		r = decide_path(v, s, hook, want, 0,
				(want & KRSI_ACCESS_EXEC) ? 0 : KRSI_PF_FILE_DEFAULT_DENY);
	scratch_release(held);
	return r;
}

/*
 * The common start of the path hooks: 1 and the verdict when the caller's
 * profile has the rules need names and its container's entrypoint has run
 * (before it only the runtime works in the cgroup: KRSI_BINDING_EXEC_PENDING),
 * else the value to return (0, or EPERM for a binding to a missing profile, as
 * krsi.c's hooks do).
 */
static __always_inline int path_hook_start(struct verdict *v, int ret, __u32 need, int *out)
{
	*out = ret;
	if (ret || !lookup_caller(v))
		return 0;
	if (!v->profile) {
		*out = -EPERM;
		return 0;
	}
	if (!(v->profile->flags & need) || (v->binding->flags & KRSI_BINDING_EXEC_PENDING))
		return 0;
	return 1;
}

static __always_inline int change_in_dir(const struct path *dir, struct dentry *d, __u8 hook,
					 __u8 want, int ret)
{
	struct verdict v = {};
	int out;

	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_dentry(&v, BPF_CORE_READ(dir, mnt), d, hook, want);
}

static __always_inline int change_path(const struct path *path, __u8 hook, __u8 want, int ret)
{
	struct verdict v = {};
	int out;

	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
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

	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES | KRSI_PF_USES_EXEC, &out))
		return out;
	struct krsi_scratch *s = scratch_claim(&held);
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

	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES | KRSI_PF_USES_EXEC, &out))
		return out;
	__u64 *held;
	struct krsi_scratch *s = scratch_claim(&held);
	if (!s)
		return -EPERM;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	if (resolve_dentry(s, BPF_CORE_READ(path, mnt), BPF_CORE_READ(path, dentry)))
		s->ev.path_len = 0;
	int r = report_path(&v, s, KRSI_HOOK_PATH_CHROOT, KRSI_REASON_REROOT, KRSI_RULE_NONE, 0, 0);
	scratch_release(held);
	return r;
}

/* ---- W^X: other writers of code ---------------------------------------- */

SEC("lsm/ptrace_access_check")
int BPF_PROG(krsi_wx_ptrace_access, struct task_struct *child, unsigned int mode, int ret)
{
	struct verdict v = {};

	if (ret || !(mode & PTRACE_MODE_ATTACH) || !wx_caller(&v))
		return ret;
	return report_memory(&v, KRSI_HOOK_PTRACE, KRSI_REASON_WX_CODE_WRITE, 0, 0, 0, 0);
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(krsi_wx_ptrace_traceme, struct task_struct *parent, int ret)
{
	struct verdict v = {};

	if (ret || !wx_caller(&v))
		return ret;
	return report_memory(&v, KRSI_HOOK_PTRACE, KRSI_REASON_WX_CODE_WRITE, 0, 0, 0, 0);
}

/* System V shared memory attached with SHM_EXEC: no mmap_file hook runs. */
SEC("lsm/shm_shmat")
int BPF_PROG(krsi_wx_shm_shmat, struct kern_ipc_perm *perm, char *shmaddr, int shmflg, int ret)
{
	struct verdict v = {};

	if (ret || !(shmflg & SHM_EXEC) || !wx_caller(&v))
		return ret;
	return report_memory(&v, KRSI_HOOK_SHM_SHMAT, KRSI_REASON_WX_CODE_WRITE, PROT_EXEC, 0, 0, 0);
}

/*
 * userfaultfd fills missing pages of a private mapping with any bytes
 * (UFFDIO_COPY), executable ones included: a W^X process may not create one.
 */
SEC("lsm/inode_init_security_anon")
int BPF_PROG(krsi_wx_anon_inode, struct inode *inode, const struct qstr *name,
	     const struct inode *context_inode, int ret)
{
	struct verdict v = {};
	char n[16] = {};

	if (ret || !wx_caller(&v))
		return ret;
	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(name, name));
	/* "[userfaultfd]" */
	if (n[0] != '[' || n[1] != 'u' || n[2] != 's' || n[3] != 'e' || n[4] != 'r' || n[5] != 'f' ||
	    n[6] != 'a' || n[7] != 'u' || n[8] != 'l' || n[9] != 't')
		return 0;
	return report_memory(&v, KRSI_HOOK_USERFAULTFD, KRSI_REASON_WX_CODE_WRITE, 0, 0, 0, 0);
}

#endif /* KRSI_PATHHOOKS_H */
