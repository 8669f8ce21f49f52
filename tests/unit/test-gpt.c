/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "fmt/gpt.h"
#include "util/bytes.h"
#include "util/crc.h"

#define DISK 8388608ull /* 4 GiB of 512-byte sectors */

static struct mfw_ctx *ctx;
static struct mfw_gpt g, h;
static uint8_t prim[34 * 512], back[33 * 512], prim2[34 * 512], back2[33 * 512];

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

static void expect_detail(const char *needle)
{
	if (!strstr(mfw_ctx_detail(ctx), needle))
		fail_msg("detail '%s' lacks '%s'", mfw_ctx_detail(ctx), needle);
}

static void test_sizes(void **state)
{
	(void)state;
	assert_int_equal(mfw_gpt_entry_sectors(512), 32);
	assert_int_equal(mfw_gpt_entry_sectors(4096), 4);
	assert_int_equal(mfw_gpt_primary_size(512), 34 * 512);
	assert_int_equal(mfw_gpt_backup_size(512), 33 * 512);
	assert_int_equal(mfw_gpt_primary_size(4096), 6 * 4096);
}

static void test_canonical_device(void **state)
{
	const struct mfw_gpt_part *p;
	uint8_t guid[16];
	(void)state;

	assert_int_equal(mfw_gpt_canonical(ctx, 512, DISK, MFW_GPT_FORM_DEVICE, &g), 0);
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK, prim, sizeof(prim)), (int)sizeof(prim));
	assert_int_equal(mfw_gpt_build_backup(ctx, &g, back, sizeof(back)), (int)sizeof(back));

	/* raw bytes: protective MBR, header, first entry */
	assert_int_equal(prim[450], 0xEE);
	assert_int_equal(mfw_get_le32(prim + 454), 1);
	assert_int_equal(mfw_get_le32(prim + 458), DISK - 1);
	assert_int_equal(prim[510], 0x55);
	assert_int_equal(prim[511], 0xAA);
	assert_memory_equal(prim + 512, "EFI PART", 8);
	assert_int_equal(mfw_get_le64(prim + 512 + 32), DISK - 1);
	assert_int_equal(mfw_get_le64(prim + 512 + 48), DISK - 34);
	assert_memory_equal(prim + 1024, mfw_gpt_type_basic_data, 16);
	assert_memory_equal(prim + 1024 + 56, "s\0b\0l\0" "1\0\0\0", 10);
	assert_int_equal(mfw_get_le32(prim + 512 + 88), mfw_crc32(0, prim + 1024, 16384));

	assert_int_equal(mfw_gpt_parse(ctx, prim, sizeof(prim), 512, 0, &h), 0);
	assert_int_equal(h.nparts, 13);
	assert_int_equal(h.current_lba, 1);
	assert_int_equal(h.backup_lba, DISK - 1);
	assert_int_equal(h.first_usable, 34);
	assert_int_equal(h.last_usable, DISK - 34);
	p = mfw_gpt_find(&h, "modemst1");
	assert_non_null(p);
	assert_int_equal(p->first_lba, 77824);
	assert_int_equal(p->last_lba, 81919);
	p = mfw_gpt_find(&h, "USERDATA");
	assert_non_null(p);
	assert_int_equal(p->index, 12);
	assert_int_equal(p->first_lba, 2516992);
	assert_int_equal(p->last_lba, DISK - 34);
	assert_null(mfw_gpt_find(&h, "efs2"));
	/* deterministic, distinct unique GUIDs with RFC 4122 bits */
	mfw_gpt_guid_from_name("modemst1", guid);
	assert_memory_equal(mfw_gpt_find(&h, "modemst1")->unique_guid, guid, 16);
	assert_memory_not_equal(mfw_gpt_find(&h, "modemst2")->unique_guid, guid, 16);
	assert_int_equal(guid[7] >> 4, 4);
	assert_int_equal(guid[8] >> 6, 2);

	assert_int_equal(mfw_gpt_parse_backup(ctx, back, sizeof(back), 512, 0, &h), 0);
	assert_int_equal(h.current_lba, DISK - 1);
	assert_int_equal(h.backup_lba, 1);
	assert_int_equal(h.entries_lba, DISK - 33);
	assert_int_equal(h.nparts, 13);
	assert_memory_equal(back, prim + 1024, 16384);
}

