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
#include "fmt/rawprogram.h"

/*
 * The real EM12-G manifests are copied under tests/data/real/ (public
 * files). meson passes no environment, so find them from __FILE__, which is
 * relative to the build root (three levels above this executable).
 */
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

static int parse_str(const char *xml, struct mfw_rp_file *f)
{
	mfw_ctx_clear_detail(ctx);
	return mfw_rp_parse(ctx, "t.xml", xml, strlen(xml), f);
}

static void test_real_rawprogram(void **state)
{
	static const char *const order[] = {
		"PAGES_PER_BLOCK", "SECTOR_SIZE_IN_BYTES", "label", "last_sector",
		"num_partition_sectors", "physical_partition_number", "start_sector",
	};
	struct mfw_rp_file f;
	char path[PATH_MAX];
	size_t programs = 0, erases = 0;
	const struct mfw_rp_elem *e;
	(void)state;

	fixture("rawprogram_nand_p4K_b256K_update.xml", path, sizeof(path));
	assert_int_equal(mfw_rp_load(ctx, path, &f), 0);
	assert_int_equal(f.doc, MFW_RP_DOC_RAWPROGRAM);
	assert_string_equal(f.name, "rawprogram_nand_p4K_b256K_update.xml");
	assert_int_equal(f.nelem, 24);
	for (size_t i = 0; i < f.nelem; i++) {
		programs += f.elems[i].kind == MFW_RP_PROGRAM;
		erases += f.elems[i].kind == MFW_RP_ERASE;
		assert_int_equal(f.elems[i].line, 7 + i);
		assert_int_equal(f.elems[i].sector_size, 4096);
		assert_int_equal(f.elems[i].pages_per_block, 64);
		assert_true(f.elems[i].has_last_sector);
	}
	assert_int_equal(programs, 12);
	assert_int_equal(erases, 12);

	/* 1: erase SBL, attributes in document order */
	e = &f.elems[0];
	assert_string_equal(e->tag, "erase");
	assert_int_equal(e->nattr, 7);
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(e->attrs[i].name, order[i]);
	assert_string_equal(e->attrs[2].value, "SBL");
	assert_string_equal(e->label, "SBL");
	assert_string_equal(e->start_sector, "0");
	assert_int_equal(e->num_partition_sectors, 640);
	assert_int_equal(e->last_sector, 639);
	assert_string_equal(e->filename, "");

	/* 3: program TZ from "..\tz.mbn" */
	e = &f.elems[2];
	assert_int_equal(e->kind, MFW_RP_PROGRAM);
	assert_string_equal(e->label, "TZ");
	assert_string_equal(e->filename, "../tz.mbn");
	assert_string_equal(mfw_rp_attr(e, "filename"), "..\\tz.mbn"); /* verbatim */
	assert_string_equal(e->attrs[2].name, "filename");
	assert_int_equal(e->num_partition_sectors, 768);
	assert_string_equal(e->start_sector, "8448");
	assert_int_equal(e->physical_partition_number, 0);
	assert_false(e->sparse);

	/* 2: MIBIB image without a directory */
	assert_string_equal(f.elems[1].filename, "partition_complete_p4K_b256K.mbn");
	/* 24: SBL programmed last */
	e = &f.elems[23];
	assert_int_equal(e->kind, MFW_RP_PROGRAM);
	assert_string_equal(e->filename, "../sbl1.mbn");
	assert_int_equal(e->line, 30);
	mfw_rp_file_free(&f);
}

static void test_real_patch(void **state)
{
	struct mfw_rp_file f;
	char path[PATH_MAX];
	const struct mfw_rp_elem *e;
	(void)state;

	fixture("patch_p4K_b256K.xml", path, sizeof(path));
	assert_int_equal(mfw_rp_load(ctx, path, &f), 0);
	assert_int_equal(f.doc, MFW_RP_DOC_PATCH);
	assert_int_equal(f.nelem, 2);
	e = &f.elems[0];
	assert_int_equal(e->kind, MFW_RP_PATCH);
	assert_int_equal(e->line, 5);
	assert_int_equal(e->byte_offset, 568);
	assert_int_equal(e->size_in_bytes, 4);
	assert_string_equal(e->start_sector, "1");
	assert_string_equal(e->value, "NUM_DISK_BLOCKS-1904.");
	assert_string_equal(e->what, "Update MIBIB partition last sector size limit");
	assert_string_equal(e->filename, "partition_complete_p4K_b256K.mbn");
	assert_int_equal(e->sector_size, 4096);
	assert_string_equal(e->attrs[0].name, "SECTOR_SIZE_IN_BYTES");
	assert_string_equal(e->attrs[7].name, "what");
	e = &f.elems[1];
	assert_int_equal(e->byte_offset, 12);
	assert_string_equal(e->start_sector, "3");
	assert_string_equal(e->value, "CRC32(0,8192)");
	mfw_rp_file_free(&f);
}

