/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power-cut enumeration over the simulated backend: for a cut point N,
 * clone the source module, run the updater until its N-th mutating
 * operation fails, power-cycle (volatile state lost, the last write kept
 * whole, dropped or torn per N), then rerun like the module does (up to
 * the retry limit, power-cycling after each run so only durable state
 * counts) and classify the result: target, source (with an error code),
 * or other. Shared by tests/unit/test-powercut.c and tests/powercut/driver.c.
 */
#ifndef MFW_TESTS_POWERCUT_ENUM_H
#define MFW_TESTS_POWERCUT_ENUM_H

#include "fixture.h"
#include "dfota/updater.h"

enum pc_outcome { PC_TARGET, PC_SOURCE, PC_OTHER };

struct pc_stats {
	uint64_t tried, target, source, other;
	uint64_t reruns;          /* updater runs after the cut, summed */
	uint64_t total_ops;       /* mutating operations of an uncut run */
};

struct pc_setup {
	struct mfw_ctx *ctx;
	struct mfw_dfio *base;          /* the source module (durable) */
	const char *pkg;
	const char *const *props;
	struct fx_digest src, dst;
	bool (*preserved_ok)(struct mfw_dfio *io, void *user);
	void *user;
	int verbose;
	unsigned shard, nshards;   /* full runs only; nshards 0 = all */
};

static void pc_quiet(void *user, const char *line)
{
	(void)user;
	(void)line;
}

static int pc_run(const struct pc_setup *s, struct mfw_dfio *io, struct mfw_dfota_apply_result *res)
{
	struct mfw_dfota_pkg p = { .path = s->pkg };
	struct mfw_dfota_apply_opts o = { .props = s->props, .report = pc_quiet };
	return mfw_dfota_apply_io(s->ctx, io, &p, &o, res);
}

/* Mutating operations of one uncut run (and a check that it reaches the target). */
static int pc_count_ops(const struct pc_setup *s, uint64_t *ops)
{
	struct mfw_dfota_apply_result res;
	struct mfw_dfio *io;
	struct fx_digest d;
	int r = mfw_dfio_sim_clone(s->base, &io);
	if (r < 0)
		return r;
	r = pc_run(s, io, &res);
	*ops = mfw_dfio_sim_ops(io);
	mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	if (r == 0 && (fx_digest(io, &d) < 0 || !fx_digest_eq(&d, &s->dst)))
		r = MFW_E_VERIFY;
	if (r < 0)
		fprintf(stderr, "uncut run: %s (code %d): %s\n", mfw_strerror(r), res.code, res.message);
	mfw_dfio_free(io);
	return r;
}

static enum pc_outcome pc_trial(const struct pc_setup *s, uint64_t n, struct pc_stats *st)
{
	struct mfw_dfota_apply_result res = { 0 };
	enum mfw_dfio_tear tear = (enum mfw_dfio_tear)(n % 3);
	enum pc_outcome oc;
	struct mfw_dfio *io;
	struct fx_digest d;
	int r, runs = 1;

