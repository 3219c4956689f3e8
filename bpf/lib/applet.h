/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Multi-call binaries (busybox): which applet an exec runs, and the
 * profile's decision on it (docs/profiles.md, "Multi-call binaries").
 *
 * busybox picks its applet from the argv the new program gets (appletlib.c,
 * main and busybox_main): the last path component of argv[0] with one
 * leading '-' stripped (a login shell's "-sh"); when that name starts with
 * "busybox", the last path component of argv[1] ("busybox --help NAME":
 * argv[2]), again and again while the name starts with "busybox". Nothing
 * else: the path that was exec'd, the link's name and the comm do not count.
 *
 * argv is the caller's choice and lives in its memory, where another thread
 * can rewrite it after a check. So the decision is made twice:
 *  - at bprm_check_security (before the point of no return), from the
 *    caller's argv array (the system call's registers): best effort, a
 *    denial there is an EPERM like every other exec denial;
 *  - at bprm_committing_creds (after it): the new mm is current's, and
 *    bprm->p points at the argv strings the kernel copied into its stack,
 *    argv[0] first, one after the other: exactly what busybox will read,
 *    and no thread of the caller is left to change them (de_thread ran).
 *    A denial there cannot fail the exec: the task is killed (SIGKILL) and
 *    its first instruction never runs. This check is the authoritative one.
 *
 * Map layout (krsi_rules, no map of its own): the binary's whole path with
 * kind KRSI_MATCH_MULTICALL says the binary is one and what an applet no
 * rule names gets; each applet rule is keyed by the binary's path, a NUL
 * byte and the applet's name (kind KRSI_MATCH_APPLET), hashed as one string
 * by enforcement/hash.go.
 */

#ifndef KRSI_LIB_APPLET_H
#define KRSI_LIB_APPLET_H

#include "krsi.h"
#include "krsi_maps.h"
#include "lib/pathmatch.h"

/* "busybox busybox ... NAME": levels followed before the applet is unknown. */
#define KRSI_APPLET_LEVELS 4

/* struct applet_q: krsi_maps.h (it lives in the scratch buffer, not on the stack). */

/*
 * Read the next argv string into s->arg. Its length without the NUL; -1: no
 * more arguments; -2: unreadable, or too long to judge.
 */
static __always_inline long read_arg(struct krsi_scratch *s, struct applet_q *q)
{
	__u64 addr = 0;
	__u32 k = q->k++;

	if (q->post) {
		if (k >= q->argc)
			return -1;
		addr = q->next;
	} else {
		if (bpf_copy_from_user(&addr, sizeof(addr), (void *)(q->base + 8 * (__u64)k)))
			return -2;
		if (!addr)
			return -1;
	}
	long n = bpf_probe_read_user_str(s->arg, KRSI_ARG_MAX, (void *)addr);
	if (n <= 0 || n >= KRSI_ARG_MAX)
		return -2;
	q->next = addr + n;
	return n - 1;
}

/*
 * One bpf_loop context for both walks over s->arg (bpf_loop wants it on the
 * stack; one struct keeps krsi_applet's frame small: the verifier's limit is
 * 512 bytes for a whole chain of calls).
 */
struct name_walk {
	struct krsi_scratch *s;
	__u64 h1, h2;
	__u32 n, start; /* scan: the string's length, the last component's start */
	__u32 len;      /* hash: the name's length (from start) */
	__u32 plen, ilen;
};

static long scan_slash(__u32 i, void *ctx)
{
	struct name_walk *c = ctx;

	if (i >= c->n)
		return 1;
	if (c->s->arg[i & (KRSI_ARG_MAX - 1)] == '/')
		c->start = i + 1;
	return 0;
}

static long hash_name(__u32 i, void *ctx)
{
	struct name_walk *c = ctx;

	if (i >= c->len)
		return 1;
	__u8 ch = c->s->arg[(c->start + i) & (KRSI_ARG_MAX - 1)];
	c->h1 = (c->h1 ^ ch) * KRSI_H1_PRIME;
	c->h2 = (c->h2 ^ ch) * KRSI_H2_MULT;
	c->h2 ^= c->h2 >> 32;
	if (i < KRSI_APPLET_MAX - 1)
		c->s->path[(c->plen & (KRSI_PATH_MAX - 1)) + (c->ilen & (KRSI_INVOKED_MAX - 1)) + i] = ch;
	return 0;
}

static __always_inline int is_busybox(struct krsi_scratch *s, __u32 start, __u32 n)
{
	if (n < start + 7)
		return 0;
	if (start > KRSI_ARG_MAX - 8) /* n < KRSI_ARG_MAX: never */
		return 0;
	const char *a = &s->arg[start & (KRSI_ARG_MAX - 1)];
	return a[0] == 'b' && a[1] == 'u' && a[2] == 's' && a[3] == 'y' && a[4] == 'b' &&
	       a[5] == 'o' && a[6] == 'x';
}

