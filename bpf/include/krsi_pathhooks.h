/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The hooks that close routes around krsi.c's four programs (issue 7's bypass
 * suite; docs/threat-model.md says which attack each one stops):
 *
 *  - changes to a file that never open it (unlink, rename, link, truncate,
 *    chmod, chown, mkdir, mknod, symlink): the path_* hooks, held to the files
 *    rules; a link or rename is refused too when the new name would allow
 *    what the old one denies, or moves a folder a rule's path lies beneath
 *    (read, write and exec rules alike: "rename and link" below);
 *  - a file received over a unix socket or pidfd_getfd: file_receive, held to
 *    the files rules like an open;
 *  - W^X through files and other writers of code: a file mapped executable
 *    while it is open for writing, after a W^X process of the same container
 *    wrote it, or with no name (memfd); a kernel object mapped executable
 *    (io_uring rings, sockets, devices, memfd_secret); the ELF loader's
 *    interpreter and an executable stack from PT_GNU_STACK; writing (or
 *    receiving writable) a file the container mapped executable or ran;
 *    /proc/PID/mem writes, ptrace, userfaultfd and SHM_EXEC.
 *
 * Included at the end of krsi.c: it uses that file's verdict, lookup_caller,
 * caller_root, report_memory, report_path and the exec stage helpers
 * (in_execve, is_elf, exec_open, interp_open, exec_stage_checked).
 *
 * The path_* hooks cannot call bpf_d_path on 6.1 (not sleepable there), so the
 * path is built by walking the dentry and mount tree up to the task's root, as
 * d_path does; the VM suite checks that both give the same path.
 */
#ifndef KRSI_PATHHOOKS_H
#define KRSI_PATHHOOKS_H

#define PROC_SUPER_MAGIC 0x9fa0
#define PTRACE_MODE_ATTACH 0x02
#define SHM_EXEC 0100000
#define RENAME_EXCHANGE 2

/* ---- the dentry walk -------------------------------------------------- */

/* Longest single name (NAME_MAX + 1, a power of two used as a mask). */
#define KRSI_NAME_MASK 255
/* Components plus mount crossings visited before giving up (fail closed). */
#define KRSI_WALK_STEPS 1024

/*
 * The walk's working memory: the path is built backwards from the end of the
 * first KRSI_PATH_MAX bytes; the second half only lets the verifier see that
 * a name written at any offset stays inside.
 */
struct krsi_walk_tail {
	char buf[2 * KRSI_PATH_MAX];
};

/* key: the task; value: its walk buffer (allocated on a bound task's first walk). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krsi_walk_tail);
} krsi_walk_buf SEC(".maps");

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
	if (r || !(v->profile->flags & KRSI_PF_USES_FILES))
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
 * A file passed over a unix socket (SCM_RIGHTS) or taken with pidfd_getfd:
 * no open happens in the receiver, so it is held to the files rules here, by
 * the access the file was opened with. Sleepable on both kernels: bpf_d_path.
 * Attached for every profile: a writable cgroup.procs passed in is checked
 * as an open of it would be.
 */
SEC("lsm.s/file_receive")
int BPF_PROG(krsi_file_receive, struct file *file, int ret)
{
	struct verdict v = {};
	int out;

	/* A cgroup.procs descriptor passed in: as an open of it (krsi_cgroup.h). */
	if (!ret && lookup_caller(&v) && v.profile) {
		out = check_cgroup_move(&v, file, KRSI_HOOK_FILE_RECEIVE);
		if (out)
			return out;
	}
	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	__u32 mode = BPF_CORE_READ(file, f_mode);
	__u32 fl = BPF_CORE_READ(file, f_flags);
	__u8 want = 0;
	if (mode & FMODE_READ)
		want |= KRSI_ACCESS_READ;
	if (mode & FMODE_WRITE)
		want |= (fl & O_APPEND) ? KRSI_ACCESS_APPEND : KRSI_ACCESS_WRITE;
	if (!want)
		return 0;
	return check_file(&v, file, KRSI_HOOK_FILE_RECEIVE, want, 0);
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

/* ---- W^X through files and other writers of code ---------------------- */

enum krsi_inode_mark {
	/* opened for writing by a process of the container under a W^X profile */
	KRSI_MARK_WRITTEN = 1 << 0,
	/* mapped executable (or run) by a process of the container under a W^X profile */
	KRSI_MARK_EXEC_MAPPED = 1 << 1,
};

/* Containers whose marks one file keeps apart; more share the overflow bits. */
#define KRSI_MARK_SLOTS 4

/*
 * Value of krsi_inode_marks: what W^X containers did to one file, per
 * container (krsi_binding.root). A slot is claimed by a compare-and-swap of
 * its root from 0 and never given back, so a container always finds the
 * slot it claimed first, and two of its threads claim the same one. The
 * bits are set with atomic or (-mcpu=v3: fully ordered, the old value
 * returned). When every slot belongs to another container, a mark goes to
 * overflow, which holds for every container: fail closed, the file is
 * treated as written (or mapped) by all of them.
 */
struct krsi_marks {
	__u64 root[KRSI_MARK_SLOTS];
	__u32 bits[KRSI_MARK_SLOTS]; /* enum krsi_inode_mark */
	__u32 overflow;              /* enum krsi_inode_mark, for every container */
	__u32 _pad;
};

/* key: an inode; value: its marks (set, never cleared, while the inode lives). */
struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krsi_marks);
} krsi_inode_marks SEC(".maps");

