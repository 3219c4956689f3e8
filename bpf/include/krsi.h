/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Types and constants shared by the BPF programs (bpf/krsi.c and what it includes) and Go. bpf2go
 * generates the Go mirrors of the structs and enums (enforcement/gen.go's
 * -type list: enforcement/bpf_x86_bpfel.go and bpf_arm64_bpfel.go, types
 * bpfKrsiBinding, bpfKrsiEvent, ..., constants bpfKrsiHookKRSI_HOOK_*, ...), so
 * a value Go needs is an enumerator here, not a #define, and an enum Go reads
 * is listed in struct krsi_enums (bpf/krsi.c). The few Go packages that cannot
 * import the generated code keep copies, which enforcement's TestABI compares
 * with the object's BTF. A change of a struct is a change of the pinned maps'
 * layout: bump KRSI_ABI so that a daemon never reuses pins of another layout.
 */
#ifndef KRSI_H
#define KRSI_H

/* Layout version of the pinned maps, stored in struct krsi_config.abi. */
enum krsi_abi {
	KRSI_ABI = 3,
};

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
#define KRSI_ACCESS_ALL ((1 << KRSI_NUM_ACCESS) - 1)

/* How a rule key's path is compared; mirror profiles.MatchKind. */
enum krsi_match {
	KRSI_MATCH_EXACT = 1,    /* the whole path */
	KRSI_MATCH_CHILDREN = 2, /* "/dir/" + "*": the key is "/dir/", matched at the last slash */
	KRSI_MATCH_SUBTREE = 3,  /* "/dir/" + "**": the key is "/dir/", matched at any slash */
	/*
	 * No rule: "/dir/" is a prefix of some rule key of the ruleset (the
	 * rule's own directory included), so renaming /dir would change what
	 * that rule matches. Written by enforcement for every such prefix;
	 * looked up only by the rename and link checks (progs/pathchange.h).
	 */
	KRSI_MATCH_ANCESTOR = 4,
	/*
	 * A multi-call binary (busybox) whose applets the profile decides: the
	 * key is the binary's whole resolved path; the value's exec bit is what
	 * an applet no KRSI_MATCH_APPLET key names gets (deny when the profile
	 * lists the applets it allows), origin[exec] the binary's rule.
	 * lib/applet.h.
	 */
	KRSI_MATCH_MULTICALL = 5,
	/*
	 * One applet of a multi-call binary: the key hashes the binary's path,
	 * a NUL byte, then the applet's name (len counts all three); the value's
	 * exec bit allows or denies it.
	 */
	KRSI_MATCH_APPLET = 6,
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
	/*
	 * Bound by cgroup_mkdir to a marked parent's fallback profile: a
	 * container cgroup created with nobody's binding staged (krsi was down
	 * or too slow). Inherited by the cgroups nested in it.
	 */
	KRSI_BINDING_FALLBACK = 1 << 2,
	/*
	 * Only in krsi_staged: the plugin decided this container runs
	 * unconfined, so cgroup_mkdir must not give it the fallback either.
	 */
	KRSI_BINDING_UNCONFINED = 1 << 3,
	/*
	 * A container's cgroup before its entrypoint runs: only the runtime is
	 * in it. Path rules (exec and files) wait for the first exec that is
	 * not the runtime re-executing itself (runc 1.1 does, from a memfd or a
	 * detached bind mount, inside the cgroup); that exec clears the flag and
	 * is checked. Before it the runtime maps the node's libraries, makes
	 * mount points and device nodes in the container's root (which CRI-O
	 * keeps under /var/lib/containers) and opens its own state files: none of
	 * that is the container's doing. W^X applies from creation.
	 */
	KRSI_BINDING_EXEC_PENDING = 1 << 4,
};

/* Value of krsi_bindings and krsi_staged (see also struct krsi_parent). */
struct krsi_binding {
	__u32 profile_id;
	__u8 mode;  /* enum krsi_mode */
	__u8 flags; /* enum krsi_binding_flag */
	__u16 _pad;
	/*
	 * The container this cgroup belongs to: the cgroup id of the binding's
	 * origin (staged, fallback or written by user space), copied to every
	 * cgroup nested in it by cgroup_mkdir. 0 means the cgroup itself (user
	 * space never writes anything else). Whatever is scoped to a container
	 * rather than to one cgroup of it is keyed by this id.
	 */
	__u64 root;
};

/* What the children of a marked parent cgroup are (krsi_parents). */
enum krsi_parent_kind {
	/*
	 * Children are pod cgroups, grandchildren container cgroups: the
	 * kubelet's QoS levels (/kubepods, /kubepods/besteffort,
	 * /kubepods.slice/kubepods-burstable.slice, ...).
	 */
	KRSI_PARENT_PODS = 1,
	/* Children are container cgroups (containerd without a cgroup parent: /k8s.io). */
	KRSI_PARENT_CONTAINERS = 2,
};

