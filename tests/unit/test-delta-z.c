/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MFWZ container: round trips on awkward inputs and segment sizes, the
 * refusals (wrong old, damaged segments named by number, truncation,
 * hostile headers and indexes, each with the header digest made valid so
 * the bounds checks themselves are what refuses), bounded apply memory,
 * and resume: an apply stopped after k segments continues at segment k,
 * decodes only the rest, and redoes a segment whose bytes were damaged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "delta/delta.h"
#include "util/bytes.h"
#include "util/hash.h"

#include "test-rand.h"

/* old with bytes changed in place, an insertion and a deletion: what firmware updates look like */
static uint8_t *edited(const uint8_t *old, size_t n, size_t *out_n)
{
	uint8_t *p = malloc(n + 1000);
	size_t o = 0;
	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		if (i == n / 3)
			for (int k = 0; k < 500; k++)
				p[o++] = (uint8_t)rnd();
		if (i > n / 2 && i < n / 2 + 300)
			continue;
		p[o++] = rnd() % 97 == 0 ? (uint8_t)(old[i] + 1) : old[i];
	}
	*out_n = o;
	return p;
}

static void make_patch(struct mfw_ctx *ctx, const uint8_t *o, size_t on, const uint8_t *n, size_t nn, uint64_t seg,
		       unsigned threads, uint8_t **patch, size_t *psize)
{
	struct mfw_delta_opts opts = { .format = MFW_DELTA_MFWZ, .segment_size = seg, .threads = threads, .level = 3 };
	struct mfw_delta_stats st;
	uint64_t s = seg ? seg : MFWZ_SEG_DEFAULT;
	int r = mfw_delta_diff_buf(ctx, o, on, n, nn, patch, psize, &opts, &st);
	if (r < 0)
		fail_msg("diff: %s", mfw_ctx_detail(ctx));
	assert_memory_equal(*patch, MFW_DELTA_MFWZ_MAGIC, 8);
	assert_int_equal(st.segments, (nn + s - 1) / s);
	assert_int_equal(mfw_get_le64(*patch + 32), s);
}

static void roundtrip(const uint8_t *o, size_t on, const uint8_t *n, size_t nn, uint64_t seg)
{
	struct mfw_ctx *ctx;
	uint8_t *p1, *p2, *out;
	size_t s1, s2, outn;
	struct mfw_delta_stats st;

	assert_int_equal(mfw_ctx_new(&ctx), 0);
	make_patch(ctx, o, on, n, nn, seg, 1, &p1, &s1);
	/* segments are encoded independently: the worker count must not change a byte */
	make_patch(ctx, o, on, n, nn, seg, 3, &p2, &s2);
	assert_int_equal(s1, s2);
	assert_memory_equal(p1, p2, s1);
	if (mfw_delta_apply_buf(ctx, o, on, p1, s1, &out, &outn, NULL, &st) < 0)
		fail_msg("apply (old %zu, new %zu, segment %llu): %s", on, nn, (unsigned long long)seg,
			 mfw_ctx_detail(ctx));
	assert_int_equal(outn, nn);
	if (nn)
		assert_memory_equal(out, n, nn);
	assert_int_equal(st.segments, (nn + seg - 1) / seg);
	assert_int_equal(st.segments_applied, st.segments);
	free(out);
	free(p1);
	free(p2);
	mfw_ctx_free(ctx);
}

static void test_roundtrip(void **state)
{
	size_t nb;
	uint8_t *a = random_bytes(20000, 256), *b = random_bytes(20000, 256), *e = edited(a, 20000, &nb);
	static const uint64_t segs[] = { 1, 7, 4096, 5000, 1 << 20 };
	(void)state;

	roundtrip(NULL, 0, NULL, 0, 4096);         /* both empty: no segment */
	roundtrip(NULL, 0, b, 3000, 1000);         /* empty old: all extra bytes */
	roundtrip(a, 3000, NULL, 0, 1000);         /* empty new */
	roundtrip(a, 20000, a, 20000, 4096);       /* identical, 20000 not a multiple of 4096 */
	roundtrip(a, 20000, b, 20000, 4096);       /* unrelated */
	for (size_t i = 0; i < MFW_ARRAY_SIZE(segs); i++)
		roundtrip(a, 20000, e, nb, segs[i]); /* triples split at every kind of boundary */
	roundtrip(a, 300, e, 1, 1);                /* one one-byte segment */
	free(a);
	free(b);
	free(e);
}

/* ---- damage ---- */

static struct mfw_ctx *ctx_g;

/* A fresh ctx_g, old, its edit and their patch with seg-byte segments: where most tests start. */
static void fixture(uint8_t **o, size_t *on, uint8_t **n, size_t *nn, uint8_t **p, size_t *pn, uint64_t seg)
{
	assert_int_equal(mfw_ctx_new(&ctx_g), 0);
	*on = 50000;
	*o = random_bytes(*on, 200);
	*n = edited(*o, *on, nn);
	make_patch(ctx_g, *o, *on, *n, *nn, seg, 2, p, pn);
}

