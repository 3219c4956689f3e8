//go:build ignore
// SPDX-License-Identifier: GPL-2.0-only
/*
 * krsi's kernel side: BPF LSM programs that enforce a per-cgroup profile, and
 * cgroup tracepoints that bind new cgroups before anything runs in them.
 *
 * Step in the pipeline: profile -> map entries (Go, enforcement package) ->
 * the decision made here -> an event on krsi_events.
 *
 * Every hook starts with one lookup of the caller's cgroup id in
 * krsi_bindings; a caller that is not bound pays that and nothing more.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "krsi.h"
#include "krsi_maps.h"
#include "krsi_path.h"
#include "krsi_applet.h"

char LICENSE[] SEC("license") = "GPL";

#ifdef KRSI_UPGRADE_TEST_OBJECT
/*
 * Only in the second object generated for the upgrade tests (build tag
 * krsi_upgrade_test, enforcement/gen.go): the same programs in an object whose
 * bytes, and so whose id, differ, so that test/kernel can replace one krsi's
 * pinned set with another's. Never read.
 */
const volatile __u32 krsi_upgrade_test_object = KRSI_UPGRADE_TEST_OBJECT;
#endif

/*
 * Never read. Clang writes a type into the object's BTF only when something
 * uses it; this variable uses the enums Go reads (bpf2go -type, in
 * enforcement/gen.go), so that their Go constants are generated from here.
 */
const volatile struct krsi_enums {
	enum krsi_abi abi;
	enum krsi_access access;
	enum krsi_match match;
	enum krsi_mode mode;
	enum krsi_binding_flag binding_flag;
	enum krsi_parent_kind parent_kind;
	enum krsi_profile_flag profile_flag;
	enum krsi_hook hook;
	enum krsi_reason reason;
	enum krsi_action action;
	enum krsi_stat stat;
	enum krsi_rule_none rule_none;
	enum krsi_exec_limit exec_limit;
} krsi_enums;

/*
 * Never read by the programs: the path hash's constants (krsi_path.h), in the
 * object for enforcement's TestABI to compare enforcement/hash.go with.
 */
const volatile __u64 krsi_path_hash[2] = { KRSI_H1_PRIME, KRSI_H2_MULT };

#define EPERM 1

/* uapi values, stable across kernels and the same on x86 and arm64 (asm-generic). */
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20
#define O_APPEND 02000
#define O_CREAT 0100
#define O_TRUNC 01000
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define __FMODE_EXEC 0x20 /* in f_flags */
#define VM_WRITE 0x2
#define VM_EXEC 0x4
#define VM_SHARED 0x8
#define VM_MAYWRITE 0x20

/* The decision for a bound caller, or NULL when it is not bound. */
struct verdict {
	const struct krsi_binding *binding;
	const struct krsi_profile *profile; /* NULL: bound to a missing profile */
	__u64 cgroup_id;
};

static __always_inline int lookup_caller(struct verdict *v)
{
	v->cgroup_id = bpf_get_current_cgroup_id();
	v->binding = bpf_map_lookup_elem(&krsi_bindings, &v->cgroup_id);
	if (!v->binding)
		return 0;
	__u32 id = v->binding->profile_id;
	v->profile = bpf_map_lookup_elem(&krsi_profiles, &id);
	return 1;
}

/* The container a bound caller belongs to (krsi_binding.root). */
static __always_inline __u64 caller_root(const struct verdict *v)
{
	return v->binding->root ? v->binding->root : v->cgroup_id;
}

static __always_inline void count(__u32 stat)
{
	__u64 *c = bpf_map_lookup_elem(&krsi_stats, &stat);
	if (c)
		__sync_fetch_and_add(c, 1);
}

static __always_inline void fill_event(struct krsi_event *ev, const struct verdict *v, __u8 hook,
				       __u8 reason, __u32 rule)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	ev->ts_ns = bpf_ktime_get_ns();
	ev->cgroup_id = v->cgroup_id;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->profile_id = v->binding->profile_id;
	ev->rule = rule;
	ev->hook = hook;
	ev->reason = reason;
	ev->action = v->binding->mode == KRSI_MODE_AUDIT ? KRSI_ACTION_AUDITED
			: hook == KRSI_HOOK_BPRM_COMMITTING ? KRSI_ACTION_KILLED
							    : KRSI_ACTION_DENIED;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
}

/* What the hook returns for a violation: EPERM, or 0 in audit mode. */
static __always_inline int verdict_ret(const struct verdict *v)
{
	return v->binding->mode == KRSI_MODE_AUDIT ? 0 : -EPERM;
}

