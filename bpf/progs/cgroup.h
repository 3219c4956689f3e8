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
 * Here: task_alloc, and cgroup_mkdir and cgroup_rmdir, which bind a cgroup as
 * it is made (staged, inherited, or the fallback) and keep the count of
 * nested bindings. The move check of the first route is lib/cgroup.h's,
 * called by progs/file.h.
 */

#ifndef KRSI_PROGS_CGROUP_H
#define KRSI_PROGS_CGROUP_H

#include "lib/verdict.h"
#include "lib/cgroup.h"

#define CLONE_INTO_CGROUP 0x200000000ULL

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

/* ---- cgroups: bind before anything runs -------------------------------- */

/*
 * Is this the directory name of a pod cgroup the kubelet made under a QoS
 * level? cgroupfs driver: "pod<uid>" (/kubepods/besteffort/pod<uid>);
 * systemd driver: "kubepods-pod<uid>.slice" (guaranteed),
 * "kubepods-besteffort-pod<uid>.slice", "kubepods-burstable-pod<uid>.slice".
 * The QoS levels themselves ("besteffort", "kubepods-burstable.slice") are
 * not pods.
 */
static __always_inline int is_pod_cgroup(const char name[KRSI_NAME_PREFIX])
{
	return cg_name_prefix(name, "pod") || cg_name_prefix(name, "kubepods-pod") ||
	       cg_name_prefix(name, "kubepods-besteffort-pod") || cg_name_prefix(name, "kubepods-burstable-pod");
}

/*
 * A runtime's own process placed next to the containers of a pod, not a
 * container: CRI-O's conmon ("crio-conmon-<id>" with cgroupfs,
 * "crio-conmon-<id>.scope" with systemd, when conmon_cgroup = "pod"). It
 * forks and executes the OCI runtime, which a fallback profile must not stop.
 */
static __always_inline int is_runtime_helper(const char name[KRSI_NAME_PREFIX])
{
	return cg_name_prefix(name, "crio-conmon-");
}

/*
 * Fail closed: bind a new container cgroup nobody staged to its marked
 * parent's fallback binding. Container level is told from pod level by the
 * position below a marked parent, which is the same for both drivers and
 * both runtimes (the runtime only names the last level):
 *
 *   marked PODS parent (QoS)  /kubepods/besteffort   kubepods.slice/kubepods-besteffort.slice
 *     pod cgroup (kubelet)    pod<uid>               kubepods-besteffort-pod<uid>.slice
 *       container (runtime)   <id>, crio-<id>        cri-containerd-<id>.scope, crio-<id>.scope
 *
 * so a container cgroup is a child of a cgroup whose name is a pod's and
 * whose parent is a marked PODS parent; under a CONTAINERS parent (/k8s.io)
 * every child is a container. A pod cgroup (a child of the QoS level) and a
 * QoS level (/kubepods/besteffort is a child of /kubepods, also marked) are
 * never bound. The pod's sandbox (pause) container is a container level
 * cgroup too and gets the fallback; the plugin unbinds it when it sees the
 * pod (RunPodSandbox). Cgroups outside marked parents are never looked at
 * beyond two hash lookups.
 */
static __always_inline void bind_fallback(struct cgroup *cgrp, __u64 id)
{
	struct kernfs_node *kn = BPF_CORE_READ(cgrp, kn);
	struct kernfs_node *pkn = kn_parent(kn);
	__u64 pid = kn_id(pkn);
	char name[KRSI_NAME_PREFIX] = {};

	struct krsi_parent *mp = bpf_map_lookup_elem(&krsi_parents, &pid);
	if (mp) {
		if (mp->kind != KRSI_PARENT_CONTAINERS)
			return; /* a pod cgroup or a QoS level */
	} else {
		struct kernfs_node *gkn = kn_parent(pkn);
		__u64 gid = kn_id(gkn);
		mp = bpf_map_lookup_elem(&krsi_parents, &gid);
		if (!mp || mp->kind != KRSI_PARENT_PODS)
			return;
		if (!cg_read_name(pkn, name) || !is_pod_cgroup(name))
			return;
		pid = gid;
	}
	if (!cg_read_name(kn, name) || is_runtime_helper(name))
		return;

	struct krsi_binding b = {
		.profile_id = mp->profile_id,
		.mode = mp->mode,
		/* Its exec rules, if any, wait for the entrypoint too (runc 1.1). */
		.flags = KRSI_BINDING_FALLBACK | KRSI_BINDING_EXEC_PENDING,
	};
	if (bpf_map_update_elem(&krsi_bindings, &id, &b, BPF_ANY)) {
		count(KRSI_STAT_BIND_FAILED);
		return;
	}
	struct krsi_fallback_rec fb = {.bound_ns = bpf_ktime_get_boot_ns(), .parent_id = pid};
	bpf_map_update_elem(&krsi_fallback, &id, &fb, BPF_ANY); /* bookkeeping only */
	count(KRSI_STAT_FALLBACK_BOUND);
}

