/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The verdict on a caller and its report. Every hook starts the same way:
 * one lookup of the caller's cgroup id in krsi_bindings (a caller that is not
 * bound pays that and nothing more), then its profile; a violation becomes an
 * event on krsi_events and the hook's return value (EPERM, or 0 in audit
 * mode).
 */

#ifndef KRSI_LIB_VERDICT_H
#define KRSI_LIB_VERDICT_H

#include "krsi.h"
#include "krsi_maps.h"
#include "lib/kernel.h"

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

/*
 * The start every decision on a bound caller shares: 1 when the caller is
 * bound to a profile that exists; else 0 and in *out what the hook returns:
 * ret (an earlier LSM's answer, or a caller that is not bound) or EPERM for a
 * binding to a missing profile (fail closed).
 */
static __always_inline int caller_start(struct verdict *v, int ret, int *out)
{
	*out = ret;
	if (ret || !lookup_caller(v))
		return 0;
	if (!v->profile) {
		*out = -EPERM;
		return 0;
	}
	return 1;
}

/*
 * The start of a hook that applies path rules: caller_start, and then 1 only
 * when the caller's profile has the rules need names and its container's
 * entrypoint has run (before it only the runtime works in the cgroup:
 * KRSI_BINDING_EXEC_PENDING); else 0 and in *out what the hook returns.
 */
static __always_inline int rules_start(struct verdict *v, int ret, __u32 need, int *out)
{
	if (!caller_start(v, ret, out))
		return 0;
	if (!(v->profile->flags & need) || (v->binding->flags & KRSI_BINDING_EXEC_PENDING))
		return 0;
	return 1;
}

/* The caller's verdict when it is bound to a W^X profile, else 0. */
static __always_inline int wx_caller(struct verdict *v)
{
	int out;

	if (!caller_start(v, 0, &out))
		return 0; /* a missing profile is refused by the hooks that run files and memory */
	return (v->profile->flags & KRSI_PF_DENY_WX) != 0;
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

#endif /* KRSI_LIB_VERDICT_H */
