/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Types shared by the BPF programs (bpf/krsi.c) and Go. bpf2go generates the
 * Go mirrors (enforcement/krsi_bpfel.go, types krsiBinding, krsiEvent, ...)
 * from this file, so a change here is a change of the pinned maps' layout:
 * bump KRSI_ABI so that a daemon never reuses pins of another layout.
 */
#ifndef KRSI_H
#define KRSI_H

#define KRSI_ABI 2

/* Longest path bpf_d_path can give (PATH_MAX). A power of two, used as a mask. */
#define KRSI_PATH_MAX 4096
/* Longest cgroup path (relative to the cgroup2 root) that can be staged. */
#define KRSI_CGROUP_PATH_MAX 512

/* Access bits; mirror profiles.Access. */
enum krsi_access {
	KRSI_ACCESS_READ = 1 << 0,
	KRSI_ACCESS_WRITE = 1 << 1,
	KRSI_ACCESS_APPEND = 1 << 2,
	KRSI_ACCESS_CREATE = 1 << 3,
	KRSI_ACCESS_TRUNCATE = 1 << 4,
	KRSI_ACCESS_EXEC = 1 << 5,
};
#define KRSI_NUM_ACCESS 6

/* How a rule key's path is compared; mirror profiles.MatchKind. */
enum krsi_match {
	KRSI_MATCH_EXACT = 1,    /* the whole path */
	KRSI_MATCH_CHILDREN = 2, /* "/dir/" + "*": the key is "/dir/", matched at the last slash */
	KRSI_MATCH_SUBTREE = 3,  /* "/dir/" + "**": the key is "/dir/", matched at any slash */
};

enum krsi_mode {
	KRSI_MODE_ENFORCE = 0, /* the zero value is the strict one */
	KRSI_MODE_AUDIT = 1,
};

enum krsi_binding_flag {
	/* Bound by cgroup_mkdir because the parent cgroup was bound. */
	KRSI_BINDING_INHERITED = 1 << 0,
	/* Bound by cgroup_mkdir from a staged cgroup path. */
	KRSI_BINDING_STAGED = 1 << 1,
};

/* Value of krsi_bindings and krsi_staged. */
struct krsi_binding {
	__u32 profile_id;
	__u8 mode;  /* enum krsi_mode */
	__u8 flags; /* enum krsi_binding_flag */
	__u16 _pad;
};

enum krsi_profile_flag {
	KRSI_PF_DENY_WX = 1 << 0,
	KRSI_PF_EXEC_DEFAULT_DENY = 1 << 1,
	KRSI_PF_DENY_FILELESS = 1 << 2,
	KRSI_PF_FILE_DEFAULT_DENY = 1 << 3,
	/* Hook mask: without it the hook returns before resolving any path. */
	KRSI_PF_USES_EXEC = 1 << 4,
	KRSI_PF_USES_FILES = 1 << 5,
};

/* Value of krsi_profiles. Replaced whole, so a profile changes in one step. */
struct krsi_profile {
	__u32 ruleset; /* the krsi_rule_key.ruleset its rules live under */
	__u32 flags;   /* enum krsi_profile_flag */
	/*
	 * Depth masks (krsi_path.h): bit d % 64 set when the ruleset has a
	 * subtree (children) key with d slashes. The path walk
	 * looks up prefixes only at those depths; a mask with too many bits set
	 * costs lookups, one with too few loses rules.
	 */
	__u64 subtree_depths;
	__u64 children_depths;
};

/*
 * Key of krsi_rules: a path (or a directory prefix ending in '/') reduced to
 * two independent 64-bit hashes seeded per node (krsi_conf), plus its length
 * and match kind. Two seeded lanes make a crafted path that collides with a
 * rule's path infeasible without the seeds, which only root on the host can read.
 */
struct krsi_rule_key {
	__u32 ruleset;
	__u16 len;
	__u8 kind; /* enum krsi_match */
	__u8 _pad;
	__u64 h1;
	__u64 h2;
};

/* Value of krsi_rules: the decisions of every rule naming this key. */
struct krsi_rule {
	__u8 allow; /* enum krsi_access bits */
	__u8 deny;  /* enum krsi_access bits; deny wins over allow at one key */
	__u16 _pad;
	/* origin[i]: index of the profile rule that decided access bit 1<<i. */
	__u32 origin[KRSI_NUM_ACCESS];
};

/* Value of krsi_conf[0]; written once when the maps are created. */
struct krsi_config {
	__u64 seed1;
	__u64 seed2;
	__u32 abi; /* KRSI_ABI of the loader that created the maps */
	__u32 _pad;
};

enum krsi_hook {
	KRSI_HOOK_FILE_MPROTECT = 1,
	KRSI_HOOK_MMAP_FILE = 2,
	KRSI_HOOK_BPRM_CHECK = 3,
	KRSI_HOOK_FILE_OPEN = 4,
};

enum krsi_reason {
	KRSI_REASON_WX_ANON = 1,     /* anonymous memory made executable */
	KRSI_REASON_WX_WRITABLE = 2, /* writable and executable at once, or W then X */
	KRSI_REASON_WX_MODIFIED = 3, /* file mapping with written pages made executable */
	KRSI_REASON_RULE = 4,        /* a profile rule denies; event.rule names it */
	KRSI_REASON_DEFAULT = 5,     /* no rule allows and the profile's default denies */
	KRSI_REASON_FILELESS = 6,    /* exec or exec-mapping of a file with no link */
	KRSI_REASON_NO_PROFILE = 7,  /* bound to a profile id that does not exist */
	KRSI_REASON_NO_PATH = 8,     /* the kernel could not resolve the path */
};

enum krsi_action {
	KRSI_ACTION_DENIED = 1,  /* enforce mode: the operation failed with EPERM */
	KRSI_ACTION_AUDITED = 2, /* audit mode: reported, allowed */
};

#define KRSI_RULE_NONE 0xffffffff

/* A violation, as sent on krsi_events; followed by path_len bytes of path. */
struct krsi_event {
	__u64 ts_ns;
	__u64 cgroup_id;
	__u32 pid;  /* thread group id, as user space knows it */
	__u32 tid;
	__u32 profile_id;
	__u32 rule; /* index into the profile's rules, or KRSI_RULE_NONE */
	__u8 hook;   /* enum krsi_hook */
	__u8 reason; /* enum krsi_reason */
	__u8 action; /* enum krsi_action */
	__u8 access; /* enum krsi_access bits requested */
	__u32 prot;  /* PROT_* asked for, memory hooks */
	__u64 vm_start;
	__u64 vm_end;
	__u64 vm_flags;
	char comm[16];
	__u32 path_len;
	__u32 _pad;
};

/* Indexes of krsi_stats. */
enum krsi_stat {
	KRSI_STAT_EVENTS_DROPPED = 0,
	/* cgroup_mkdir could not write a binding (krsi_bindings full). */
	KRSI_STAT_BIND_FAILED = 1,
	KRSI_STAT_MAX = 4,
};

#endif /* KRSI_H */
