/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Rule matching on a resolved path, in O(path length) whatever the number of
 * rules: one walk over the path hashes every prefix that ends in '/', and a
 * prefix costs one hash lookup (subtree rules), plus one lookup for the last
 * directory (children rules) and one for the whole path (exact rules). An LPM
 * trie would do the prefix part in one lookup, but sleepable programs (the
 * only ones that may call bpf_d_path) cannot use LPM tries.
 *
 * What keeps the walk cheap (BENCHMARKS.md measures it):
 * - a prefix is looked up only at the depths (number of '/' so far) where the
 *   profile has subtree or children keys at all: enforcement computes the
 *   masks when it writes the profile (krsi_profile.subtree_depths and
 *   children_depths), so a profile of exact paths costs one lookup per path;
 * - the bpf_loop callback hashes KRSI_WALK_STRIDE bytes per call, from one
 *   8-byte load, with the hash state in registers: a callback per byte cost
 *   more than the hashing it did.
 *
 * The hashes must equal enforcement/hash.go's, byte for byte, and the depth
 * masks enforcement/masks.go's.
 */

#ifndef KRSI_LIB_PATHMATCH_H
#define KRSI_LIB_PATHMATCH_H

#include "krsi.h"
#include "krsi_maps.h"
#include "lib/verdict.h"

#define KRSI_H1_PRIME 0x100000001b3ULL      /* FNV-1a 64 */
#define KRSI_H2_MULT 0x9e3779b97f4a7c15ULL  /* a different lane: xor, multiply, fold */
#define KRSI_WALK_STRIDE 8                  /* bytes per callback: one u64 load */

/*
 * Never read by the programs: the path hash's constants (above), in the
 * object for enforcement's TestABI to compare enforcement/hash.go with.
 */
const volatile __u64 krsi_path_hash[2] = { KRSI_H1_PRIME, KRSI_H2_MULT };

/*
 * The bit of depth d (the number of '/' in a prefix, "/" being 1) in the
 * profile's depth masks: d mod 64. A wrap, not a clamp to 63: kernels before
 * 6.7 verify a bpf_loop callback as if it ran once, "know" the depth is below
 * 9 there, and remove a clamp's branch as dead code (seen on 6.1: rules past
 * the 63rd '/' never matched). A shared bit costs a lookup, never a rule.
 */
static __always_inline __u64 krsi_depth_bit(__u32 d)
{
	return 1ULL << (d & 63);
}

struct path_match {
	__u8 decided; /* requested access bits that some matching rule decided */
	__u8 denied;  /* of those, the bits the most specific such rule denies */
	__u32 origin[KRSI_NUM_ACCESS];
};

struct walk {
	struct krsi_scratch *s;
	__u64 h1, h2;           /* hashes of the bytes walked so far */
	__u64 dir_h1, dir_h2;   /* hashes of the prefix up to the last '/' */
	__u64 subtree_depths;   /* the profile's masks, see krsi_depth_bit */
	__u64 children_depths;
	__u32 len;              /* path length, no NUL */
	__u32 dir_len;
	__u32 depth;            /* '/' seen so far */
	__u32 ruleset;
	__u8 want;
	struct path_match m;
};

/* Rules are met from least to most specific; each one overrides for its bits. */
static __noinline void apply_rule(struct walk *w, __u8 kind, __u32 len, __u64 h1, __u64 h2)
{
	struct krsi_rule_key k = {
		.ruleset = w->ruleset, .len = len, .kind = kind, .h1 = h1, .h2 = h2,
	};
	struct krsi_rule *r = bpf_map_lookup_elem(&krsi_rules, &k);
	if (!r)
		return;
	__u8 hit = (r->allow | r->deny) & w->want;
	if (!hit)
		return;
	w->m.decided |= hit;
	w->m.denied = (w->m.denied & ~hit) | (r->deny & hit);
#pragma unroll
	for (int b = 0; b < KRSI_NUM_ACCESS; b++)
		if (hit & (1 << b))
			w->m.origin[b] = r->origin[b];
}

static long walk_chunk(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	__u32 base = i * KRSI_WALK_STRIDE;

	if (base >= w->len)
		return 1;
	/* base <= KRSI_PATH_MAX - 8: the load stays inside the buffer, and path
	 * is 8-byte aligned in krsi_scratch (after the event header). */
	__u64 bytes = *(const __u64 *)__builtin_assume_aligned(
		&w->s->path[base & (KRSI_PATH_MAX - KRSI_WALK_STRIDE)], 8);
	__u64 h1 = w->h1, h2 = w->h2;
	__u32 end = w->len - base;

#pragma unroll
	for (int j = 0; j < KRSI_WALK_STRIDE; j++) {
		__u8 c = bytes >> (8 * j); /* little endian: byte j of the path */
		if (j < end) {
			h1 = (h1 ^ c) * KRSI_H1_PRIME;
			h2 = (h2 ^ c) * KRSI_H2_MULT;
			h2 ^= h2 >> 32;
			if (c == '/') {
				__u32 d = ++w->depth;
				w->dir_h1 = h1;
				w->dir_h2 = h2;
				w->dir_len = base + j + 1;
				if (w->subtree_depths & krsi_depth_bit(d))
					apply_rule(w, KRSI_MATCH_SUBTREE, base + j + 1, h1, h2);
			}
		}
	}
	w->h1 = h1;
	w->h2 = h2;
	return 0;
}

