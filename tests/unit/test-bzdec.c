/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bzdec.c, the block decoder of the block-parallel reader, against libbz2:
 * single-block streams that libbz2 writes (every block size, run lengths
 * around the run-length stage's edges, every byte value, tiny blocks) must
 * decode to the same bytes with the header's CRC; and for damaged copies of
 * them, bzdec may say "not mine" (libbz2 decides then) or fail at the end,
 * but it must never accept a block libbz2 rejects, nor give other bytes
 * than libbz2 for one it accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <bzlib.h>
#include <stdlib.h>
#include <string.h>

#include "delta/bzdec.h"
#include "delta/delta.h"

#include "test-rand.h"

struct buf {
	const uint8_t *p;
	size_t n;
};

static int buf_read(void *user, uint64_t off, void *out, size_t len)
{
	const struct buf *b = user;
	if (off > b->n || len > b->n - off)
		return -5;
	memcpy(out, b->p + off, len);
	return 0;
}

static unsigned bit_at(const uint8_t *p, uint64_t bit)
{
	return p[bit / 8] >> (7 - bit % 8) & 1;
}

static uint64_t bits48(const uint8_t *p, uint64_t bit)
{
	uint64_t v = 0;
	for (int i = 0; i < 48; i++)
		v = v << 1 | bit_at(p, bit + (uint64_t)i);
	return v;
}

/* where the end marker of a one-block stream starts: 80 + 0..7 bits before its end */
static uint64_t eos_bit(const uint8_t *z, size_t n)
{
	for (unsigned pad = 0; pad < 8; pad++) {
		uint64_t b = (uint64_t)n * 8 - 80 - pad;
		if (bits48(z, b) == MFW_BZ_EOS_MAGIC)
			return b;
	}
	return 0;
}

/* libbz2's verdict on a stream: 0 and its output, or -1 */
static int ref_decode(const uint8_t *z, size_t n, uint8_t *out, unsigned *outn)
{
	return BZ2_bzBuffToBuffDecompress((char *)out, outn, (char *)z, (unsigned)n, 0, 0) == BZ_OK ? 0 : -1;
}

/* bzdec on the block [32, end): 1 not taken, 0 accepted (bytes in out), -1 failed after output */
static int fast_decode(struct mfw_bzdec *d, const uint8_t *z, size_t n, uint64_t end, uint8_t *out,
		       size_t cap, size_t *outn)
{
	struct buf b = { z, n };
	struct mfw_delta_reader r = { buf_read, n, &b };
	int rc = mfw_bzdec_block(d, &r, 32, end, n);
	size_t o = 0, k;

	if (rc)
		return 1;
	/* odd piece sizes: the output must not depend on them */
	while (o < cap && (k = mfw_bzdec_out(d, out + o, cap - o < 4093 ? cap - o : 4093)) > 0)
		o += k;
	*outn = o;
	if (o == cap && mfw_bzdec_out(d, out, 1))
		return -1; /* more than the reference: cannot be right */
	return mfw_bzdec_ok(d) ? 0 : -1;
}

/* in must fit one block of the level (a second block would end before the end marker) */
static void round_trip(const uint8_t *in, size_t n, int level)
{
	struct mfw_delta_mem mem = { 0 };
	struct mfw_bzdec *d = mfw_bzdec_new(level, &mem);
	unsigned zn = (unsigned)(n + n / 50 + 700);
	uint8_t *z = malloc(zn), *out = malloc(n + 1);
	size_t on = 0;
	uint64_t end;

	assert_non_null(d);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)z, &zn, (char *)in, (unsigned)n, level, 0, 0), BZ_OK);
	end = eos_bit(z, zn);
	assert_true(end > 32);
	assert_int_equal(fast_decode(d, z, zn, end, out, n + 1, &on), 0);
	assert_int_equal(on, n);
	assert_memory_equal(out, in, n);
	/* a sequential reader's way: the end found by decoding */
	{
		struct buf b = { z, zn };
		struct mfw_delta_reader r = { buf_read, zn, &b };
		size_t o = 0, k;
		assert_int_equal(mfw_bzdec_block(d, &r, 32, MFW_BZDEC_ANY_END, zn), 0);
		assert_true(mfw_bzdec_end_bit(d) == end);
		while ((k = mfw_bzdec_out(d, out + o, n + 1 - o)) > 0)
			o += k;
		assert_int_equal(o, n);
		assert_true(mfw_bzdec_ok(d));
		assert_memory_equal(out, in, n);
	}
	/* the wrong end: not taken */
	assert_int_equal(fast_decode(d, z, zn, end - 1, out, n + 1, &on), 1);
	free(z);
	free(out);
	mfw_bzdec_free(d);
	assert_int_equal(mem.cur, 0);
}

