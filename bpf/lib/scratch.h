/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The scratch buffer a path check works in (struct krsi_scratch, krsi_maps.h:
 * the event it may send, the resolved path, an argv string): 4 KiB, far more
 * than a program's 512 bytes of stack. Claimed per check and given back on
 * every path out.
 */

#ifndef KRSI_LIB_SCRATCH_H
#define KRSI_LIB_SCRATCH_H

#include "krsi_maps.h"

static __always_inline struct krsi_scratch *scratch_get(void)
{
	return bpf_task_storage_get(&krsi_task_buf, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/*
 * The scratch buffer for one path check; give it back with scratch_release
 * on every path out. The CPU's buffer when it is free: the path hooks are
 * sleepable but run with migration disabled, so it stays this CPU's for the
 * whole program, and a task that preempts the holder on this CPU finds it busy
 * and falls back to its own task storage (scratch_get). Task storage alone
 * made every new process allocate and zero 4 KiB on its first check (exec).
 */
static __always_inline struct krsi_scratch *scratch_claim(__u64 **held)
{
	__u32 zero = 0;
	struct krsi_cpu_scratch *c = bpf_map_lookup_elem(&krsi_cpu_buf, &zero);

	*held = 0;
	if (c && __sync_val_compare_and_swap(&c->busy, 0, 1) == 0) {
		*held = &c->busy;
		return &c->s;
	}
	return scratch_get();
}

static __always_inline void scratch_release(__u64 *held)
{
	if (held)
		__sync_lock_test_and_set(held, 0);
}

/*
 * scratch_claim with the event header cleared, for a check that fills it in:
 * NULL when no buffer could be had (the caller fails closed), else give it
 * back with scratch_release(*held).
 */
static __always_inline struct krsi_scratch *scratch_begin(__u64 **held)
{
	struct krsi_scratch *s = scratch_claim(held);

	if (s)
		__builtin_memset(&s->ev, 0, sizeof(s->ev));
	return s;
}

#endif /* KRSI_LIB_SCRATCH_H */
