/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "fmt/sparse.h"
#include "util/bytes.h"
#include "util/crc.h"

#define BLK 4096u

/* Expands runs into a flat buffer, the way a flasher would write them. */
struct sink {
	uint8_t *img;
	size_t cap;
	uint64_t next; /* runs must be contiguous and in order */
	int runs[3];
	int stop_after; /* > 0: fail with MFW_E_IO on that run */
	int seen;
};

static int sink_emit(void *user, const struct mfw_sparse_run *run)
{
	struct sink *s = user;

	s->seen++;
	if (s->stop_after && s->seen == s->stop_after)
		return MFW_E_IO;
	assert_true(run->length > 0);
	assert_true(run->offset == s->next);
	assert_true(run->offset + run->length <= s->cap);
	s->runs[run->kind]++;
	switch (run->kind) {
	case MFW_SPARSE_RUN_DATA:
		memcpy(s->img + run->offset, run->data, (size_t)run->length);
		break;
	case MFW_SPARSE_RUN_FILL:
		assert_int_equal(run->length % 4, 0);
		assert_int_equal(run->fill_value, mfw_get_le32(run->fill));
		for (uint64_t i = 0; i < run->length; i += 4)
			memcpy(s->img + run->offset + i, run->fill, 4);
		break;
	case MFW_SPARSE_RUN_DONT_CARE:
		memset(s->img + run->offset, 0xEE, (size_t)run->length);
		break;
	}
	s->next = run->offset + run->length;
	return 0;
}

static uint64_t rng_state = 0x853C49E6748FEA9Bull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 20);
}

/* 3 raw blocks, 2 fill blocks, 4 don't-care blocks, 1 raw, CRC: 10 blocks */
static void make_image(const uint8_t **file, size_t *flen, struct mfw_sparse_writer *w,
		       uint8_t *expect)
{
	uint8_t raw[4 * BLK];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 31 + (i >> 12));
	assert_int_equal(mfw_sparse_writer_init(w, BLK), 0);
	assert_int_equal(mfw_sparse_writer_raw(w, raw, 3), 0);
	assert_int_equal(mfw_sparse_writer_fill(w, 0x11223344u, 2), 0);
	assert_int_equal(mfw_sparse_writer_dont_care(w, 4), 0);
	assert_int_equal(mfw_sparse_writer_raw(w, raw + 3 * BLK, 1), 0);
	assert_int_equal(mfw_sparse_writer_crc(w), 0);
	assert_int_equal(mfw_sparse_writer_finish(w, file, flen), 0);
	memcpy(expect, raw, 3 * BLK);
	for (size_t i = 0; i < 2 * BLK; i += 4)
		memcpy(expect + 3 * BLK + i, "\x44\x33\x22\x11", 4);
	memset(expect + 5 * BLK, 0xEE, 4 * BLK);
	memcpy(expect + 9 * BLK, raw + 3 * BLK, BLK);
}

static int decode(const uint8_t *file, size_t flen, int mode, bool verify, struct sink *s)
{
	struct mfw_sparse_dec d;
	size_t pos = 0;
	int ret;

	mfw_sparse_dec_init(&d, verify);
	while (pos < flen) {
		size_t k = mode == 0 ? flen : mode == 1 ? 1 : 1 + rnd() % 5000;

		if (k > flen - pos)
			k = flen - pos;
		ret = mfw_sparse_dec_feed(NULL, &d, file + pos, k, sink_emit, s);
		if (ret < 0)
			return ret;
		pos += k;
	}
	return mfw_sparse_dec_finish(NULL, &d);
}