/* ---- memory: W^X ---------------------------------------------------- */

static __always_inline int report_memory(const struct verdict *v, __u8 hook, __u8 reason,
					 __u32 prot, __u64 start, __u64 end, __u64 vm_flags)
{
	struct krsi_event *ev = bpf_ringbuf_reserve(&krsi_events, sizeof(*ev), 0);
	if (!ev) {
		count(KRSI_STAT_EVENTS_DROPPED);
		return verdict_ret(v);
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	fill_event(ev, v, hook, reason, KRSI_RULE_NONE);
	ev->prot = prot;
	ev->vm_start = start;
	ev->vm_end = end;
	ev->vm_flags = vm_flags;
	bpf_ringbuf_submit(ev, 0);
	return verdict_ret(v);
}

/*
 * W^X on an mprotect(2) or pkey_mprotect(2) that adds PROT_EXEC, from the VMA
 * alone: the path of vm_file cannot be resolved there (not a sleepable
 * hook). Adding exec to anonymous memory, to a mapping that is writable, to
 * a shared mapping that can be written through another view, or to a private
 * file mapping whose pages were written (it has an anon_vma, as SELinux's
 * execmod). The reason, or 0 (*file_contents: the contents of vm_file are
 * still to be judged, krsi_wx.h).
 */
static __always_inline __u8 wx_vma_reason(struct vm_area_struct *vma, unsigned long prot,
					  __u64 vm_flags, int *file_contents)
{
	struct file *file = BPF_CORE_READ(vma, vm_file);

	*file_contents = 0;
	if (prot & PROT_WRITE)
		return KRSI_REASON_WX_WRITABLE;
	if (vm_flags & VM_EXEC)
		return 0; /* already executable: nothing is being added */
	if (!file)
		return KRSI_REASON_WX_ANON;
	if (vm_flags & VM_WRITE)
		return KRSI_REASON_WX_WRITABLE;
	if ((vm_flags & (VM_SHARED | VM_MAYWRITE)) == (VM_SHARED | VM_MAYWRITE))
		return KRSI_REASON_WX_WRITABLE;
	if (BPF_CORE_READ(vma, anon_vma))
		return KRSI_REASON_WX_MODIFIED;
	*file_contents = 1;
	return 0;
}

/* ---- exec and files: rules on the kernel-resolved path ---------------- */

/*
 * Report a violation found by a path hook. The event and path are already in
 * the task's scratch buffer; send the header plus the path that was resolved.
 */
static __always_inline int report_path(const struct verdict *v, struct krsi_scratch *s,
				       __u8 hook, __u8 reason, __u32 rule, __u8 access, __u32 prot)
{
	/* path_len < KRSI_PATH_MAX always; the masks are what the verifier can see. */
	__u64 size = sizeof(s->ev) + (s->ev.path_len & (KRSI_PATH_MAX - 1)) +
		     (s->ev.invoked_len & (KRSI_INVOKED_MAX - 1)) +
		     (s->ev.applet_len & (KRSI_APPLET_MAX - 1));

	fill_event(&s->ev, v, hook, reason, rule);
	s->ev.access = access;
	s->ev.prot = prot;
	if (bpf_ringbuf_output(&krsi_events, s, size, 0))
		count(KRSI_STAT_EVENTS_DROPPED);
	return verdict_ret(v);
}

/*
 * The rules' verdict on the path in s for the access bits want: the most
 * specific rule per bit (a denied bit reports its rule), then, for bits no
 * rule decided, the default that the profile flag default_deny stands for
 * (0: none, allow).
 */
static __always_inline __u32 first_origin(const struct path_match *m, __u8 bits)
{
	for (int i = 0; i < KRSI_NUM_ACCESS; i++)
		if (bits & (1 << i))
			return m->origin[i];
	return KRSI_RULE_NONE;
}

/* decide_path on a match already made (for at least the bits want). */
static __always_inline int judge_path(const struct verdict *v, struct krsi_scratch *s, __u8 hook,
				      __u8 want, __u32 prot, __u32 default_deny,
				      const struct path_match *m)
{
	__u8 denied = m->denied & want;

	if (denied)
		return report_path(v, s, hook, KRSI_REASON_RULE, first_origin(m, denied), want, prot);
	if ((want & ~m->decided) && (v->profile->flags & default_deny))
		return report_path(v, s, hook, KRSI_REASON_DEFAULT, KRSI_RULE_NONE, want, prot);
	return 0;
}

static __always_inline int decide_path(const struct verdict *v, struct krsi_scratch *s, __u8 hook,
				       __u8 want, __u32 prot, __u32 default_deny)
{
	struct path_match m = {};

	match_path(s, v->profile, want, &m);
	return judge_path(v, s, hook, want, prot, default_deny, &m);
}

/* The task is inside execve(2) (the comment above exec_stage_checked says why this flag). */
static __always_inline int in_execve(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	return BPF_CORE_READ_BITFIELD_PROBED(task, in_execve) != 0;
}

/*
 * Decide an access to file by the profile's rules: fileless check for exec,
 * then the most specific rule for each requested access bit, then the default.
 */
static __always_inline int check_file_in(const struct verdict *v, struct krsi_scratch *s,
					 struct file *file, __u8 hook, __u8 want, __u32 prot)
{
	int fileless = 0;

	if (!s) /* no memory for the scratch buffer: fail closed */
		return -EPERM;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));

	if (want & KRSI_ACCESS_EXEC)
		fileless = BPF_CORE_READ(file, f_inode, i_nlink) == 0;

	long n = bpf_d_path((struct path *)&file->f_path, s->path, KRSI_PATH_MAX);
	if (n <= 0)
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, prot);
	s->ev.path_len = n - 1;

	if (fileless && (v->profile->flags & KRSI_PF_DENY_FILELESS))
		return report_path(v, s, hook, KRSI_REASON_FILELESS, KRSI_RULE_NONE, want, prot);

	struct path_match m = {};
	match_path(s, v->profile, want, &m);
	int r = judge_path(v, s, hook, want, prot,
			   (want & KRSI_ACCESS_EXEC) ? KRSI_PF_EXEC_DEFAULT_DENY
						     : KRSI_PF_FILE_DEFAULT_DENY,
			   &m);
	if (r || hook != KRSI_HOOK_MMAP_FILE || !(want & KRSI_ACCESS_EXEC))
		return r;
	/*
	 * A multi-call binary whose applets are decided runs only through its
	 * own execve, where argv picks the applet: mapped executable by a loader
	 * in user space (ld.so BINARY sh), its argv[0] would be the loader's
	 * choice, unchecked. The kernel's ELF loader maps it inside execve.
	 */
	const struct krsi_rule *mc = multicall_of(v->profile, s);
	if (mc && !in_execve())
		return report_path(v, s, hook, KRSI_REASON_APPLET_LOADER, mc->origin[5], want, prot);
	return 0;
}

