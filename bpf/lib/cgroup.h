/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgroup directories and files as kernfs shows them: parents, ids, names,
 * and the cgroup a write to a cgroup.procs or cgroup.threads file moves
 * processes into (check_cgroup_move, called by progs/file.h: why, in
 * progs/cgroup.h).
 */

#ifndef KRSI_LIB_CGROUP_H
#define KRSI_LIB_CGROUP_H

#include "krsi_maps.h"
#include "lib/verdict.h"
#include "lib/scratch.h"

#define CGROUP2_SUPER_MAGIC 0x63677270

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
	struct inode *inode = file->f_inode;

	if (inode->i_sb->s_magic != CGROUP2_SUPER_MAGIC)
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
	if (!file_writable(file))
		return 0;
	__u64 dst = move_target(file);
	if (!dst)
		return 0;
	struct krsi_binding *b = bpf_map_lookup_elem(&krsi_bindings, &dst);
	if (b && (b->root ? b->root : dst) == caller_root(v))
		return 0;

	__u64 *held;
	struct krsi_scratch *s = scratch_begin(&held);
	if (!s)
		return -EPERM;
	long n = bpf_d_path((struct path *)&file->f_path, s->path, KRSI_PATH_MAX);
	s->ev.path_len = n > 0 ? n - 1 : 0;
	int r = report_path(v, s, hook, KRSI_REASON_CGROUP_ESCAPE, KRSI_RULE_NONE, KRSI_ACCESS_WRITE, 0);
	scratch_release(held);
	return r;
}

#endif /* KRSI_LIB_CGROUP_H */
