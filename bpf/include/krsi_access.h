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
 *
 * Included at the end of krsi.c, after krsi_pathhooks.h (resolve_dentry,
 * check_dentry, path_hook_start).
 */
#ifndef KRSI_ACCESS_H
#define KRSI_ACCESS_H

#define MAY_WRITE 0x2
#define F_SETFL 4
#define MAP_SHARED 0x01 /* MAP_SHARED_VALIDATE (0x03) has it too; MAP_PRIVATE is 0x02 */
#define RWF_NOAPPEND 0x20
#define PF_EXITING 0x4
#define PF_IO_WORKER 0x10
#define ENOSYS 38

/* ioctl numbers (uapi, the same on x86 and arm64). */
#define FS_IOC_SETFLAGS 0x40086602      /* _IOW('f', 2, long) */
#define FS_IOC32_SETFLAGS 0x40046602    /* _IOW('f', 2, int) */
#define FS_IOC_SETVERSION 0x40087602    /* _IOW('v', 2, long) */
#define FS_IOC32_SETVERSION 0x40047602  /* _IOW('v', 2, int) */
#define FS_IOC_FSSETXATTR 0x401c5820    /* _IOW('X', 32, struct fsxattr) */
#define FS_IOC_ENABLE_VERITY 0x40806685 /* _IOW('f', 133, struct fsverity_enable_arg) */

/* A descriptor that file_open (or file_receive) checked for the append bit only. */
static __always_inline int opened_for_append(struct file *file)
{
	return (BPF_CORE_READ(file, f_flags) & O_APPEND) &&
	       (BPF_CORE_READ(file, f_mode) & FMODE_WRITE);
}

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
	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_file_write(&v, file, KRSI_HOOK_FILE_FCNTL);
}

/*
 * mmap(MAP_SHARED) of a descriptor open for appending: the pages are the
 * file's, and the mapping can write them anywhere: with PROT_WRITE now, or
 * later, since the kernel gives a shared mapping of a writable descriptor
 * VM_MAYWRITE and mprotect(PROT_WRITE) then needs nothing more. So the setup
 * step is decided, whatever prot asks for: file_mprotect could not resolve
 * the path of an overlay file (vm_file is the upper layer's file there, on a
 * private mount). Sleepable on both kernels: bpf_d_path.
 */
SEC("lsm.s/mmap_file")
int BPF_PROG(krsi_append_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	struct verdict v = {};
	int out;

	/* MAP_ANONYMOUS first: the file is not looked at for anonymous memory. */
	if (ret || !(flags & MAP_SHARED) || (flags & MAP_ANONYMOUS) || !opened_for_append(file))
		return ret;
	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_file(&v, file, KRSI_HOOK_MMAP_FILE, KRSI_ACCESS_WRITE, prot);
}

/* The caller's registers as the system call entry saved them; flavours per architecture. */
struct pt_regs___x86 {
	unsigned long r9;
	unsigned long ax;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct pt_regs___arm64 {
	__u64 regs[31];
	__s32 syscallno;
} __attribute__((preserve_access_index));

struct thread_info___x86 {
	__u32 status;
} __attribute__((preserve_access_index));

struct task_struct___ti {
	struct thread_info___x86 thread_info;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002 /* x86: in a 32-bit system call */

/*
 * Is the write the caller is doing one that lands at the end of an O_APPEND
 * file whatever it asks? Only when the caller is in one of the system calls
 * that append (write, writev, pwrite64, pwritev, pwritev2 without
 * RWF_NOAPPEND: the kernel gives them IOCB_APPEND) and the write is that
 * call's own:
 *  - not an io_uring worker (io-wq, sqpoll), not an exiting task;
 *  - x86: the call is running (the entry code keeps -ENOSYS in pt_regs->ax
 *    until it returns), so this is not io_uring task work run on the way back
 *    to user space after some write(2) (a linked request, say), and the call
 *    is a native 64-bit one (numbers differ for int 0x80);
 *  - arm64 (no such mark): the task has never submitted to io_uring, whose
 *    task work is the only other writer that runs in the task.
 * Anything else (fallocate, io_submit, io_uring_enter, ioctl, an unknown or
 * 32-bit call) does not append: the write bit decides.
 */
static __always_inline int appending_write(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	void *regs = (void *)bpf_task_pt_regs(task);
	long nr;
	__u64 flags;

	if (BPF_CORE_READ(task, flags) & (PF_IO_WORKER | PF_EXITING))
		return 0;
	if (bpf_core_field_exists(struct pt_regs___x86, orig_ax)) {
		struct pt_regs___x86 *r = regs;
		if (BPF_CORE_READ(r, ax) != (unsigned long)-ENOSYS)
			return 0;
		if (bpf_core_field_exists(struct task_struct___ti, thread_info.status) &&
		    (BPF_CORE_READ((struct task_struct___ti *)task, thread_info.status) & TS_COMPAT))
			return 0;
		nr = BPF_CORE_READ(r, orig_ax);
		if (nr == 1 || nr == 18 || nr == 20 || nr == 296) /* write pwrite64 writev pwritev */
			return 1;
		if (nr != 328) /* pwritev2 */
			return 0;
		flags = BPF_CORE_READ(r, r9); /* sixth argument */
	} else if (bpf_core_field_exists(struct pt_regs___arm64, syscallno)) {
		struct pt_regs___arm64 *r = regs;
		if (bpf_core_field_exists(task->io_uring) && BPF_CORE_READ(task, io_uring))
			return 0;
		nr = BPF_CORE_READ(r, syscallno);
		if (nr == 64 || nr == 66 || nr == 68 || nr == 70) /* write writev pwrite64 pwritev */
			return 1;
		if (nr != 287) /* pwritev2 */
			return 0;
		flags = BPF_CORE_READ(r, regs[5]);
	} else {
		return 0; /* an architecture krsi does not know: nothing appends */
	}
	return !(flags & RWF_NOAPPEND);
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
	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
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
	if (!path_hook_start(&v, ret, KRSI_PF_USES_FILES, &out))
		return out;
	return check_file_write(&v, file, KRSI_HOOK_FILE_IOCTL);
}

#endif /* KRSI_ACCESS_H */
