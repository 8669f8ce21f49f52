/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Delta engine: BSDIFF40 integers, diff/apply round trips on awkward
 * inputs, hand-built patches for the applier's semantics and bounds
 * checks, bounded apply memory, and interoperability with Debian's
 * bsdiff/bspatch both ways when they are installed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bzlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "delta/delta.h"
#include "util/crc.h"

/* ---- helpers ---- */

#include "test-rand.h"

/*
 * An edited copy of old, the way firmware changes: changed bytes scattered
 * in place (addresses), a few insertions and deletions, a moved block.
 */
static uint8_t *edit(const uint8_t *old, size_t n, size_t *out_n)
{
	size_t cap = n + n / 4 + 4096, o = 0, i = 0;
	uint8_t *p = malloc(cap);
	assert_non_null(p);
	while (i < n && o + 600 < cap) {
		uint32_t r = rnd() % 1000;
		if (r < 5) { /* insertion */
			for (unsigned k = rnd() % 300; k--;)
				p[o++] = (uint8_t)rnd();
		} else if (r < 9) { /* deletion */
			i += rnd() % 200;
			continue;
		} else if (r < 60) { /* changed byte */
			p[o++] = (uint8_t)(old[i++] + 1 + rnd() % 3);
			continue;
		}
		size_t run = 1 + rnd() % 64;
		while (run-- && i < n)
			p[o++] = old[i++];
	}
	/* a block from the front, again at the end */
	for (size_t k = 0; k < n / 8 && o < cap; k++)
		p[o++] = old[k];
	*out_n = o;
	return p;
}

static void roundtrip(const uint8_t *old, size_t on, const uint8_t *nw, size_t nn,
		      const struct mfw_delta_opts *opts)
{
	struct mfw_ctx *ctx;
	uint8_t *patch = NULL, *out = NULL;
	size_t psize = 0, outn = 0;
	struct mfw_delta_stats ds, as;

	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, on, nw, nn, &patch, &psize, opts, &ds), 0);
	assert_true(psize >= 32);
	assert_memory_equal(patch, "BSDIFF40", 8);
	assert_int_equal(ds.new_size, nn);
	assert_int_equal(ds.diff_bytes + ds.extra_bytes, nn);
	assert_int_equal(mfw_delta_apply_buf(ctx, old, on, patch, psize, &out, &outn, NULL, &as), 0);
	assert_int_equal(outn, nn);
	if (nn)
		assert_memory_equal(out, nw, nn);
	assert_int_equal(mfw_crc32(0, out, outn), mfw_crc32(0, nw, nn));
	assert_int_equal(as.controls, ds.controls);
	free(out);
	free(patch);
	mfw_ctx_free(ctx);
}

/* Build a BSDIFF40 patch by hand from raw streams. */
static uint8_t *bz(const uint8_t *p, size_t n, unsigned *out_n)
{
	unsigned cap = (unsigned)(n + n / 50 + 700);
	uint8_t *o = malloc(cap);
	assert_non_null(o);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)o, &cap, (char *)p, (unsigned)n, 9, 0, 30), BZ_OK);
	*out_n = cap;
	return o;
}

static uint8_t *make_patch(const int64_t *ctrl, size_t ntrip, const uint8_t *diff, size_t dn,
			   const uint8_t *extra, size_t en, int64_t new_size, size_t *psize)
{
	uint8_t cbuf[24 * 16];
	unsigned cn, dzn, ezn;
	uint8_t *cz, *dz, *ez, *p;

	assert_true(ntrip <= 16);
	for (size_t i = 0; i < ntrip * 3; i++)
		mfw_delta_put_off(cbuf + i * 8, ctrl[i]);
	cz = bz(cbuf, ntrip * 24, &cn);
	dz = bz(diff, dn, &dzn);
	ez = bz(extra, en, &ezn);
	*psize = 32 + cn + dzn + ezn;
	p = malloc(*psize);
	assert_non_null(p);
	memcpy(p, "BSDIFF40", 8);
	mfw_delta_put_off(p + 8, cn);
	mfw_delta_put_off(p + 16, dzn);
	mfw_delta_put_off(p + 24, new_size);
	memcpy(p + 32, cz, cn);
	memcpy(p + 32 + cn, dz, dzn);
	memcpy(p + 32 + cn + dzn, ez, ezn);
	free(cz);
	free(dz);
	free(ez);
	return p;
}