static void fixture_free(uint8_t *o, uint8_t *n, uint8_t *p)
{
	free(o);
	free(n);
	free(p);
	mfw_ctx_free(ctx_g);
}

static int apply_z(const uint8_t *o, size_t on, const uint8_t *p, size_t pn, struct mfw_delta_stats *st)
{
	uint8_t *out = NULL;
	size_t outn;
	int r;

	mfw_ctx_clear_detail(ctx_g);
	r = mfw_delta_apply_buf(ctx_g, o, on, p, pn, &out, &outn, NULL, st);
	free(out);
	return r;
}

static int apply_counting(const uint8_t *o, size_t on, const uint8_t *p, size_t pn, struct mfw_delta_stats *st);

static void test_wrong_old(void **state)
{
	uint8_t *o, *n, *p;
	size_t on, nn, pn;
	(void)state;

	fixture(&o, &on, &n, &nn, &p, &pn, 8192);
	o[on / 2] ^= 1;
	/* old hashed on the helper thread (buffer form: 2 threads), then on the caller's (apply_io: 1) */
	assert_int_equal(apply_z(o, on, p, pn, NULL), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "wrong old file: SHA-256"));
	assert_int_equal(apply_counting(o, on, p, pn, NULL), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "wrong old file: SHA-256"));
	o[on / 2] ^= 1;
	assert_int_equal(apply_counting(o, on, p, pn, NULL), 0);
	assert_int_equal(apply_z(o, on - 1, p, pn, NULL), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "wrong old file"));
	assert_int_equal(apply_z(o, on, p, pn, NULL), 0);
	fixture_free(o, n, p);
}

static uint64_t seg_off(const uint8_t *p, size_t pn, uint64_t k)
{
	uint64_t idx = mfw_get_le64(p + 48);
	assert_true(idx + (k + 1) * MFWZ_ENTRY <= pn);
	return mfw_get_le64(p + idx + k * MFWZ_ENTRY);
}

static void test_damaged_segments_named(void **state)
{
	uint8_t *o, *n, *p;
	size_t on, nn, pn;
	struct mfw_delta_stats st;
	char want[64];
	(void)state;

	fixture(&o, &on, &n, &nn, &p, &pn, 8192);
	assert_true(mfw_get_le64(p + 40) >= 6);
	/* a byte in the middle of segment 2's frame, then one in segment 5's too */
	p[(seg_off(p, pn, 2) + seg_off(p, pn, 3)) / 2] ^= 0x40;
	assert_int_equal(apply_z(o, on, p, pn, &st), MFW_E_FORMAT);
	snprintf(want, sizeof(want), "1 damaged segment: 2 (new bytes 16384..24576");
	if (!strstr(mfw_ctx_detail(ctx_g), want))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx_g), want);
	assert_int_equal(st.segments_applied, 2);
	p[(seg_off(p, pn, 5) + seg_off(p, pn, 6)) / 2] ^= 0x40;
	assert_int_equal(apply_z(o, on, p, pn, NULL), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "2 damaged segments: 2 ("));
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "; 5 (new bytes 40960..49152"));
	fixture_free(o, n, p);
}

static void test_truncated(void **state)
{
	uint8_t *o, *n, *p;
	size_t on, nn, pn;
	(void)state;

	fixture(&o, &on, &n, &nn, &p, &pn, 8192);
	for (size_t cut = 0; cut < pn; cut += cut < 200 ? 1 : 97) {
		int r = apply_z(o, on, p, cut, NULL);
		if (r != MFW_E_FORMAT && r != MFW_E_RANGE)
			fail_msg("patch cut at %zu of %zu: %d (%s)", cut, pn, r, mfw_ctx_detail(ctx_g));
	}
	fixture_free(o, n, p);
}

/* ---- hostile headers and indexes, digest recomputed so only the bounds checks can refuse ---- */

static void reseal(uint8_t *p, size_t pn)
{
	uint64_t idx = mfw_get_le64(p + 48);
	struct mfw_hash h;
	assert_int_equal(mfw_hash_init(&h, MFW_HASH_SHA256), 0);
	assert_int_equal(mfw_hash_update(&h, p, 128), 0);
	if (idx <= pn)
		assert_int_equal(mfw_hash_update(&h, p + idx, pn - idx), 0);
	assert_int_equal(mfw_hash_final(&h, p + 128, 32), 32);
}

static int count_write(void *user, const void *buf, size_t len)
{
	(void)buf;
	*(uint64_t *)user += len;
	return 0;
}

