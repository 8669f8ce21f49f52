/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "fmt/mibib.h"
#include "fmt/rawprogram.h"
#include "util/bytes.h"
#include "util/crc.h"

#define PAGE 4096
#define PPB 64
#define BLOCKS 2048
#define IMG (MFW_MIBIB_PAGES * PAGE)

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

/* See test-rawprogram.c: __FILE__ is relative to the build root. */
static void fixture(const char *name, char *out, size_t cap)
{
	char exe[PATH_MAX];
	char dir[PATH_MAX];
	ssize_t n;

	if (__FILE__[0] == '/') {
		snprintf(dir, sizeof(dir), "%s", __FILE__);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		assert_true(n > 0);
		exe[n] = '\0';
		for (int up = 0; up < 3; up++)
			*strrchr(exe, '/') = '\0';
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", exe, __FILE__) >= sizeof(dir))
			fail_msg("path too long");
	}
	*strrchr(dir, '/') = '\0';
	if ((size_t)snprintf(out, cap, "%s/../data/real/quectel-em12g/%s", dir, name) >= cap)
		fail_msg("path too long");
}

static void range(const struct mfw_mibib *m, const char *label, uint64_t first, uint64_t last)
{
	uint64_t a, b;

	assert_int_equal(mfw_mibib_range(ctx, m, label, PPB, BLOCKS, &a, &b), 0);
	assert_int_equal(a, first);
	assert_int_equal(b, last);
}

static void test_canonical_package_form(void **state)
{
	static uint8_t img[IMG];
	struct mfw_mibib m;
	uint64_t a, b;
	(void)state;

	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_PACKAGE, img,
						   sizeof(img)), IMG);
	/* byte layout per docs/formats.md */
	assert_int_equal(mfw_get_le32(img), MFW_MIBIB_MAGIC1);
	assert_int_equal(mfw_get_le32(img + 12), 1);
	assert_int_equal(img[16], 0xFF);
	assert_int_equal(mfw_get_le32(img + PAGE), MFW_MIBIB_SYS_MAGIC1);
	assert_int_equal(mfw_get_le32(img + PAGE + 12), 20);
	assert_memory_equal(img + PAGE + 16, "0:SBL\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_memory_equal(img + PAGE + 16 + 28 * 19, "0:usrfs", 8);
	assert_int_equal(mfw_get_le32(img + PAGE + 16 + 28 * 19 + 16), 1904);
	assert_int_equal(mfw_get_le32(img + PAGE + 568), 0xFFFFFFFFu);
	assert_int_equal(img[PAGE + 16 + 28 * 20], 0xFF);
	assert_memory_equal(img + 2 * PAGE + 16, "SBL\0", 4);
	assert_int_equal(mfw_get_le32(img + 2 * PAGE + 8), 1);
	assert_int_equal(mfw_get_le32(img + 3 * PAGE + 12), 0);

	assert_int_equal(mfw_mibib_parse(ctx, img, sizeof(img), PAGE, &m), 0);
	assert_int_equal(m.nparts, 20);
	assert_int_equal(m.nuser, 20);
	assert_string_equal(m.user[2].name, "EFS2");
	assert_int_equal(m.crc_stored, 0);
	assert_int_equal(m.crc_computed, mfw_crc32(0, img, 2 * PAGE));
	range(&m, "SBL", 0, 639);
	range(&m, "mibib", 640, 1279);
	range(&m, "0:EFS2", 1280, 6911);
	range(&m, "efs2", 1280, 6911);
	range(&m, "TZ", 8448, 9215);
	range(&m, "boot", 10752, 14143);
	range(&m, "modem", 21824, 40255);
	range(&m, "usrfs", 121856, 131071);
	assert_string_equal(mfw_mibib_find(&m, "ABOOT")->name, "0:aboot");
	assert_null(mfw_mibib_find(&m, "nope"));
	assert_int_equal(mfw_mibib_range(ctx, &m, "nope", PPB, BLOCKS, &a, &b), MFW_E_NOENT);
	/* to-the-end needs the device size */
	assert_int_equal(mfw_mibib_range(ctx, &m, "usrfs", PPB, 0, &a, &b), MFW_E_RANGE);
	assert_int_equal(mfw_mibib_range(ctx, &m, "cache", PPB, 1000, &a, &b), MFW_E_RANGE);
}

/* The real EM12-G patch_p4K_b256K.xml, applied by hand, gives the device form. */
static void test_real_patches(void **state)
{
	static uint8_t img[IMG], dev[IMG];
	struct mfw_rp_file pf;
	struct mfw_mibib m;
	char path[PATH_MAX];
	(void)state;

	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_PACKAGE, img,
						   sizeof(img)), IMG);
	fixture("patch_p4K_b256K.xml", path, sizeof(path));
	assert_int_equal(mfw_rp_load(ctx, path, &pf), 0);
	assert_int_equal(pf.nelem, 2);
	/* NUM_DISK_BLOCKS-1904. at sector 1 byte 568: the length of entry 19 (usrfs) */
	assert_int_equal(pf.elems[0].byte_offset, 568);
	assert_string_equal(pf.elems[0].start_sector, "1");
	mfw_put_le32(img + 1 * PAGE + pf.elems[0].byte_offset, BLOCKS - 1904);
	/* CRC32(0,8192) at sector 3 byte 12, computed after the length patch */
	assert_int_equal(pf.elems[1].byte_offset, 12);
	assert_string_equal(pf.elems[1].start_sector, "3");
	mfw_put_le32(img + 3 * PAGE + pf.elems[1].byte_offset, mfw_crc32(0, img, 8192));
	mfw_rp_file_free(&pf);

	assert_int_equal(mfw_mibib_parse(ctx, img, sizeof(img), PAGE, &m), 0);
	assert_int_equal(m.parts[19].length, 144);
	assert_true(m.crc_stored != 0);
	assert_int_equal(m.crc_stored, m.crc_computed);
	range(&m, "usrfs", 121856, 131071);

	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_DEVICE, dev,
						   sizeof(dev)), IMG);
	assert_memory_equal(img, dev, IMG);

	/* a flipped bit in page 1 is caught by the check page */
	dev[PAGE + 100] ^= 0x10;
	mfw_ctx_clear_detail(ctx);
	assert_int_equal(mfw_mibib_parse(ctx, dev, sizeof(dev), PAGE, &m), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "CRC"));
}