static int apply_expect(const uint8_t *old, size_t on, const uint8_t *patch, size_t psize,
			uint8_t **out, size_t *outn, char *detail, size_t dcap)
{
	struct mfw_ctx *ctx;
	struct mfw_delta_apply_opts o = { .max_new_size = 1 << 20 };
	int r;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	r = mfw_delta_apply_buf(ctx, old, on, patch, psize, out, outn, &o, NULL);
	if (detail)
		snprintf(detail, dcap, "%s", mfw_ctx_detail(ctx));
	mfw_ctx_free(ctx);
	return r;
}

/* ---- tests ---- */

static void test_offsets(void **state)
{
	static const int64_t vals[] = { 0, 1, -1, 255, -256, 1ll << 40, -(1ll << 40), INT64_MAX, -INT64_MAX };
	uint8_t b[8];
	(void)state;
	for (size_t i = 0; i < MFW_ARRAY_SIZE(vals); i++) {
		mfw_delta_put_off(b, vals[i]);
		assert_int_equal(mfw_delta_get_off(b), vals[i]);
	}
	/* sign-magnitude, not two's complement: -1 is 01 00 .. 00 80 */
	mfw_delta_put_off(b, -1);
	assert_memory_equal(b, "\x01\0\0\0\0\0\0\x80", 8);
	/* negative zero reads as 0 */
	assert_int_equal(mfw_delta_get_off((const uint8_t *)"\0\0\0\0\0\0\0\x80"), 0);
}

static void test_roundtrip_edges(void **state)
{
	uint8_t *a = random_bytes(70000, 256), *b = random_bytes(50000, 256);
	uint8_t zeros[4096] = { 0 }, ones[4096];
	(void)state;
	memset(ones, 0xff, sizeof(ones));
	roundtrip(NULL, 0, NULL, 0, NULL);       /* both empty */
	roundtrip(NULL, 0, a, 1000, NULL);       /* empty old */
	roundtrip(a, 1000, NULL, 0, NULL);       /* empty new */
	roundtrip(a, 70000, a, 70000, NULL);     /* identical */
	roundtrip(a, 1, a, 1, NULL);             /* one byte */
	roundtrip(zeros, sizeof(zeros), ones, sizeof(ones), NULL); /* no common bytes */
	roundtrip(a, 70000, b, 50000, NULL);     /* unrelated */
	roundtrip(zeros, sizeof(zeros), zeros, 100, NULL);
	free(a);
	free(b);
}

static void test_roundtrip_edited(void **state)
{
	size_t n = 3 << 20, nn;
	uint8_t *old = random_bytes(n, 16), *nw;
	struct mfw_delta_opts small_blocks = { .block_size = 700000, .threads = 2 };
	struct mfw_delta_opts one_thread = { .threads = 1 };
	/* 6 blocks: the next block is indexed while one is searched */
	struct mfw_delta_opts pipelined = { .block_size = 540000, .threads = 2 };
	(void)state;
	/* structured content: runs of text-like bytes, so matches are not trivial */
	for (size_t i = 0; i < n; i++)
		old[i] = (uint8_t)(old[i] + (i / 4096 % 7) * 17);
	nw = edit(old, n, &nn);
	roundtrip(old, n, nw, nn, NULL);
	roundtrip(old, n, nw, nn, &small_blocks);
	roundtrip(old, n, nw, nn, &one_thread);
	roundtrip(old, n, nw, nn, &pipelined);
	free(nw);
	free(old);
}

static void test_patch_smaller_than_new(void **state)
{
	size_t n = 1 << 20, nn, psize;
	uint8_t *old = random_bytes(n, 256), *nw = edit(old, n, &nn), *patch;
	struct mfw_ctx *ctx;
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &patch, &psize, NULL, NULL), 0);
	/* about 8 % of new is inserted random data; the rest must come from old */
	assert_true(psize < nn / 5);
	free(patch);
	free(nw);
	free(old);
	mfw_ctx_free(ctx);
}

