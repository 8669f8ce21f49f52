/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "modemfw/error.h"
#include "util/hash.h"

static void hex_of(enum mfw_hash_algo algo, const void *data, size_t len, char *out)
{
	uint8_t md[MFW_HASH_MAX_LEN];

	assert_int_equal(mfw_hash_buf(algo, data, len, md), (int)mfw_hash_len(algo));
	mfw_hex_encode(md, mfw_hash_len(algo), out);
}

static void test_known_vectors(void **state)
{
	char hex[2 * MFW_HASH_MAX_LEN + 1];
	(void)state;

	hex_of(MFW_HASH_MD5, "", 0, hex);
	assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
	hex_of(MFW_HASH_MD5, "abc", 3, hex);
	assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
	hex_of(MFW_HASH_MD5, "The quick brown fox jumps over the lazy dog", 43, hex);
	assert_string_equal(hex, "9e107d9d372bb6826bd81d3542a419d6");
	hex_of(MFW_HASH_SHA1, "abc", 3, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	hex_of(MFW_HASH_SHA256, "", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of(MFW_HASH_SHA256, "abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(mfw_hash_name(MFW_HASH_SHA1), "sha1");
	assert_int_equal(mfw_hash_len(MFW_HASH_SHA256), 32);
}

/* One million 'a' fed in uneven chunks must equal the FIPS 180 test value. */
static void test_streaming(void **state)
{
	static uint8_t chunk[7919];
	struct mfw_hash h;
	uint8_t md[32];
	char hex[65];
	size_t left = 1000000;
	(void)state;

	memset(chunk, 'a', sizeof(chunk));
	assert_int_equal(mfw_hash_init(&h, MFW_HASH_SHA1), 0);
	while (left) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

		assert_int_equal(mfw_hash_update(&h, chunk, n), 0);
		left -= n;
	}
	assert_int_equal(mfw_hash_final(&h, md, sizeof(md)), 20);
	mfw_hex_encode(md, 20, hex);
	assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	/* finalised: further use is refused, free is harmless */
	assert_int_equal(mfw_hash_update(&h, "x", 1), MFW_E_INVAL);
	mfw_hash_free(&h);

	left = 1000000;
	assert_int_equal(mfw_hash_init(&h, MFW_HASH_SHA256), 0);
	while (left) {
		size_t n = left < 1000 ? left : 1000;

		assert_int_equal(mfw_hash_update(&h, chunk, n), 0);
		left -= n;
	}
	assert_int_equal(mfw_hash_final(&h, md, sizeof(md)), 32);
	mfw_hex_encode(md, 32, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_final_small_buffer(void **state)
{
	struct mfw_hash h;
	uint8_t md[16];
	(void)state;

	assert_int_equal(mfw_hash_init(&h, MFW_HASH_SHA256), 0);
	assert_int_equal(mfw_hash_final(&h, md, sizeof(md)), MFW_E_RANGE);
	assert_null(h.evp);
	assert_int_equal(mfw_hash_init(&h, (enum mfw_hash_algo)99), MFW_E_UNSUPPORTED);
	mfw_hash_free(&h);
}

static void test_hex(void **state)
{
	uint8_t out[4];
	char hex[9];
	(void)state;

	assert_int_equal(mfw_hex_decode("DeadBeef", 8, out, 4), 0);
	assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
	mfw_hex_encode(out, 4, hex);
	assert_string_equal(hex, "deadbeef");
	assert_int_equal(mfw_hex_decode("deadbee", 7, out, 4), MFW_E_FORMAT);
	assert_int_equal(mfw_hex_decode("deadbeeg", 8, out, 4), MFW_E_FORMAT);
	assert_int_equal(mfw_hex_decode("dead beef", 9, out, 4), MFW_E_FORMAT);
	assert_int_equal(mfw_hex_decode("", 0, out, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_final_small_buffer),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
