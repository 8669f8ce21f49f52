/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/core.h"
#include "fmt/md5sum.h"

static struct mfw_ctx *ctx;

static int setup(void **state)
{
	(void)state;
	return mfw_ctx_new(&ctx);
}

static int teardown(void **state)
{
	(void)state;
	mfw_ctx_free(ctx);
	return 0;
}

static int parse(const char *text, struct mfw_md5sum *m)
{
	mfw_ctx_clear_detail(ctx);
	return mfw_md5sum_parse(ctx, "md5.txt", text, strlen(text), m);
}

static void test_forms(void **state)
{
	struct mfw_md5sum m;
	const struct mfw_md5_entry *e;
	(void)state;

	assert_int_equal(parse("\xEF\xBB\xBF"
			       "d41d8cd98f00b204e9800998ecf8427e  update/sbl1.mbn\r\n"
			       "\r\n"
			       "900150983CD24FB0D6963F7D28E17F72 *update\\firehose\\prog_nand_firehose_9x07.mbn\r\n"
			       "   \n"
			       "9e107d9d372bb6826bd81d3542a419d6  .\\update\\tz.mbn  \n"
			       "0123456789abcdef0123456789abcdef\tcontents.xml", &m), 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.entries[0].path, "update/sbl1.mbn");
	assert_int_equal(m.entries[0].line, 1);
	assert_memory_equal(m.entries[0].md5, "\xd4\x1d\x8c\xd9\x8f\x00\xb2\x04\xe9\x80\x09\x98\xec\xf8\x42\x7e", 16);
	assert_string_equal(m.entries[1].path, "update/firehose/prog_nand_firehose_9x07.mbn");
	assert_int_equal(m.entries[1].md5[0], 0x90);
	assert_string_equal(m.entries[2].path, "update/tz.mbn");
	assert_int_equal(m.entries[2].line, 5);
	assert_string_equal(m.entries[3].path, "contents.xml");

	e = mfw_md5sum_find(&m, "update\\tz.mbn");
	assert_non_null(e);
	assert_int_equal(e->md5[0], 0x9e);
	assert_non_null(mfw_md5sum_find(&m, "./update/firehose/../sbl1.mbn"));
	assert_non_null(mfw_md5sum_find(&m, "UPDATE/SBL1.MBN"));
	assert_null(mfw_md5sum_find(&m, "update/rpm.mbn"));
	assert_null(mfw_md5sum_find(&m, "../update/tz.mbn"));
	mfw_md5sum_free(&m);

	assert_int_equal(parse("", &m), 0);
	assert_int_equal(m.n, 0);
	mfw_md5sum_free(&m);
}

static void expect_format(const char *text, const char *needle)
{
	struct mfw_md5sum m;

	assert_int_equal(parse(text, &m), MFW_E_FORMAT);
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
	assert_int_equal(m.n, 0);
}

static void test_rejects(void **state)
{
	(void)state;
	expect_format("d41d8cd98f00b204e9800998ecf8427e  a\nnot a line\n", "md5.txt line 2");
	expect_format("d41d8cd98f00b204e9800998ecf8427  a\n", "line 1: does not start with 32 hex");
	expect_format("d41d8cd98f00b204e9800998ecf8427g  a\n", "32 hex");
	expect_format("d41d8cd98f00b204e9800998ecf8427ea\n", "no blank");
	expect_format("d41d8cd98f00b204e9800998ecf8427e  \n", "no file name");
	expect_format("d41d8cd98f00b204e9800998ecf8427e *\n", "no file name");
	expect_format("d41d8cd98f00b204e9800998ecf8427e  ../etc/passwd\n", "not a relative path");
	expect_format("d41d8cd98f00b204e9800998ecf8427e  /etc/passwd\n", "not a relative path");
	expect_format("d41d8cd98f00b204e9800998ecf8427e  C:\\x\n", "not a relative path");
	expect_format("d41d8cd98f00b204e9800998ecf8427e  a\n900150983cd24fb0d6963f7d28e17f72  ./a\n",
		      "listed again");
}

static void test_duplicate_same_hash(void **state)
{
	struct mfw_md5sum m;
	(void)state;

	assert_int_equal(parse("d41d8cd98f00b204e9800998ecf8427e  a\nd41d8cd98f00b204e9800998ecf8427e  a\n", &m), 0);
	assert_int_equal(m.n, 1);
	mfw_md5sum_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_duplicate_same_hash),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