/* Every range the real EM12-G rawprogram touches is exactly one canonical partition. */
static void test_real_rawprogram_agrees(void **state)
{
	static uint8_t img[IMG];
	struct mfw_rp_file f;
	struct mfw_mibib m;
	char path[PATH_MAX];
	(void)state;

	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_DEVICE, img,
						   sizeof(img)), IMG);
	assert_int_equal(mfw_mibib_parse(ctx, img, sizeof(img), PAGE, &m), 0);
	fixture("rawprogram_nand_p4K_b256K_update.xml", path, sizeof(path));
	assert_int_equal(mfw_rp_load(ctx, path, &f), 0);
	for (size_t i = 0; i < f.nelem; i++) {
		const struct mfw_rp_elem *e = &f.elems[i];
		uint64_t a, b;

		assert_int_equal(mfw_mibib_range(ctx, &m, e->label, e->pages_per_block, BLOCKS, &a, &b), 0);
		assert_int_equal(a, strtoull(e->start_sector, NULL, 10));
		assert_int_equal(b, e->last_sector);
		assert_int_equal(b - a + 1, e->num_partition_sectors);
	}
	mfw_rp_file_free(&f);
}

static void expect_bad(uint8_t *img, const char *needle)
{
	struct mfw_mibib m;

	mfw_ctx_clear_detail(ctx);
	assert_int_equal(mfw_mibib_parse(ctx, img, IMG, PAGE, &m), MFW_E_FORMAT);
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
}

static void test_rejects(void **state)
{
	static uint8_t good[IMG], img[IMG];
	struct mfw_mibib m;
	(void)state;

	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_PACKAGE, good,
						   sizeof(good)), IMG);
	memcpy(img, good, IMG);
	img[0] ^= 1;
	expect_bad(img, "header page: bad magic");
	memcpy(img, good, IMG);
	mfw_put_le32(img + PAGE + 4, 0);
	expect_bad(img, "system table: bad magic");
	memcpy(img, good, IMG);
	mfw_put_le32(img + PAGE + 12, 200);
	expect_bad(img, "do not fit");
	memcpy(img, good, IMG);
	mfw_put_le32(img + PAGE + 16 + 28 * 3 + 20, 0xFFFFFFFFu);
	expect_bad(img, "only the last partition");
	memcpy(img, good, IMG);
	mfw_put_le32(img + PAGE + 16 + 28 * 5 + 16, 100);
	expect_bad(img, "overlaps");
	memcpy(img, good, IMG);
	img[PAGE + 16 + 10] = 'X'; /* garbage after "0:SBL\0" */
	expect_bad(img, "NUL-padded");
	memcpy(img, good, IMG);
	memset(img + PAGE + 16 + 28 * 2, 0, 16);
	expect_bad(img, "empty name");
	memcpy(img, good, IMG);
	mfw_put_le32(img + 3 * PAGE + 8, 5);
	expect_bad(img, "check page");
	memcpy(img, good, IMG);
	mfw_put_le32(img + 2 * PAGE + 8, 2);
	expect_bad(img, "user table: version");

	assert_int_equal(mfw_mibib_parse(ctx, good, IMG - 1, PAGE, &m), MFW_E_FORMAT);
	assert_int_equal(mfw_mibib_parse(ctx, good, IMG, 3000, &m), MFW_E_INVAL);
	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, BLOCKS, MFW_MIBIB_FORM_PACKAGE, img,
						   IMG - 1), MFW_E_RANGE);
	/* the device form needs a device that reaches past usrfs */
	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, PPB, 1904, MFW_MIBIB_FORM_DEVICE, img,
						   IMG), MFW_E_RANGE);
	assert_int_equal(mfw_mibib_build_canonical(ctx, PAGE, 0, BLOCKS, MFW_MIBIB_FORM_DEVICE, img,
						   IMG), MFW_E_INVAL);
}

static void test_2k_pages(void **state)
{
	static uint8_t img[4 * 2048];
	struct mfw_mibib m;
	uint64_t a, b;
	(void)state;

	assert_int_equal(mfw_mibib_build_canonical(ctx, 2048, 64, 4096, MFW_MIBIB_FORM_DEVICE, img,
						   sizeof(img)), (int)sizeof(img));
	assert_int_equal(mfw_mibib_parse(ctx, img, sizeof(img), 2048, &m), 0);
	assert_int_equal(m.crc_stored, mfw_crc32(0, img, 4096));
	assert_int_equal(mfw_mibib_range(ctx, &m, "usrfs", 64, 4096, &a, &b), 0);
	assert_int_equal(a, 1904 * 64);
	assert_int_equal(b, 4096 * 64 - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_package_form),
		cmocka_unit_test(test_real_patches),
		cmocka_unit_test(test_real_rawprogram_agrees),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_2k_pages),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