/* Semantics of hand-built patches: negative seeks, reads outside old. */
static void test_apply_semantics(void **state)
{
	const uint8_t old[8] = { 10, 20, 30, 40, 50, 60, 70, 80 };
	/* 1) seek to 6; 2) 4 bytes from old[6..9] (old[8], old[9] lie outside:
	 * they add nothing), 2 extra, seek back to -3; 3) 4 bytes from old[-3..0]
	 * (only old[0] inside). */
	const int64_t ctrl[] = { 0, 0, 6, 4, 2, -13, 4, 0, 0 };
	const uint8_t diff[8] = { 1, 1, 1, 1, 2, 2, 2, 2 };
	const uint8_t extra[2] = { 0xAA, 0xBB };
	const uint8_t want[10] = { 71, 81, 1, 1, 0xAA, 0xBB, 2, 2, 2, 12 };
	size_t psize, outn;
	uint8_t *patch = make_patch(ctrl, 3, diff, 8, extra, 2, 10, &psize), *out;
	(void)state;
	assert_int_equal(apply_expect(old, 8, patch, psize, &out, &outn, NULL, 0), 0);
	assert_int_equal(outn, 10);
	assert_memory_equal(out, want, 10);
	free(out);
	free(patch);
}

static void expect_reject(const uint8_t *patch, size_t psize, int err, const char *needle)
{
	uint8_t old[64] = { 0 }, *out = NULL;
	size_t outn = 0;
	char detail[512];
	int r = apply_expect(old, sizeof(old), patch, psize, &out, &outn, detail, sizeof(detail));
	if (r != err || (needle && !strstr(detail, needle)))
		fail_msg("want %d '%s', got %d '%s'", err, needle ? needle : "", r, detail);
	assert_null(out);
}

static void test_apply_rejects(void **state)
{
	const uint8_t d[16] = { 0 }, e[16] = { 0 };
	size_t ps;
	uint8_t *p;
	(void)state;

	/* header */
	expect_reject((const uint8_t *)"BSDIFF4", 7, MFW_E_FORMAT, "BSDIFF40");
	{
		const int64_t c[] = { 4, 0, 0 };
		p = make_patch(c, 1, d, 4, e, 0, 4, &ps);
		memcpy(p, "BSDIFF41", 8);
		expect_reject(p, ps, MFW_E_FORMAT, "magic");
		memcpy(p, "BSDIFF40", 8);
		mfw_delta_put_off(p + 8, -5);
		expect_reject(p, ps, MFW_E_RANGE, "negative stream length");
		mfw_delta_put_off(p + 8, (int64_t)ps);
		expect_reject(p, ps, MFW_E_RANGE, "past the patch end");
		mfw_delta_put_off(p + 8, INT64_MAX);
		mfw_delta_put_off(p + 16, INT64_MAX);
		expect_reject(p, ps, MFW_E_RANGE, "past the patch end");
		free(p);
		p = make_patch(c, 1, d, 4, e, 0, -4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "negative new size");
		free(p);
		p = make_patch(c, 1, d, 4, e, 0, 1ll << 40, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "above the limit");
		free(p);
	}
	/* control triples (CVE-2014-9862 class) */
	{
		const int64_t c[] = { -1, 0, 0 };
		p = make_patch(c, 1, d, 4, e, 0, 4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "negative length");
		free(p);
	}
	{
		const int64_t c[] = { 0, -8, 0 };
		p = make_patch(c, 1, d, 4, e, 0, 4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "negative length");
		free(p);
	}
	{
		const int64_t c[] = { 5, 0, 0 };
		p = make_patch(c, 1, d, 5, e, 0, 4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "diff length 5");
		free(p);
	}
	{
		const int64_t c[] = { 2, 3, 0 };
		p = make_patch(c, 1, d, 2, e, 3, 4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "extra length 3");
		free(p);
	}
	{
		const int64_t c[] = { 1, 0, INT64_MAX, 1, 0, INT64_MAX, 2, 0, 0 };
		p = make_patch(c, 3, d, 4, e, 0, 4, &ps);
		expect_reject(p, ps, MFW_E_RANGE, "overflows");
		free(p);
	}
	/* streams */
	{
		const int64_t c[] = { 4, 0, 0 };
		p = make_patch(c, 1, d, 3, e, 0, 4, &ps); /* diff stream one byte short */
		expect_reject(p, ps, MFW_E_FORMAT, "diff stream ends");
		free(p);
		p = make_patch(c, 1, d, 6, e, 0, 4, &ps); /* diff stream has leftovers */
		expect_reject(p, ps, MFW_E_FORMAT, "diff stream has data after");
		free(p);
		p = make_patch(c, 1, d, 4, e, 0, 4, &ps);
		expect_reject(p, ps - 3, MFW_E_FORMAT, "extra stream"); /* truncated extra stream */
		p[40] ^= 0x55; /* corrupt the control stream */
		expect_reject(p, ps, MFW_E_FORMAT, "control stream");
		free(p);
	}
	{
		const int64_t c[] = { 2, 0, 0 };
		p = make_patch(c, 1, d, 2, e, 0, 4, &ps); /* control stream ends before new is complete */
		expect_reject(p, ps, MFW_E_FORMAT, "control stream ends");
		free(p);
	}
}