/*
 * runc 1.1 re-executes itself in the container's cgroup before the entrypoint
 * (its CVE-2019-5736 defence): from a sealed memfd (no link), or from a bind
 * mount of its binary that it has already lazily unmounted (MNT_DETACH leaves
 * the mount in no namespace). A container's entrypoint is a path in its
 * root, which is neither.
 */
static __always_inline int runtime_reexec(struct file *file)
{
	if (BPF_CORE_READ(file, f_inode, i_nlink) == 0)
		return 1;
	struct vfsmount *vfs = BPF_CORE_READ(file, f_path.mnt);
	struct mount *mnt = (void *)vfs - bpf_core_field_offset(struct mount, mnt);
	return BPF_CORE_READ(mnt, mnt_ns) == NULL;
}

static __always_inline int check_file(const struct verdict *v, struct file *file, __u8 hook,
				      __u8 want, __u32 prot)
{
	__u64 *held;
	struct krsi_scratch *s = scratch_claim(&held);
	int ret = check_file_in(v, s, file, hook, want, prot);

	scratch_release(held);
	return ret;
}

/*
 * The kernel's ELF loader opens and maps a program's interpreter (PT_INTERP)
 * itself, inside execve: no bprm_check_security runs for it. Its open is
 * told from the program's own by where the task is in the execve:
 *
 *   prepare_bprm_creds (cred_prepare hook)   stage := 0
 *   open of the program                      6.1: in_execve set, stage 0
 *                                            6.8+: in alloc_bprm, before in_execve is set
 *   bprm_check_security (each #! level)      stage := ELF_CHECKED if the file is ELF, else 0
 *   load_elf_binary: open_exec(PT_INTERP)    in_execve set, stage ELF_CHECKED
 *   begin_new_exec (point of no return), then the loader's mmaps
 *
 * (6.1: bprm_execve sets in_execve, then opens the program; 6.12:
 * alloc_bprm opens it, then bprm_execve calls prepare_bprm_creds and sets
 * in_execve.) The interpreter is opened before the point of no return, so a
 * denial there fails execve with EPERM and the process lives on. A script's
 * interpreter is not an ELF PT_INTERP: it meets bprm_check_security itself.
 */