/* apply_io with a counting writer: no output buffer sized from the hostile header */
static int apply_counting(const uint8_t *o, size_t on, const uint8_t *p, size_t pn, struct mfw_delta_stats *st)
{
	struct mfw_delta_span mo = { o, on }, mp = { p, pn };
	struct mfw_delta_reader ro = { mfw_delta_span_read, on, &mo }, rp = { mfw_delta_span_read, pn, &mp };
	uint64_t written = 0;
	struct mfw_delta_writer w = { count_write, &written };

	mfw_ctx_clear_detail(ctx_g);
	return mfw_delta_apply_io(ctx_g, &ro, &rp, &w, NULL, st);
}

static void expect_refused(const uint8_t *o, size_t on, const uint8_t *good, size_t pn, size_t at, uint64_t v,
			   bool is32, const char *what)
{
	uint8_t *p = malloc(pn);
	struct mfw_delta_stats st = { 0 };
	int r;

	assert_non_null(p);
	memcpy(p, good, pn);
	if (is32)
		mfw_put_le32(p + at, (uint32_t)v);
	else
		mfw_put_le64(p + at, v);
	reseal(p, pn);
	r = apply_counting(o, on, p, pn, &st);
	if (r != MFW_E_RANGE && r != MFW_E_FORMAT)
		fail_msg("%s: %d (%s)", what, r, mfw_ctx_detail(ctx_g));
	/* refused on the numbers alone: the applier's fixed buffers, nothing sized by them */
	if (st.peak_mem > (1u << 20))
		fail_msg("%s: %llu bytes of heap", what, (unsigned long long)st.peak_mem);
	free(p);
}

static void test_hostile(void **state)
{
	uint8_t *o, *n, *p;
	size_t on, nn, pn;
	uint64_t idx, e1;
	(void)state;

	fixture(&o, &on, &n, &nn, &p, &pn, 8192);
	idx = mfw_get_le64(p + 48);
	e1 = idx + MFWZ_ENTRY;
	expect_refused(o, on, p, pn, 24, 1ull << 62, false, "new size 2^62");
	expect_refused(o, on, p, pn, 24, UINT64_MAX, false, "new size 2^64-1");
	expect_refused(o, on, p, pn, 40, UINT64_MAX / 64, false, "huge segment count");
	expect_refused(o, on, p, pn, 32, 0, false, "segment size 0");
	expect_refused(o, on, p, pn, 32, 1ull << 40, false, "segment size 2^40");
	expect_refused(o, on, p, pn, 48, UINT64_MAX - 10, false, "index offset past the end");
	expect_refused(o, on, p, pn, 48, 3, false, "index inside the header");
	expect_refused(o, on, p, pn, 56, 31, true, "window 2^31");
	expect_refused(o, on, p, pn, 8, 2, true, "version 2");
	expect_refused(o, on, p, pn, (size_t)e1, seg_off(p, pn, 0), false, "segment 1 overlapping segment 0");
	expect_refused(o, on, p, pn, (size_t)e1, seg_off(p, pn, 1) + 1, false, "gap before segment 1");
	expect_refused(o, on, p, pn, (size_t)e1 + 8, 1ull << 60, false, "segment 1 length past the index");
	expect_refused(o, on, p, pn, (size_t)e1 + 8, 0, false, "segment 1 length 0");
	expect_refused(o, on, p, pn, (size_t)e1 + 16, 1ull << 63, false, "old position -2^63");
	expect_refused(o, on, p, pn, (size_t)e1 + 24, UINT64_MAX, false, "stream length 2^64-1");
	expect_refused(o, on, p, pn, (size_t)e1 + 24, 17, false, "stream shorter than the output");
	/* a digest that does not match is refused before anything else */
	p[130] ^= 1;
	assert_int_equal(apply_counting(o, on, p, pn, NULL), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx_g), "SHA-256 does not match"));
	fixture_free(o, n, p);
}

static void test_memory_bounded(void **state)
{
	size_t on = 6u << 20, nn;
	uint8_t *o = random_bytes(on, 64), *n = edited(o, on, &nn), *p, *out;
	size_t pn, outn;
	struct mfw_delta_stats st;
	(void)state;

	assert_int_equal(mfw_ctx_new(&ctx_g), 0);
	make_patch(ctx_g, o, on, n, nn, 0 /* default 4 MiB */, 2, &p, &pn);
	assert_int_equal(mfw_delta_apply_buf(ctx_g, o, on, p, pn, &out, &outn, NULL, &st), 0);
	assert_int_equal(outn, nn);
	assert_memory_equal(out, n, nn);
	assert_int_equal(st.segments, 2);
	print_message("MFWZ apply of %zu bytes: engine peak %llu bytes\n", nn, (unsigned long long)st.peak_mem);
	/* the 4 MiB window and fixed buffers, nothing that grows with the input */
	assert_true(st.peak_mem < (5u << 20) + (512u << 10));
	free(out);
	fixture_free(o, n, p);
}