/* A control stream of empty triples (a bzip2 bomb) is cut off, not run for hours. */
static void test_apply_rejects_idle_controls(void **state)
{
	size_t n = ((size_t)1 << 20) + 2, psize;
	uint8_t *ctrl = calloc(n, 24), *p, *out = NULL;
	unsigned cn, dn, en;
	uint8_t *cz, *dz, *ez;
	size_t outn;
	char detail[256];
	(void)state;
	assert_non_null(ctrl);
	/* n - 1 triples (0, 0, 0), then (1, 0, 0) that would finish a 1-byte output */
	mfw_delta_put_off(ctrl + (n - 1) * 24, 1);
	cz = bz(ctrl, n * 24, &cn);
	dz = bz((const uint8_t *)"\0", 1, &dn);
	ez = bz((const uint8_t *)"", 0, &en);
	psize = 32 + cn + dn + en;
	p = malloc(psize);
	assert_non_null(p);
	memcpy(p, "BSDIFF40", 8);
	mfw_delta_put_off(p + 8, cn);
	mfw_delta_put_off(p + 16, dn);
	mfw_delta_put_off(p + 24, 1);
	memcpy(p + 32, cz, cn);
	memcpy(p + 32 + cn, dz, dn);
	memcpy(p + 32 + cn + dn, ez, en);
	assert_int_equal(apply_expect((const uint8_t *)"a", 1, p, psize, &out, &outn, detail, sizeof(detail)),
			 MFW_E_RANGE);
	assert_non_null(strstr(detail, "produce no output"));
	free(p);
	free(cz);
	free(dz);
	free(ez);
	free(ctrl);
}

/* The applier's memory does not grow with the output. */
struct count_writer {
	uint64_t n;
	uint32_t crc;
};

static int count_write(void *user, const void *buf, size_t len)
{
	struct count_writer *w = user;
	w->crc = mfw_crc32(w->crc, buf, len);
	w->n += len;
	return 0;
}

static uint64_t apply_peak(size_t n, unsigned threads)
{
	struct mfw_delta_apply_opts o = { .threads = threads };
	struct mfw_ctx *ctx;
	uint8_t *old = random_bytes(n, 256), *patch;
	size_t nn, psize;
	uint8_t *nw = edit(old, n, &nn);
	struct mfw_delta_span ro = { old, n }, rp;
	struct mfw_delta_reader rold = { mfw_delta_span_read, n, &ro }, rpatch;
	struct count_writer cw = { 0, 0 };
	struct mfw_delta_writer w = { count_write, &cw };
	struct mfw_delta_stats st;

	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &patch, &psize, NULL, NULL), 0);
	rp = (struct mfw_delta_span){ patch, psize };
	rpatch = (struct mfw_delta_reader){ mfw_delta_span_read, psize, &rp };
	assert_int_equal(mfw_delta_apply_io(ctx, &rold, &rpatch, &w, &o, &st), 0);
	assert_int_equal(cw.n, nn);
	assert_int_equal(cw.crc, mfw_crc32(0, nw, nn));
	free(patch);
	free(nw);
	free(old);
	mfw_ctx_free(ctx);
	return st.peak_mem;
}

static void test_apply_bounded_memory(void **state)
{
	uint64_t small = apply_peak(200000, 1), big = apply_peak(12 << 20, 1);
	/* with the diff stream's blocks decoded two at a time */
	uint64_t small2 = apply_peak(200000, 2), big2 = apply_peak(12 << 20, 2);
	(void)state;
	/* three bzip2 decoders at most (~3.6 MB each) plus fixed buffers */
	assert_true(big < 16u << 20);
	assert_true(big2 < 16u << 20);
	/* 60x the data, the same memory give or take the decoders' block sizes */
	assert_true(big < small + (8u << 20));
	assert_true(big2 < small2 + (8u << 20));
}

/*
 * Inputs whose streams span many bzip2 blocks: new differs from old in
 * every 16th byte (a diff stream that RLE1 shrinks only to 6/16), and an extra stream
 * of 4-byte runs, which RLE1 grows by a quarter: cutting the stream by its
 * raw size would overflow a block.
 */