/* Package form + the fix-ups a ptool patch0.xml carries = the device form, byte for byte. */
static void test_package_form_patched(void **state)
{
	struct mfw_gpt pg;
	uint8_t *hdr, *bh;
	(void)state;

	assert_int_equal(mfw_gpt_canonical(ctx, 512, DISK, MFW_GPT_FORM_DEVICE, &g), 0);
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK, prim, sizeof(prim)), (int)sizeof(prim));
	assert_int_equal(mfw_gpt_build_backup(ctx, &g, back, sizeof(back)), (int)sizeof(back));

	assert_int_equal(mfw_gpt_canonical(ctx, 512, 0, MFW_GPT_FORM_PACKAGE, &pg), 0);
	assert_int_equal(mfw_gpt_build_primary(ctx, &pg, 0, prim2, sizeof(prim2)), (int)sizeof(prim2));
	assert_int_equal(mfw_gpt_build_backup(ctx, &pg, back2, sizeof(back2)), (int)sizeof(back2));
	hdr = prim2 + 512;
	bh = back2 + 32 * 512;
	assert_int_equal(mfw_get_le32(hdr + 16), 0);
	assert_int_equal(mfw_get_le64(hdr + 48), 0);
	mfw_ctx_clear_detail(ctx);
	assert_int_equal(mfw_gpt_parse(ctx, prim2, sizeof(prim2), 512, 0, &h), MFW_E_FORMAT);
	assert_int_equal(mfw_gpt_parse(ctx, prim2, sizeof(prim2), 512, MFW_GPT_NO_CRC, &h), 0);
	assert_int_equal(h.nparts, 13);
	assert_int_equal(mfw_gpt_find(&h, "userdata")->last_lba, 0);
	assert_int_equal(mfw_gpt_parse_backup(ctx, back2, sizeof(back2), 512, MFW_GPT_NO_CRC, &h), 0);

	/* primary: MBR size, userdata end, last usable, backup LBA, entries CRC, header CRC */
	mfw_put_le32(prim2 + 458, (uint32_t)(DISK - 1));
	mfw_put_le64(prim2 + 1024 + 12 * 128 + 40, DISK - 34);
	mfw_put_le64(hdr + 48, DISK - 34);
	mfw_put_le64(hdr + 32, DISK - 1);
	mfw_put_le32(hdr + 88, mfw_crc32(0, prim2 + 2 * 512, 16384));
	mfw_put_le32(hdr + 16, 0);
	mfw_put_le32(hdr + 16, mfw_crc32(0, hdr, 92));
	assert_memory_equal(prim2, prim, sizeof(prim));

	/* backup: userdata end, current LBA, entries LBA, last usable, both CRCs */
	mfw_put_le64(back2 + 12 * 128 + 40, DISK - 34);
	mfw_put_le64(bh + 24, DISK - 1);
	mfw_put_le64(bh + 72, DISK - 33);
	mfw_put_le64(bh + 48, DISK - 34);
	mfw_put_le32(bh + 88, mfw_crc32(0, back2, 16384));
	mfw_put_le32(bh + 16, 0);
	mfw_put_le32(bh + 16, mfw_crc32(0, bh, 92));
	assert_memory_equal(back2, back, sizeof(back));
	assert_int_equal(mfw_gpt_parse_backup(ctx, back2, sizeof(back2), 512, 0, &h), 0);
}

static void test_4k_sectors(void **state)
{
	static uint8_t p4[6 * 4096], b4[5 * 4096];
	(void)state;

	assert_int_equal(mfw_gpt_canonical(ctx, 4096, DISK / 8, MFW_GPT_FORM_DEVICE, &g), 0);
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK / 8, p4, sizeof(p4)), (int)sizeof(p4));
	assert_int_equal(mfw_gpt_build_backup(ctx, &g, b4, sizeof(b4)), (int)sizeof(b4));
	assert_int_equal(mfw_gpt_parse(ctx, p4, sizeof(p4), 4096, 0, &h), 0);
	assert_int_equal(h.first_usable, 6);
	assert_int_equal(h.last_usable, DISK / 8 - 6);
	assert_int_equal(mfw_gpt_find(&h, "sbl1")->first_lba, 256);
	assert_int_equal(mfw_gpt_find(&h, "sbl1")->last_lba, 511);
	assert_int_equal(mfw_gpt_parse_backup(ctx, b4, sizeof(b4), 4096, 0, &h), 0);
	assert_int_equal(h.entries_lba, DISK / 8 - 5);
	assert_int_equal(mfw_gpt_parse(ctx, p4, sizeof(p4), 512, 0, &h), MFW_E_FORMAT);
	assert_int_equal(mfw_gpt_parse(ctx, p4, sizeof(p4), 1024, 0, &h), MFW_E_INVAL);
}