static void test_roundtrip(void **state)
{
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	uint8_t *expect = malloc(10 * BLK), *img = malloc(10 * BLK);
	uint64_t size;
	(void)state;

	assert_non_null(expect);
	assert_non_null(img);
	make_image(&file, &flen, &w, expect);
	/* header 28 + raw 12+3B + fill 16 + dc 12 + raw 12+B + crc 16 */
	assert_int_equal(flen, 28 + 12 + 3 * BLK + 16 + 12 + 12 + BLK + 16);
	assert_true(mfw_sparse_is_sparse(file, flen));
	assert_int_equal(mfw_sparse_image_size(NULL, file, flen, &size), 0);
	assert_int_equal(size, 10 * BLK);

	for (int mode = 0; mode < 3; mode++) {
		for (int rep = 0; rep < (mode == 2 ? 20 : 1); rep++) {
			struct sink s = { .img = img, .cap = 10 * BLK };

			memset(img, 0, 10 * BLK);
			assert_int_equal(decode(file, flen, mode, true, &s), 0);
			assert_int_equal(s.next, 10 * BLK);
			assert_memory_equal(img, expect, 10 * BLK);
			assert_int_equal(s.runs[MFW_SPARSE_RUN_FILL], 1);
			assert_int_equal(s.runs[MFW_SPARSE_RUN_DONT_CARE], 1);
			if (mode == 0)
				assert_int_equal(s.runs[MFW_SPARSE_RUN_DATA], 2);
		}
	}
	mfw_sparse_writer_free(&w);
	free(expect);
	free(img);
}

/* Exact bytes of a tiny image, written out by hand (independent of the writer). */
static void test_writer_bytes(void **state)
{
	static const uint8_t expect[] = {
		0x3A, 0xFF, 0x26, 0xED, 0x01, 0x00, 0x00, 0x00, 0x1C, 0x00, 0x0C, 0x00,
		0x00, 0x10, 0x00, 0x00, /* blk_sz 4096 */
		0x03, 0x00, 0x00, 0x00, /* total_blks 3 */
		0x02, 0x00, 0x00, 0x00, /* total_chunks 2 */
		0x00, 0x00, 0x00, 0x00,
		0xC2, 0xCA, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,
		0xEF, 0xBE, 0xAD, 0xDE,
		0xC3, 0xCA, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0C, 0x00, 0x00, 0x00,
	};
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	struct mfw_sparse_dec d;
	const struct mfw_sparse_header *h;
	(void)state;

	assert_int_equal(mfw_sparse_writer_init(&w, BLK), 0);
	assert_int_equal(mfw_sparse_writer_fill(&w, 0xDEADBEEFu, 2), 0);
	assert_int_equal(mfw_sparse_writer_dont_care(&w, 1), 0);
	assert_int_equal(mfw_sparse_writer_finish(&w, &file, &flen), 0);
	assert_int_equal(flen, sizeof(expect));
	assert_memory_equal(file, expect, sizeof(expect));

	/* validate-only decoding (no callback) */
	mfw_sparse_dec_init(&d, false);
	assert_null(mfw_sparse_dec_header(&d));
	assert_int_equal(mfw_sparse_dec_feed(NULL, &d, expect, sizeof(expect), NULL, NULL), 0);
	assert_int_equal(mfw_sparse_dec_finish(NULL, &d), 0);
	h = mfw_sparse_dec_header(&d);
	assert_non_null(h);
	assert_int_equal(h->blk_sz, 4096);
	assert_int_equal(h->total_chunks, 2);
	assert_int_equal(mfw_sparse_expanded_size(h), 3 * 4096);
	mfw_sparse_writer_free(&w);
	assert_int_equal(mfw_sparse_writer_init(&w, 4094), MFW_E_INVAL);
	mfw_sparse_writer_free(&w);
}

static uint8_t *copy_of(const uint8_t *file, size_t flen)
{
	uint8_t *c = malloc(flen + 16);

	assert_non_null(c);
	memcpy(c, file, flen);
	return c;
}

static int decode_plain(const uint8_t *file, size_t flen, bool verify)
{
	struct mfw_sparse_dec d;
	int ret;

	mfw_sparse_dec_init(&d, verify);
	ret = mfw_sparse_dec_feed(NULL, &d, file, flen, NULL, NULL);
	if (ret < 0)
		return ret;
	return mfw_sparse_dec_finish(NULL, &d);
}

