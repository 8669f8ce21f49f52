/* SPDX-License-Identifier: BSD-3-Clause */
/* HDLC framing of DIAG (reference/diag.md §1): worked vectors, deframer rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "proto/hdlc.h"
#include "util/crc.h"

static void test_crc_check_value(void **state)
{
	(void)state;
	assert_int_equal(mfw_crc16_x25("123456789", 9), 0x906E);
}

static void check_encode(const uint8_t *payload, size_t len, const uint8_t *wire, size_t wlen)
{
	uint8_t out[512];
	int n = mfw_hdlc_encode(payload, len, false, out, sizeof(out));
	assert_int_equal(n, (int)wlen);
	assert_memory_equal(out, wire, wlen);
	/* with the optional leading flag */
	n = mfw_hdlc_encode(payload, len, true, out, sizeof(out));
	assert_int_equal(n, (int)wlen + 1);
	assert_int_equal(out[0], 0x7E);
	assert_memory_equal(out + 1, wire, wlen);
	/* one byte short is refused and nothing overflows */
	assert_int_equal(mfw_hdlc_encode(payload, len, false, out, wlen - 1), MFW_E_RANGE);
}

static void test_vectors(void **state)
{
	static const uint8_t verno[] = { 0x00 };
	static const uint8_t verno_w[] = { 0x00, 0x78, 0xF0, 0x7E };
	static const uint8_t edl[] = { 0x4B, 0x65, 0x01, 0x00 };
	static const uint8_t edl_w[] = { 0x4B, 0x65, 0x01, 0x00, 0x54, 0x0F, 0x7E };
	static const uint8_t esc[] = { 0x7E, 0x7D, 0x01 };
	static const uint8_t esc_w[] = { 0x7D, 0x5E, 0x7D, 0x5D, 0x01, 0x3A, 0x07, 0x7E };
	uint8_t nv[133] = { 0x26, 0x26, 0x02 };
	uint8_t nv_w[136];
	(void)state;
	check_encode(verno, sizeof(verno), verno_w, sizeof(verno_w));
	check_encode(edl, sizeof(edl), edl_w, sizeof(edl_w));
	check_encode(esc, sizeof(esc), esc_w, sizeof(esc_w));
	assert_int_equal(mfw_crc16_x25(nv, sizeof(nv)), 0x2B3E);
	memcpy(nv_w, nv, sizeof(nv));
	nv_w[133] = 0x3E;
	nv_w[134] = 0x2B;
	nv_w[135] = 0x7E;
	check_encode(nv, sizeof(nv), nv_w, sizeof(nv_w));
}

/* feed everything, collect frames into one concatenated list */
static size_t feed_all(struct mfw_hdlc_deframer *d, const uint8_t *in, size_t len, size_t step,
		       uint8_t frames[][64], size_t *lens, size_t maxf)
{
	size_t nf = 0, pos = 0;
	while (pos < len) {
		size_t chunk = len - pos < step ? len - pos : step;
		size_t off = 0;
		while (off < chunk) {
			const uint8_t *f;
			size_t fl, used;
			int r = mfw_hdlc_feed(d, in + pos + off, chunk - off, &used, &f, &fl);
			assert_true(used <= chunk - off);
			off += used;
			if (r == 1) {
				assert_true(nf < maxf);
				assert_true(fl <= 64);
				memcpy(frames[nf], f, fl);
				lens[nf++] = fl;
			}
		}
		pos += chunk;
	}
	return nf;
}