static uint8_t *runs4(size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i / 4 * 7 + (i / 4 % 3 == 0 ? 0 : 1));
	return p;
}

static uint8_t *all_changed(const uint8_t *old, size_t n)
{
	uint8_t *p = malloc(n);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(old[i] + (i % 16 == 0 ? 1 + i / 16 % 200 : 0));
	return p;
}

/* bzip2 block headers (48-bit magic at any bit offset) in a stream */
static unsigned count_blocks(const uint8_t *p, size_t n)
{
	uint64_t w = 0;
	unsigned c = 0;
	for (size_t i = 0; i < n * 8; i++) {
		w = (w << 1 | (p[i >> 3] >> (7 - (i & 7)) & 1)) & 0xffffffffffffull;
		if (i >= 47 && w == 0x314159265359ull)
			c++;
	}
	return c;
}

/* Each stream of a modemfw patch is one bzip2 stream that plain libbz2 decodes in one call. */
static void test_multiblock_streams(void **state)
{
	size_t n = 2000000, nn = 2700000;
	uint8_t *old = random_bytes(n, 256), *nw = malloc(nn), *patch = NULL, *raw;
	size_t psize;
	struct mfw_ctx *ctx;
	struct mfw_delta_stats ds;
	unsigned rawcap = 4 << 20, got;
	int64_t x, y;
	uint8_t *r4 = runs4(nn - n);
	uint8_t *ch = all_changed(old, n);
	(void)state;

	assert_non_null(nw);
	/* the first n bytes: old with every 16th byte changed; then 700000 bytes of 4-byte runs */
	memcpy(nw, ch, n);
	memcpy(nw + n, r4, nn - n);
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &patch, &psize, NULL, &ds), 0);
	x = mfw_delta_get_off(patch + 8);
	y = mfw_delta_get_off(patch + 16);
	raw = malloc(rawcap);
	assert_non_null(raw);
	got = rawcap;
	assert_int_equal(BZ2_bzBuffToBuffDecompress((char *)raw, &got, (char *)patch + 32, (unsigned)x, 0, 0), BZ_OK);
	assert_int_equal(got, ds.controls * 24);
	got = rawcap;
	assert_int_equal(BZ2_bzBuffToBuffDecompress((char *)raw, &got, (char *)patch + 32 + x, (unsigned)y, 0, 0),
			 BZ_OK);
	assert_int_equal(got, ds.diff_bytes);
	assert_true(count_blocks(patch + 32 + x, (size_t)y) >= 3);
	assert_true(count_blocks(patch + 32 + x + y, psize - 32 - (size_t)x - (size_t)y) >= 3);
	got = rawcap;
	assert_int_equal(BZ2_bzBuffToBuffDecompress((char *)raw, &got, (char *)patch + 32 + x + y,
						    (unsigned)(psize - 32 - (size_t)x - (size_t)y), 0, 0),
			 BZ_OK);
	assert_int_equal(got, ds.extra_bytes);
	assert_true(ds.diff_bytes + ds.extra_bytes == nn);
	free(patch);
	patch = NULL;
	roundtrip(old, n, nw, nn, NULL);
	/* one thread: the same stream, the same blocks */
	{
		struct mfw_delta_opts o = { .threads = 1 };
		uint8_t *p1 = NULL;
		size_t p1n = 0;
		assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &p1, &p1n, NULL, NULL), 0);
		assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &patch, &psize, &o, NULL), 0);
		assert_int_equal(psize, p1n);
		assert_memory_equal(patch, p1, psize);
		free(p1);
	}
	/* libbz2's encoder on request: a valid patch of the same controls, larger than ours */
	{
		struct mfw_delta_opts o = { .libbz2_encoder = true };
		struct mfw_delta_stats ls;
		uint8_t *pl = NULL;
		size_t pln = 0;
		assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, nn, &pl, &pln, &o, &ls), 0);
		assert_int_equal(ls.controls, ds.controls);
		assert_true(pln > psize);
		free(pl);
		roundtrip(old, n, nw, nn, &o);
	}
	/* extra bytes only: runs of 4 from the start, no old */
	roundtrip(NULL, 0, r4, nn - n, NULL);
	free(patch);
	free(raw);
	free(ch);
	free(r4);
	free(nw);
	free(old);
	mfw_ctx_free(ctx);
}

