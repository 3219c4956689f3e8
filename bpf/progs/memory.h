/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * W^X on memory: mprotect(2) from the VMA, and the other writers of code
 * (ptrace, SHM_EXEC, userfaultfd). W^X through files is lib/wx.h's, called
 * by the programs of the hooks that open, map and run files (progs/file.h,
 * progs/exec.h).
 */

#ifndef KRSI_PROGS_MEMORY_H
#define KRSI_PROGS_MEMORY_H

#include "lib/verdict.h"
#include "lib/wx.h"

#define PTRACE_MODE_ATTACH 0x02
#define SHM_EXEC 0100000

/*
 * W^X on an mprotect(2) or pkey_mprotect(2) that adds PROT_EXEC, from the VMA
 * alone: the path of vm_file cannot be resolved there (not a sleepable
 * hook). Adding exec to anonymous memory, to a mapping that is writable, to
 * a shared mapping that can be written through another view, or to a private
 * file mapping whose pages were written (it has an anon_vma, as SELinux's
 * execmod). The reason, or 0 (*file_contents: the contents of vm_file are
 * still to be judged, lib/wx.h).
 */
static __always_inline __u8 wx_vma_reason(struct vm_area_struct *vma, unsigned long prot,
					  __u64 vm_flags, int *file_contents)
{
	struct file *file = vma->vm_file;

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
	if (vma->anon_vma)
		return KRSI_REASON_WX_MODIFIED;
	*file_contents = 1;
	return 0;
}

/*
 * mprotect(2) and pkey_mprotect(2), once per VMA: W^X from the VMA
 * (wx_vma_reason), then the contents of a file mapping (lib/wx.h).
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

	__u64 vm_flags = vma->vm_flags;
	__u8 reason = wx_vma_reason(vma, prot, vm_flags, &file_contents);
	if (!reason && file_contents)
		reason = wx_exec_map(vma->vm_file->f_inode, caller_root(&v));
	if (!reason)
		return 0;
	return report_memory(&v, KRSI_HOOK_FILE_MPROTECT, reason, prot, vma->vm_start, vma->vm_end,
			     vm_flags);
}

/* ---- W^X: other writers of code ---------------------------------------- */

/*
 * A way to write code that W^X does not see as a mapping (asked for when
 * asked is true: each hook's test of the request), refused to a caller bound
 * to a W^X profile. An earlier LSM's answer stands.
 */
static __always_inline int wx_code_write(int ret, int asked, __u8 hook, __u32 prot)
{
	struct verdict v = {};

	if (ret || !asked || !wx_caller(&v))
		return ret;
	return report_memory(&v, hook, KRSI_REASON_WX_CODE_WRITE, prot, 0, 0, 0);
}

/* ptrace attach: POKETEXT and /proc/PID/mem write the tracee's code pages. */
SEC("lsm/ptrace_access_check")
int BPF_PROG(krsi_wx_ptrace_access, struct task_struct *child, unsigned int mode, int ret)
{
	return wx_code_write(ret, mode & PTRACE_MODE_ATTACH, KRSI_HOOK_PTRACE, 0);
}

SEC("lsm/ptrace_traceme")
int BPF_PROG(krsi_wx_ptrace_traceme, struct task_struct *parent, int ret)
{
	return wx_code_write(ret, 1, KRSI_HOOK_PTRACE, 0);
}

/* System V shared memory attached with SHM_EXEC: no mmap_file hook runs. */
SEC("lsm/shm_shmat")
int BPF_PROG(krsi_wx_shm_shmat, struct kern_ipc_perm *perm, char *shmaddr, int shmflg, int ret)
{
	return wx_code_write(ret, shmflg & SHM_EXEC, KRSI_HOOK_SHM_SHMAT, PROT_EXEC);
}

/*
 * userfaultfd fills missing pages of a private mapping with any bytes
 * (UFFDIO_COPY), executable ones included: a W^X process may not create one.
 */
SEC("lsm/inode_init_security_anon")
int BPF_PROG(krsi_wx_anon_inode, struct inode *inode, const struct qstr *name,
	     const struct inode *context_inode, int ret)
{
	struct verdict v = {};
	char n[16] = {};

	if (ret || !wx_caller(&v))
		return ret;
	bpf_probe_read_kernel_str(n, sizeof(n), BPF_CORE_READ(name, name));
	/* "[userfaultfd]" */
	if (n[0] != '[' || n[1] != 'u' || n[2] != 's' || n[3] != 'e' || n[4] != 'r' || n[5] != 'f' ||
	    n[6] != 'a' || n[7] != 'u' || n[8] != 'l' || n[9] != 't')
		return 0;
	return report_memory(&v, KRSI_HOOK_USERFAULTFD, KRSI_REASON_WX_CODE_WRITE, 0, 0, 0, 0);
}

#endif /* KRSI_PROGS_MEMORY_H */
