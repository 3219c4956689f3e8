/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The rules on a walked path: what the path_* and inode_* programs and the
 * descriptor checks (progs/pathchange.h, progs/access.h) share. Each claims
 * the scratch buffer, walks the path into it and decides or reports there.
 */

#ifndef KRSI_LIB_PATHCHECK_H
#define KRSI_LIB_PATHCHECK_H

#include "lib/verdict.h"
#include "lib/scratch.h"
#include "lib/pathwalk.h"
#include "lib/pathmatch.h"

/* Hold the change of (mnt, d) to the files rules for the access bits want. */
static __always_inline int check_dentry(const struct verdict *v, struct vfsmount *mnt,
					struct dentry *d, __u8 hook, __u8 want)
{
	__u64 *held;
	struct krsi_scratch *s = scratch_begin(&held);
	int r;

	if (!s)
		return -EPERM;
	if (resolve_dentry(s, mnt, d))
		r = report_path(v, s, hook, KRSI_REASON_NO_PATH, KRSI_RULE_NONE, want, 0);
	else /* For the exec bit only a rule that denies counts. */
		r = decide_path(v, s, hook, want, 0,
				(want & KRSI_ACCESS_EXEC) ? 0 : KRSI_PF_FILE_DEFAULT_DENY);
	scratch_release(held);
	return r;
}

/*
 * Report a violation no rule decided (reason, no rule), naming the path of
 * (mnt, d) when there is one and it can be walked (else an empty path).
 */
static __always_inline int report_walked(const struct verdict *v, struct vfsmount *mnt,
					 struct dentry *d, __u8 hook, __u8 reason, __u8 want)
{
	__u64 *held;
	struct krsi_scratch *s = scratch_begin(&held);

	if (!s)
		return -EPERM;
	if (d && resolve_dentry(s, mnt, d))
		s->ev.path_len = 0;
	int r = report_path(v, s, hook, reason, KRSI_RULE_NONE, want, 0);
	scratch_release(held);
	return r;
}

#endif /* KRSI_LIB_PATHCHECK_H */
