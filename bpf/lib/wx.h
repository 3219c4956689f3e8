/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * W^X through files: what a W^X container's processes did to a file (the
 * marks in krsi_inode_marks, krsi_maps.h) and the checks that use them. A
 * file mapped executable while it is open for writing, after a W^X process
 * of the same container wrote it, or with no name (memfd); a kernel object
 * mapped executable (io_uring rings, sockets, devices, memfd_secret); the ELF
 * loader's interpreter and an executable stack from PT_GNU_STACK; writing
 * (or receiving writable) a file the container mapped executable or ran;
 * /proc/PID/mem writes.
 *
 * Helpers only: the programs that call them are progs/'s, one per hook
 * (file_open, mmap_file, file_mprotect, bprm_check_security, file_receive),
 * after the path rules of the same hook, so that a file is never marked for
 * an operation the rules denied.
 */

#ifndef KRSI_LIB_WX_H
#define KRSI_LIB_WX_H

#include "krsi_maps.h"
#include "lib/verdict.h"
#include "lib/exec.h"

#define PROC_SUPER_MAGIC 0x9fa0

#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
#define READ_ONCE_U32(x) (*(volatile __u32 *)&(x))

/* The marks root's container left on a file (m may be NULL: none). */
static __always_inline __u32 marks_of(struct krsi_marks *m, __u64 root)
{
	if (!m)
		return 0;
	__u32 bits = READ_ONCE_U32(m->overflow);
#pragma unroll
	for (int i = 0; i < KRSI_MARK_SLOTS; i++) {
		if (READ_ONCE_U64(m->root[i]) == root)
			return bits | READ_ONCE_U32(m->bits[i]);
	}
	return bits;
}

#define KRSI_MARK_FAILED 0x80000000u

/*
 * Set bit for root's container on inode and return the marks it had before
 * (those of the container and the overflow), or KRSI_MARK_FAILED when the
 * storage could not be allocated. The or is atomic and returns the old value,
 * so of two racing operations of one container that each set their bit and
 * test the other's (mmap exec vs open for write), the later one sees the
 * earlier one's bit: they cannot both pass.
 */
static __always_inline __u32 mark_inode(struct inode *inode, __u64 root, __u32 bit)
{
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!m) /* another CPU created it at the same moment (-EEXIST): use theirs */
		m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (!m)
		return KRSI_MARK_FAILED;
#pragma unroll
	for (int i = 0; i < KRSI_MARK_SLOTS; i++) {
		__u64 cur = READ_ONCE_U64(m->root[i]);
		if (cur == 0)
			cur = __sync_val_compare_and_swap(&m->root[i], 0, root);
		if (cur == 0 || cur == root)
			return __sync_fetch_and_or(&m->bits[i], bit) | READ_ONCE_U32(m->overflow);
	}
	count(KRSI_STAT_MARKS_OVERFLOW);
	return __sync_fetch_and_or(&m->overflow, bit);
}

/*
 * The "mark" of check, mark, check again (wx_exec_map, wx_write_reason): set
 * bit for root's container and return reason when the marks it had already
 * held other, the operation bit excludes (a writer and an executable
 * mapping), KRSI_REASON_WX_NO_MARK when no mark could be kept, else 0.
 */
static __always_inline __u8 mark_checked(struct inode *inode, __u64 root, __u32 bit, __u32 other,
					 __u8 reason)
{
	__u32 old = mark_inode(inode, root, bit);

	if (old & KRSI_MARK_FAILED)
		return KRSI_REASON_WX_NO_MARK;
	if (old & other)
		return reason;
	return 0;
}

/*
 * Someone has the inode open for writing now (i_writecount counts the
 * writers; negative while writing is denied to them).
 */
static __always_inline int open_for_write(struct inode *inode)
{
	return inode->i_writecount.counter > 0;
}

#define S_IFMT 00170000
#define S_IFREG 0100000
#define SB_KERNMOUNT (1 << 22) /* include/linux/fs.h, 6.1 and 6.12 */
#define SB_NOUSER (1 << 31)

/*
 * Memory the kernel hands out through a file that no user mounted: io_uring's
 * rings and other anonymous inodes (no S_IFREG at all), sockets (AF_PACKET
 * rings), character devices (/dev/zero), and regular files of internal mounts
 * (memfd_secret sets S_IFREG on an SB_KERNMOUNT | SB_NOUSER super block;
 * memfd and shared anonymous memory live on the internal shmem mount,
 * SB_KERNMOUNT, and have no link). The pages behind such an object can be
 * reached writable through another mapping or by the kernel itself, and no
 * file rule or mark can follow them: under W^X none is made executable.
 */
static __always_inline int kernel_object(struct inode *inode)
{
	if ((inode->i_mode & S_IFMT) != S_IFREG)
		return 1;
	return (inode->i_sb->s_flags & (SB_KERNMOUNT | SB_NOUSER)) != 0;
}

/*
 * Why making inode's pages executable would execute what root's container
 * wrote, or 0: it has no name (memfd, O_TMPFILE: its contents can only have
 * been written), it is a kernel object (above), it is open for writing now by
 * anyone (one view writes what the other runs), or a W^X process of this
 * container opened it for writing before. Writes by others (another
 * container, the host) are not this container's: docs/threat-model.md.
 */
static __always_inline __u8 wx_file_reason(struct inode *inode, __u64 root)
{
	if (inode->i_nlink == 0)
		return KRSI_REASON_WX_FILELESS;
	if (kernel_object(inode))
		return KRSI_REASON_WX_KERNEL_OBJECT;
	if (open_for_write(inode))
		return KRSI_REASON_WX_OPEN_FOR_WRITE;
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (marks_of(m, root) & KRSI_MARK_WRITTEN)
		return KRSI_REASON_WX_WRITTEN;
	return 0;
}