static void test_header_rejects(void **state)
{
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	uint8_t *expect = malloc(10 * BLK), *c;
	struct mfw_sparse_header h;
	uint64_t size;
	struct {
		size_t off;
		int width;
		uint32_t value;
	} const cases[] = {
		{ 0, 32, 0xED26FF3B }, /* magic */
		{ 4, 16, 2 },          /* major */
		{ 8, 16, 32 },         /* file_hdr_sz */
		{ 10, 16, 16 },        /* chunk_hdr_sz */
		{ 12, 32, 0 },         /* blk_sz */
		{ 12, 32, 4097 },      /* blk_sz not a multiple of 4 */
	};
	(void)state;

	assert_non_null(expect);
	make_image(&file, &flen, &w, expect);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = copy_of(file, flen);
		if (cases[i].width == 16)
			mfw_put_le16(c + cases[i].off, (uint16_t)cases[i].value);
		else
			mfw_put_le32(c + cases[i].off, cases[i].value);
		assert_int_equal(mfw_sparse_parse_header(NULL, c, flen, &h), MFW_E_FORMAT);
		assert_int_equal(mfw_sparse_image_size(NULL, c, flen, &size), MFW_E_FORMAT);
		assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
		free(c);
	}
	assert_int_equal(mfw_sparse_parse_header(NULL, file, 27, &h), MFW_E_FORMAT);
	assert_false(mfw_sparse_is_sparse("\x3A\xFF\x26", 3));
	/* minor version bumps are accepted */
	c = copy_of(file, flen);
	mfw_put_le16(c + 6, 3);
	assert_int_equal(decode_plain(c, flen, true), 0);
	free(c);
	mfw_sparse_writer_free(&w);
	free(expect);
}

static void test_chunk_rejects(void **state)
{
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	uint8_t *expect = malloc(10 * BLK), *c;
	/* chunk offsets in make_image's file */
	const size_t raw1 = 28, fill = raw1 + 12 + 3 * BLK, dc = fill + 16, raw2 = dc + 12,
		     crc = raw2 + 12 + BLK;
	(void)state;

	assert_non_null(expect);
	make_image(&file, &flen, &w, expect);
	assert_int_equal(decode_plain(file, flen, true), 0);

	/* unknown chunk type */
	c = copy_of(file, flen);
	mfw_put_le16(c + fill, 0xCAC5);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* raw total_sz disagreeing with chunk_sz * blk_sz */
	c = copy_of(file, flen);
	mfw_put_le32(c + raw1 + 8, 12 + 3 * BLK + 1);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* chunk_sz * blk_sz beyond 32 bits: total_sz can never match */
	c = copy_of(file, flen);
	mfw_put_le32(c + raw1 + 4, 0x00100003u);
	mfw_put_le32(c + raw1 + 8, 12 + 3 * BLK);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* fill with a bigger body */
	c = copy_of(file, flen);
	mfw_put_le32(c + fill + 8, 20);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* don't-care with a body */
	c = copy_of(file, flen);
	mfw_put_le32(c + dc + 8, 16);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* more blocks in chunks than total_blks */
	c = copy_of(file, flen);
	mfw_put_le32(c + 16, 9);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* fewer blocks than total_blks */
	c = copy_of(file, flen);
	mfw_put_le32(c + 16, 11);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* fewer chunks announced than present: trailing data */
	c = copy_of(file, flen);
	mfw_put_le32(c + 20, 4);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* more chunks announced than present: truncated */
	c = copy_of(file, flen);
	mfw_put_le32(c + 20, 6);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* trailing garbage after a complete image */
	c = copy_of(file, flen);
	c[flen] = 0;
	assert_int_equal(decode_plain(c, flen + 1, false), MFW_E_FORMAT);
	free(c);
	/* truncated anywhere */
	for (size_t cut = 0; cut < flen; cut += 997)
		assert_int_equal(decode_plain(file, cut, false), MFW_E_FORMAT);
	assert_int_equal(decode_plain(file, flen - 1, false), MFW_E_FORMAT);
	/* CRC chunk: mismatch only matters when verifying; chunk_sz must be 0 */
	c = copy_of(file, flen);
	c[crc + 12] ^= 1;
	assert_int_equal(decode_plain(c, flen, true), MFW_E_FORMAT);
	assert_int_equal(decode_plain(c, flen, false), 0);
	free(c);
	c = copy_of(file, flen);
	mfw_put_le32(c + crc + 4, 1);
	assert_int_equal(decode_plain(c, flen, false), MFW_E_FORMAT);
	free(c);
	/* corrupt raw data is caught by the CRC chunk */
	c = copy_of(file, flen);
	c[raw2 + 100] ^= 0x80;
	assert_int_equal(decode_plain(c, flen, true), MFW_E_FORMAT);
	free(c);

	mfw_sparse_writer_free(&w);
	free(expect);
}

