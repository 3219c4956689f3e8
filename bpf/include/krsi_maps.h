/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The maps. Pinned ones (LIBBPF_PIN_BY_NAME) live under the pin directory
 * (/sys/fs/bpf/krsi) and outlive the daemon; the enforcement package owns
 * their layout and is the only writer from user space.
 */
#ifndef KRSI_MAPS_H
#define KRSI_MAPS_H

#include "krsi.h"

/*
 * A map in libbpf's form, written once so that each declaration below is
 * what differs: its kind, name, key, value and size (its comment says what
 * they hold). A member a kind has no use for is 0, which is what libbpf and
 * the kernel take for an absent one: map_flags 0 (arrays), max_entries 0
 * (local storage, sized by its owners), pinning LIBBPF_PIN_NONE.
 */
#define KRSI_MAP(name, map_type, flags, max, key_type, value_type, pin)                            \
	struct {                                                                                   \
		__uint(type, map_type);                                                            \
		__uint(map_flags, flags);                                                          \
		__uint(max_entries, max);                                                          \
		__type(key, key_type);                                                             \
		__type(value, value_type);                                                         \
		__uint(pinning, pin);                                                              \
	} name SEC(".maps")

/*
 * A hash map pinned by name under the pin directory. NO_PREALLOC: memory is
 * taken per entry, so max is only a ceiling (enforcement.Capacity may change
 * it at load).
 */
#define KRSI_PINNED_HASH(name, key_type, value_type, max)                                          \
	KRSI_MAP(name, BPF_MAP_TYPE_HASH, BPF_F_NO_PREALLOC, max, key_type, value_type,             \
		 LIBBPF_PIN_BY_NAME)

/* A pinned array indexed by a u32: a fixed table (configuration, counters). */
#define KRSI_PINNED_ARRAY(name, value_type, max)                                                   \
	KRSI_MAP(name, BPF_MAP_TYPE_ARRAY, 0, max, __u32, value_type, LIBBPF_PIN_BY_NAME)

/* key: 0; value: one CPU's working buffer, not pinned (nothing outlives a program's run). */
#define KRSI_CPU_BUF(name, value_type)                                                             \
	KRSI_MAP(name, BPF_MAP_TYPE_PERCPU_ARRAY, 0, 1, __u32, value_type, LIBBPF_PIN_NONE)

/*
 * Local storage (map_type BPF_MAP_TYPE_TASK_STORAGE or _INODE_STORAGE): one
 * value per task or inode, allocated at its first use and freed with it; not
 * pinned (the kernel object is the key).
 */
#define KRSI_STORAGE(name, map_type, value_type)                                                   \
	KRSI_MAP(name, map_type, BPF_F_NO_PREALLOC, 0, int, value_type, LIBBPF_PIN_NONE)

/*
 * key: cgroup v2 id (u64, the cgroup directory's kernfs id); value: its binding.
 * NO_PREALLOC: memory is taken per entry, so the bound is only a ceiling. At
 * most half of it holds inherited (nested) bindings (krsi_nested), so that
 * containers' own bindings (staged, fallback, user space) always have room.
 */
KRSI_PINNED_HASH(krsi_bindings, __u64, struct krsi_binding, 1 << 18);

/*
 * key: cgroup path a container will get; value: the binding cgroup_mkdir gives
 * it at creation. Written by user space before the runtime creates the cgroup.
 */
KRSI_PINNED_HASH(krsi_staged, struct krsi_cgroup_path, struct krsi_binding, 16384);

/*
 * Fail closed (the kernel confines new containers while krsi is down).
 * key: a cgroup path relative to the cgroup2 root, NUL padded, configured as a
 * parent of pod or container cgroups; value: its kind and fallback binding.
 * Written by user space at start-up; cgroup_mkdir copies an entry into
 * krsi_parents when a cgroup with that path is created later (containerd
 * makes /k8s.io with its first container).
 */
KRSI_PINNED_HASH(krsi_parent_paths, struct krsi_cgroup_path, struct krsi_parent, 64);

/*
 * key: cgroup v2 id of a marked parent; value: as krsi_parent_paths. Written
 * by user space for parents that exist at start-up and by cgroup_mkdir for
 * those created later; cgroup_rmdir drops it. cgroup_mkdir looks up a new
 * cgroup's parent and grandparent here (two u64 lookups).
 */
KRSI_PINNED_HASH(krsi_parents, __u64, struct krsi_parent, 64);