/*
 * Match s->path (s->ev.path_len bytes) against the rules of profile p into out.
 * The rename and link checks (progs/pathchange.h) want two more answers, asked
 * for by non-NULL pointers:
 * - above: the match of the subtree keys at the path's proper ancestors only,
 *   which is what decides everything beneath the path when no rule key lies
 *   beneath it;
 * - beneath: whether some rule key lies beneath the path, i.e. the path plus
 *   "/" is a KRSI_MATCH_ANCESTOR key (one more lookup).
 */
static __always_inline void match_path_at(struct krsi_scratch *s, const struct krsi_profile *p,
					  __u8 want, struct path_match *out,
					  struct path_match *above, __u8 *beneath)
{
	__u32 zero = 0;
	if (beneath)
		*beneath = 1; /* fail closed: no config, no answer */
	struct krsi_config *cfg = bpf_map_lookup_elem(&krsi_conf, &zero);
	if (!cfg)
		return;

	struct walk w = {
		.s = s,
		.h1 = cfg->seed1,
		.h2 = cfg->seed2,
		.subtree_depths = p->subtree_depths,
		.children_depths = p->children_depths,
		.len = s->ev.path_len & (KRSI_PATH_MAX - 1),
		.ruleset = p->ruleset,
		.want = want,
	};
	bpf_loop((w.len + KRSI_WALK_STRIDE - 1) / KRSI_WALK_STRIDE, walk_chunk, &w, 0);
	/* So far only subtree keys, at the prefixes ending in '/': the ancestors. */
	if (above)
		*above = w.m;
	if (w.dir_len && (w.children_depths & krsi_depth_bit(w.depth)))
		apply_rule(&w, KRSI_MATCH_CHILDREN, w.dir_len, w.dir_h1, w.dir_h2);
	apply_rule(&w, KRSI_MATCH_EXACT, w.len, w.h1, w.h2);
	/* The whole path's hashes, in the scratch buffer (not the stack, whose 512
	 * bytes the path hooks' call chains nearly use up): lib/applet.h. */
	s->q.h1 = w.h1;
	s->q.h2 = w.h2;
	*out = w.m;
	if (beneath) {
		__u64 h1 = (w.h1 ^ '/') * KRSI_H1_PRIME;
		__u64 h2 = (w.h2 ^ '/') * KRSI_H2_MULT;
		h2 ^= h2 >> 32;
		struct krsi_rule_key k = {
			.ruleset = w.ruleset, .len = w.len + 1, .kind = KRSI_MATCH_ANCESTOR,
			.h1 = h1, .h2 = h2,
		};
		*beneath = bpf_map_lookup_elem(&krsi_rules, &k) != 0;
	}
}

static __always_inline void match_path(struct krsi_scratch *s, const struct krsi_profile *p,
				       __u8 want, struct path_match *out)
{
	match_path_at(s, p, want, out, 0, 0);
}

/*
 * The rules' verdict on the path in s for the access bits want: the most
 * specific rule per bit (a denied bit reports its rule), then, for bits no
 * rule decided, the default that the profile flag default_deny stands for
 * (0: none, allow).
 */
static __always_inline __u32 first_origin(const struct path_match *m, __u8 bits)
{
	for (int i = 0; i < KRSI_NUM_ACCESS; i++)
		if (bits & (1 << i))
			return m->origin[i];
	return KRSI_RULE_NONE;
}

/* decide_path on a match already made (for at least the bits want). */
static __always_inline int judge_path(const struct verdict *v, struct krsi_scratch *s, __u8 hook,
				      __u8 want, __u32 prot, __u32 default_deny,
				      const struct path_match *m)
{
	__u8 denied = m->denied & want;

	if (denied)
		return report_path(v, s, hook, KRSI_REASON_RULE, first_origin(m, denied), want, prot);
	if ((want & ~m->decided) && (v->profile->flags & default_deny))
		return report_path(v, s, hook, KRSI_REASON_DEFAULT, KRSI_RULE_NONE, want, prot);
	return 0;
}

static __always_inline int decide_path(const struct verdict *v, struct krsi_scratch *s, __u8 hook,
				       __u8 want, __u32 prot, __u32 default_deny)
{
	struct path_match m = {};

	match_path(s, v->profile, want, &m);
	return judge_path(v, s, hook, want, prot, default_deny, &m);
}

#endif /* KRSI_LIB_PATHMATCH_H */