/* A small whole disk: primary + backup, consistency between them. */
static void test_whole_disk(void **state)
{
	const uint64_t n = 2048;
	uint8_t *disk = calloc(n, 512);
	(void)state;

	assert_non_null(disk);
	memset(&g, 0, sizeof(g));
	g.sector_size = 512;
	g.current_lba = 1;
	g.backup_lba = n - 1;
	g.first_usable = 34;
	g.last_usable = n - 34;
	mfw_gpt_guid_from_name("small", g.disk_guid);
	g.nparts = 2;
	for (int i = 0; i < 2; i++) {
		g.parts[i].index = (unsigned)i;
		memcpy(g.parts[i].type_guid, mfw_gpt_type_basic_data, 16);
		mfw_gpt_guid_from_name(i ? "b" : "a", g.parts[i].unique_guid);
	}
	strcpy(g.parts[0].name, "donn\xC3\xA9" "es"); /* non-ASCII survives UTF-16 */
	g.parts[0].first_lba = 34;
	g.parts[0].last_lba = 99;
	strcpy(g.parts[1].name, "b");
	g.parts[1].first_lba = 100;
	g.parts[1].last_lba = n - 34;
	g.parts[1].attrs = 1ull << 60;
	assert_true(mfw_gpt_build_primary(ctx, &g, n, disk, 34 * 512) > 0);
	assert_true(mfw_gpt_build_backup(ctx, &g, disk + (n - 33) * 512, 33 * 512) > 0);
	assert_int_equal(mfw_gpt_parse_disk(ctx, disk, n * 512, 512, &h), 0);
	assert_string_equal(h.parts[0].name, "donn\xC3\xA9" "es");
	assert_int_equal(h.parts[1].attrs, 1ull << 60);

	/* a damaged backup entry array is detected */
	disk[(n - 33) * 512 + 200] ^= 1;
	mfw_ctx_clear_detail(ctx);
	assert_int_equal(mfw_gpt_parse_disk(ctx, disk, n * 512, 512, &h), MFW_E_FORMAT);
	expect_detail("backup GPT entries: CRC");
	disk[(n - 33) * 512 + 200] ^= 1;
	/* a disk shorter than the header's backup LBA */
	assert_int_equal(mfw_gpt_parse_disk(ctx, disk, (n - 1) * 512, 512, &h), MFW_E_FORMAT);
	free(disk);
}

static void test_rejects(void **state)
{
	static uint8_t bad[34 * 512];
	(void)state;

	assert_int_equal(mfw_gpt_canonical(ctx, 512, DISK, MFW_GPT_FORM_DEVICE, &g), 0);
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK, prim, sizeof(prim)), (int)sizeof(prim));

	memcpy(bad, prim, sizeof(bad));
	bad[512] = 'X';
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("signature");
	memcpy(bad, prim, sizeof(bad));
	bad[512 + 40] ^= 1;
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("primary GPT header: CRC");
	memcpy(bad, prim, sizeof(bad));
	bad[1024 + 5 * 128 + 60] ^= 1;
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("primary GPT entries: CRC");
	memcpy(bad, prim, sizeof(bad));
	bad[510] = 0;
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("MBR");
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, MFW_GPT_NO_MBR, &h), 0);
	assert_int_equal(mfw_gpt_parse(ctx, prim, 33 * 512, 512, 0, &h), MFW_E_FORMAT);

	/* entries that overlap, or leave the usable area, with valid CRCs */
	g.parts[3].first_lba = 6000;
	assert_true(mfw_gpt_build_primary(ctx, &g, DISK, bad, sizeof(bad)) > 0);
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("overlaps");
	g.parts[3].first_lba = 10240;
	g.parts[12].last_lba = DISK;
	assert_true(mfw_gpt_build_primary(ctx, &g, DISK, bad, sizeof(bad)) > 0);
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("outside the usable");
	g.parts[12].last_lba = 10;
	assert_true(mfw_gpt_build_primary(ctx, &g, DISK, bad, sizeof(bad)) > 0);
	assert_int_equal(mfw_gpt_parse(ctx, bad, sizeof(bad), 512, 0, &h), MFW_E_FORMAT);
	expect_detail("first LBA");
	/* a name longer than 36 UTF-16 units cannot be written */
	memset(g.parts[0].name, 'a', 40);
	g.parts[0].name[40] = '\0';
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK, bad, sizeof(bad)), MFW_E_INVAL);
	assert_int_equal(mfw_gpt_build_primary(ctx, &g, DISK, bad, 100), MFW_E_RANGE);
	assert_int_equal(mfw_gpt_canonical(ctx, 512, 1000, MFW_GPT_FORM_DEVICE, &g), MFW_E_RANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_canonical_device),
		cmocka_unit_test(test_package_form_patched),
		cmocka_unit_test(test_4k_sectors),
		cmocka_unit_test(test_whole_disk),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
