/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <modemfw/context.h>
#include <modemfw/error.h>
#include "proto/expr.h"

struct crc_call {
	int calls;
	uint64_t start;
	uint64_t len;
};

static int fake_crc(void *user, uint64_t start, uint64_t len, uint32_t *out)
{
	struct crc_call *cc = user;

	cc->calls++;
	cc->start = start;
	cc->len = len;
	*out = 0xDEADBEEFu ^ (uint32_t)start ^ (uint32_t)(len << 8);
	return 0;
}

static int failing_crc(void *user, uint64_t start, uint64_t len, uint32_t *out)
{
	(void)user;
	(void)start;
	(void)len;
	(void)out;
	return MFW_E_IO;
}

/* 4 GiB eMMC of the canonical layout; NAND 2048 blocks */
static struct crc_call calls;
static const struct mfw_expr_env env_emmc = {
	.num_disk_sectors = 8388608,
	.sector_size = 512,
	.crc32 = fake_crc,
	.user = &calls,
};
static const struct mfw_expr_env env_nand = {
	.num_disk_sectors = 131072,
	.num_disk_blocks = 2048,
	.sector_size = 4096,
	.crc32 = fake_crc,
	.user = &calls,
};

static uint64_t eval_ok(const char *text, const struct mfw_expr_env *env)
{
	uint64_t v = 0xAAAA;

	assert_int_equal(mfw_expr_eval_text(NULL, text, env, &v), 0);
	return v;
}

static void test_literals(void **state)
{
	struct mfw_expr e;
	(void)state;

	assert_int_equal(eval_ok("0", NULL), 0);
	assert_int_equal(eval_ok("1234", NULL), 1234);
	assert_int_equal(eval_ok("1234.", NULL), 1234);
	assert_int_equal(eval_ok("  34.  ", NULL), 34);
	assert_int_equal(eval_ok("007", NULL), 7);
	assert_true(eval_ok("9223372036854775807", NULL) == 9223372036854775807ull);
	assert_int_equal(mfw_expr_parse(NULL, "64.", &e), 0);
	assert_int_equal(e.kind, MFW_EXPR_LITERAL);
	assert_int_equal(e.value, 64);
}

static void test_disk_sectors(void **state)
{
	struct mfw_expr e;
	(void)state;

	assert_int_equal(mfw_expr_parse(NULL, "NUM_DISK_SECTORS-33.", &e), 0);
	assert_int_equal(e.kind, MFW_EXPR_DISK_SECTORS);
	assert_int_equal(e.value, -33);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS-33.", &env_emmc), 8388608 - 33);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS-34.", &env_emmc), 8388608 - 34);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS-1.", &env_emmc), 8388607);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS - 5", &env_emmc), 8388603);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS+2.", &env_emmc), 8388610);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS", &env_emmc), 8388608);
	assert_int_equal(eval_ok(" NUM_DISK_SECTORS ", &env_emmc), 8388608);
	assert_int_equal(eval_ok("NUM_DISK_SECTORS-8388608.", &env_emmc), 0);
}

static void test_disk_blocks(void **state)
{
	struct mfw_expr e;
	uint64_t v;
	(void)state;

	/* the real EM12-G patch (docs/formats.md): usrfs length */
	assert_int_equal(mfw_expr_parse(NULL, "NUM_DISK_BLOCKS-1904.", &e), 0);
	assert_int_equal(e.kind, MFW_EXPR_DISK_BLOCKS);
	assert_int_equal(e.value, -1904);
	assert_int_equal(eval_ok("NUM_DISK_BLOCKS-1904.", &env_nand), 144);
	/* not NAND: no block count */
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_BLOCKS-1904.", &env_emmc, &v),
			 MFW_E_UNSUPPORTED);
}

