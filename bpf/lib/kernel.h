/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What krsi reads of the kernel's own objects, in one place: the uapi and
 * kernel values the programs test (stable across 6.1 to 6.15, the same on
 * x86 and arm64), struct mount around a struct vfsmount, and what a file's
 * f_mode and f_flags say about the access it was opened for.
 *
 * How a program reads a kernel field: a field of its hook's argument, or of
 * what that points to (file->f_inode->i_sb->s_flags), is a plain C load. The
 * verifier knows the argument's type (BTF) and makes each load one
 * instruction that reads zero on a fault, as a probe read would; CO-RE
 * relocates it like BPF_CORE_READ. BPF_CORE_READ, a bpf_probe_read_kernel
 * call per field, is for pointers the verifier has no type for: one made by
 * arithmetic (real_mount), cast to another kernel's layout (a ___flavor), or
 * itself read by a probe. On the hooks every open and mmap passes through,
 * the difference was half of a W^X-only open's cost (BENCHMARKS.md).
 */

#ifndef KRSI_LIB_KERNEL_H
#define KRSI_LIB_KERNEL_H

#include "krsi.h"

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

#define MAP_SHARED 0x01 /* MAP_SHARED_VALIDATE (0x03) has it too; MAP_PRIVATE is 0x02 */

/*
 * A struct vfsmount is embedded in its struct mount (fs/mount.h, not in any
 * header a BPF program sees): CO-RE gives the offset the running kernel has.
 */
static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

static __always_inline struct vfsmount *mount_vfs(struct mount *m)
{
	return (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt));
}

/*
 * The file is open for writing (FMODE_WRITE): what every write through it,
 * and every shared writable mapping of it, needs.
 */
static __always_inline int file_writable(struct file *file)
{
	return (file->f_mode & FMODE_WRITE) != 0;
}

/* A descriptor that file_open (or file_receive) checked for the append bit only. */
static __always_inline int opened_for_append(struct file *file)
{
	return (file->f_flags & O_APPEND) && file_writable(file);
}

/*
 * The files rules' access bits an open asks for. O_CREAT and O_TRUNC are
 * still set in f_flags here; the kernel clears them after the hook.
 */
static __always_inline __u8 open_access(struct file *file)
{
	__u32 mode = file->f_mode;
	__u32 fl = file->f_flags;
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

#endif /* KRSI_LIB_KERNEL_H */
