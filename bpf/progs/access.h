/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Access modes beyond the open flags (issue 13, class 5). file_open decides a
 * descriptor by the access its open asks for; these programs hold what the
 * descriptor is used for afterwards to the same rules:
 *
 *  - a descriptor opened for appending (O_APPEND) was checked for the append
 *    bit only. Every route by which it could change the file other than at
 *    its end asks for the write bit of the file's path:
 *      * clearing O_APPEND (fcntl F_SETFL): file_fcntl;
 *      * a shared mapping (MAP_SHARED of a descriptor open for writing is
 *        VM_MAYWRITE: mprotect can make it writable later without any
 *        further check): mmap_file, for every MAP_SHARED mapping of it;
 *      * writes that do not append (pwritev2 RWF_NOAPPEND, io_uring's and
 *        aio's rw_flags) and changes without a write (fallocate: punch hole,
 *        zero, collapse and insert range; the ioctls built on it): the
 *        kernel shows them to LSMs only as file_permission(MAY_WRITE), without
 *        the kiocb. file_permission lets through the system calls that append
 *        whatever they are asked (write, writev, pwrite64, pwritev, pwritev2
 *        without RWF_NOAPPEND: under O_APPEND the kernel writes at the end) and
 *        asks for the write bit for everything else.
 *    The kernel itself refuses copy_file_range, splice, sendfile and
 *    FICLONE/FICLONERANGE into an O_APPEND descriptor, and ftruncate is
 *    path_truncate's (the truncate bit).
 *  - a file's attributes changed through a descriptor of any mode: the
 *    ioctls that set inode flags (chattr) or fs-verity ask for the write bit
 *    (file_ioctl). fchmod and fchown are path_chmod and path_chown's.
 */

#ifndef KRSI_PROGS_ACCESS_H
#define KRSI_PROGS_ACCESS_H

#include "lib/verdict.h"
#include "lib/scratch.h"
#include "lib/pathwalk.h"
#include "lib/pathcheck.h"
#include "lib/syscall.h"

#define MAY_WRITE 0x2
#define F_SETFL 4
#define RWF_NOAPPEND 0x20
#define PF_EXITING 0x4
#define PF_IO_WORKER 0x10

/* ioctl numbers (uapi, the same on x86 and arm64: both use the generic _IOC layout). */
#define FS_IOC_SETFLAGS 0x40086602      /* _IOW('f', 2, long) */
#define FS_IOC32_SETFLAGS 0x40046602    /* _IOW('f', 2, int) */
#define FS_IOC_SETVERSION 0x40087602    /* _IOW('v', 2, long) */
#define FS_IOC32_SETVERSION 0x40047602  /* _IOW('v', 2, int) */
#define FS_IOC_FSSETXATTR 0x401c5820    /* _IOW('X', 32, struct fsxattr) */
#define FS_IOC_ENABLE_VERITY 0x40806685 /* _IOW('f', 133, struct fsverity_enable_arg) */

/* Hold the file's path to the write bit: the files rules on the walked path. */
static __always_inline int check_file_write(const struct verdict *v, struct file *file, __u8 hook)
{
	return check_dentry(v, BPF_CORE_READ(file, f_path.mnt), BPF_CORE_READ(file, f_path.dentry),
			    hook, KRSI_ACCESS_WRITE);
}

/*
 * fcntl(F_SETFL) without O_APPEND on a descriptor open for appending: from
 * then on every write lands where the file position says. The kernel calls
 * this hook before it changes anything (and refuses by itself only for
 * inodes marked append-only, chattr +a).
 */