static void test_round_trips(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 255, 256, 4096, 65536, 90000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = random_bytes(sizes[i], 256);
		round_trip(p, sizes[i], 1);
		free(p);
		p = random_bytes(sizes[i], 3);
		round_trip(p, sizes[i], 1);
		free(p);
	}
	/* one block at each size class, filled close to its limit with mixed data */
	for (int level = 1; level <= 9; level += 2) {
		size_t n = (size_t)level * 100000 - 5000;
		uint8_t *p = random_bytes(n, 40);
		for (size_t k = 0; k < n; k += 1000 + rnd() % 5000) {
			size_t len = rnd() % 900;
			memset(p + k, 0, len < n - k ? len : n - k);
		}
		round_trip(p, n, level);
		free(p);
	}
}

/* runs at the run-length stage's edges: 1-5, 255-262 equal bytes, at the start, middle and end */
static void test_runs(void **state)
{
	(void)state;
	static const size_t runs[] = { 1, 2, 3, 4, 5, 6, 254, 255, 256, 257, 258, 259, 260, 261, 262, 600, 70000 };
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		for (int where = 0; where < 3; where++) {
			size_t n = runs[i] + 40;
			uint8_t *p = random_bytes(n, 7);
			size_t at = where == 0 ? 0 : where == 1 ? 20 : 40;
			memset(p + at, 'x', runs[i]);
			round_trip(p, n, 1);
			/* the whole input one run, and two runs of different bytes */
			memset(p, 0, n);
			round_trip(p, runs[i], 1);
			memset(p + runs[i] / 2, 1, runs[i] - runs[i] / 2);
			round_trip(p, runs[i], 1);
			free(p);
		}
	/* a diff stream's look: long zero runs with a changed byte here and there */
	{
		size_t n = 90000 * 5;
		uint8_t *p = calloc(n, 1);
		assert_non_null(p);
		for (size_t k = 0; k < n; k += 1 + rnd() % 3000)
			p[k] = (uint8_t)rnd();
		round_trip(p, n, 1);
		free(p);
	}
}

/*
 * Damaged blocks: flip one bit or a few bytes anywhere in the block; bzdec
 * must agree with libbz2 whenever it takes the block.
 */
static void test_damaged(void **state)
{
	(void)state;
	struct mfw_delta_mem mem = { 0 };
	struct mfw_bzdec *d = mfw_bzdec_new(1, &mem);
	size_t n = 20000;
	uint8_t *in = random_bytes(n, 12), *z, *c, *ref, *out;
	unsigned zn = (unsigned)(n + n / 50 + 700), refn;
	uint64_t end;
	unsigned taken = 0, same = 0;

	assert_non_null(d);
	for (size_t k = 0; k < n; k += 50 + rnd() % 2000) {
		size_t len = rnd() % 300;
		memset(in + k, 0, len < n - k ? len : n - k);
	}
	z = malloc(zn);
	c = malloc(zn);
	ref = malloc(4 * n);
	out = malloc(4 * n);
	assert_int_equal(BZ2_bzBuffToBuffCompress((char *)z, &zn, (char *)in, (unsigned)n, 1, 0, 0), BZ_OK);
	end = eos_bit(z, zn);
	for (int t = 0; t < 3000; t++) {
		size_t on = 0;
		int fr, rr;
		memcpy(c, z, zn);
		if (t % 3) {
			uint64_t bit = 32 + rnd() % (end - 32);
			c[bit / 8] ^= (uint8_t)(0x80 >> bit % 8);
		} else {
			for (int k = 0; k < 3; k++)
				c[4 + rnd() % (end / 8 - 5)] = (uint8_t)rnd();
		}
		refn = (unsigned)(4 * n);
		rr = ref_decode(c, zn, ref, &refn);
		fr = fast_decode(d, c, zn, end, out, 4 * n, &on);
		if (fr == 1)
			continue;
		taken++;
		if (fr == 0) {
			/* accepted: libbz2 must accept it too, with the same bytes */
			assert_int_equal(rr, 0);
			assert_int_equal(on, refn);
			assert_memory_equal(out, ref, on);
			same++;
		} else {
			/* failed after output: libbz2 fails as well */
			assert_int_equal(rr, -1);
		}
	}
	assert_true(taken > 1000); /* most damage is found late, by the CRC */
	free(in);
	free(z);
	free(c);
	free(ref);
	free(out);
	mfw_bzdec_free(d);
	(void)same;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