/* The caller's verdict when it is bound to a W^X profile, else 0. */
static __always_inline int wx_caller(struct verdict *v)
{
	if (!lookup_caller(v) || !v->profile)
		return 0; /* a missing profile is refused by krsi.c's hooks */
	return (v->profile->flags & KRSI_PF_DENY_WX) != 0;
}

#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))

/* The marks root's container left on a file (m may be NULL: none). */
static __always_inline __u32 marks_of(struct krsi_marks *m, __u64 root)
{
	if (!m)
		return 0;
	__u32 bits = READ_ONCE_U32(m->overflow);
#pragma unroll
	for (int i = 0; i < KRSI_MARK_SLOTS; i++) {
		if (READ_ONCE_U64(m->root[i]) == root)
			return bits | READ_ONCE_U32(m->bits[i]);
	}
	return bits;
}

#define KRSI_MARK_FAILED 0x80000000u

/*
 * Set bit for root's container on inode and return the marks it had before
 * (those of the container and the overflow), or KRSI_MARK_FAILED when the
 * storage could not be allocated. The or is atomic and returns the old value,
 * so of two racing operations of one container that each set their bit and
 * test the other's (mmap exec vs open for write), the later one sees the
 * earlier one's bit: they cannot both pass.
 */
static __always_inline __u32 mark_inode(struct inode *inode, __u64 root, __u32 bit)
{
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!m) /* another CPU created it at the same moment (-EEXIST): use theirs */
		m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (!m)
		return KRSI_MARK_FAILED;
#pragma unroll
	for (int i = 0; i < KRSI_MARK_SLOTS; i++) {
		__u64 cur = READ_ONCE_U64(m->root[i]);
		if (cur == 0)
			cur = __sync_val_compare_and_swap(&m->root[i], 0, root);
		if (cur == 0 || cur == root)
			return __sync_fetch_and_or(&m->bits[i], bit) | READ_ONCE_U32(m->overflow);
	}
	count(KRSI_STAT_MARKS_OVERFLOW);
	return __sync_fetch_and_or(&m->overflow, bit);
}

#define S_IFMT 00170000
#define S_IFREG 0100000
#define SB_KERNMOUNT (1 << 22) /* include/linux/fs.h, 6.1 and 6.12 */
#define SB_NOUSER (1 << 31)

/*
 * Memory the kernel hands out through a file that no user mounted: io_uring's
 * rings and other anonymous inodes (no S_IFREG at all), sockets (AF_PACKET
 * rings), character devices (/dev/zero), and regular files of internal mounts
 * (memfd_secret sets S_IFREG on an SB_KERNMOUNT | SB_NOUSER super block;
 * memfd and shared anonymous memory live on the internal shmem mount,
 * SB_KERNMOUNT, and have no link). The pages behind such an object can be
 * reached writable through another mapping or by the kernel itself, and no
 * file rule or mark can follow them: under W^X none is made executable.
 */
static __always_inline int kernel_object(struct inode *inode)
{
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG)
		return 1;
	return (BPF_CORE_READ(inode, i_sb, s_flags) & (SB_KERNMOUNT | SB_NOUSER)) != 0;
}

/*
 * Why making inode's pages executable would execute what root's container
 * wrote, or 0: it has no name (memfd, O_TMPFILE: its contents can only have
 * been written), it is a kernel object (above), it is open for writing now by
 * anyone (one view writes what the other runs), or a W^X process of this
 * container opened it for writing before. Writes by others (another
 * container, the host) are not this container's: docs/threat-model.md.
 */
static __always_inline __u8 wx_file_reason(struct inode *inode, __u64 root)
{
	if (BPF_CORE_READ(inode, i_nlink) == 0)
		return KRSI_REASON_WX_FILELESS;
	if (kernel_object(inode))
		return KRSI_REASON_WX_KERNEL_OBJECT;
	if (BPF_CORE_READ(inode, i_writecount.counter) > 0)
		return KRSI_REASON_WX_OPEN_FOR_WRITE;
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (marks_of(m, root) & KRSI_MARK_WRITTEN)
		return KRSI_REASON_WX_WRITTEN;
	return 0;
}