static void test_nand_erase_defaults(void **state)
{
	struct mfw_rp_file f;
	(void)state;

	assert_int_equal(parse_str("<?xml version=\"1.0\"?>\n<data>\n"
				   "<erase PAGES_PER_BLOCK=\"64\" SECTOR_SIZE_IN_BYTES=\"4096\" label=\"modem\" "
				   "num_partition_sectors=\"18432\" start_sector=\"21824\"/>\n"
				   "<read SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a\\b.bin\" start_sector=\"NUM_DISK_SECTORS-5.\"/>\n"
				   "<zeroout foo=\"bar\"/>\n"
				   "<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"\" num_partition_sectors=\"0x10\" "
				   "start_sector=\"NUM_DISK_SECTORS-33.\" sparse=\"true\" file_sector_offset=\"7\"/>\n"
				   "</data>\n", &f), 0);
	assert_int_equal(f.nelem, 4);
	assert_int_equal(f.elems[0].kind, MFW_RP_ERASE);
	assert_int_equal(f.elems[0].physical_partition_number, 0);
	assert_null(mfw_rp_attr(&f.elems[0], "physical_partition_number"));
	assert_false(f.elems[0].has_last_sector);
	assert_int_equal(f.elems[1].kind, MFW_RP_OTHER);
	assert_string_equal(f.elems[1].tag, "read");
	assert_string_equal(f.elems[1].filename, "a/b.bin");
	assert_string_equal(f.elems[2].tag, "zeroout");
	assert_int_equal(f.elems[2].nattr, 1);
	assert_int_equal(f.elems[3].num_partition_sectors, 16);
	assert_string_equal(f.elems[3].start_sector, "NUM_DISK_SECTORS-33.");
	assert_true(f.elems[3].sparse);
	assert_int_equal(f.elems[3].file_sector_offset, 7);
	assert_string_equal(f.elems[3].filename, "");
	mfw_rp_file_free(&f);
}

static void expect_format(const char *xml, const char *needle)
{
	struct mfw_rp_file f;

	assert_int_equal(parse_str(xml, &f), MFW_E_FORMAT);
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
	assert_int_equal(f.nelem, 0);
	assert_null(f.elems);
}

static void test_rejects(void **state)
{
	(void)state;
	expect_format("<data><program", "malformed XML");
	expect_format("", "t.xml");
	expect_format("<root/>", "expected <data> or <patches>");
	expect_format("<data>\n<erase label=\"x\"/>\n<program filename=\"a\" num_partition_sectors=\"1\" start_sector=\"0\"/></data>",
		      "line 2: <erase> lacks required attribute 'SECTOR_SIZE_IN_BYTES'");
	expect_format("<data>\n\n<program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"a\" num_partition_sectors=\"12x\" start_sector=\"0\"/></data>",
		      "t.xml line 3: <program> attribute 'num_partition_sectors' is not a number: '12x'");
	expect_format("<data><program SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" start_sector=\"0\"/></data>",
		      "'filename'");
	expect_format("<data><program SECTOR_SIZE_IN_BYTES=\"500\" filename=\"\" num_partition_sectors=\"1\" start_sector=\"0\"/></data>",
		      "power of two");
	expect_format("<data><program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"\" num_partition_sectors=\"1\" start_sector=\"\"/></data>",
		      "'start_sector'");
	expect_format("<data><program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"\" num_partition_sectors=\"99999999999999999999999\" start_sector=\"0\"/></data>",
		      "out of range");
	expect_format("<data><program SECTOR_SIZE_IN_BYTES=\"512\" filename=\"\" num_partition_sectors=\"1\" start_sector=\"0\" sparse=\"yes\"/></data>",
		      "'sparse'");
	expect_format("<patches><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" size_in_bytes=\"9\" start_sector=\"1\" value=\"0\"/></patches>",
		      "'size_in_bytes' must be 1..8");
	expect_format("<patches><patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" size_in_bytes=\"4\" start_sector=\"1\"/></patches>",
		      "lacks required attribute 'value'");
	/* no DTD, no entity expansion */
	expect_format("<?xml version=\"1.0\"?><!DOCTYPE data [<!ENTITY x \"evil\">]><data><erase SECTOR_SIZE_IN_BYTES=\"512\" label=\"&x;\" num_partition_sectors=\"1\" start_sector=\"0\"/></data>",
		      "DTD");
	expect_format("<?xml version=\"1.0\"?><!DOCTYPE data SYSTEM \"http://example.invalid/x.dtd\"><data/>", "DTD");
	expect_format("<data><erase SECTOR_SIZE_IN_BYTES=\"512\" SECTOR_SIZE_IN_BYTES=\"512\"/></data>", "malformed XML");
}

static void test_attrs_replace(void **state)
{
	struct mfw_rp_file f;
	struct mfw_fh_attr *a;
	size_t n;
	(void)state;

	assert_int_equal(parse_str("<data><program SECTOR_SIZE_IN_BYTES=\"4096\" filename=\"x\" "
				   "num_partition_sectors=\"18432\" label=\"modem\" start_sector=\"1\"/></data>", &f), 0);
	assert_int_equal(mfw_rp_attrs_replace(f.elems[0].attrs, f.elems[0].nattr, "num_partition_sectors",
					      "5000", &a, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(a[2].name, "num_partition_sectors");
	assert_string_equal(a[2].value, "5000");
	assert_string_equal(a[3].value, "modem");
	assert_string_equal(f.elems[0].attrs[2].value, "18432"); /* source untouched */
	mfw_rp_attrs_free(a, n);

	assert_int_equal(mfw_rp_attrs_replace(f.elems[0].attrs, f.elems[0].nattr, "PAGES_PER_BLOCK",
					      "64", &a, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(a[5].name, "PAGES_PER_BLOCK");
	assert_string_equal(a[5].value, "64");
	mfw_rp_attrs_free(a, n);
	mfw_rp_file_free(&f);
}

static void test_path_normalise(void **state)
{
	char p[] = "..\\update\\tz.mbn";
	(void)state;

	mfw_rp_path_normalise(p);
	assert_string_equal(p, "../update/tz.mbn");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_rawprogram),
		cmocka_unit_test(test_real_patch),
		cmocka_unit_test(test_nand_erase_defaults),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_attrs_replace),
		cmocka_unit_test(test_path_normalise),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
