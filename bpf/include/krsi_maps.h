/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps. Pinned ones (LIBBPF_PIN_BY_NAME) live under the pin directory
 * (/sys/fs/bpf/krsi) and outlive the daemon; the enforcement package owns
 * their layout and is the only writer from user space.
 */
#ifndef KRSI_MAPS_H
#define KRSI_MAPS_H

/*
 * key: cgroup v2 id (u64, the cgroup directory's kernfs id); value: its binding.
 * NO_PREALLOC: memory is taken per entry, so the bound is only a ceiling. At
 * most half of it holds inherited (nested) bindings (krsi_nested), so that
 * containers' own bindings (staged, fallback, user space) always have room.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 18);
	__type(key, __u64);
	__type(value, struct krsi_binding);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_bindings SEC(".maps");

/*
 * key: cgroup path a container will get; value: the binding cgroup_mkdir gives
 * it at creation. Written by user space before the runtime creates the cgroup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct krsi_cgroup_path);
	__type(value, struct krsi_binding);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_staged SEC(".maps");

/*
 * Fail closed (the kernel confines new containers while krsi is down).
 * key: a cgroup path relative to the cgroup2 root, NUL padded, configured as a
 * parent of pod or container cgroups; value: its kind and fallback binding.
 * Written by user space at start-up; cgroup_mkdir copies an entry into
 * krsi_parents when a cgroup with that path is created later (containerd
 * makes /k8s.io with its first container).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, struct krsi_cgroup_path);
	__type(value, struct krsi_parent);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_parent_paths SEC(".maps");

/*
 * key: cgroup v2 id of a marked parent; value: as krsi_parent_paths. Written
 * by user space for parents that exist at start-up and by cgroup_mkdir for
 * those created later; cgroup_rmdir drops it. cgroup_mkdir looks up a new
 * cgroup's parent and grandparent here (two u64 lookups).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, struct krsi_parent);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_parents SEC(".maps");

/*
 * key: cgroup v2 id of a container cgroup cgroup_mkdir bound to a fallback
 * profile; value: when, and under which parent. The entry lives while the
 * binding is the fallback one: user space deletes it when it binds the cgroup
 * itself, cgroup_rmdir when the cgroup goes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct krsi_fallback_rec);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_fallback SEC(".maps");

/*
 * Room for nested cgroups (krsi_cgroup.h). key: a container's root cgroup id
 * (krsi_binding.root); value: how many inherited bindings it holds now. Key 0
 * (no cgroup has id 0): inherited bindings of all containers together.
 * Written by cgroup_mkdir and cgroup_rmdir only (under the kernel's
 * cgroup_mutex, so one at a time).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_nested SEC(".maps");

/*
 * Limits on inherited bindings, set by the loader (enforcement.Capacity):
 * per container, and for all containers (half of krsi_bindings).
 */
const volatile __u64 krsi_nested_quota = 256;
const volatile __u64 krsi_nested_max = (1 << 18) / 2;

/* key: profile id (u32); value: its ruleset and flags, replaced whole. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct krsi_profile);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_profiles SEC(".maps");

/* key: ruleset + hashed path + kind; value: the decisions at that key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct krsi_rule_key);
	__type(value, struct krsi_rule);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_rules SEC(".maps");

/* key: profile id (u32); value: its name and rule count. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct krsi_profile_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_names SEC(".maps");

/* key: 0; value: the node's hash seeds and the layout's ABI version. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct krsi_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_conf SEC(".maps");

/* key: enum krsi_stat; value: a counter (atomic adds, shared by all CPUs). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KRSI_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_stats SEC(".maps");

/* Violations: struct krsi_event, then the path. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} krsi_events SEC(".maps");

/*
 * A path hook's working memory: the event it may send and the resolved path.
 * Per task, not per CPU: the path hooks are sleepable, so two tasks can be
 * inside one on the same CPU. Allocated on a bound task's first path check.
 */
/* Where a multi-call binary's argv is read from, and what was found (krsi_applet.h). */
struct applet_q {
	__u64 base;     /* pre: the caller's argv array; post: bprm->p */
	__u64 next;     /* post: the next string's address */
	__u64 h1, h2;   /* in: hashes of the binary's path; out: of path "\0" applet */
	__u32 argc;     /* post: bprm->argc */
	__u32 post;     /* read the new stack (1) or the caller's array (0) */
	__u32 plen;     /* in: the binary's path length, s->ev.path_len */
	__u32 ilen;     /* in: the invoked path's length; the applet name is copied after both */
	__u32 name_len; /* out: the applet's length */
	__u32 k;        /* argv index of the next read */
};

struct krsi_scratch {
	struct krsi_event ev;
	char path[KRSI_PATH_MAX];
	/* After path: room for the invoked path and the applet an exec event adds. */
	char tail[KRSI_INVOKED_MAX + KRSI_APPLET_MAX];
	char arg[KRSI_ARG_MAX]; /* one argv string (krsi_applet.h) */
	struct applet_q q;
};

/* key: the task; value: its scratch buffer. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct krsi_scratch);
} krsi_task_buf SEC(".maps");

/* A CPU's scratch buffer, and whether a program on that CPU holds it. */
struct krsi_cpu_scratch {
	__u64 busy;
	struct krsi_scratch s;
};

/*
 * key: 0; value: this CPU's scratch buffer (scratch_claim). One entry: its
 * memory is cores × 4 KiB, whatever the number of profiles or containers.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct krsi_cpu_scratch);
} krsi_cpu_buf SEC(".maps");

/*
 * Where a task is in an execve (krsi.c, exec_stage_*): KRSI_EXEC_ELF_CHECKED
 * from bprm_check_security of an ELF program to the next prepare_bprm_creds,
 * so that the exec open the ELF loader makes in that window is known to be
 * the program's interpreter (PT_INTERP).
 */
enum krsi_exec_stage {
	KRSI_EXEC_ELF_CHECKED = 1 << 0,
};

/* key: the task; value: enum krsi_exec_stage bits (allocated at a bound task's first exec). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u32);
} krsi_exec_stage SEC(".maps");

/* key: 0; value: cgroup_mkdir's buffer for the path (not sleepable: per CPU is safe). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct krsi_cgroup_path);
} krsi_mkdir_buf SEC(".maps");

/* ---- path walk (krsi_pathhooks.h) ---- */

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

/* ---- W^X marks on files (krsi_wx.h) ---- */

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

#endif /* KRSI_MAPS_H */