static void test_deframe_stream(void **state)
{
	/* flag, empty frames, the escape vector, a runt, a CRC-broken copy, version, partial */
	static const uint8_t in[] = {
		0x7E, 0x7E, 0x7E,
		0x7D, 0x5E, 0x7D, 0x5D, 0x01, 0x3A, 0x07, 0x7E,
		0x01, 0x02, 0x7E,
		0x7D, 0x5E, 0x7D, 0x5D, 0x02, 0x3A, 0x07, 0x7E,
		0x00, 0x78, 0xF0, 0x7E,
		0x4B, 0x65,
	};
	uint8_t frames[8][64];
	size_t lens[8];
	(void)state;
	for (size_t step = 1; step <= sizeof(in); step++) {
		struct mfw_hdlc_deframer *d = malloc(sizeof(*d));
		size_t nf;
		assert_non_null(d);
		mfw_hdlc_deframer_init(d, 0);
		nf = feed_all(d, in, sizeof(in), step, frames, lens, 8);
		assert_int_equal(nf, 2);
		assert_int_equal(lens[0], 3);
		assert_memory_equal(frames[0], "\x7E\x7D\x01", 3);
		assert_int_equal(lens[1], 1);
		assert_int_equal(frames[1][0], 0x00);
		assert_int_equal(d->runts, 1);
		assert_int_equal(d->crc_errors, 1);
		assert_int_equal(d->frames, 2);
		/* the partial "4B 65" is kept: completing it yields the EDL frame */
		{
			static const uint8_t rest[] = { 0x01, 0x00, 0x54, 0x0F, 0x7E };
			nf = feed_all(d, rest, sizeof(rest), step, frames, lens, 8);
			assert_int_equal(nf, 1);
			assert_int_equal(lens[0], 4);
			assert_memory_equal(frames[0], "\x4B\x65\x01\x00", 4);
		}
		free(d);
	}
}

static void test_oversize(void **state)
{
	struct mfw_hdlc_deframer *d = malloc(sizeof(*d));
	uint8_t big[200], wire[600], frames[2][64];
	size_t lens[2];
	int n;
	(void)state;
	assert_non_null(d);
	mfw_hdlc_deframer_init(d, 64);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	n = mfw_hdlc_encode(big, sizeof(big), true, wire, sizeof(wire));
	assert_true(n > 0);
	/* a good small frame after the oversized one still comes through */
	wire[n++] = 0x00;
	wire[n++] = 0x78;
	wire[n++] = 0xF0;
	wire[n++] = 0x7E;
	assert_int_equal(feed_all(d, wire, (size_t)n, 7, frames, lens, 2), 1);
	assert_int_equal(lens[0], 1);
	assert_int_equal(d->oversize, 1);
	/* exactly max is accepted */
	n = mfw_hdlc_encode(big, 64, false, wire, sizeof(wire));
	assert_int_equal(feed_all(d, wire, (size_t)n, 64, frames, lens, 2), 1);
	assert_int_equal(lens[0], 64);
	assert_memory_equal(frames[0], big, 64);
	free(d);
}

static void test_roundtrip_random(void **state)
{
	struct mfw_hdlc_deframer *d = malloc(sizeof(*d));
	uint32_t seed = 12345;
	(void)state;
	assert_non_null(d);
	mfw_hdlc_deframer_init(d, 0);
	for (int round = 0; round < 500; round++) {
		uint8_t p[64], wire[mfw_hdlc_encoded_max(64)], frames[1][64];
		size_t len = 1 + (size_t)(round % 64), lens[1];
		int n;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* lots of flag and escape bytes */
			p[i] = (seed >> 16) & 1 ? (uint8_t)(0x7D + ((seed >> 8) & 1)) : (uint8_t)(seed >> 24);
		}
		n = mfw_hdlc_encode(p, len, round & 1, wire, sizeof(wire));
		assert_true(n > 0 && (size_t)n <= mfw_hdlc_encoded_max(len));
		for (int k = 0; k < n - 1; k++)
			assert_true(wire[k] != 0x7E || (k == 0 && (round & 1)));
		assert_int_equal(feed_all(d, wire, (size_t)n, 1 + (size_t)round % 5, frames, lens, 1), 1);
		assert_int_equal(lens[0], len);
		assert_memory_equal(frames[0], p, len);
	}
	assert_int_equal(d->crc_errors + d->runts + d->oversize, 0);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_check_value),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_deframe_stream),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_roundtrip_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
