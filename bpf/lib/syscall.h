/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The system call the caller is in, as the entry code saved its registers:
 * used to tell the writes that append (progs/access.h) and to read an
 * execve's argv (lib/applet.h).
 *
 * Each object is built for one architecture (bpf2go -target amd64,arm64
 * defines __TARGET_ARCH_x86 or __TARGET_ARCH_arm64): the numbers and the
 * registers that hold them are the architecture's, and an object carries only
 * its own. pt_regs___krsi is a CO-RE flavour of struct pt_regs with the fields
 * read here (vmlinux.h is x86's, so arm64's are declared here and relocated by
 * the kernel's BTF; bpf_tracing.h has a pt_regs___arm64 of its own). What
 * differs is below, per architecture; what the two share follows it.
 *
 * syscall_regs gives the registers, or NULL when they may not be the call's:
 *  - x86: unless the call is running (the entry code keeps -ENOSYS in
 *    pt_regs->ax until it returns), this may be io_uring task work run on the
 *    way back to user space after some write(2) (a linked request, say); and a
 *    32-bit call (int 0x80) has other numbers;
 *  - arm64 has no such mark. own_write then says whether a write under way may
 *    be the call's own: unless the task has never submitted to io_uring,
 *    whose task work is the only other writer that runs in the task. A 32-bit
 *    (AArch32) task's numbers are arm's, and arm's 64, 66, 68, 70 and 287
 *    (getppid, setsid, sgetmask, setreuid16, add_key) write no file: its
 *    writes fall to the write bit.
 */

#ifndef KRSI_LIB_SYSCALL_H
#define KRSI_LIB_SYSCALL_H

#define ENOSYS 38

#if defined(__TARGET_ARCH_x86)
struct pt_regs___krsi {
	unsigned long r9;
	unsigned long dx;
	unsigned long si;
	unsigned long ax;
	unsigned long orig_ax;
} __attribute__((preserve_access_index));

struct thread_info___x86 {
	__u32 status;
} __attribute__((preserve_access_index));

struct task_struct___ti {
	struct thread_info___x86 thread_info;
} __attribute__((preserve_access_index));

#define TS_COMPAT 0x0002 /* x86: in a 32-bit system call */
#define NR_WRITE 1
#define NR_PWRITE64 18
#define NR_WRITEV 20
#define NR_PWRITEV 296
#define NR_PWRITEV2 328
#define NR_EXECVE 59
#define NR_EXECVEAT 322

/* The call's number and arguments (di, si, dx, r10, r8, r9). */
#define syscall_nr(r) BPF_CORE_READ(r, orig_ax)
#define syscall_arg2(r) BPF_CORE_READ(r, si)
#define syscall_arg3(r) BPF_CORE_READ(r, dx)
#define syscall_arg6(r) BPF_CORE_READ(r, r9)

static __always_inline struct pt_regs___krsi *syscall_regs(struct task_struct *task)
{
	struct pt_regs___krsi *r = (void *)bpf_task_pt_regs(task);

	if (BPF_CORE_READ(r, ax) != (unsigned long)-ENOSYS)
		return 0;
	if (bpf_core_field_exists(struct task_struct___ti, thread_info.status) &&
	    (BPF_CORE_READ((struct task_struct___ti *)task, thread_info.status) & TS_COMPAT))
		return 0;
	return r;
}

/* syscall_regs's -ENOSYS mark already says the write is the call's. */
static __always_inline int own_write(struct task_struct *task)
{
	return 1;
}
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs___krsi {
	__u64 regs[31];
	__s32 syscallno;
} __attribute__((preserve_access_index));

#define NR_WRITE 64
#define NR_WRITEV 66
#define NR_PWRITE64 68
#define NR_PWRITEV 70
#define NR_PWRITEV2 287
#define NR_EXECVE 221
#define NR_EXECVEAT 281

/* The call's number and arguments (x0 to x5). */
#define syscall_nr(r) BPF_CORE_READ(r, syscallno)
#define syscall_arg2(r) BPF_CORE_READ(r, regs[1])
#define syscall_arg3(r) BPF_CORE_READ(r, regs[2])
#define syscall_arg6(r) BPF_CORE_READ(r, regs[5])

static __always_inline struct pt_regs___krsi *syscall_regs(struct task_struct *task)
{
	return (void *)bpf_task_pt_regs(task);
}

static __always_inline int own_write(struct task_struct *task)
{
	return !(bpf_core_field_exists(task->io_uring) && BPF_CORE_READ(task, io_uring));
}
#else
#error "krsi's BPF object is built per architecture: amd64 or arm64 (bpf2go -target, enforcement/gen.go)"
#endif

/*
 * The number and sixth argument of the call the caller is in; 0 when the
 * write under way may not be the call's own (above).
 */
static __always_inline int current_syscall(struct task_struct *task, long *nr, __u64 *arg6)
{
	struct pt_regs___krsi *r = syscall_regs(task);

	if (!r || !own_write(task))
		return 0;
	*nr = syscall_nr(r);
	*arg6 = syscall_arg6(r);
	return 1;
}

/*
 * The argv array the caller passed to the execve or execveat it is in, as a
 * user address; 0 when the caller is not in one of them (x86: a 32-bit call;
 * a kernel-started exec). lib/applet.h.
 */
static __always_inline __u64 exec_argv(void)
{
	struct pt_regs___krsi *r = syscall_regs(bpf_get_current_task_btf());

	if (!r)
		return 0;
	long nr = syscall_nr(r);
	if (nr == NR_EXECVE)
		return syscall_arg2(r);
	if (nr == NR_EXECVEAT)
		return syscall_arg3(r);
	return 0;
}

#endif /* KRSI_LIB_SYSCALL_H */