/*
 * --best (mfw_delta_opts.best): every block size on every region of a diff
 * stream above the small-stream limit. The changes use a different small
 * alphabet every 6000 bytes: the patch has the same controls, fewer bytes
 * (the same patch if the flag were ignored), and applies exactly.
 */
static void test_best_tries_every_block_size(void **state)
{
	size_t n = 1500000;
	uint8_t *old = random_bytes(n, 256), *nw = malloc(n), *p0 = NULL, *p1 = NULL;
	size_t n0 = 0, n1 = 0;
	struct mfw_delta_opts best = { .best = true };
	struct mfw_delta_stats s0, s1;
	struct mfw_ctx *ctx;
	(void)state;

	assert_non_null(nw);
	for (size_t i = 0; i < n; i++) {
		size_t seg = i / 6000;
		nw[i] = (uint8_t)(old[i] + (i % 3 == 0 ? 1 + (seg * 37 + rnd() % 4) % 255 : 0));
	}
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, n, &p0, &n0, NULL, &s0), 0);
	assert_int_equal(mfw_delta_diff_buf(ctx, old, n, nw, n, &p1, &n1, &best, &s1), 0);
	assert_int_equal(s1.controls, s0.controls);
	assert_int_equal(s1.diff_bytes, s0.diff_bytes);
	assert_true(s0.diff_bytes > 512u << 10); /* above the streams every size is tried on anyway */
	assert_true(n1 < n0);
	free(p1);
	free(p0);
	mfw_ctx_free(ctx);
	roundtrip(old, n, nw, n, &best);
	free(nw);
	free(old);
}

/*
 * Block-parallel decoding of the diff stream, on streams libbz2 wrote on
 * its own (one stream, many blocks): the same output as one decoder, and
 * the same verdict on truncated and corrupt streams (the parallel reader
 * gives up and the sequential decoder decides).
 */
static uint8_t *patch_level(size_t n, const uint8_t *diff, int level, size_t cut, size_t flip, size_t *psize)
{
	uint8_t cbuf[24];
	unsigned cn = 200, dn = (unsigned)(n + n / 50 + 700), en = 200;
	uint8_t *cz = malloc(cn), *dz = malloc(dn), *ez = malloc(en), *p;

	assert_non_null(cz);
	assert_non_null(dz);
	assert_non_null(ez);
	mfw_delta_put_off(cbuf, (int64_t)n);
	mfw_delta_put_off(cbuf + 8, 0);
	mfw_delta_put_off(cbuf + 16, 0);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)cz, &cn, (char *)cbuf, 24, 1, 0, 30), BZ_OK);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)dz, &dn, (char *)diff, (unsigned)n, level, 0, 30), BZ_OK);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)ez, &en, (char *)cbuf, 0, 1, 0, 30), BZ_OK);
	dn -= (unsigned)cut;
	if (flip)
		dz[flip] ^= 0x10;
	*psize = 32 + cn + dn + en;
	p = malloc(*psize);
	assert_non_null(p);
	memcpy(p, "BSDIFF40", 8);
	mfw_delta_put_off(p + 8, cn);
	mfw_delta_put_off(p + 16, dn);
	mfw_delta_put_off(p + 24, (int64_t)n);
	memcpy(p + 32, cz, cn);
	memcpy(p + 32 + cn, dz, dn);
	memcpy(p + 32 + cn + dn, ez, en);
	free(cz);
	free(dz);
	free(ez);
	return p;
}

static void test_parallel_decode(void **state)
{
	size_t n = 1500000, psize;
	uint8_t *old = random_bytes(n, 256), *diff = malloc(n), *nw = malloc(n);
	struct mfw_ctx *ctx;
	(void)state;

	assert_non_null(diff);
	assert_non_null(nw);
	/* mostly zero, some changed bytes, a few long runs: RLE1 and many blocks */
	for (size_t i = 0; i < n; i++) {
		uint32_t r = rnd();
		diff[i] = (uint8_t)((i / 30000) % 7 == 3 ? 0 : r % 3 == 0 ? r >> 8 : 0);
		nw[i] = (uint8_t)(old[i] + diff[i]);
	}
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	for (int level = 1; level <= 9; level += 3) {
		for (int kind = 0; kind < 3; kind++) {
			/* whole, truncated by 700 bytes, one bit flipped in a middle block */
			uint8_t *patch = patch_level(n, diff, level, kind == 1 ? 700 : 0, kind == 2 ? 200000 : 0, &psize);
			int r[2];
			for (unsigned t = 1; t <= 2; t++) {
				struct mfw_delta_apply_opts o = { .threads = t };
				uint8_t *out = NULL;
				size_t outn = 0;
				r[t - 1] = mfw_delta_apply_buf(ctx, old, n, patch, psize, &out, &outn, &o, NULL);
				if (kind == 0) {
					assert_int_equal(r[t - 1], 0);
					assert_int_equal(outn, n);
					assert_memory_equal(out, nw, n);
				} else {
					assert_int_equal(r[t - 1], MFW_E_FORMAT);
				}
				free(out);
			}
			if (kind == 0 && level == 1)
				assert_true(count_blocks(patch + 32 + mfw_delta_get_off(patch + 8),
							 (size_t)mfw_delta_get_off(patch + 16)) >= 8);
			free(patch);
		}
	}
	mfw_ctx_free(ctx);
	free(nw);
	free(diff);
	free(old);
}