	if (mfw_dfio_sim_clone(s->base, &io) < 0)
		return PC_OTHER;
	mfw_dfio_sim_set_cut(io, n);
	r = pc_run(s, io, &res);
	if (!mfw_dfio_sim_cut_happened(io) && s->verbose)
		fprintf(stderr, "cut %llu: the run ended before the cut (r=%d)\n", (unsigned long long)n, r);
	mfw_dfio_sim_power_cycle(io, tear);
	/* the module retries until success or its limit (5 attempts in all) */
	while (runs < 5) {
		r = pc_run(s, io, &res);
		runs++;
		st->reruns++;
		mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
		if (r == 0 || res.code == MFW_DFOTA_CODE_RETRIES)
			break;
	}
	if (fx_digest(io, &d) < 0)
		oc = PC_OTHER;
	else if (r == 0 && fx_digest_eq(&d, &s->dst))
		oc = PC_TARGET;
	else if (r < 0 && res.code && fx_digest_eq(&d, &s->src))
		oc = PC_SOURCE;
	else
		oc = PC_OTHER;
	if (oc != PC_OTHER && s->preserved_ok && !s->preserved_ok(io, s->user))
		oc = PC_OTHER;
	if (oc == PC_OTHER) {
		fprintf(stderr, "cut %llu (tear %d): OTHER state after %d runs, last r=%d code %d: %s\n",
			(unsigned long long)n, (int)tear, runs, r, res.code, res.message);
		if (s->verbose > 1)
			mfw_dfio_tree_digest(io, "/", fx_skip, d.root, fx_print_line, stderr);
	} else if (s->verbose > 1) {
		fprintf(stderr, "cut %llu (tear %d): %s after %d runs\n", (unsigned long long)n,
			(int)tear, oc == PC_TARGET ? "target" : "source", runs);
	}
	st->tried++;
	if (oc == PC_TARGET)
		st->target++;
	else if (oc == PC_SOURCE)
		st->source++;
	else
		st->other++;
	mfw_dfio_free(io);
	return oc;
}

/* Two cuts: at n1 in the first run and at n2 in the first rerun, then reruns to the end. */
static inline enum pc_outcome pc_trial2(const struct pc_setup *s, uint64_t n1, uint64_t n2,
				 struct pc_stats *st)
{
	struct mfw_dfota_apply_result res = { 0 };
	struct mfw_dfio *io;
	struct fx_digest d;
	enum pc_outcome oc = PC_OTHER;
	int r = -1, runs;

	if (mfw_dfio_sim_clone(s->base, &io) < 0)
		return PC_OTHER;
	mfw_dfio_sim_set_cut(io, n1);
	pc_run(s, io, &res);
	mfw_dfio_sim_power_cycle(io, (enum mfw_dfio_tear)(n1 % 3));
	mfw_dfio_sim_set_cut(io, n2);
	pc_run(s, io, &res);
	mfw_dfio_sim_power_cycle(io, (enum mfw_dfio_tear)(n2 % 3));
	for (runs = 2; runs < 5; runs++) {
		r = pc_run(s, io, &res);
		mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
		if (r == 0)
			break;
	}
	if (fx_digest(io, &d) == 0) {
		if (r == 0 && fx_digest_eq(&d, &s->dst))
			oc = PC_TARGET;
		else if (r < 0 && res.code && fx_digest_eq(&d, &s->src))
			oc = PC_SOURCE;
	}
	if (oc != PC_OTHER && s->preserved_ok && !s->preserved_ok(io, s->user))
		oc = PC_OTHER;
	if (oc == PC_OTHER)
		fprintf(stderr, "cuts %llu+%llu: OTHER state, last r=%d code %d: %s\n",
			(unsigned long long)n1, (unsigned long long)n2, r, res.code, res.message);
	st->tried++;
	st->target += oc == PC_TARGET;
	st->source += oc == PC_SOURCE;
	st->other += oc == PC_OTHER;
	mfw_dfio_free(io);
	return oc;
}

/*
 * Every cut point 1..total when sample == 0, else `sample` of them chosen
 * with a seeded generator (always including the first and the last).
 */
static int pc_enumerate(const struct pc_setup *s, uint64_t sample, uint64_t seed, struct pc_stats *st)
{
	uint64_t total, x = seed * 2654435761u + 1;
	int r;

	memset(st, 0, sizeof(*st));
	r = pc_count_ops(s, &total);
	if (r < 0)
		return r;
	st->total_ops = total;
	if (!sample || sample >= total) {
		/* shards split a full run over processes: cut points n with n % nshards == shard */
		for (uint64_t n = 1; n <= total; n++)
			if (!s->nshards || n % s->nshards == s->shard)
				pc_trial(s, n, st);
		return 0;
	}
	pc_trial(s, 1, st);
	pc_trial(s, total, st);
	for (uint64_t i = 2; i < sample; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pc_trial(s, 2 + x % (total - 2), st);
	}
	return 0;
}

#endif