static void test_crc32(void **state)
{
	struct mfw_expr e;
	struct mfw_expr_env no_crc = env_nand;
	struct mfw_ctx *ctx = NULL;
	uint64_t v;
	(void)state;

	/* the real EM12-G MIBIB check-page patch */
	assert_int_equal(mfw_expr_parse(NULL, "CRC32(0,8192)", &e), 0);
	assert_int_equal(e.kind, MFW_EXPR_CRC32);
	assert_int_equal(e.crc_start_kind, MFW_EXPR_LITERAL);
	assert_int_equal(e.crc_start, 0);
	assert_int_equal(e.crc_len, 8192);
	memset(&calls, 0, sizeof(calls));
	v = eval_ok("CRC32(0,8192)", &env_nand);
	assert_int_equal(calls.calls, 1);
	assert_int_equal(calls.start, 0);
	assert_int_equal(calls.len, 8192);
	assert_int_equal(v, 0xDEADBEEFu ^ (8192u << 8));

	/* GPT backup header CRC of the last sector */
	assert_int_equal(mfw_expr_parse(NULL, "CRC32(NUM_DISK_SECTORS-1.,92)", &e), 0);
	assert_int_equal(e.crc_start_kind, MFW_EXPR_DISK_SECTORS);
	assert_int_equal(e.crc_start, -1);
	assert_int_equal(e.crc_len, 92);
	memset(&calls, 0, sizeof(calls));
	eval_ok("CRC32(NUM_DISK_SECTORS-1.,92)", &env_emmc);
	assert_int_equal(calls.start, 8388607);
	assert_int_equal(calls.len, 92);
	eval_ok(" CRC32 ( 2. , 16384. ) ", &env_emmc);
	assert_int_equal(calls.start, 2);
	assert_int_equal(calls.len, 16384);
	eval_ok("CRC32(NUM_DISK_SECTORS,4)", &env_emmc);
	assert_int_equal(calls.start, 8388608);

	/* no storage access */
	no_crc.crc32 = NULL;
	assert_int_equal(mfw_expr_eval_text(NULL, "CRC32(0,8192)", &no_crc, &v), MFW_E_UNSUPPORTED);
	assert_int_equal(mfw_expr_eval_text(NULL, "CRC32(0,8192)", NULL, &v), MFW_E_UNSUPPORTED);
	/* the callback's error is passed on */
	no_crc.crc32 = failing_crc;
	assert_int_equal(mfw_expr_eval_text(NULL, "CRC32(0,8192)", &no_crc, &v), MFW_E_IO);
	/* underflow inside the start */
	assert_int_equal(mfw_expr_eval_text(NULL, "CRC32(NUM_DISK_SECTORS-9999999.,92)",
					    &env_emmc, &v),
			 MFW_E_RANGE);

	/* the detail says what was wrong */
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_expr_parse(ctx, "CRC32(1,2", &e), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "')'"));
	assert_int_equal(mfw_expr_parse(ctx, "NUM_DISK_SECTORS*2", &e), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "unexpected text"));
	mfw_ctx_free(ctx);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"", "   ", "NUM_DISK_SECTORS*2", "1;rm -rf /", "CRC32(1,2", "CRC32(1,2))",
		"CRC32(1)", "CRC32()", "CRC32 1,2", "CRC32(NUM_DISK_BLOCKS-1.,2)",
		"CRC32(1,NUM_DISK_SECTORS)", "crc32(0,8192)", "num_disk_sectors-1.",
		"NUM_DISK_SECTORS-", "NUM_DISK_SECTORS-1.5", "NUM_DISK_SECTORS--1",
		"NUM_DISK_SECTORSX-1", "NUM_DISK_SECTORS-1-1", "0x10", "-5", "+5", "1..",
		"1 2", "__import__('os')", "NUM_DISK_SECTORS-33.;", "1.0", "CRC32(1,2)3",
		"NUM_DISK_BLOCKS*2", "12a", ".5",
	};
	struct mfw_expr e;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = mfw_expr_parse(NULL, bad[i], &e);

		if (r != MFW_E_FORMAT)
			fail_msg("'%s' gave %d, expected MFW_E_FORMAT", bad[i], r);
	}
	assert_int_equal(mfw_expr_parse(NULL, NULL, &e), MFW_E_FORMAT);
}

static void test_ranges(void **state)
{
	static const char *const huge[] = {
		"9223372036854775808", "99999999999999999999999999", "NUM_DISK_SECTORS-99999999999999999999.",
		"CRC32(0,18446744073709551616)", "CRC32(99999999999999999999,1)",
	};
	struct mfw_expr e;
	struct mfw_expr_env big = env_emmc;
	uint64_t v;
	(void)state;

	for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
		int r = mfw_expr_parse(NULL, huge[i], &e);

		if (r != MFW_E_RANGE)
			fail_msg("'%s' gave %d, expected MFW_E_RANGE", huge[i], r);
	}
	/* underflow below sector 0 */
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_SECTORS-8388609.", &env_emmc, &v),
			 MFW_E_RANGE);
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_BLOCKS-2049.", &env_nand, &v),
			 MFW_E_RANGE);
	/* overflow above 2^64 */
	big.num_disk_sectors = UINT64_MAX - 1;
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_SECTORS+2.", &big, &v), MFW_E_RANGE);
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_SECTORS+1.", &big, &v), 0);
	assert_true(v == UINT64_MAX);
	/* unknown disk size */
	assert_int_equal(mfw_expr_eval_text(NULL, "NUM_DISK_SECTORS-33.", NULL, &v),
			 MFW_E_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_disk_sectors),
		cmocka_unit_test(test_disk_blocks),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