/*
 * Blocks that each decode to more than a decoder's output buffers hold
 * (1 MiB), so a decoder that
 * runs ahead to its next block waits for buffers while the caller reads
 * the other decoder's block: the same output, no deadlock.
 */
static void test_parallel_decode_long_blocks(void **state)
{
	size_t n = 12u << 20, psize;
	uint8_t *old = calloc(n, 1), *diff = calloc(n, 1);
	struct mfw_ctx *ctx;
	(void)state;

	assert_non_null(old);
	assert_non_null(diff);
	/* a changed byte every 80: 79 zeros are one run (5 bytes), a block about 1.3 MB */
	for (size_t i = 0; i < n; i += 80)
		diff[i] = (uint8_t)(i >> 12 | 1);
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	{
		uint8_t *patch = patch_level(n, diff, 1, 0, 0, &psize);
		struct mfw_delta_apply_opts o = { .threads = 2 };
		uint8_t *out = NULL;
		size_t outn = 0;

		assert_true(count_blocks(patch + 32 + mfw_delta_get_off(patch + 8),
					 (size_t)mfw_delta_get_off(patch + 16)) >= 8);
		assert_int_equal(mfw_delta_apply_buf(ctx, old, n, patch, psize, &out, &outn, &o, NULL), 0);
		assert_int_equal(outn, n);
		assert_memory_equal(out, diff, n);
		free(out);
		free(patch);
	}
	mfw_ctx_free(ctx);
	free(diff);
	free(old);
}

/* ---- interoperability with Debian's bsdiff 4.3 ---- */