/*
 * Check, mark, check again: the mapping is refused for a reason found before
 * marking (the file then stays writable for the container), and after
 * marking EXEC_MAPPED only if a writer of the container got its WRITTEN mark
 * in between, or anyone opened it for writing (i_writecount is raised before
 * security_file_open). Returns the reason, or 0 with the file marked.
 */
static __always_inline __u8 wx_exec_map(struct inode *inode, __u64 root)
{
	__u8 reason = wx_file_reason(inode, root);
	if (reason)
		return reason;
	__u32 old = mark_inode(inode, root, KRSI_MARK_EXEC_MAPPED);
	if (old & KRSI_MARK_FAILED)
		return KRSI_REASON_WX_NO_MARK;
	if (old & KRSI_MARK_WRITTEN)
		return KRSI_REASON_WX_WRITTEN;
	if (BPF_CORE_READ(inode, i_writecount.counter) > 0)
		return KRSI_REASON_WX_OPEN_FOR_WRITE;
	return 0;
}

/*
 * The ELF loader's mappings while execve runs: of the program (decided at
 * bprm_check_security, and mm->exe_file by now: begin_new_exec sets it before
 * the loader maps anything) and of its interpreter (decided when the loader
 * opened it: krsi_wx_file_open). Both are marked EXEC_MAPPED, so that a
 * running program or interpreter cannot be rewritten through another name (a
 * hard link, /proc/PID/map_files; the kernel's ETXTBSY covers only the
 * program, and only while it runs). A refusal here comes after the point of
 * no return and kills the process: it is only reached when the earlier check
 * was raced or could not be made.
 */
struct stack_vma {
	__u64 vm_flags;
	int found;
};

static long stack_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct stack_vma *s = ctx;

	s->vm_flags = BPF_CORE_READ(vma, vm_flags);
	s->found = 1;
	return 0;
}

/*
 * The stack the loader gave the new program is executable: PT_GNU_STACK
 * asked for it (or a READ_IMPLIES_EXEC personality). load_elf_binary calls
 * setup_arg_pages, which sets the stack VMA's flags and mm->arg_start inside
 * it, before it maps the program's segments (6.1 and 6.12), and no other
 * hook sees that step: the first mapping of the program is where it can be
 * told. bpf_find_vma only try-locks the mm; it cannot fail on the new,
 * single-threaded mm of an execve but for a concurrent reader of
 * /proc/PID/maps, and then the stack is not judged (documented).
 */
static __always_inline int exec_stack(struct task_struct *task)
{
	struct stack_vma s = {};
	__u64 arg = BPF_CORE_READ(task, mm, arg_start);

	if (bpf_find_vma(task, arg, stack_vma_cb, &s, 0) || !s.found)
		return 0;
	return (s.vm_flags & VM_EXEC) != 0;
}

static __always_inline __u8 wx_loader_map(struct file *file, __u64 root)
{
	/* file->f_inode, not a probe read: inode storage needs a pointer the verifier trusts. */
	struct inode *inode = file->f_inode;
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);

	if (file == exe && exec_stack(task))
		return KRSI_REASON_WX_EXEC_STACK;
	__u8 reason = wx_exec_map(inode, root);

	/* A program with no name is exec.fileless's decision (runc's sealed copy of itself). */
	if (reason == KRSI_REASON_WX_FILELESS && file == exe)
		return 0;
	return reason;
}

SEC("lsm/mmap_file")
int BPF_PROG(krsi_wx_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct verdict v = {};

	if (ret || !(prot & PROT_EXEC) || (flags & MAP_ANONYMOUS) || !wx_caller(&v))
		return ret;
	__u64 root = caller_root(&v);
	__u8 reason = in_execve() ? wx_loader_map(file, root) : wx_exec_map(file->f_inode, root);
	if (reason)
		return report_memory(&v, KRSI_HOOK_MMAP_FILE, reason, prot, 0, 0, 0);
	return 0;
}

/* krsi_file_mprotect decides anonymous and writable mappings; this, file contents. */
SEC("lsm/file_mprotect")
int BPF_PROG(krsi_wx_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct verdict v = {};

	if (ret || !(prot & PROT_EXEC) || !wx_caller(&v))
		return ret;
	struct file *file = vma->vm_file;
	if (!file || (BPF_CORE_READ(vma, vm_flags) & VM_EXEC))
		return 0;
	__u8 reason = wx_exec_map(file->f_inode, caller_root(&v));
	if (reason)
		return report_memory(&v, KRSI_HOOK_FILE_MPROTECT, reason, prot,
				     BPF_CORE_READ(vma, vm_start), BPF_CORE_READ(vma, vm_end),
				     BPF_CORE_READ(vma, vm_flags));
	return 0;
}