/*
 * Find the applet into s->q (its hash after the binary's, its name copied
 * to s->path after the binary's and the invoked path). 0, or -1 when it
 * cannot be known. A global function: the verifier checks it once, not at
 * each of its callers.
 */
__attribute__((noinline)) int krsi_applet(struct krsi_scratch *s)
{
	struct name_walk w = {};
	long n = -1;

	if (!s)
		return -1;
	struct applet_q *q = &s->q;
	w.s = s;
	for (int level = 0; level < KRSI_APPLET_LEVELS + 1; level++) {
		n = read_arg(s, q);
		if (n == -2)
			return -1;
		if (n == -1) { /* no argv[0], or "busybox" alone: no applet runs */
			w.n = 0;
			w.start = 0;
			break;
		}
		if (level > 0 && n == 6 && s->arg[0] == '-' && s->arg[1] == '-' && s->arg[2] == 'h' &&
		    s->arg[3] == 'e' && s->arg[4] == 'l' && s->arg[5] == 'p') {
			/* "busybox --help NAME" runs NAME (with --help): judge NAME. */
			n = read_arg(s, q);
			if (n == -2)
				return -1;
			if (n == -1) {
				w.n = 0;
				w.start = 0;
				break;
			}
		}
		w.n = n;
		w.start = (level == 0 && s->arg[0] == '-') ? 1 : 0;
		bpf_loop(KRSI_ARG_MAX, scan_slash, &w, 0);
		if (!is_busybox(s, w.start, w.n))
			break;
		if (level == KRSI_APPLET_LEVELS)
			return -1;
	}
	w.len = w.n > w.start ? w.n - w.start : 0;
	w.plen = q->plen;
	w.ilen = q->ilen;
	w.h1 = (q->h1 ^ 0) * KRSI_H1_PRIME;
	w.h2 = (q->h2 ^ 0) * KRSI_H2_MULT;
	w.h2 ^= w.h2 >> 32;
	bpf_loop(KRSI_ARG_MAX, hash_name, &w, 0);
	q->h1 = w.h1;
	q->h2 = w.h2;
	q->name_len = w.len;
	return 0;
}

/*
 * The binary's KRSI_MATCH_MULTICALL entry, when the path in s (just matched:
 * match_path_at left its hashes in s->q) is one.
 */
static __always_inline const struct krsi_rule *multicall_of(const struct krsi_profile *p,
							     const struct krsi_scratch *s)
{
	if (!(p->flags & KRSI_PF_USES_APPLETS))
		return 0;
	struct krsi_rule_key k = {
		.ruleset = p->ruleset,
		.len = s->ev.path_len,
		.kind = KRSI_MATCH_MULTICALL,
		.h1 = s->q.h1,
		.h2 = s->q.h2,
	};
	return bpf_map_lookup_elem(&krsi_rules, &k);
}

/*
 * Start the search for the applet in s->q: where argv is read from (post:
 * the argc strings the kernel copied to the new stack from base, bprm->p;
 * else the caller's argv array at base) and the lengths of the paths already
 * in s, after which the applet's name is copied. q's h1 and h2 stay the
 * binary path's hashes that match_path left there.
 */
static __always_inline void applet_query(struct krsi_scratch *s, __u64 base, __u64 next,
					 __u32 argc, __u32 post)
{
	struct applet_q *q = &s->q;

	q->base = base;
	q->next = next;
	q->argc = argc;
	q->post = post;
	q->name_len = 0;
	q->k = 0;
	q->plen = s->ev.path_len;
	q->ilen = s->ev.invoked_len;
}

/*
 * The decision on the applet found in q: 0 (allowed), or the reason it is
 * denied, *rule the rule that decided. The event in s names the applet.
 */
static __always_inline __u8 applet_verdict(const struct krsi_profile *p, const struct krsi_rule *mc,
					   struct krsi_scratch *s, const struct applet_q *q,
					   __u32 *rule)
{
	s->ev.applet_len = q->name_len < KRSI_APPLET_MAX ? q->name_len : KRSI_APPLET_MAX - 1;
	struct krsi_rule_key k = {
		.ruleset = p->ruleset,
		.len = s->ev.path_len + 1 + q->name_len,
		.kind = KRSI_MATCH_APPLET,
		.h1 = q->h1,
		.h2 = q->h2,
	};
	const struct krsi_rule *r = bpf_map_lookup_elem(&krsi_rules, &k);
	__u8 reason = KRSI_REASON_RULE;

	if (!r) {
		r = mc;
		reason = KRSI_REASON_DEFAULT;
	}
	*rule = r->origin[5]; /* KRSI_ACCESS_EXEC's bit */
	return (r->deny & KRSI_ACCESS_EXEC) ? reason : 0;
}

#endif /* KRSI_LIB_APPLET_H */