/*
 * Value of krsi_parent_paths and krsi_parents: how a marked parent's
 * container cgroups are told apart, and the binding they get when nobody
 * staged one (the node's fallback profile).
 */
struct krsi_parent {
	__u32 profile_id;
	__u8 mode; /* enum krsi_mode */
	__u8 kind; /* enum krsi_parent_kind */
	__u16 _pad;
};

/* Value of krsi_fallback: when cgroup_mkdir gave a container the fallback. */
struct krsi_fallback_rec {
	__u64 bound_ns;  /* bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME */
	__u64 parent_id; /* the marked parent (a QoS level or /k8s.io) */
};

enum krsi_profile_flag {
	KRSI_PF_DENY_WX = 1 << 0,
	KRSI_PF_EXEC_DEFAULT_DENY = 1 << 1,
	KRSI_PF_DENY_FILELESS = 1 << 2,
	KRSI_PF_FILE_DEFAULT_DENY = 1 << 3,
	/* Hook mask: without it the hook returns before resolving any path. */
	KRSI_PF_USES_EXEC = 1 << 4,
	KRSI_PF_USES_FILES = 1 << 5,
	/* The profile has KRSI_MATCH_MULTICALL keys: exec reads the new program's argv. */
	KRSI_PF_USES_APPLETS = 1 << 6,
	/*
	 * Bits KRSI_PF_FILE_NODENY_SHIFT.. of krsi_profile.flags: the files
	 * access bits (enum krsi_access, exec excluded) that no rule of the
	 * profile denies and its default allows, so that no path can deny them.
	 * An open that asks only for such bits skips the path work (progs/file.h,
	 * rules_may_deny). Written by user space; a profile written by a krsi
	 * that did not know them has none set, and is checked in full. (A shift,
	 * not a flag: an enumerator so that bpf2go generates it for Go.)
	 */
	KRSI_PF_FILE_NODENY_SHIFT = 8,
};

/* Value of krsi_profiles. Replaced whole, so a profile changes in one step. */
struct krsi_profile {
	__u32 ruleset; /* the krsi_rule_key.ruleset its rules live under */
	__u32 flags;   /* enum krsi_profile_flag */
	/*
	 * Depth masks (lib/pathmatch.h): bit d % 64 set when the ruleset has a
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
	/* progs/pathchange.h */
	KRSI_HOOK_PATH_UNLINK = 5,
	KRSI_HOOK_PATH_RMDIR = 6,
	KRSI_HOOK_PATH_RENAME = 7,
	KRSI_HOOK_PATH_LINK = 8,
	KRSI_HOOK_PATH_TRUNCATE = 9,
	KRSI_HOOK_PATH_CHMOD = 10,
	KRSI_HOOK_PATH_CHOWN = 11,
	KRSI_HOOK_PATH_MKDIR = 12,
	KRSI_HOOK_PATH_MKNOD = 13,
	KRSI_HOOK_PATH_SYMLINK = 14,
	KRSI_HOOK_FILE_RECEIVE = 15,
	KRSI_HOOK_PTRACE = 16,
	KRSI_HOOK_SHM_SHMAT = 17,
	KRSI_HOOK_USERFAULTFD = 18,
	KRSI_HOOK_PATH_CHROOT = 19,
	/* 20-22: W^X (lib/wx.h) */
	KRSI_HOOK_ELF_INTERP = 20, /* the ELF loader's open of a program's PT_INTERP */
	/* progs/cgroup.h: leaving the bound cgroup */
	KRSI_HOOK_TASK_ALLOC = 23,   /* clone3(CLONE_INTO_CGROUP) */
	KRSI_HOOK_CGROUP_MKDIR = 24, /* a nested cgroup left unbound (quota) */
	/* progs/access.h */
	KRSI_HOOK_FILE_FCNTL = 27,
	KRSI_HOOK_FILE_PERMISSION = 28,
	KRSI_HOOK_FILE_IOCTL = 29,
	/* times, extended attributes, ACLs: inode_setattr, inode_{set,remove}xattr, inode_{set,remove}_acl */
	KRSI_HOOK_INODE_ATTR = 30,
	/* after execve's point of no return: the applet a multi-call binary runs */
	KRSI_HOOK_BPRM_COMMITTING = 31,
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
	/* W^X through files and other writers (lib/wx.h, progs/memory.h) */
	KRSI_REASON_WX_FILELESS = 9,        /* a file with no name (memfd) made executable */
	KRSI_REASON_WX_OPEN_FOR_WRITE = 10, /* a file open for writing made executable */
	KRSI_REASON_WX_WRITTEN = 11,        /* a file a W^X process wrote made executable */
	KRSI_REASON_WX_EXEC_MAPPED = 12,    /* a file mapped executable opened for writing */
	KRSI_REASON_WX_CODE_WRITE = 13,     /* /proc/PID/mem, ptrace, userfaultfd, SHM_EXEC */
	KRSI_REASON_REROOT = 14,            /* chroot would change what every path rule names */
	/* 15-17: W^X (lib/wx.h) */
	KRSI_REASON_WX_KERNEL_OBJECT = 15, /* not a regular file on a mountable file system made executable */
	KRSI_REASON_WX_NO_MARK = 16,       /* the file's W^X marks could not be stored: fail closed */
	KRSI_REASON_WX_EXEC_STACK = 17,    /* execve of a program whose stack is executable (PT_GNU_STACK) */
	/* progs/cgroup.h */
	KRSI_REASON_CGROUP_ESCAPE = 18, /* a move into a cgroup that is not the container's */
	KRSI_REASON_CGROUP_QUOTA = 19,  /* a nested cgroup over the container's quota: unbound */
	/* rename or link: the new name would allow what the old one denies */
	KRSI_REASON_RENAME_WIDENS = 20,
	/* rename of a directory above (or to a place above) a rule's key */
	KRSI_REASON_RENAME_MOVES_RULES = 21,
	/*
	 * A multi-call binary's argv could not be read, was too long to judge
	 * (KRSI_ARG_MAX) or nested "busybox busybox ..." deeper than
	 * KRSI_APPLET_LEVELS: its applet is unknown, fail closed.
	 */
	KRSI_REASON_APPLET_UNKNOWN = 22,
	/* A multi-call binary mapped executable outside its own execve (ld.so BINARY). */
	KRSI_REASON_APPLET_LOADER = 23,
};