/*
 * An ELF file written by the container under W^X, open for writing, or a
 * kernel object, is refused at exec with EPERM; a program that passes is
 * marked EXEC_MAPPED from here (not only when the loader maps it). A file
 * with no name is not refused: that is exec.fileless's decision (runtimes
 * run themselves from sealed memfds inside the container's cgroup). Scripts
 * are not machine code: only ELF files are checked (the interpreter is, when
 * it is exec'd in turn).
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(krsi_wx_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct verdict v = {};

	if (ret || !wx_caller(&v))
		return ret;
	exec_stage_checked(bprm);
	if (!is_elf(bprm))
		return 0;
	__u8 reason = wx_exec_map(bprm->file->f_inode, caller_root(&v));
	if (!reason || reason == KRSI_REASON_WX_FILELESS)
		return 0;
	return report_memory(&v, KRSI_HOOK_BPRM_CHECK, reason, PROT_EXEC, 0, 0, 0);
}

static __always_inline int is_proc_mem(struct file *file)
{
	if (BPF_CORE_READ(file, f_inode, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	char name[4] = {};
	if (BPF_CORE_READ(d, d_name.len) != 3)
		return 0;
	bpf_probe_read_kernel(name, 3, BPF_CORE_READ(d, d_name.name));
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm';
}

/*
 * A writable file arriving in a W^X process (opened, or received): writing
 * through /proc/PID/mem reaches code pages past their protection
 * (FOLL_FORCE), and a file the container mapped executable must not be
 * rewritten under the mapping. Otherwise the file is marked WRITTEN for the
 * container, so that it cannot map it executable later (write, then map).
 * Check, mark, check again, as wx_exec_map: the open has already raised
 * i_writecount (do_dentry_open takes write access before security_file_open),
 * and the atomic or orders this mark against a racing mapping's.
 */
static __always_inline int wx_writable_file(const struct verdict *v, struct file *file, __u8 hook)
{
	if (is_proc_mem(file))
		return report_memory(v, hook, KRSI_REASON_WX_CODE_WRITE, PROT_WRITE, 0, 0, 0);
	struct inode *inode = file->f_inode;
	__u64 root = caller_root(v);
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (marks_of(m, root) & KRSI_MARK_EXEC_MAPPED)
		return report_memory(v, hook, KRSI_REASON_WX_EXEC_MAPPED, PROT_WRITE, 0, 0, 0);
	__u32 old = mark_inode(inode, root, KRSI_MARK_WRITTEN);
	if (old & KRSI_MARK_FAILED)
		return report_memory(v, hook, KRSI_REASON_WX_NO_MARK, PROT_WRITE, 0, 0, 0);
	if (old & KRSI_MARK_EXEC_MAPPED)
		return report_memory(v, hook, KRSI_REASON_WX_EXEC_MAPPED, PROT_WRITE, 0, 0, 0);
	return 0;
}

/*
 * Opening under W^X: for writing, see wx_writable_file. The ELF loader's open
 * of a program's interpreter (PT_INTERP, krsi.c's interp_open) is held to
 * what a mapping of it would be: an interpreter the container wrote, that is
 * open for writing, has no name (/proc/self/fd/N of a memfd) or is a kernel
 * object is refused here, before the point of no return, so execve fails
 * with EPERM. One that passes is marked EXEC_MAPPED.
 */
SEC("lsm/file_open")
int BPF_PROG(krsi_wx_file_open, struct file *file, int ret)
{
	struct verdict v = {};

	if (ret)
		return ret;
	int writable = (BPF_CORE_READ(file, f_mode) & FMODE_WRITE) != 0;
	if (!writable && !exec_open(file))
		return 0;
	if (!wx_caller(&v))
		return 0;
	if (writable)
		return wx_writable_file(&v, file, KRSI_HOOK_FILE_OPEN);
	if (!interp_open(file))
		return 0;
	__u8 reason = wx_exec_map(file->f_inode, caller_root(&v));
	if (reason)
		return report_memory(&v, KRSI_HOOK_ELF_INTERP, reason, PROT_EXEC, 0, 0, 0);
	return 0;
}

/*
 * A writable descriptor received over a unix socket (SCM_RIGHTS) or taken
 * with pidfd_getfd meets no open in the receiver: held to the same W^X rules
 * as an open for writing.
 */
SEC("lsm/file_receive")
int BPF_PROG(krsi_wx_file_receive, struct file *file, int ret)
{
	struct verdict v = {};

	if (ret || !(BPF_CORE_READ(file, f_mode) & FMODE_WRITE) || !wx_caller(&v))
		return ret;
	return wx_writable_file(&v, file, KRSI_HOOK_FILE_RECEIVE);
}

/*
 * ptrace writes code (POKETEXT) past page protections, and so do
 * process_vm_writev's peers through /proc/PID/mem: a W^X process may not
 * attach to another process nor ask to be traced.
 */
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
