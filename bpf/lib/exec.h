/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where a task is in an execve: the exec stage (krsi_exec_stage) that tells
 * the ELF loader's open of a program's interpreter from every other exec
 * open. Set by progs/exec.h, read by progs/file.h's file_open.
 */

#ifndef KRSI_LIB_EXEC_H
#define KRSI_LIB_EXEC_H

#include "krsi_maps.h"
#include "lib/kernel.h"

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
 * The task is inside execve(2): task->in_execve is set from the start of
 * execve to its end (not fs->in_exec, which newer kernels clear as soon as
 * the old threads are gone, before the loader maps anything: seen on 6.12).
 */
static __always_inline int in_execve(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	return BPF_CORE_READ_BITFIELD_PROBED(task, in_execve) != 0;
}

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
	return (file->f_mode & FMODE_EXEC) || (file->f_flags & __FMODE_EXEC);
}

/* file is being opened by the ELF loader as the interpreter of a program (see above). */
static __always_inline int interp_open(struct file *file)
{
	if (!exec_open(file) || !in_execve())
		return 0;
	__u32 *st = bpf_task_storage_get(&krsi_exec_stage, bpf_get_current_task_btf(), 0, 0);
	return st && (*st & KRSI_EXEC_ELF_CHECKED);
}

#endif /* KRSI_LIB_EXEC_H */
