/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Walks up the dentry and mount tree. The path_* and inode_* hooks cannot
 * call bpf_d_path on 6.1 (not sleepable there), so resolve_dentry builds the
 * path as d_path does, up to the task's root; the VM suite checks that both
 * give the same path. dentry_under asks whether one dentry lies beneath
 * another. Both are bounded bpf_loop walks that fail closed when the tree is
 * deeper than they go.
 */

#ifndef KRSI_LIB_PATHWALK_H
#define KRSI_LIB_PATHWALK_H

#include "krsi_maps.h"
#include "lib/kernel.h"

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
		w->vfsmnt = mount_vfs(parent);
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

struct under_walk {
	struct dentry *d;
	struct dentry *root;
	int found;
};

static long under_step(__u32 i, void *ctx)
{
	struct under_walk *w = ctx;
	struct dentry *d = w->d;

	if (d == w->root) {
		w->found = 1;
		return 1;
	}
	struct dentry *up = BPF_CORE_READ(d, d_parent);
	if (up == d)
		return 1;
	w->d = up;
	return 0;
}

/* Is root d itself or one of its ancestors? */
static __always_inline int dentry_under(struct dentry *d, struct dentry *root)
{
	struct under_walk w = {.d = d, .root = root};

	bpf_loop(KRSI_WALK_STEPS, under_step, &w, 0);
	return w.found;
}

#endif /* KRSI_LIB_PATHWALK_H */