enum krsi_action {
	KRSI_ACTION_DENIED = 1,  /* enforce mode: the operation failed with EPERM */
	KRSI_ACTION_AUDITED = 2, /* audit mode: reported, allowed */
	/* enforce mode, after execve's point of no return: the task was killed (SIGKILL) */
	KRSI_ACTION_KILLED = 3,
};

/* struct krsi_event.rule when no rule decided. */
enum krsi_rule_none {
	KRSI_RULE_NONE = 0xffffffff,
};

/*
 * Lengths of what exec reads for multi-call binaries (an enum, not #defines,
 * so that TestABI can compare profiles.MaxAppletName with KRSI_APPLET_MAX).
 */
enum krsi_exec_limit {
	/* Longest argv string read to find a multi-call binary's applet, NUL included. */
	KRSI_ARG_MAX = 256,
	/* Longest applet name, NUL included: a rule's longer name could never match. */
	KRSI_APPLET_MAX = 64,
	/* Longest invoked path (bprm->filename) an event carries, NUL included. */
	KRSI_INVOKED_MAX = 256,
};
/*
 * A violation, as sent on krsi_events; followed by path_len bytes of path,
 * then (exec hooks) invoked_len bytes of the path execve was given
 * (bprm->filename), then applet_len bytes of the applet a multi-call binary
 * was asked to run.
 */
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
	/* Were padding before exec events carried them: same layout (KRSI_ABI 3). */
	__u16 invoked_len;
	__u16 applet_len;
};

/* Indexes of krsi_stats. */
enum krsi_stat {
	KRSI_STAT_EVENTS_DROPPED = 0,
	/* cgroup_mkdir could not write a binding (krsi_bindings full). */
	KRSI_STAT_BIND_FAILED = 1,
	/* cgroup_mkdir bound a container cgroup to the fallback profile. */
	KRSI_STAT_FALLBACK_BOUND = 2,
	/*
	 * cgroup_mkdir left a nested cgroup unbound: its container had used its
	 * quota of nested bindings, or all containers together their share of
	 * krsi_bindings (progs/cgroup.h). No bound process can enter it.
	 */
	KRSI_STAT_NESTED_REFUSED = 3,
	/*
	 * A file's W^X mark table had no slot left for another container: the
	 * mark was recorded for every container (lib/wx.h).
	 */
	KRSI_STAT_MARKS_OVERFLOW = 4,
	KRSI_STAT_MAX = 8,
};

/* Key of krsi_staged: a cgroup path relative to the cgroup2 root, NUL padded. */
struct krsi_cgroup_path {
	char path[KRSI_CGROUP_PATH_MAX];
};

/* Profile metadata for user space only (names for `krsi status`, events). */
struct krsi_profile_meta {
	char name[128];
	__u32 rules;
	__u32 _pad;
};

#endif /* KRSI_H */