/*
 * task->in_execve is set from the start of execve to its end (not
 * fs->in_exec, which newer kernels clear as soon as the old threads are gone,
 * before the loader maps anything: seen on 6.12).
 */
/* in_execve(): above check_file_in. */

static __always_inline int is_elf(struct linux_binprm *bprm)
{
	__u32 magic = 0;
	bpf_probe_read_kernel(&magic, sizeof(magic), &bprm->buf[0]);
	return magic == 0x464c457f; /* "\x7fELF" */
}

/*
 * At bprm_check_security of a bound task: the next exec open is PT_INTERP's,
 * if ELF. Returns whether the program is ELF.
 */
static __always_inline int exec_stage_checked(struct linux_binprm *bprm)
{
	int elf = is_elf(bprm);
	__u32 *st = bpf_task_storage_get(&krsi_exec_stage, bpf_get_current_task_btf(), 0,
					 elf ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (st)
		*st = elf ? KRSI_EXEC_ELF_CHECKED : 0;
	return elf;
}

/* An open made by execve or uselib. 6.1 marks them in f_flags (__FMODE_EXEC) only; newer kernels in f_mode too. */
static __always_inline int exec_open(struct file *file)
{
	return (BPF_CORE_READ(file, f_mode) & FMODE_EXEC) || (BPF_CORE_READ(file, f_flags) & __FMODE_EXEC);
}

/* file is being opened by the ELF loader as the interpreter of a program (see above). */
static __always_inline int interp_open(struct file *file)
{
	if (!exec_open(file) || !in_execve())
		return 0;
	__u32 *st = bpf_task_storage_get(&krsi_exec_stage, bpf_get_current_task_btf(), 0, 0);
	return st && (*st & KRSI_EXEC_ELF_CHECKED);
}

/*
 * prepare_bprm_creds, at the start of every execve (and every other
 * prepare_creds): a new execve has not met bprm_check_security yet. A task
 * that never exec'd while bound has no storage and pays one pointer test.
 */
SEC("lsm/cred_prepare")
int BPF_PROG(krsi_exec_stage_reset, struct cred *new, const struct cred *old, gfp_t gfp, int ret)
{
	__u32 *st = bpf_task_storage_get(&krsi_exec_stage, bpf_get_current_task_btf(), 0, 0);
	if (st && *st)
		*st = 0;
	return ret;
}
/* Leaving the bound cgroup: moves, clone3 into a cgroup, room for nested bindings. */
#include "krsi_cgroup.h"

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
		 * Room first (krsi_cgroup.h): past its container's quota or all
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

/* ---- W^X through files: the marks and their checks (helpers) ---------- */
#include "krsi_wx.h"

/* ---- bypass routes: path_* hooks, other writers of code ----------------- */
#include "krsi_pathhooks.h"

/* ---- access modes beyond the open flags -------------------------------- */
#include "krsi_access.h"

/*
 * ---- one program per hook: file_mprotect, bprm_check_security, mmap_file,
 * file_open, file_receive ------------------------------------------------
 *
 * Each of these hooks has work for several rule kinds (W^X, exec rules,
 * files rules, the cgroup move check). One program per hook does all of it,
 * so that every caller pays one trampoline and one lookup of its binding per
 * hook, and a bound caller only the parts its profile's flags ask for. In
 * each, the path rules come first and the W^X file checks last: those mark
 * the file (krsi_wx.h), which must not happen for an operation the rules
 * deny. Which of them krsi run attaches: enforcement.go, programs.
 */

/*
 * mprotect(2) and pkey_mprotect(2), once per VMA: W^X from the VMA
 * (wx_vma_reason), then the contents of a file mapping (krsi_wx.h).
 */
SEC("lsm/file_mprotect")
int BPF_PROG(krsi_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	struct verdict v = {};
	int file_contents;

	if (ret || !(prot & PROT_EXEC) || !lookup_caller(&v))
		return ret;
	if (!v.profile) {
		report_memory(&v, KRSI_HOOK_FILE_MPROTECT, KRSI_REASON_NO_PROFILE, prot, 0, 0, 0);
		return -EPERM;
	}
	if (!(v.profile->flags & KRSI_PF_DENY_WX))
		return 0;

	__u64 vm_flags = BPF_CORE_READ(vma, vm_flags);
	__u8 reason = wx_vma_reason(vma, prot, vm_flags, &file_contents);
	if (!reason && file_contents)
		reason = wx_exec_map(vma->vm_file->f_inode, caller_root(&v));
	if (!reason)
		return 0;
	return report_memory(&v, KRSI_HOOK_FILE_MPROTECT, reason, prot, BPF_CORE_READ(vma, vm_start),
			     BPF_CORE_READ(vma, vm_end), vm_flags);
}

/*
 * The resolved path of the program an execve runs into s (and the path the
 * caller gave, bprm->filename, after it, for the event): 0, or -1.
 */
static __always_inline int exec_paths(struct krsi_scratch *s, struct linux_binprm *bprm)
{
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	/* bprm->file, not a probe read: bpf_d_path needs a pointer the verifier trusts. */
	long n = bpf_d_path((struct path *)&bprm->file->f_path, s->path, KRSI_PATH_MAX);
	if (n <= 0)
		return -1;
	s->ev.path_len = n - 1;
	const char *name = BPF_CORE_READ(bprm, filename);
	n = bpf_probe_read_kernel_str(&s->path[s->ev.path_len & (KRSI_PATH_MAX - 1)],
				      KRSI_INVOKED_MAX, name);
	s->ev.invoked_len = n > 0 ? n - 1 : 0;
	return 0;
}

/*
 * The exec rules at bprm_check_security: fileless, the program's path, and,
 * for a multi-call binary whose applets the profile decides, the applet the
 * caller's argv names (krsi_applet.h: best effort before the point of no
 * return; krsi_bprm_committing decides for good).
 */
static __always_inline int check_exec_in(const struct verdict *v, struct krsi_scratch *s,
					 struct linux_binprm *bprm)
{
	const __u8 want = KRSI_ACCESS_EXEC, hook = KRSI_HOOK_BPRM_CHECK;
	struct path_match m = {};
	__u32 rule = KRSI_RULE_NONE;

	if (!s) /* no memory for the scratch buffer: fail closed */
		return -EPERM;
	int fileless = BPF_CORE_READ(bprm, file, f_inode, i_nlink) == 0;
	if (exec_paths(s, bprm))
		return report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, 0);
	if (fileless && (v->profile->flags & KRSI_PF_DENY_FILELESS))
		return report_path(v, s, hook, KRSI_REASON_FILELESS, KRSI_RULE_NONE, want, 0);
	match_path(s, v->profile, want, &m);
	int r = judge_path(v, s, hook, want, 0, KRSI_PF_EXEC_DEFAULT_DENY, &m);
	if (r)
		return r;
	const struct krsi_rule *mc = multicall_of(v->profile, s);
	if (!mc)
		return 0;
	/* Only the program the caller named gets the caller's argv: not a #! interpreter. */
	if (BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename))
		return 0;
	struct applet_q *q = &s->q; /* h1, h2: the binary's path, from match_path */
	q->base = exec_argv();
	q->next = 0;
	q->argc = 0;
	q->post = 0;
	q->name_len = 0;
	q->k = 0;
	q->plen = s->ev.path_len;
	q->ilen = s->ev.invoked_len;
	/* Unreadable here: decided after the point of no return. */
	if (!q->base || krsi_applet(s))
		return 0;
	__u8 reason = applet_verdict(v->profile, mc, s, q, &rule);
	if (!reason)
		return 0;
	s->ev.applet_len = q->name_len < KRSI_APPLET_MAX ? q->name_len : KRSI_APPLET_MAX - 1;
	return report_path(v, s, hook, reason, rule, want, 0);
}