SEC("lsm/file_fcntl")
int BPF_PROG(krsi_file_fcntl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct verdict v = {};
	int out;

	if (ret || cmd != F_SETFL || (arg & O_APPEND) || !opened_for_append(file))
		return ret;
	if (!rules_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_file_write(&v, file, KRSI_HOOK_FILE_FCNTL);
}

/* mmap(MAP_SHARED) of a descriptor open for appending: progs/file.h, krsi_mmap_file. */

/*
 * Is the write the caller is doing one that lands at the end of an O_APPEND
 * file whatever it asks? Only when the caller is in one of the system calls
 * that append (write, writev, pwrite64, pwritev, pwritev2 without
 * RWF_NOAPPEND: the kernel gives them IOCB_APPEND) and the write is that
 * call's own: not an io_uring worker (io-wq, sqpoll), not an exiting task,
 * and current_syscall says so. Anything else (fallocate, io_submit,
 * io_uring_enter, ioctl, an unknown or 32-bit call) does not append: the
 * write bit decides.
 */
static __always_inline int appending_write(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	long nr;
	__u64 arg6;

	if (BPF_CORE_READ(task, flags) & (PF_IO_WORKER | PF_EXITING))
		return 0;
	if (!current_syscall(task, &nr, &arg6))
		return 0;
	if (nr == NR_WRITE || nr == NR_WRITEV || nr == NR_PWRITE64 || nr == NR_PWRITEV)
		return 1;
	return nr == NR_PWRITEV2 && !(arg6 & RWF_NOAPPEND); /* arg6: pwritev2's flags */
}

/*
 * Every write to a file passes here (rw_verify_area), so the order keeps the
 * cost of everyone else low: the mask and the descriptor's flags (two loads),
 * then the caller's binding (the lookup every hook pays), then the system
 * call, and only a write that does not append walks the path.
 */
SEC("lsm/file_permission")
int BPF_PROG(krsi_file_permission, struct file *file, int mask, int ret)
{
	struct verdict v = {};
	int out;

	if (ret || !(mask & MAY_WRITE) || !(BPF_CORE_READ(file, f_flags) & O_APPEND))
		return ret;
	if (!rules_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	if (appending_write())
		return 0;
	return check_file_write(&v, file, KRSI_HOOK_FILE_PERMISSION);
}

/*
 * ioctls that change a file's attributes need no write access to the
 * descriptor (chattr opens read-only): the inode flags (FS_IOC_SETFLAGS,
 * FS_IOC_FSSETXATTR: append-only, immutable, nodump, noatime, project id),
 * the generation number, and fs-verity (which makes the file read-only for
 * good). They ask for the write bit, as chmod does.
 */
SEC("lsm/file_ioctl")
int BPF_PROG(krsi_file_ioctl, struct file *file, unsigned int cmd, unsigned long arg, int ret)
{
	struct verdict v = {};
	int out;

	if (ret)
		return ret;
	switch (cmd) {
	case FS_IOC_SETFLAGS:
	case FS_IOC32_SETFLAGS:
	case FS_IOC_SETVERSION:
	case FS_IOC32_SETVERSION:
	case FS_IOC_FSSETXATTR:
	case FS_IOC_ENABLE_VERITY:
		break;
	default:
		return 0;
	}
	if (!rules_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_file_write(&v, file, KRSI_HOOK_FILE_IOCTL);
}

/* ---- times and extended attributes: by every path the file has -------- */

/*
 * utimensat/futimens and setxattr/removexattr (by path or by descriptor)
 * reach LSMs only through inode hooks: a dentry, no mount. A file can be
 * mounted at several paths, so the decision is made by every path the file
 * has in the caller's mount namespace: the super block's list of mounts,
 * restricted to that namespace and to mounts whose root is an ancestor of the
 * dentry (or the dentry), gives each one; any path whose rules deny the write
 * bit denies. A dentry no mount of the caller's namespace reaches is the
 * kernel's own work on an internal mount (overlayfs copying times and
 * extended attributes up to its upper layer, after the overlay file itself
 * was decided): not decided here.
 *
 * The list is read without the kernel's mount lock: it can change under the
 * walk only by mounting or unmounting, which the threat model leaves to
 * CAP_SYS_ADMIN. Its layout changed in 6.15 (s_mounts became a list of
 * struct mount linked by mnt_next_for_sb); CO-RE picks the one the kernel has.
 */

#define ATTR_MODE 0x1
#define ATTR_UID 0x2
#define ATTR_GID 0x4
#define ATTR_SIZE 0x8
#define ATTR_ATIME 0x10
#define ATTR_MTIME 0x20
/* Mounts of one super block looked at before giving up (fail closed). */
#define KRSI_SB_MOUNTS 4096

struct super_block___list {
	struct list_head s_mounts;
} __attribute__((preserve_access_index));

struct mount___list {
	struct list_head mnt_instance;
} __attribute__((preserve_access_index));

struct super_block___chain {
	struct mount *s_mounts;
} __attribute__((preserve_access_index));

struct mount___chain {
	struct mount *mnt_next_for_sb;
} __attribute__((preserve_access_index));

struct sb_walk {
	struct verdict v;
	struct dentry *d;
	struct mnt_namespace *ns;
	void *head;  /* list layout: &sb->s_mounts */
	void *pos;   /* the next list node, or (chain layout) the next mount */
	__u32 paths; /* paths decided so far */
	int ret;
	int done;
	__u8 hook;
};

static long sb_mount_step(__u32 i, void *ctx)
{
	struct sb_walk *w = ctx;
	void *pos = w->pos;
	struct mount *m;

	if (bpf_core_field_exists(struct mount___list, mnt_instance)) {
		if (!pos || pos == w->head) {
			w->done = 1;
			return 1;
		}
		m = pos - bpf_core_field_offset(struct mount___list, mnt_instance);
		w->pos = BPF_CORE_READ((struct list_head *)pos, next);
	} else {
		if (!pos) {
			w->done = 1;
			return 1;
		}
		m = pos;
		w->pos = BPF_CORE_READ((struct mount___chain *)m, mnt_next_for_sb);
	}
	if (BPF_CORE_READ(m, mnt_ns) != w->ns)
		return 0;
	struct vfsmount *vfs = mount_vfs(m);
	if (!dentry_under(w->d, BPF_CORE_READ(vfs, mnt_root)))
		return 0;
	w->paths++;
	int r = check_dentry(&w->v, vfs, w->d, w->hook, KRSI_ACCESS_WRITE);
	if (r) {
		w->ret = r;
		w->done = 1;
		return 1;
	}
	return 0;
}

/* The write bit of every path of d in the caller's mount namespace. */
static __always_inline int check_inode_paths(struct dentry *d, __u8 hook, int ret)
{
	struct sb_walk w = {.d = d, .hook = hook};
	int out;

	if (!rules_start(&w.v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	struct task_struct *task = bpf_get_current_task_btf();
	w.ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	struct super_block *sb = BPF_CORE_READ(d, d_sb);
	if (bpf_core_field_exists(struct mount___list, mnt_instance)) {
		w.head = (void *)sb + bpf_core_field_offset(struct super_block___list, s_mounts);
		w.pos = BPF_CORE_READ((struct super_block___list *)sb, s_mounts.next);
	} else {
		w.pos = BPF_CORE_READ((struct super_block___chain *)sb, s_mounts);
	}
	bpf_loop(KRSI_SB_MOUNTS, sb_mount_step, &w, 0);
	/* w.ret is check_dentry's: 0 or -EPERM (6.12's verifier checks the range). */
	if (w.ret)
		return -EPERM;
	if (w.done)
		return 0;
	/* More mounts than the walk visits: fail closed. */
	return report_walked(&w.v, 0, 0, hook, KRSI_REASON_NO_PATH, KRSI_ACCESS_WRITE);
}

/*
 * Times: utimensat, futimens, utimes (ATTR_ATIME/ATTR_MTIME with no mode,
 * owner or size change: those are path_chmod, path_chown and path_truncate's).
 */
static __always_inline int setattr_times(struct dentry *d, struct iattr *attr, int ret)
{
	if (ret)
		return ret;
	__u32 valid = BPF_CORE_READ(attr, ia_valid);
	if (!(valid & (ATTR_ATIME | ATTR_MTIME)) || (valid & (ATTR_MODE | ATTR_UID | ATTR_GID | ATTR_SIZE)))
		return 0;
	return check_inode_paths(d, KRSI_HOOK_INODE_ATTR, ret);
}

/*
 * Two programs for the two signatures of the hook: (dentry, attr) up to 6.7,
 * (idmap, dentry, attr) from 6.8. The loader attaches the one the kernel's
 * BTF matches (enforcement/kernelhooks.go).
 */
SEC("lsm/inode_setattr")
int BPF_PROG(krsi_inode_setattr, struct dentry *dentry, struct iattr *attr, int ret)
{
	return setattr_times(dentry, attr, ret);
}

SEC("lsm/inode_setattr")
int BPF_PROG(krsi_inode_setattr_idmap, void *idmap, struct dentry *dentry, struct iattr *attr, int ret)
{
	return setattr_times(dentry, attr, ret);
}

/*
 * An inode's extended attributes or ACLs changed: the write bit of every
 * path it has. An earlier LSM's refusal stands, and costs no walk.
 */
static __always_inline int attr_change(struct dentry *d, int ret)
{
	if (ret)
		return ret;
	return check_inode_paths(d, KRSI_HOOK_INODE_ATTR, ret);
}

/* Extended attributes (file capabilities, ACLs on 6.1, user.* and trusted.* data). */
SEC("lsm/inode_setxattr")
int BPF_PROG(krsi_inode_setxattr, void *idmap, struct dentry *dentry, const char *name,
	     const void *value, size_t size, int flags, int ret)
{
	return attr_change(dentry, ret);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(krsi_inode_removexattr, void *idmap, struct dentry *dentry, const char *name, int ret)
{
	return attr_change(dentry, ret);
}

/*
 * POSIX ACLs, from 6.2 on their own hooks (setxattr of system.posix_acl_*
 * no longer meets inode_setxattr). An access ACL also rewrites the mode's
 * group bits. Attached where the kernel has them (enforcement's program table).
 */
SEC("lsm/inode_set_acl")
int BPF_PROG(krsi_inode_set_acl, void *idmap, struct dentry *dentry, const char *acl_name,
	     void *kacl, int ret)
{
	return attr_change(dentry, ret);
}

SEC("lsm/inode_remove_acl")
int BPF_PROG(krsi_inode_remove_acl, void *idmap, struct dentry *dentry, const char *acl_name, int ret)
{
	return attr_change(dentry, ret);
}

#endif /* KRSI_PROGS_ACCESS_H */
