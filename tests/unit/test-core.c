/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "util/crc.h"
#include "util/fs.h"
#include "util/json.h"

#include <fcntl.h>
#include <unistd.h>

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(mfw_error_name(MFW_E_TIMEOUT), "MFW_E_TIMEOUT");
	assert_string_equal(mfw_strerror(MFW_E_NAK), "request refused by device");
	assert_string_equal(mfw_error_name(-9999), "MFW_E_UNKNOWN");
}

static char last_log[256];
static void capture_log(void *user, enum mfw_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static void test_detail_and_log(void **state)
{
	struct mfw_ctx *ctx;
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_string_equal(mfw_ctx_detail(ctx), "");
	assert_int_equal(mfw_fail(ctx, MFW_E_NAK, "erase of '%s' refused", "modem"), MFW_E_NAK);
	assert_string_equal(mfw_ctx_detail(ctx), "erase of 'modem' refused");
	/* keep: the innermost reason survives */
	mfw_fail_keep(ctx, MFW_E_IO, "outer");
	assert_string_equal(mfw_ctx_detail(ctx), "erase of 'modem' refused");
	mfw_ctx_clear_detail(ctx);
	mfw_fail_keep(ctx, MFW_E_IO, "outer");
	assert_string_equal(mfw_ctx_detail(ctx), "outer");

	mfw_ctx_set_log(ctx, capture_log, NULL);
	last_log[0] = '\0';
	mfw_dbg(ctx, "hidden %d", 1); /* default level is info */
	assert_string_equal(last_log, "");
	mfw_notice(ctx, "shown %d", 2);
	assert_string_equal(last_log, "shown 2");
	mfw_ctx_free(ctx);
}

static void test_cancel(void **state)
{
	struct mfw_ctx *ctx;
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_false(mfw_cancelled(ctx));
	mfw_ctx_cancel(ctx);
	assert_true(mfw_cancelled(ctx));
	mfw_ctx_cancel(ctx);
	assert_int_equal(mfw_ctx_cancel_count(ctx), 2);
	mfw_ctx_free(ctx);
}

static void test_deadlines(void **state)
{
	(void)state;
	mfw_deadline_t d = mfw_deadline_in(10000);
	assert_false(mfw_deadline_passed(d));
	assert_true(mfw_deadline_left(d) > 9000 && mfw_deadline_left(d) <= 10000);
	assert_true(mfw_deadline_passed(mfw_deadline_in(0)));
	assert_int_equal(mfw_deadline_left(mfw_now_ms() - 5), 0);
	assert_int_equal(mfw_deadline_min(5, 7), 5);
	assert_false(mfw_deadline_passed(MFW_DEADLINE_NONE));
}

static void test_crc(void **state)
{
	(void)state;
	/* published check values */
	assert_int_equal(mfw_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(mfw_crc16_x25("123456789", 9), 0x906E);
	/* chaining equals one pass */
	assert_int_equal(mfw_crc32(mfw_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	/* reference diag.md worked vector: switch-to-EDL payload */
	const uint8_t edl[] = { 0x4B, 0x65, 0x01, 0x00 };
	assert_int_equal(mfw_crc16_x25(edl, sizeof(edl)), 0x0F54);
}

/* The manifests' string escaping: quotes, backslashes, control characters and DEL. */
static void test_json_str(void **state)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	(void)state;

	assert_non_null(f);
	mfw_json_put_str(f, "a\"b\\c\n\x01\x7f\xc3\xa9");
	fputc(' ', f);
	mfw_json_put_str(f, "");
	fputc(' ', f);
	mfw_json_put_str(f, NULL);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\" \"\" \"\"");
	free(out);
}

/* The file loops of util/fs.c: exact ranges, a short file, a full disk. */
static void test_fs_all(void **state)
{
	char path[] = "/tmp/mfw-test-fs-XXXXXX";
	uint8_t out[100000], in[100000];
	int fd = mkstemp(path), full;
	(void)state;

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 13 + 7);
	assert_int_equal(mfw_write_all(fd, out, 1000), 0);
	/* a hole, then the rest at an offset past the end */
	assert_int_equal(mfw_pwrite_all(fd, out, sizeof(out), 5000), 0);
	assert_int_equal(mfw_pread_all(fd, in, sizeof(in), 5000), 0);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(mfw_pread_all(fd, in, 1000, 0), 0);
	assert_memory_equal(in, out, 1000);
	assert_int_equal(mfw_pread_all(fd, in, 10, 1000), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(in[i], 0);
	/* asking for more than the file has */
	assert_int_equal(mfw_pread_all(fd, in, 2, 5000 + sizeof(out) - 1), MFW_E_RANGE);
	close(fd);
	unlink(path);
	full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		assert_int_equal(mfw_write_all(full, out, 10), MFW_E_NOSPC);
		assert_int_equal(mfw_pwrite_all(full, out, 10, 0), MFW_E_NOSPC);
		close(full);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_detail_and_log),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_crc),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_fs_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