/*
 * A new cgroup v2 directory. `path` is relative to the hierarchy's root,
 * whatever the mount point and the caller's cgroup namespace. In order:
 * a staged path (a container the runtime is about to create) gets its staged
 * binding, or none if the plugin decided it runs unconfined; a configured
 * parent path is marked; a child of a bound cgroup inherits its binding
 * (systemd or a runtime's extra level inside a container); a container cgroup
 * under a marked parent gets the fallback binding. All of it happens before
 * mkdir(2) returns, so before any process can be moved in.
 */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(krsi_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0; /* a cgroup v1 hierarchy on a hybrid host */

	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	/*
	 * A new cgroup that already has a binding was bound by the program of
	 * another krsi set sharing these maps, which ran first (an upgrade,
	 * enforcement/upgrade.go; the kernel runs the last attached program
	 * first): binding it again would count its nested room twice. A set
	 * pinned by a krsi without this check does count twice the cgroups
	 * made in the seconds both sets are attached (docs/upgrade.md).
	 */
	if (bpf_map_lookup_elem(&krsi_bindings, &id))
		return 0;
	__u32 zero = 0;
	struct krsi_cgroup_path *key = bpf_map_lookup_elem(&krsi_mkdir_buf, &zero);
	if (!key)
		return 0;
	__builtin_memset(key, 0, sizeof(*key));
	long n = bpf_probe_read_kernel_str(key->path, sizeof(key->path), path);
	if (n > 0 && n < (long)sizeof(key->path)) {
		struct krsi_binding *staged = bpf_map_lookup_elem(&krsi_staged, key);
		if (staged) {
			if (staged->flags & KRSI_BINDING_UNCONFINED)
				return 0; /* decided: no binding, not even the fallback */
			struct krsi_binding b = *staged;
			b.flags |= KRSI_BINDING_STAGED;
			if (bpf_map_update_elem(&krsi_bindings, &id, &b, BPF_ANY))
				count(KRSI_STAT_BIND_FAILED);
			return 0;
		}
		struct krsi_parent *marked = bpf_map_lookup_elem(&krsi_parent_paths, key);
		if (marked) {
			struct krsi_parent m = *marked;
			bpf_map_update_elem(&krsi_parents, &id, &m, BPF_ANY);
		}
	}

	__u64 pid = kn_id(kn_parent(BPF_CORE_READ(cgrp, kn)));
	struct krsi_binding *pb = bpf_map_lookup_elem(&krsi_bindings, &pid);
	if (pb) {
		struct krsi_binding b = *pb;
		/*
		 * A child cgroup arms exec rules in both: a process that moves
		 * back into a parent still waiting for its entrypoint must not
		 * find it lenient.
		 */
		pb->flags &= ~KRSI_BINDING_EXEC_PENDING;
		b.flags = (b.flags & ~(KRSI_BINDING_STAGED | KRSI_BINDING_EXEC_PENDING)) |
			  KRSI_BINDING_INHERITED;
		b.root = pb->root ? pb->root : pid;
		/*
		 * Room first (above): past its container's quota or all
		 * containers' share the cgroup stays unbound, and no bound process
		 * may move into it.
		 */
		if (!nested_reserve(b.root)) {
			count(KRSI_STAT_NESTED_REFUSED);
			report_quota(key, n);
			return 0;
		}
		if (bpf_map_update_elem(&krsi_bindings, &id, &b, BPF_ANY)) {
			nested_release(b.root);
			count(KRSI_STAT_BIND_FAILED);
		}
		return 0;
	}
	bind_fallback(cgrp, id);
	return 0;
}

/*
 * A removed cgroup's id is never reused; drop its binding so none leaks, and
 * give back its room for nested bindings.
 */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(krsi_cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0;
	__u64 id = BPF_CORE_READ(cgrp, kn, id);
	nested_forget(id, bpf_map_lookup_elem(&krsi_bindings, &id));
	bpf_map_delete_elem(&krsi_bindings, &id);
	bpf_map_delete_elem(&krsi_fallback, &id);
	bpf_map_delete_elem(&krsi_parents, &id); /* a marked parent removed; its path stays marked */
	return 0;
}

#endif /* KRSI_PROGS_CGROUP_H */