/*
 * execve(2), at each #! level: arms a container's path rules at its
 * entrypoint (KRSI_BINDING_EXEC_PENDING), notes the exec stage (an ELF's
 * interpreter open comes next), the exec rules on the program's path, then
 * W^X: an ELF file written by the container under W^X, open for writing, or
 * a kernel object is refused with EPERM; a program that passes is marked
 * EXEC_MAPPED from here (not only when the loader maps it). A file with no
 * name is not refused by W^X: that is exec.fileless's decision (runtimes run
 * themselves from sealed memfds inside the container's cgroup). Scripts are
 * not machine code: only ELF files are checked (the interpreter is, when it
 * is exec'd in turn).
 */
SEC("lsm.s/bprm_check_security")
int BPF_PROG(krsi_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct verdict v = {};
	int runtime = 0;

	if (ret || !lookup_caller(&v))
		return ret;
	if (!v.profile)
		return -EPERM;
	if (v.binding->flags & KRSI_BINDING_EXEC_PENDING) {
		if (runtime_reexec(bprm->file))
			runtime = 1;
		else /* The entrypoint: from here on the cgroup is the container's. */
			((struct krsi_binding *)v.binding)->flags &= ~KRSI_BINDING_EXEC_PENDING;
	}
	int elf = exec_stage_checked(bprm);
	if (!runtime && (v.profile->flags & KRSI_PF_USES_EXEC)) {
		__u64 *held;
		struct krsi_scratch *s = scratch_claim(&held);
		int r = check_exec_in(&v, s, bprm);

		scratch_release(held);
		if (r)
			return r;
	}
	if (!elf || !(v.profile->flags & KRSI_PF_DENY_WX))
		return 0;
	__u8 reason = wx_exec_map(bprm->file->f_inode, caller_root(&v));
	if (!reason || reason == KRSI_REASON_WX_FILELESS)
		return 0;
	return report_memory(&v, KRSI_HOOK_BPRM_CHECK, reason, PROT_EXEC, 0, 0, 0);
}