static void test_emit_error_and_sticky(void **state)
{
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	uint8_t *expect = malloc(10 * BLK), *img = malloc(10 * BLK);
	struct sink s = { .img = img, .cap = 10 * BLK, .stop_after = 2 };
	struct mfw_sparse_dec d;
	(void)state;

	assert_non_null(expect);
	assert_non_null(img);
	make_image(&file, &flen, &w, expect);
	mfw_sparse_dec_init(&d, false);
	assert_int_equal(mfw_sparse_dec_feed(NULL, &d, file, flen, sink_emit, &s), MFW_E_IO);
	/* a failed decoder refuses further input */
	assert_int_equal(mfw_sparse_dec_feed(NULL, &d, file, 1, sink_emit, &s), MFW_E_FORMAT);
	assert_int_equal(mfw_sparse_dec_finish(NULL, &d), MFW_E_FORMAT);
	mfw_sparse_writer_free(&w);
	free(expect);
	free(img);
}

static void test_empty_and_large(void **state)
{
	struct mfw_sparse_writer w;
	const uint8_t *file;
	size_t flen;
	uint64_t size;
	struct mfw_sparse_header h;
	(void)state;

	/* no chunks, no blocks: valid */
	assert_int_equal(mfw_sparse_writer_init(&w, BLK), 0);
	assert_int_equal(mfw_sparse_writer_finish(&w, &file, &flen), 0);
	assert_int_equal(flen, 28);
	assert_int_equal(decode_plain(file, flen, true), 0);
	mfw_sparse_writer_free(&w);

	/* a 4 GiB - 4 KiB don't-care image: offsets beyond 32 bits */
	assert_int_equal(mfw_sparse_writer_init(&w, BLK), 0);
	assert_int_equal(mfw_sparse_writer_dont_care(&w, 0xFFFFF), 0);
	assert_int_equal(mfw_sparse_writer_fill(&w, 0, 1), 0);
	assert_int_equal(mfw_sparse_writer_finish(&w, &file, &flen), 0);
	assert_int_equal(mfw_sparse_parse_header(NULL, file, flen, &h), 0);
	assert_int_equal(mfw_sparse_image_size(NULL, file, flen, &size), 0);
	assert_true(size == 0x100000ull * BLK);
	assert_int_equal(decode_plain(file, flen, false), 0);
	/* too big for the writer's running CRC */
	assert_int_equal(mfw_sparse_writer_crc(&w), MFW_E_RANGE);
	mfw_sparse_writer_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_writer_bytes),
		cmocka_unit_test(test_header_rejects),
		cmocka_unit_test(test_chunk_rejects),
		cmocka_unit_test(test_emit_error_and_sticky),
		cmocka_unit_test(test_empty_and_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
