/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Our bzip2 encoder (lib/delta/bzenc.c): everything it writes must decode
 * with libbz2 to the input, byte for byte, in both of libbz2's decoders:
 * empty and tiny inputs, every byte value, runs around RLE1's 4 and 255
 * thresholds, periodic blocks (equal rotations in the BWT), random and
 * sparse inputs, blocks filled exactly and by one byte more, several blocks.
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

#include "delta/delta.h"
#include <modemfw/error.h>

#include "test-rand.h"

/* encode in as one stream at level, decode with libbz2 (fast and small decoders), compare; the size */
static size_t roundtrip(const uint8_t *in, size_t n, int level)
{
	struct mfw_delta_mem mem = { 0 };
	struct mfw_delta_buf out = { .mem = &mem };
	unsigned cap = (unsigned)n + 1;
	char *dec = malloc(cap);
	size_t size;

	assert_non_null(dec);
	assert_int_equal(mfw_bzenc_stream(&mem, in, n, level, &out), 0);
	assert_true(out.n >= 14);
	assert_memory_equal(out.p, "BZh", 3);
	assert_int_equal(out.p[3], '0' + level);
	for (int small = 0; small <= 1; small++) {
		unsigned dl = cap;
		memset(dec, 0xa5, cap);
		assert_int_equal(BZ2_bzBuffToBuffDecompress(dec, &dl, (char *)out.p, (unsigned)out.n, small, 0), BZ_OK);
		assert_int_equal(dl, n);
		if (n)
			assert_memory_equal(dec, in, n);
	}
	size = out.n;
	free(dec);
	mfw_delta_buf_free(&out);
	assert_int_equal(mem.cur, 0);
	return size;
}

/* libbz2's own size for the same input */
static size_t libbz2_size(const uint8_t *in, size_t n, int level)
{
	unsigned zl = (unsigned)(n + n / 50 + 1024);
	char *z = malloc(zl);
	assert_non_null(z);
	assert_int_equal(BZ2_bzBuffToBuffCompress(z, &zl, (char *)in, (unsigned)n, level, 0, 30), BZ_OK);
	free(z);
	return zl;
}

static void test_empty_and_tiny(void **state)
{
	(void)state;
	uint8_t b[3];

	roundtrip(NULL, 0, 1);
	roundtrip(NULL, 0, 9);
	for (int v = 0; v < 256; v += 51) {
		b[0] = (uint8_t)v;
		roundtrip(b, 1, 1);
	}
	b[0] = 'a';
	b[1] = 'b';
	b[2] = 'a';
	roundtrip(b, 2, 1);
	roundtrip(b, 3, 9);
}

static void test_all_symbols(void **state)
{
	(void)state;
	uint8_t b[256 * 40];

	for (int i = 0; i < 256; i++)
		b[i] = (uint8_t)i;
	roundtrip(b, 256, 1);
	for (int i = 0; i < 256; i++)
		b[i] = (uint8_t)(255 - i);
	roundtrip(b, 256, 1);
	/* every value, in runs of every length from 1 to 39 */
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i / 40 + (i % 40 < (i / 40) % 40 ? 0 : 128));
	roundtrip(b, sizeof(b), 2);
}

/* a run of len equal bytes alone, and between other bytes */
static void test_runs(void **state)
{
	(void)state;
	uint8_t *b = malloc(300 + 8);

	assert_non_null(b);
	for (size_t len = 1; len <= 300; len++) {
		memset(b, 'x', len);
		roundtrip(b, len, 1);
		b[0] = 'a';
		b[1] = 'b';
		memset(b + 2, 0, len);
		b[2 + len] = 'c';
		b[3 + len] = 0;
		roundtrip(b, len + 4, 1);
	}
	free(b);
	/* a run that spans RLE1's 255 cap many times, and runs of 4 in a row */
	b = malloc(100000);
	assert_non_null(b);
	memset(b, 7, 100000);
	roundtrip(b, 100000, 1);
	for (size_t i = 0; i < 100000; i++)
		b[i] = (uint8_t)(i / 4 % 3);
	roundtrip(b, 100000, 1);
	free(b);
}

/* periodic blocks: the doubled sort meets equal rotations */
static void test_periodic(void **state)
{
	(void)state;
	const char *pat[] = { "ab", "abc", "aab", "abcdefgh", "zzzzy" };
	size_t n = 60000;
	uint8_t *b = malloc(n);

	assert_non_null(b);
	for (size_t k = 0; k < sizeof(pat) / sizeof(pat[0]); k++) {
		size_t pl = strlen(pat[k]);
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)pat[k][i % pl];
		roundtrip(b, n, 1);
		roundtrip(b, pl * 7, 1);
	}
	free(b);
}

/*
 * Blocks that are not periodic but nearly: the rotation sort must compare
 * up to n bytes deep, and the least rotation starts anywhere (the encoder
 * sorts the block rotated to it as a Lyndon word). One byte changed in a
 * periodic block, at the start, the middle and the end; a power cut short.
 */