/*
 * After execve's point of no return (begin_new_exec: the old threads are
 * gone, the new mm is current's, the new creds not yet committed): the
 * applet a multi-call binary will run, read from the argv strings the
 * kernel copied into the new stack (bprm->p), which nothing but the new
 * program can change now. A denial here cannot fail the exec: the task gets
 * SIGKILL, which ends it before its first instruction (action "killed"). This
 * is the decision that counts; bprm_check_security's EPERM is the ordinary
 * case of it. krsi_applet.h.
 */
#define SIGKILL 9
SEC("lsm.s/bprm_committing_creds")
int BPF_PROG(krsi_bprm_committing, struct linux_binprm *bprm)
{
	struct verdict v = {};

	if (!lookup_caller(&v) || !v.profile || !(v.profile->flags & KRSI_PF_USES_APPLETS))
		return 0;
	/* The runtime re-executing itself before the entrypoint (krsi_bprm_check). */
	if (v.binding->flags & KRSI_BINDING_EXEC_PENDING)
		return 0;

	__u64 *held;
	struct krsi_scratch *s = scratch_claim(&held);
	struct path_match m = {};
	__u32 rule = KRSI_RULE_NONE;
	__u8 reason = 0;

	if (!s) {
		if (v.binding->mode != KRSI_MODE_AUDIT)
			bpf_send_signal(SIGKILL);
		goto out;
	}
	if (exec_paths(s, bprm)) {
		reason = KRSI_REASON_NO_PATH;
	} else {
		match_path(s, v.profile, KRSI_ACCESS_EXEC, &m);
		const struct krsi_rule *mc = multicall_of(v.profile, s);
		if (!mc)
			goto out;
		struct applet_q *q = &s->q; /* h1, h2: the binary's path, from match_path */
		q->base = BPF_CORE_READ(bprm, p);
		q->next = q->base;
		q->argc = BPF_CORE_READ(bprm, argc);
		q->post = 1;
		q->name_len = 0;
		q->k = 0;
		q->plen = s->ev.path_len;
		q->ilen = s->ev.invoked_len;
		if (krsi_applet(s)) {
			reason = KRSI_REASON_APPLET_UNKNOWN;
		} else {
			reason = applet_verdict(v.profile, mc, s, q, &rule);
			s->ev.applet_len = q->name_len < KRSI_APPLET_MAX ? q->name_len : KRSI_APPLET_MAX - 1;
		}
	}
	if (!reason)
		goto out;
	report_path(&v, s, KRSI_HOOK_BPRM_COMMITTING, reason, rule, KRSI_ACCESS_EXEC, 0);
	if (v.binding->mode != KRSI_MODE_AUDIT)
		bpf_send_signal(SIGKILL);
out:
	scratch_release(held);
	return 0;
}

/*
 * mmap(2) and the ELF loader's mappings. W^X for anonymous and W+X mappings;
 * a PROT_EXEC mapping of a file is held to the exec rules, so running a
 * denied binary through ld.so, or mapping a memfd executable, is denied too,
 * and to W^X's file checks (krsi_wx.h). The kernel may add PROT_EXEC
 * (READ_IMPLIES_EXEC): check prot, not reqprot.
 *
 * And mmap(MAP_SHARED) of a descriptor open for appending, whatever prot: the
 * pages are the file's, and the mapping can write them anywhere (with
 * PROT_WRITE now, or later: the kernel gives a shared mapping of a writable
 * descriptor VM_MAYWRITE, and mprotect(PROT_WRITE) then needs nothing more).
 * file_mprotect could not resolve the path of an overlay file (vm_file is the
 * upper layer's file there, on a private mount), so the setup step is
 * decided, by the write rule.
 */
