/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Leaving the bound cgroup (issue 13, docs/threat-model.md "Leaving the bound
 * cgroup"). A bound process is confined by its cgroup id; the cgroup file
 * system lets a process that can write it move itself or a child elsewhere
 * (krsi run has no cgroup namespace; a container may have the host's, or a
 * writable /sys/fs/cgroup). The routes and what closes each:
 *
 *  - a write of a pid to cgroup.procs, or of a tid to cgroup.threads: the
 *    file must be opened for writing (vfs_write checks FMODE_WRITE), so
 *    file_open (and file_receive, for a descriptor passed in) decide it by
 *    the destination, the cgroup the file belongs to: it must be bound to
 *    the caller's container (the same krsi_binding.root). Moves inside the
 *    container's own cgroups (systemd in a container) go on working;
 *  - clone3(CLONE_INTO_CGROUP): task_alloc sees the 64-bit clone flags
 *    before cgroup_can_fork looks at the target, but not the target (a
 *    descriptor in the caller's clone_args, which BPF could only re-read
 *    from user memory, racing the kernel's copy): a bound caller may not use
 *    the flag at all. It can still fork and move the child within its own
 *    cgroups through cgroup.procs;
 *  - a container that makes many cgroups, to fill krsi_bindings: nested
 *    (inherited) bindings are counted per container and for all containers
 *    together (krsi_nested); past either limit cgroup_mkdir leaves the new
 *    cgroup unbound, and since the first route refuses every move of a bound
 *    process into a cgroup not bound to its container, that cgroup can hold
 *    none of them: fail closed.
 *
 * Included by krsi.c after report_path; uses verdict, lookup_caller,
 * caller_root, scratch_claim.
 */
#ifndef KRSI_CGROUP_H
#define KRSI_CGROUP_H

#define CGROUP2_SUPER_MAGIC 0x63677270
#define CLONE_INTO_CGROUP 0x200000000ULL

/* ---- kernfs: cgroup directories and files ------------------------------ */

/* kernfs_node.parent became __parent in 6.15; CO-RE picks whichever exists. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (!kn)
		return 0;
	if (bpf_core_field_exists(struct kernfs_node___pre615, parent))
		return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
	return BPF_CORE_READ(kn, __parent);
}

static __always_inline __u64 kn_id(struct kernfs_node *kn)
{
	return kn ? BPF_CORE_READ(kn, id) : 0;
}

/* The first bytes of a cgroup's directory name: enough for the prefixes below. */
#define KRSI_NAME_PREFIX 32

static __always_inline int cg_read_name(struct kernfs_node *kn, char name[KRSI_NAME_PREFIX])
{
	const char *s = BPF_CORE_READ(kn, name);
	return bpf_probe_read_kernel_str(name, KRSI_NAME_PREFIX, s) > 0;
}

/* name starts with the n bytes of p (a literal; the loop unrolls). */
#define cg_name_prefix(name, p) cg_name_prefix_n(name, p, sizeof(p) - 1)
static __always_inline int cg_name_prefix_n(const char *name, const char *p, int n)
{
#pragma unroll
	for (int i = 0; i < KRSI_NAME_PREFIX; i++) {
		if (i >= n)
			return 1;
		if (name[i] != p[i])
			return 0;
	}
	return 0;
}

/* name is the literal p. */
#define cg_name_is(name, p) (cg_name_prefix(name, p) && (name)[sizeof(p) - 1] == 0)

/* ---- moves through cgroup.procs and cgroup.threads ------------------------ */

/*
 * When file is a cgroup2 cgroup.procs or cgroup.threads file: the id of the
 * cgroup a write to it moves processes into (the file's directory; a kernfs
 * inode's i_private is its kernfs node, a directory's node id is the cgroup
 * id). Else 0. Only cgroup2 counts: a cgroup v1 hierarchy (hybrid hosts)
 * does not change the id the programs key by.
 */
static __always_inline __u64 move_target(struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	if (BPF_CORE_READ(inode, i_sb, s_magic) != CGROUP2_SUPER_MAGIC)
		return 0;
	struct kernfs_node *kn = BPF_CORE_READ(inode, i_private);
	char name[KRSI_NAME_PREFIX] = {};
	if (!cg_read_name(kn, name))
		return 0;
	if (!cg_name_is(name, "cgroup.procs") && !cg_name_is(name, "cgroup.threads"))
		return 0;
	return kn_id(kn_parent(kn));
}

/*
 * A bound caller with file open for writing (opened, or received): refused
 * when file moves processes into a cgroup that is not bound to the caller's
 * container. The destination is what matters, not the process moved: moving
 * a process of another container in confines it further; moving any process
 * out of the container's cgroups, or into an unbound one of them (over the
 * quota), is refused. A descriptor the caller did not open nor receive
 * (inherited from outside at start) is not seen here: the runtime gives a
 * container none of these.
 */
static __always_inline int check_cgroup_move(const struct verdict *v, struct file *file, __u8 hook)
{
	if (!(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0;
	__u64 dst = move_target(file);
	if (!dst)
		return 0;
	struct krsi_binding *b = bpf_map_lookup_elem(&krsi_bindings, &dst);
	if (b && (b->root ? b->root : dst) == caller_root(v))
		return 0;

	__u64 *held;
	struct krsi_scratch *s = scratch_claim(&held);
	if (!s)
		return -EPERM;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	long n = bpf_d_path((struct path *)&file->f_path, s->path, KRSI_PATH_MAX);
	s->ev.path_len = n > 0 ? n - 1 : 0;
	int r = report_path(v, s, hook, KRSI_REASON_CGROUP_ESCAPE, KRSI_RULE_NONE, KRSI_ACCESS_WRITE, 0);
	scratch_release(held);
	return r;
}

/* ---- clone3(CLONE_INTO_CGROUP) ------------------------------------------ */

/*
 * security_task_alloc(task, clone_flags) runs in copy_process with the full
 * 64-bit flags (unsigned long on the 64-bit kernels krsi supports), before
 * cgroup_can_fork opens the target: a bound caller is refused the flag,
 * whatever the target. Attached whatever the profile needs: it protects
 * every rule kind. An unbound caller (a runtime starting a container in its
 * cgroup, krsi run) pays one flag test.
 */
SEC("lsm/task_alloc")
int BPF_PROG(krsi_task_alloc, struct task_struct *task, unsigned long clone_flags, int ret)
{
	struct verdict v = {};

	if (ret || !(clone_flags & CLONE_INTO_CGROUP) || !lookup_caller(&v))
		return ret;
	return report_memory(&v, KRSI_HOOK_TASK_ALLOC, KRSI_REASON_CGROUP_ESCAPE, 0, 0, 0, 0);
}

/* ---- room for nested bindings ---------------------------------------------- */

static __always_inline __u64 *nested_counter(__u64 key)
{
	__u64 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&krsi_nested, &key);
	if (c)
		return c;
	bpf_map_update_elem(&krsi_nested, &key, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&krsi_nested, &key);
}

static __always_inline void nested_dec(__u64 *c)
{
	if (c && *c > 0)
		__sync_fetch_and_add(c, -1);
}

/*
 * Room for one more inherited binding of container root: 1, counted, or 0
 * when the container has used its quota, all containers their share of
 * krsi_bindings, or krsi_nested has no room for the counter (fail closed).
 */
static __always_inline int nested_reserve(__u64 root)
{
	__u64 *all = nested_counter(0);
	__u64 *mine = nested_counter(root);

	if (!all || !mine)
		return 0;
	if (__sync_fetch_and_add(mine, 1) >= krsi_nested_quota) {
		__sync_fetch_and_add(mine, -1);
		return 0;
	}
	if (__sync_fetch_and_add(all, 1) >= krsi_nested_max) {
		__sync_fetch_and_add(all, -1);
		__sync_fetch_and_add(mine, -1);
		return 0;
	}
	return 1;
}

static __always_inline void nested_release(__u64 root)
{
	__u64 all = 0;
	nested_dec(bpf_map_lookup_elem(&krsi_nested, &all));
	nested_dec(bpf_map_lookup_elem(&krsi_nested, &root));
}

/*
 * cgroup_rmdir of a cgroup with binding b (or none): an inherited binding
 * gives its room back; a container's root takes its counter with it, and
 * whatever the counter still held (inherited bindings that user space
 * rebound, so that their rmdir gave nothing back) leaves the total too. A
 * cgroup with children cannot be removed, so none of the container's nested
 * cgroups is left when its root goes.
 */
static __always_inline void nested_forget(__u64 id, const struct krsi_binding *b)
{
	if (b && (b->flags & KRSI_BINDING_INHERITED)) {
		nested_release(b->root);
		return;
	}
	__u64 *mine = bpf_map_lookup_elem(&krsi_nested, &id);
	if (!mine)
		return;
	__u64 left = *mine, all = 0;
	__u64 *total = bpf_map_lookup_elem(&krsi_nested, &all);
	if (total && left) {
		if (*total >= left)
			__sync_fetch_and_add(total, -left);
		else
			*total = 0;
	}
	bpf_map_delete_elem(&krsi_nested, &id);
}

/* The event of a nested cgroup left unbound: a header and its cgroup path. */
struct krsi_quota_event {
	struct krsi_event ev;
	char path[KRSI_CGROUP_PATH_MAX];
};

/*
 * Tell who made a cgroup past its container's room (when it is a bound
 * process: a container's own doing). The mkdir itself succeeds (the
 * tracepoint runs after it); the binding is what is refused, whatever the
 * mode, so the event says denied.
 */
static __always_inline void report_quota(const struct krsi_cgroup_path *key, long n)
{
	struct verdict v = {};

	if (!lookup_caller(&v))
		return;
	struct krsi_quota_event *e = bpf_ringbuf_reserve(&krsi_events, sizeof(*e), 0);
	if (!e) {
		count(KRSI_STAT_EVENTS_DROPPED);
		return;
	}
	__builtin_memset(&e->ev, 0, sizeof(e->ev));
	fill_event(&e->ev, &v, KRSI_HOOK_CGROUP_MKDIR, KRSI_REASON_CGROUP_QUOTA, KRSI_RULE_NONE);
	e->ev.action = KRSI_ACTION_DENIED;
	if (n > 0 && n < (long)sizeof(e->path)) {
		__builtin_memcpy(e->path, key->path, sizeof(e->path));
		e->ev.path_len = n - 1;
	}
	bpf_ringbuf_submit(e, 0);
}

#endif /* KRSI_CGROUP_H */