static void test_near_periodic(void **state)
{
	(void)state;
	const char *pat[] = { "ab", "abc", "zzzzy", "\0\0\0\0\xfb" };
	const size_t plen[] = { 2, 3, 5, 5 };
	size_t n = 30011;
	uint8_t *b = malloc(n);

	assert_non_null(b);
	for (size_t k = 0; k < sizeof(pat) / sizeof(pat[0]); k++) {
		size_t at[] = { 0, 1, n / 2, n - 2, n - 1 };
		for (size_t a = 0; a < sizeof(at) / sizeof(at[0]); a++) {
			for (size_t i = 0; i < n; i++)
				b[i] = (uint8_t)pat[k][i % plen[k]];
			b[at[a]] ^= 0x40;
			roundtrip(b, n, 1);
		}
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)pat[k][i % plen[k]];
		roundtrip(b, plen[k] * 9 + 1, 1); /* not a whole number of periods */
		roundtrip(b, n, 1);
	}
	free(b);
}

static void test_random(void **state)
{
	(void)state;
	const unsigned alpha[] = { 2, 4, 17, 64, 256 };
	const size_t sizes[] = { 10, 1000, 50000, 250000 };

	for (size_t a = 0; a < sizeof(alpha) / sizeof(alpha[0]); a++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			uint8_t *b = random_bytes(sizes[s], alpha[a]);
			roundtrip(b, sizes[s], s == 3 ? 2 : 1);
			free(b);
		}
}

/*
 * Skewed symbol frequencies (geometric byte values): the longest Huffman
 * codes exceed the format's limit unless limited.
 */
static void test_skewed(void **state)
{
	(void)state;
	size_t n = 200000;
	uint8_t *b = malloc(n);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		while (v < 255 && rnd() % 3 == 0)
			v++;
		b[i] = (uint8_t)(v * 37);
	}
	roundtrip(b, n, 2);
	free(b);
}

/*
 * What a diff stream looks like: zeros with sparse small changes. Also
 * checks the point of the encoder: no larger than libbz2 here.
 */
static void test_sparse(void **state)
{
	(void)state;
	size_t n = 3000000;
	uint8_t *b = calloc(n, 1);
	size_t ours, theirs;

	assert_non_null(b);
	for (size_t i = 0; i < n; i += 1 + rnd() % 64)
		b[i] = (uint8_t)(rnd() % 5 == 0 ? rnd() : (rnd() % 3) * 4);
	ours = roundtrip(b, n, 1);
	theirs = libbz2_size(b, n, 1);
	print_message("sparse 3 MB: ours %zu, libbz2 %zu\n", ours, theirs);
	assert_true(ours <= theirs);
	free(b);
}

/* inputs whose RLE1 bytes fill a block exactly, and by one byte more */
static void test_block_fill(void **state)
{
	(void)state;
	struct mfw_delta_mem mem = { 0 };
	struct mfw_bzenc *e;
	size_t cap = mfw_bzenc_cap(1);
	uint8_t *b = malloc(cap + 300);

	assert_non_null(b);
	/* no runs: RLE1 keeps every byte */
	for (size_t i = 0; i < cap + 300; i++)
		b[i] = (uint8_t)(i % 253);
	assert_int_equal(mfw_bzenc_new(&e, &mem, 1), 0);
	assert_int_equal(mfw_bzenc_set_level(e, 2), MFW_E_INVAL);
	assert_int_equal(mfw_bzenc_add(e, b, cap + 1), cap);
	mfw_bzenc_free(e);
	/* an encoder made for 200k blocks, set to 100k: the same cap */
	assert_int_equal(mfw_bzenc_new(&e, &mem, 2), 0);
	assert_int_equal(mfw_bzenc_set_level(e, 1), 0);
	assert_int_equal(mfw_bzenc_add(e, b, cap + 1), cap);
	mfw_bzenc_free(e);
	roundtrip(b, cap, 1);
	roundtrip(b, cap + 1, 1);
	/* ending in a run of 4 (5 bytes after RLE1): the run cannot take the last free byte */
	assert_int_equal(mfw_bzenc_new(&e, &mem, 1), 0);
	memset(b + cap - 4, 9, 4);
	assert_int_equal(mfw_bzenc_add(e, b, cap), cap - 1);
	mfw_bzenc_free(e);
	roundtrip(b, cap, 1);
	/* a long run at the end of a full block */
	memset(b + cap - 10, 9, 300);
	roundtrip(b, cap + 290, 1);
	assert_int_equal(mem.cur, 0);
	free(b);
}

static void test_multi_block(void **state)
{
	(void)state;
	size_t n = 2500000;
	uint8_t *b = random_bytes(n, 16);

	/* stretches of zeros between random stretches */
	for (size_t i = 0; i < n; i += 300000)
		memset(b + i, 0, 100000);
	roundtrip(b, n, 1);
	roundtrip(b, n, 3);
	roundtrip(b, n, 9);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_tiny),
		cmocka_unit_test(test_all_symbols),
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_periodic),
		cmocka_unit_test(test_near_periodic),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_skewed),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_block_fill),
		cmocka_unit_test(test_multi_block),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