SEC("lsm.s/mmap_file")
int BPF_PROG(krsi_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct verdict v = {};

	if (ret)
		return ret;
	/*
	 * Anonymous memory is told by MAP_ANONYMOUS, not by file == NULL: newer
	 * verifiers treat the hook's file argument as never NULL and drop that
	 * test as dead code (seen on 6.12). MAP_ANONYMOUS is set exactly when no
	 * file was given (anonymous hugetlb memory gets an internal file). It is
	 * tested first: the file is not looked at for anonymous memory.
	 */
	int anon = flags & MAP_ANONYMOUS;
	int append = !anon && (flags & MAP_SHARED) && opened_for_append(file);
	if (!(prot & PROT_EXEC) && !append)
		return 0;
	if (!lookup_caller(&v))
		return 0;
	if (!v.profile)
		return -EPERM;
	/* Before the entrypoint only the runtime works here (KRSI_BINDING_EXEC_PENDING). */
	int rules = !(v.binding->flags & KRSI_BINDING_EXEC_PENDING);
	__u32 pf = v.profile->flags;
	int r;

	if (append && rules && (pf & KRSI_PF_USES_FILES)) {
		r = check_file(&v, file, KRSI_HOOK_MMAP_FILE, KRSI_ACCESS_WRITE, prot);
		if (r)
			return r;
	}
	if (!(prot & PROT_EXEC))
		return 0;
	if (pf & KRSI_PF_DENY_WX) {
		if (anon)
			return report_memory(&v, KRSI_HOOK_MMAP_FILE, KRSI_REASON_WX_ANON, prot, 0, 0, 0);
		if (prot & PROT_WRITE)
			return report_memory(&v, KRSI_HOOK_MMAP_FILE, KRSI_REASON_WX_WRITABLE, prot, 0, 0,
					     0);
	}
	if (anon)
		return 0;
	if (rules && (pf & KRSI_PF_USES_EXEC)) {
		r = check_file(&v, file, KRSI_HOOK_MMAP_FILE, KRSI_ACCESS_EXEC, prot);
		if (r)
			return r;
	}
	if (!(pf & KRSI_PF_DENY_WX))
		return 0;
	__u64 root = caller_root(&v);
	__u8 reason = in_execve() ? wx_loader_map(file, root) : wx_exec_map(file->f_inode, root);
	if (reason)
		return report_memory(&v, KRSI_HOOK_MMAP_FILE, reason, prot, 0, 0, 0);
	return 0;
}

/*
 * The files rules' access bits an open asks for. O_CREAT and O_TRUNC are
 * still set in f_flags here; the kernel clears them after the hook.
 */
static __always_inline __u8 open_access(struct file *file)
{
	__u32 mode = BPF_CORE_READ(file, f_mode);
	__u32 fl = BPF_CORE_READ(file, f_flags);
	__u8 want = 0;

	if (mode & FMODE_READ)
		want |= KRSI_ACCESS_READ;
	if (mode & FMODE_WRITE)
		want |= (fl & O_APPEND) ? KRSI_ACCESS_APPEND : KRSI_ACCESS_WRITE;
	if (fl & O_CREAT)
		want |= KRSI_ACCESS_CREATE;
	if (fl & O_TRUNC)
		want |= KRSI_ACCESS_TRUNCATE;
	return want;
}

/*
 * Whether the files rules could deny one of the access bits want: false when
 * the profile says (KRSI_PF_FILE_NODENY_SHIFT) that no rule denies any of
 * them and its default allows them all. Then the path is not resolved at
 * all: every path gets the same answer, allow. (A W^X-only profile has no
 * KRSI_PF_USES_FILES and never gets here; a profile that denies writes only,
 * as builtin/readonly-root, pays nothing on a read-only open.)
 */
static __always_inline int rules_may_deny(__u32 pf, __u8 want)
{
	return ((pf >> KRSI_PF_FILE_NODENY_SHIFT) & want) != want;
}

/*
 * The files rules on an open (or a received descriptor) for the access bits
 * want. Before the entrypoint only the runtime works in the cgroup
 * (KRSI_BINDING_EXEC_PENDING).
 */
