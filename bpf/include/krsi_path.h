/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Rule matching on a resolved path, in O(path length) whatever the number of
 * rules: one walk over the path hashes every prefix that ends in '/', and each
 * prefix costs one hash lookup (subtree rules), plus one lookup for the last
 * directory (children rules) and one for the whole path (exact rules). An LPM
 * trie would do the prefix part in one lookup, but sleepable programs (the
 * only ones that may call bpf_d_path) cannot use LPM tries.
 *
 * The hashes must equal enforcement/hash.go's, byte for byte.
 */
#ifndef KRSI_PATH_H
#define KRSI_PATH_H

#define KRSI_H1_PRIME 0x100000001b3ULL      /* FNV-1a 64 */
#define KRSI_H2_MULT 0x9e3779b97f4a7c15ULL  /* a different lane: xor, multiply, fold */

struct path_match {
	__u8 decided; /* requested access bits that some matching rule decided */
	__u8 denied;  /* of those, the bits the most specific such rule denies */
	__u32 origin[KRSI_NUM_ACCESS];
};

struct walk {
	struct krsi_scratch *s;
	__u64 h1, h2;           /* hashes of path[0..i] */
	__u64 dir_h1, dir_h2;   /* hashes of the prefix up to the last '/' */
	__u32 len;              /* path length, no NUL */
	__u32 dir_len;
	__u32 ruleset;
	__u8 want;
	struct path_match m;
};

/* Rules are met from least to most specific; each one overrides for its bits. */
static __always_inline void apply_rule(struct walk *w, __u8 kind, __u32 len, __u64 h1, __u64 h2)
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

static long walk_byte(__u32 i, void *ctx)
{
	struct walk *w = ctx;

	if (i >= w->len)
		return 1;
	__u8 c = w->s->path[i & (KRSI_PATH_MAX - 1)];
	w->h1 = (w->h1 ^ c) * KRSI_H1_PRIME;
	w->h2 = (w->h2 ^ c) * KRSI_H2_MULT;
	w->h2 ^= w->h2 >> 32;
	if (c == '/') {
		w->dir_h1 = w->h1;
		w->dir_h2 = w->h2;
		w->dir_len = i + 1;
		apply_rule(w, KRSI_MATCH_SUBTREE, i + 1, w->h1, w->h2);
	}
	return 0;
}

/* Match s->path (s->ev.path_len bytes) against the rules of ruleset. */
static __always_inline void match_path(struct krsi_scratch *s, __u32 ruleset, __u8 want,
				       struct path_match *out)
{
	__u32 zero = 0;
	struct krsi_config *cfg = bpf_map_lookup_elem(&krsi_conf, &zero);
	if (!cfg)
		return;

	struct walk w = {
		.s = s,
		.h1 = cfg->seed1,
		.h2 = cfg->seed2,
		.len = s->ev.path_len & (KRSI_PATH_MAX - 1),
		.ruleset = ruleset,
		.want = want,
	};
	bpf_loop(w.len, walk_byte, &w, 0);
	if (w.dir_len)
		apply_rule(&w, KRSI_MATCH_CHILDREN, w.dir_len, w.dir_h1, w.dir_h2);
	apply_rule(&w, KRSI_MATCH_EXACT, w.len, w.h1, w.h2);
	*out = w.m;
}

#endif /* KRSI_PATH_H */