/*
 * Check, mark, check again: the mapping is refused for a reason found before
 * marking (the file then stays writable for the container), and after
 * marking EXEC_MAPPED only if a writer of the container got its WRITTEN mark
 * in between, or anyone opened it for writing (i_writecount is raised before
 * security_file_open). Returns the reason, or 0 with the file marked.
 */
static __always_inline __u8 wx_exec_map(struct inode *inode, __u64 root)
{
	__u8 reason = wx_file_reason(inode, root);
	if (reason)
		return reason;
	reason = mark_checked(inode, root, KRSI_MARK_EXEC_MAPPED, KRSI_MARK_WRITTEN,
			      KRSI_REASON_WX_WRITTEN);
	if (reason)
		return reason;
	if (open_for_write(inode))
		return KRSI_REASON_WX_OPEN_FOR_WRITE;
	return 0;
}

/*
 * The ELF loader's mappings while execve runs: of the program (decided at
 * bprm_check_security, and mm->exe_file by now: begin_new_exec sets it before
 * the loader maps anything) and of its interpreter (decided when the loader
 * opened it: krsi_file_open). Both are marked EXEC_MAPPED, so that a
 * running program or interpreter cannot be rewritten through another name (a
 * hard link, /proc/PID/map_files; the kernel's ETXTBSY covers only the
 * program, and only while it runs). A refusal here comes after the point of
 * no return and kills the process: it is only reached when the earlier check
 * was raced or could not be made.
 */
struct stack_vma {
	__u64 vm_flags;
	int found;
};

static long stack_vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	struct stack_vma *s = ctx;

	s->vm_flags = BPF_CORE_READ(vma, vm_flags);
	s->found = 1;
	return 0;
}

/*
 * The stack the loader gave the new program is executable: PT_GNU_STACK
 * asked for it (or a READ_IMPLIES_EXEC personality). load_elf_binary calls
 * setup_arg_pages, which sets the stack VMA's flags and mm->arg_start inside
 * it, before it maps the program's segments (6.1 and 6.12), and no other
 * hook sees that step: the first mapping of the program is where it can be
 * told. bpf_find_vma only try-locks the mm; it cannot fail on the new,
 * single-threaded mm of an execve but for a concurrent reader of
 * /proc/PID/maps, and then the stack is not judged (documented).
 */
static __always_inline int exec_stack(struct task_struct *task)
{
	struct stack_vma s = {};
	__u64 arg = BPF_CORE_READ(task, mm, arg_start);

	if (bpf_find_vma(task, arg, stack_vma_cb, &s, 0) || !s.found)
		return 0;
	return (s.vm_flags & VM_EXEC) != 0;
}

static __always_inline __u8 wx_loader_map(struct file *file, __u64 root)
{
	/* file->f_inode, not a probe read: inode storage needs a pointer the verifier trusts. */
	struct inode *inode = file->f_inode;
	struct task_struct *task = bpf_get_current_task_btf();
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);

	if (file == exe && exec_stack(task))
		return KRSI_REASON_WX_EXEC_STACK;
	__u8 reason = wx_exec_map(inode, root);

	/* A program with no name is exec.fileless's decision (runc's sealed copy of itself). */
	if (reason == KRSI_REASON_WX_FILELESS && file == exe)
		return 0;
	return reason;
}

static __always_inline int is_proc_mem(struct file *file)
{
	if (BPF_CORE_READ(file, f_inode, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	struct dentry *d = BPF_CORE_READ(file, f_path.dentry);
	char name[4] = {};
	if (BPF_CORE_READ(d, d_name.len) != 3)
		return 0;
	bpf_probe_read_kernel(name, 3, BPF_CORE_READ(d, d_name.name));
	return name[0] == 'm' && name[1] == 'e' && name[2] == 'm';
}

/*
 * A writable file arriving in a W^X process (opened, or received): writing
 * through /proc/PID/mem reaches code pages past their protection
 * (FOLL_FORCE), and a file the container mapped executable must not be
 * rewritten under the mapping. Otherwise the file is marked WRITTEN for the
 * container, so that it cannot map it executable later (write, then map).
 * Check, mark, check again, as wx_exec_map: the open has already raised
 * i_writecount (do_dentry_open takes write access before security_file_open),
 * and the atomic or orders this mark against a racing mapping's.
 */
static __always_inline __u8 wx_write_reason(struct file *file, __u64 root)
{
	if (is_proc_mem(file))
		return KRSI_REASON_WX_CODE_WRITE;
	struct inode *inode = file->f_inode;
	struct krsi_marks *m = bpf_inode_storage_get(&krsi_inode_marks, inode, 0, 0);
	if (marks_of(m, root) & KRSI_MARK_EXEC_MAPPED)
		return KRSI_REASON_WX_EXEC_MAPPED;
	return mark_checked(inode, root, KRSI_MARK_WRITTEN, KRSI_MARK_EXEC_MAPPED,
			    KRSI_REASON_WX_EXEC_MAPPED);
}

/*
 * How every W^X check on a file ends: nothing when it found no reason, else
 * the violation reported for the hook (prot: what was asked, PROT_EXEC to
 * run or map, PROT_WRITE to write) and the hook's answer.
 */
static __always_inline int wx_report(const struct verdict *v, __u8 hook, __u8 reason, __u32 prot)
{
	if (!reason)
		return 0;
	return report_memory(v, hook, reason, prot, 0, 0, 0);
}

static __always_inline int wx_writable_file(const struct verdict *v, struct file *file, __u8 hook)
{
	return wx_report(v, hook, wx_write_reason(file, caller_root(v)), PROT_WRITE);
}

#endif /* KRSI_LIB_WX_H */