static __always_inline int files_rules(const struct verdict *v, struct file *file, __u8 hook,
				       __u8 want)
{
	__u32 pf = v->profile->flags;

	if (!(pf & KRSI_PF_USES_FILES) || (v->binding->flags & KRSI_BINDING_EXEC_PENDING) ||
	    !want || !rules_may_deny(pf, want))
		return 0;
	return check_file(v, file, hook, want, 0);
}

/*
 * The path rules of an open: the opens that execve and uselib do are decided
 * by the exec rules (at bprm_check_security for the program, here for the
 * interpreter the ELF loader opens, PT_INTERP, which meets no other exec
 * check before it runs: a copy of a denied program used as an interpreter
 * is denied by its path like the program); every other open by the files
 * rules.
 */
static __always_inline int open_rules(const struct verdict *v, struct file *file)
{
	__u32 pf = v->profile->flags;

	if (v->binding->flags & KRSI_BINDING_EXEC_PENDING)
		return 0; /* the runtime's own opens, before the entrypoint */
	if (exec_open(file)) {
		if (!(pf & KRSI_PF_USES_EXEC) || !interp_open(file))
			return 0;
		return check_file(v, file, KRSI_HOOK_ELF_INTERP, KRSI_ACCESS_EXEC, 0);
	}
	return files_rules(v, file, KRSI_HOOK_FILE_OPEN, open_access(file));
}

/*
 * The common start of file_open and file_receive: 1 and the verdict when the
 * caller is bound and the file is no move out of its container's cgroups
 * (krsi_cgroup.h), else 0 and what to return in *out.
 */
static __always_inline int open_start(struct verdict *v, struct file *file, __u8 hook, int ret,
				      int *out)
{
	*out = ret;
	if (ret || !lookup_caller(v))
		return 0;
	*out = -EPERM;
	if (!v->profile)
		return 0;
	*out = check_cgroup_move(v, file, hook);
	return *out == 0;
}

/*
 * A file opened (file_open: open(2) and every other open) or received
 * (file_receive: a descriptor passed over a unix socket with SCM_RIGHTS or
 * taken with pidfd_getfd, where no open happens in the receiver): the cgroup
 * move check, the path rules, then W^X, in that order.
 *
 * Both programs are attached for every profile, for the cgroup move check:
 * whatever the profile's rules and from the cgroup's creation, a move out of
 * the container's cgroups (a writable cgroup.procs of another cgroup)
 * defeats every rule (krsi_cgroup.h). A received file is held to the files
 * rules by the access it was opened with (open_access: the kernel cleared
 * O_CREAT and O_TRUNC after that open); an open to the exec or files rules
 * (open_rules).
 *
 * W^X: a file opened or received for writing, see wx_writable_file. The ELF
 * loader's open of a program's interpreter (interp_open) is held to what a
 * mapping of it would be: an interpreter the container wrote, that is open
 * for writing, has no name (/proc/self/fd/N of a memfd) or is a kernel
 * object is refused here, before the point of no return, so execve fails
 * with EPERM. One that passes is marked EXEC_MAPPED.
 *
 * Sleepable on both kernels: bpf_d_path.
 */
static __always_inline int opened(struct file *file, int ret, __u8 hook)
{
	struct verdict v = {};
	int r;

	if (!open_start(&v, file, hook, ret, &r))
		return r;
	if (hook == KRSI_HOOK_FILE_OPEN)
		r = open_rules(&v, file);
	else
		r = files_rules(&v, file, hook, open_access(file));
	if (r || !(v.profile->flags & KRSI_PF_DENY_WX))
		return r;
	if (BPF_CORE_READ(file, f_mode) & FMODE_WRITE)
		return wx_writable_file(&v, file, hook);
	if (hook != KRSI_HOOK_FILE_OPEN || !interp_open(file))
		return 0;
	__u8 reason = wx_exec_map(file->f_inode, caller_root(&v));
	if (reason)
		return report_memory(&v, KRSI_HOOK_ELF_INTERP, reason, PROT_EXEC, 0, 0, 0);
	return 0;
}

SEC("lsm.s/file_open")
int BPF_PROG(krsi_file_open, struct file *file, int ret)
{
	return opened(file, ret, KRSI_HOOK_FILE_OPEN);
}

SEC("lsm.s/file_receive")
int BPF_PROG(krsi_file_receive, struct file *file, int ret)
{
	return opened(file, ret, KRSI_HOOK_FILE_RECEIVE);
}