/* ---- resume ---- */

struct stopper {
	struct mfw_ctx *ctx;
	uint64_t at; /* cancel once this many output bytes are committed */
};

static void stop_progress(void *user, const char *phase, const char *label, uint64_t done, uint64_t total)
{
	struct stopper *s = user;
	(void)label;
	(void)total;
	if (!strcmp(phase, "apply") && done >= s->at)
		mfw_ctx_cancel(s->ctx);
}

/*
 * An apply cancelled once `at` output bytes are committed (as Ctrl-C or a cut
 * stops it); ctx_g is replaced after it: its cancel flag belonged to that run.
 */
static void apply_stopped(uint64_t at, const char *po, const char *pp, const char *pnew,
			  const struct mfw_delta_apply_opts *ao, struct mfw_delta_stats *st)
{
	struct stopper stop = { .ctx = ctx_g, .at = at };

	mfw_ctx_set_progress(ctx_g, stop_progress, &stop);
	assert_int_equal(mfw_delta_apply(ctx_g, po, pp, pnew, ao, st), MFW_E_CANCELLED);
	mfw_ctx_set_progress(ctx_g, NULL, NULL);
	mfw_ctx_free(ctx_g);
	assert_int_equal(mfw_ctx_new(&ctx_g), 0);
}

static void put_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *get_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *p;
	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	*n = (size_t)st.st_size;
	p = malloc(*n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, *n, f), *n);
	fclose(f);
	return p;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void test_resume(void **state)
{
	char dir[] = "/tmp/mfw-dz-XXXXXX", po[300], pp[300], pnew[300], ppart[300], pstate[300];
	uint8_t *o, *n, *p, *got;
	size_t on, nn, pn, gn;
	struct mfw_delta_stats st;
	struct mfw_delta_apply_opts ao = { .no_sync = true };
	const uint64_t S = 4096;
	uint64_t nseg;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(po, sizeof(po), "%s/old", dir);
	snprintf(pp, sizeof(pp), "%s/patch", dir);
	snprintf(pnew, sizeof(pnew), "%s/new", dir);
	snprintf(ppart, sizeof(ppart), "%s/new.part", dir);
	snprintf(pstate, sizeof(pstate), "%s/new.part.state", dir);
	fixture(&o, &on, &n, &nn, &p, &pn, S);
	nseg = (nn + S - 1) / S;
	assert_true(nseg >= 10);
	put_file(po, o, on);
	put_file(pp, p, pn);

	/* stopped after 5 segments: nothing under new, the part and the state kept */
	apply_stopped(5 * S, po, pp, pnew, &ao, &st);
	assert_int_equal(st.segments_applied, 5);
	assert_false(exists(pnew));
	assert_true(exists(ppart) && exists(pstate));

	/* the rerun starts at segment 5 and decodes only the rest */
	if (mfw_delta_apply(ctx_g, po, pp, pnew, &ao, &st) < 0)
		fail_msg("resume: %s", mfw_ctx_detail(ctx_g));
	assert_int_equal(st.resumed_from, 5);
	assert_int_equal(st.segments_applied, nseg - 5);
	got = get_file(pnew, &gn);
	assert_int_equal(gn, nn);
	assert_memory_equal(got, n, nn);
	free(got);
	assert_false(exists(ppart) || exists(pstate));

	/* stopped after 7, then a byte of segment 3 damaged in the part: the rerun redoes from 3 */
	apply_stopped(7 * S, po, pp, pnew, &ao, &st);
	{
		FILE *f = fopen(ppart, "r+b");
		assert_non_null(f);
		fseek(f, (long)(3 * S + 100), SEEK_SET);
		fputc(n[3 * S + 100] ^ 0xff, f);
		fclose(f);
	}
	assert_int_equal(mfw_delta_apply(ctx_g, po, pp, pnew, &ao, &st), 0);
	assert_int_equal(st.resumed_from, 3);
	assert_int_equal(st.segments_applied, nseg - 3);
	got = get_file(pnew, &gn);
	assert_int_equal(gn, nn);
	assert_memory_equal(got, n, nn);
	free(got);

	/* --restart ignores a state; a state from another patch is ignored too */
	apply_stopped(4 * S, po, pp, pnew, &ao, &st);
	ao.restart = true;
	assert_int_equal(mfw_delta_apply(ctx_g, po, pp, pnew, &ao, &st), 0);
	assert_int_equal(st.resumed_from, 0);
	assert_int_equal(st.segments_applied, nseg);
	ao.restart = false;

	unlink(po);
	unlink(pp);
	unlink(pnew);
	unlink(ppart);
	unlink(pstate);
	rmdir(dir);
	fixture_free(o, n, p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_wrong_old),
		cmocka_unit_test(test_damaged_segments_named),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_resume),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