/*
 * key: cgroup v2 id of a container cgroup cgroup_mkdir bound to a fallback
 * profile; value: when, and under which parent. The entry lives while the
 * binding is the fallback one: user space deletes it when it binds the cgroup
 * itself, cgroup_rmdir when the cgroup goes.
 */
KRSI_PINNED_HASH(krsi_fallback, __u64, struct krsi_fallback_rec, 16384);

/*
 * Room for nested cgroups (progs/cgroup.h). key: a container's root cgroup id
 * (krsi_binding.root); value: how many inherited bindings it holds now. Key 0
 * (no cgroup has id 0): inherited bindings of all containers together.
 * Written by cgroup_mkdir and cgroup_rmdir only (under the kernel's
 * cgroup_mutex, so one at a time).
 */
KRSI_PINNED_HASH(krsi_nested, __u64, __u64, 65536);

/*
 * Limits on inherited bindings, set by the loader (enforcement.Capacity):
 * per container, and for all containers (half of krsi_bindings).
 */
const volatile __u64 krsi_nested_quota = 256;
const volatile __u64 krsi_nested_max = (1 << 18) / 2;

/* key: profile id (u32); value: its ruleset and flags, replaced whole. */
KRSI_PINNED_HASH(krsi_profiles, __u32, struct krsi_profile, 4096);

/* key: ruleset + hashed path + kind; value: the decisions at that key. */
KRSI_PINNED_HASH(krsi_rules, struct krsi_rule_key, struct krsi_rule, 1 << 20);

/* key: profile id (u32); value: its name and rule count. */
KRSI_PINNED_HASH(krsi_names, __u32, struct krsi_profile_meta, 4096);

/* key: 0; value: the node's hash seeds and the layout's ABI version. */
KRSI_PINNED_ARRAY(krsi_conf, struct krsi_config, 1);

/* key: enum krsi_stat; value: a counter (atomic adds, shared by all CPUs). */
KRSI_PINNED_ARRAY(krsi_stats, __u64, KRSI_STAT_MAX);

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
/* Where a multi-call binary's argv is read from, and what was found (lib/applet.h). */
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
	char arg[KRSI_ARG_MAX]; /* one argv string (lib/applet.h) */
	struct applet_q q;
};

/* key: the task; value: its scratch buffer. */
KRSI_STORAGE(krsi_task_buf, BPF_MAP_TYPE_TASK_STORAGE, struct krsi_scratch);

/* A CPU's scratch buffer, and whether a program on that CPU holds it. */
struct krsi_cpu_scratch {
	__u64 busy;
	struct krsi_scratch s;
};

/*
 * key: 0; value: this CPU's scratch buffer (scratch_claim). One entry: its
 * memory is cores × 4 KiB, whatever the number of profiles or containers.
 */
KRSI_CPU_BUF(krsi_cpu_buf, struct krsi_cpu_scratch);

/*
 * Where a task is in an execve (lib/exec.h): KRSI_EXEC_ELF_CHECKED
 * from bprm_check_security of an ELF program to the next prepare_bprm_creds,
 * so that the exec open the ELF loader makes in that window is known to be
 * the program's interpreter (PT_INTERP).
 */
enum krsi_exec_stage {
	KRSI_EXEC_ELF_CHECKED = 1 << 0,
};

/* key: the task; value: enum krsi_exec_stage bits (allocated at a bound task's first exec). */
KRSI_STORAGE(krsi_exec_stage, BPF_MAP_TYPE_TASK_STORAGE, __u32);

/* key: 0; value: cgroup_mkdir's buffer for the path (not sleepable: per CPU is safe). */
KRSI_CPU_BUF(krsi_mkdir_buf, struct krsi_cgroup_path);

/* ---- path walk (lib/pathwalk.h) ---- */

/*
 * The walk's working memory: the path is built backwards from the end of the
 * first KRSI_PATH_MAX bytes; the second half only lets the verifier see that
 * a name written at any offset stays inside.
 */
struct krsi_walk_tail {
	char buf[2 * KRSI_PATH_MAX];
};

/* key: the task; value: its walk buffer (allocated on a bound task's first walk). */
KRSI_STORAGE(krsi_walk_buf, BPF_MAP_TYPE_TASK_STORAGE, struct krsi_walk_tail);

/* ---- W^X marks on files (lib/wx.h) ---- */

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
KRSI_STORAGE(krsi_inode_marks, BPF_MAP_TYPE_INODE_STORAGE, struct krsi_marks);

#endif /* KRSI_MAPS_H */