static bool have(const char *path)
{
	return access(path, X_OK) == 0;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p;
	long sz;
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc(sz ? (size_t)sz : 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return p;
}

static int run3(const char *prog, const char *a, const char *b, const char *c)
{
	pid_t pid = fork();
	int st;
	if (pid == 0) {
		execl(prog, prog, a, b, c, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void interop_case(const char *dir, const char *name, const uint8_t *old, size_t on,
			 const uint8_t *nw, size_t nn)
{
	char po[512], pn[512], pp1[512], pp2[512], pout1[512], pout2[512];
	struct mfw_ctx *ctx;
	uint8_t *got;
	size_t gn;

	snprintf(po, sizeof(po), "%s/%s.old", dir, name);
	snprintf(pn, sizeof(pn), "%s/%s.new", dir, name);
	snprintf(pp1, sizeof(pp1), "%s/%s.bsdiff", dir, name);
	snprintf(pp2, sizeof(pp2), "%s/%s.mfw", dir, name);
	snprintf(pout1, sizeof(pout1), "%s/%s.out1", dir, name);
	snprintf(pout2, sizeof(pout2), "%s/%s.out2", dir, name);
	write_file(po, old, on);
	write_file(pn, nw, nn);
	assert_int_equal(mfw_ctx_new(&ctx), 0);

	/*
	 * Debian bsdiff -> modemfw apply. Debian's bsdiff cannot read an empty
	 * file (it mmap()s its inputs), so that direction needs both non-empty.
	 */
	if (on && nn) {
		assert_int_equal(run3("/usr/bin/bsdiff", po, pn, pp1), 0);
		if (mfw_delta_apply(ctx, po, pp1, pout1, NULL, NULL) < 0)
			fail_msg("%s: applying bsdiff's patch: %s", name, mfw_ctx_detail(ctx));
		got = read_file(pout1, &gn);
		assert_int_equal(gn, nn);
		assert_memory_equal(got, nw, nn);
		free(got);
	}

	/* modemfw diff -> Debian bspatch */
	if (mfw_delta_diff(ctx, po, pn, pp2, NULL, NULL) < 0)
		fail_msg("%s: diff: %s", name, mfw_ctx_detail(ctx));
	assert_int_equal(run3("/usr/bin/bspatch", po, pout2, pp2), 0);
	got = read_file(pout2, &gn);
	assert_int_equal(gn, nn);
	if (nn)
		assert_memory_equal(got, nw, nn);
	free(got);
	mfw_ctx_free(ctx);
	unlink(po);
	unlink(pn);
	unlink(pp1);
	unlink(pp2);
	unlink(pout1);
	unlink(pout2);
}

static void test_interop_debian(void **state)
{
	char dir[] = "/tmp/mfw-delta-XXXXXX";
	size_t n = 2 << 20, nn;
	uint8_t *old, *nw, *other;
	uint8_t zeros[5000] = { 0 }, ones[3000];
	(void)state;

	if (!have("/usr/bin/bsdiff") || !have("/usr/bin/bspatch")) {
		fprintf(stderr, "bsdiff/bspatch not installed (apt-get install bsdiff): skipped\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	memset(ones, 0xff, sizeof(ones));
	old = random_bytes(n, 64);
	nw = edit(old, n, &nn);
	other = random_bytes(100000, 256);

	interop_case(dir, "empty", zeros, 0, zeros, 0);
	interop_case(dir, "empty-old", zeros, 0, other, 5000);
	interop_case(dir, "empty-new", other, 5000, zeros, 0);
	interop_case(dir, "identical", old, n, old, n);
	interop_case(dir, "disjoint", zeros, sizeof(zeros), ones, sizeof(ones));
	interop_case(dir, "unrelated", other, 100000, old, 80000);
	interop_case(dir, "edited", old, n, nw, nn);
	interop_case(dir, "one-byte", ones, 1, zeros, 1);
	{
		/* streams of many bzip2 blocks, put together from blocks compressed in parallel */
		uint8_t *ch = all_changed(old, 600000), *r4 = runs4(500000);
		interop_case(dir, "all-changed", old, 600000, ch, 600000);
		interop_case(dir, "runs-of-4", other, 100000, r4, 500000);
		free(r4);
		free(ch);
	}
	rmdir(dir);
	free(other);
	free(nw);
	free(old);
}

static void test_apply_file_is_atomic(void **state)
{
	char dir[] = "/tmp/mfw-delta-XXXXXX", po[256], pp[256], pn[256];
	const int64_t c[] = { 4, 0, 0 };
	const uint8_t d[4] = { 0 };
	uint8_t *p;
	size_t ps;
	struct mfw_ctx *ctx;
	struct stat st;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(po, sizeof(po), "%s/old", dir);
	snprintf(pp, sizeof(pp), "%s/patch", dir);
	snprintf(pn, sizeof(pn), "%s/new", dir);
	write_file(po, (const uint8_t *)"abcd", 4);
	p = make_patch(c, 1, d, 6, d, 0, 4, &ps); /* trailing diff data: rejected at the end */
	write_file(pp, p, ps);
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_delta_apply(ctx, po, pp, pn, NULL, NULL), MFW_E_FORMAT);
	/* nothing half-written is left behind under the target name or beside it */
	assert_int_equal(stat(pn, &st), -1);
	assert_int_equal(rmdir(dir), -1);
	unlink(po);
	unlink(pp);
	assert_int_equal(rmdir(dir), 0);
	free(p);
	mfw_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_roundtrip_edges),
		cmocka_unit_test(test_roundtrip_edited),
		cmocka_unit_test(test_patch_smaller_than_new),
		cmocka_unit_test(test_apply_semantics),
		cmocka_unit_test(test_apply_rejects),
		cmocka_unit_test(test_apply_rejects_idle_controls),
		cmocka_unit_test(test_apply_bounded_memory),
		cmocka_unit_test(test_apply_file_is_atomic),
		cmocka_unit_test(test_multiblock_streams),
		cmocka_unit_test(test_parallel_decode),
		cmocka_unit_test(test_parallel_decode_long_blocks),
		cmocka_unit_test(test_interop_debian),
		cmocka_unit_test(test_best_tries_every_block_size), /* last: it draws from rng_state */
	};
	rng_state = 0x243F6A8885A308D3ull; /* the inputs these tests were written against */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
