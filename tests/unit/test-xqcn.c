/* SPDX-License-Identifier: BSD-3-Clause */
/* xQCN (QPST XML backup) writer and reader: round trip, a hand-written QPST-style file, refusals. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modemfw/diag.h>
#include "core/core.h"
#include "fmt/xqcn.h"

static void test_roundtrip(void **state)
{
	struct mfw_diag_backup b, back;
	struct mfw_nv_record rec = { .status = MFW_NV_DONE };
	struct mfw_ctx *ctx;
	uint8_t big[5000];
	char *xml;
	size_t len;
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	mfw_diag_backup_init(&b);
	rec.item = 550;
	mfw_imei_encode("356938035643809", rec.data);
	assert_int_equal(mfw_diag_backup_add_nv(&b, &rec), 0);
	rec.item = 10;
	memset(rec.data, 0x7E, sizeof(rec.data));
	assert_int_equal(mfw_diag_backup_add_nv(&b, &rec), 0);
	rec.item = 550;
	rec.index = 1;
	mfw_imei_encode("490154203237518", rec.data);
	assert_int_equal(mfw_diag_backup_add_nv(&b, &rec), 0);
	/* not exported: never written on the device */
	rec.item = 11;
	rec.index = 0;
	rec.status = MFW_NV_NOTACTIVE;
	assert_int_equal(mfw_diag_backup_add_nv(&b, &rec), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 3));
	assert_int_equal(mfw_diag_backup_add_efs(&b, "/nv/item_files/rfnv/00020000", 0100644, big,
						 sizeof(big)), 0);
	assert_int_equal(mfw_diag_backup_add_efs(&b, "/policyman/a&b's <x>.xml", 0100600,
						 (const uint8_t *)"<x/>", 4), 0);
	assert_int_equal(mfw_diag_backup_add_efs(&b, "/empty", 0100644, NULL, 0), 0);

	assert_int_equal(mfw_xqcn_write(ctx, &b, "unit.xqcn", &xml, &len), 0);
	assert_int_equal(strlen(xml), len);
	assert_non_null(strstr(xml, "encoding=\"Windows-1252\""));
	assert_non_null(strstr(xml, "<Storage Name='unit.xqcn'>"));
	assert_non_null(strstr(xml, "<Stream Length='6' Name='File_Version' Value='02 00 00 00 00 00'/>"));
	/* IMEI record: u16 136, u16 index 0, item 550 = 0x0226, pad, then the BCD */
	assert_non_null(strstr(xml, "Name='NV_ITEM_ARRAY' Value='88 00 00 00 26 02 00 00 08 3A 65 39 08 53 46 83 90 00"));
	assert_non_null(strstr(xml, "<Stream Length='136' Name='NV_ITEM_ARRAY_SIM_1' Value='88 00 01 00 26 02 00 00 08 "));
	assert_non_null(strstr(xml, "<Stream Length='36' Name='00000000' Value='01 00 01 01 A4 81 00 00 2F 6E 76"));
	assert_non_null(strstr(xml, "<Stream Length='0' Name='00000002' Value=''/>"));

	mfw_diag_backup_init(&back);
	assert_int_equal(mfw_xqcn_read(ctx, xml, len, &back), 0);
	assert_int_equal(back.n_nv, 3);
	assert_int_equal(back.nv[0].item, 550);
	assert_int_equal(back.nv[0].index, 0);
	assert_memory_equal(back.nv[0].data, b.nv[0].data, 128);
	assert_int_equal(back.nv[1].item, 10);
	assert_memory_equal(back.nv[1].data, b.nv[1].data, 128);
	assert_int_equal(back.nv[2].item, 550);
	assert_int_equal(back.nv[2].index, 1);
	assert_memory_equal(back.nv[2].data, b.nv[2].data, 128);
	assert_int_equal(back.n_efs, 3);
	assert_string_equal(back.efs[0].path, "/nv/item_files/rfnv/00020000");
	assert_int_equal(back.efs[0].len, sizeof(big));
	assert_memory_equal(back.efs[0].data, big, sizeof(big));
	assert_string_equal(back.efs[1].path, "/policyman/a&b's <x>.xml");
	assert_int_equal(back.efs[1].mode, 0100600);
	assert_int_equal(back.efs[2].len, 0);
	free(xml);
	mfw_diag_backup_free(&back);
	mfw_diag_backup_free(&b);
	mfw_ctx_free(ctx);
}

/*
 * Written by hand in the shape of a QPST export: double-quoted attributes,
 * lower-case hex, Mobile_Property_Info and Feature_Mask (ignored), an
 * NV_Items group without the 8-byte header and with a NUL-terminated path,
 * a file listed in two groups, item ids stored as u32.
 */
static const char sample[] =
	"<?xml version=\"1.0\" encoding=\"Windows-1252\" ?>\n"
	"<Storage Name=\"EC25_backup.xqcn\">\n"
	"  <Stream Length=\"6\" Name=\"File_Version\" Value=\"02 00 00 00 00 00\"/>\n"
	"  <Storage Name=\"00000000\">\n"
	"    <Storage Name=\"default\">\n"
	"      <Stream Length=\"4\" Name=\"Mobile_Property_Info\" Value=\"0d d0 ad de\"/>\n"
	"      <Stream Length=\"4\" Name=\"Feature_Mask\" Value=\"02 00 ff 01\"/>\n"
	"      <Storage Name=\"NV_NUMBERED_ITEMS\">\n"
	"        <Stream Length=\"272\" Name=\"NV_ITEM_ARRAY\" Value=\""
	"88 00 00 00 26 02 00 00 08 3a 65 39 08 53 46 83 90 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"88 00 00 00 c5 01 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
	"00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\"/>\n"
	"      </Storage>\n"
	"      <Storage Name=\"EFS_Backup\">\n"
	"        <Storage Name=\"EFS_Dir\">\n"
	"          <Stream Length=\"20\" Name=\"00000000\" Value=\"01 00 01 01 a4 81 00 00 2f 72 66 63 2f 61 2e 62 69 6e 00 00\"/>\n"
	"        </Storage>\n"
	"        <Storage Name=\"EFS_Data\">\n"
	"          <Stream Length=\"3\" Name=\"00000000\" Value=\"61 62 63\"/>\n"
	"        </Storage>\n"
	"      </Storage>\n"
	"      <Storage Name=\"NV_Items\">\n"
	"        <Storage Name=\"EFS_Dir\">\n"
	"          <Stream Length=\"10\" Name=\"00000000\" Value=\"2f 72 66 63 2f 61 2e 62 69 6e\"/>\n"
	"          <Stream Length=\"15\" Name=\"00000001\" Value=\"2f 6e 76 2f 69 74 65 6d 5f 66 69 6c 65 73 00\"/>\n"
	"        </Storage>\n"
	"        <Storage Name=\"EFS_Data\">\n"
	"          <Stream Length=\"1\" Name=\"00000001\" Value=\"07\"/>\n"
	"          <Stream Length=\"3\" Name=\"00000000\" Value=\"78 79 7a\"/>\n"
	"        </Storage>\n"
	"      </Storage>\n"
	"    </Storage>\n"
	"  </Storage>\n"
	"</Storage>\n";

static void test_hand_written_sample(void **state)
{
	struct mfw_diag_backup b;
	struct mfw_ctx *ctx;
	char imei[16];
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	mfw_diag_backup_init(&b);
	assert_int_equal(mfw_xqcn_read(ctx, sample, strlen(sample), &b), 0);
	assert_int_equal(b.n_nv, 2);
	assert_int_equal(b.nv[0].item, 550);
	assert_int_equal(mfw_imei_decode(b.nv[0].data, 128, imei), 0);
	assert_string_equal(imei, "356938035643809");
	assert_int_equal(b.nv[1].item, 453);
	assert_int_equal(b.nv[1].data[0], 1);
	assert_int_equal(b.n_efs, 2);
	/* EFS_Backup's copy of /rfc/a.bin wins over NV_Items' */
	assert_string_equal(b.efs[0].path, "/rfc/a.bin");
	assert_int_equal(b.efs[0].mode, 0100644);
	assert_memory_equal(b.efs[0].data, "abc", 3);
	assert_string_equal(b.efs[1].path, "/nv/item_files");
	assert_int_equal(b.efs[1].len, 1);
	assert_int_equal(b.efs[1].data[0], 7);
	mfw_diag_backup_free(&b);
	mfw_ctx_free(ctx);
}

static int read_str(struct mfw_ctx *ctx, const char *xml)
{
	struct mfw_diag_backup b;
	int r;
	mfw_diag_backup_init(&b);
	mfw_ctx_clear_detail(ctx);
	r = mfw_xqcn_read(ctx, xml, strlen(xml), &b);
	mfw_diag_backup_free(&b);
	return r;
}

#define NV_HEAD "<Storage Name='x'><Storage Name='NV_NUMBERED_ITEMS'>"
#define NV_TAIL "</Storage></Storage>"

static void test_refusals(void **state)
{
	struct mfw_ctx *ctx;
	char deep[2048] = "";
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(read_str(ctx, "<Storage Name='x'>"), MFW_E_FORMAT);
	assert_int_equal(read_str(ctx, "<Other/>"), MFW_E_FORMAT);
	/* nothing in it */
	assert_int_equal(read_str(ctx, "<Storage Name='x'></Storage>"), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "no NV items"));
	/* Length disagrees with Value; not hex; not whole records */
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='3' Name='NV_ITEM_ARRAY' Value='00 01'/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "Length says 3"));
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='2' Name='NV_ITEM_ARRAY' Value='0g 01'/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='2' Name='NV_ITEM_ARRAY' Value='001'/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='2' Name='NV_ITEM_ARRAY' Value='00 01'/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "136-byte records"));
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='99999999999' Name='NV_ITEM_ARRAY' Value=''/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='-1' Name='NV_ITEM_ARRAY' Value=''/>" NV_TAIL),
			 MFW_E_FORMAT);
	assert_int_equal(read_str(ctx, NV_HEAD "<Stream Length='0' Name='NV_ITEM_ARRAY_SIM_9' Value=''/>" NV_TAIL),
			 MFW_E_FORMAT);
	/* a DOCTYPE (entities) is refused outright */
	assert_int_equal(read_str(ctx, "<!DOCTYPE x [<!ENTITY a 'b'>]><Storage Name='x'>&a;</Storage>"),
			 MFW_E_FORMAT);
	/* EFS entry without data, and relative paths */
	assert_int_equal(read_str(ctx, "<Storage Name='x'><Storage Name='EFS_Backup'><Storage Name='EFS_Dir'>"
				       "<Stream Length='2' Name='0' Value='2F 61'/></Storage></Storage></Storage>"),
			 MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "no EFS_Data"));
	assert_int_equal(read_str(ctx, "<Storage Name='x'><Storage Name='EFS_Backup'><Storage Name='EFS_Dir'>"
				       "<Stream Length='1' Name='0' Value='61'/></Storage><Storage Name='EFS_Data'>"
				       "<Stream Length='0' Name='0' Value=''/></Storage></Storage></Storage>"),
			 MFW_E_FORMAT);
	/* nesting bound */
	for (int i = 0; i < 40; i++)
		strcat(deep, "<Storage Name='d'>");
	for (int i = 0; i < 40; i++)
		strcat(deep, "</Storage>");
	assert_int_equal(read_str(ctx, deep), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "deeper"));
	mfw_ctx_free(ctx);
}

static void test_save_load(void **state)
{
	struct mfw_diag_backup b, back;
	struct mfw_nv_record rec = { .item = 7, .status = MFW_NV_DONE };
	struct mfw_ctx *ctx;
	char path[] = "/tmp/test-xqcn-XXXXXX";
	int fd;
	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	mfw_diag_backup_init(&b);
	mfw_diag_backup_init(&back);
	assert_int_equal(mfw_diag_backup_add_nv(&b, &rec), 0);
	assert_int_equal(mfw_xqcn_save(ctx, &b, path), 0);
	assert_int_equal(mfw_xqcn_load(ctx, path, &back), 0);
	assert_int_equal(back.n_nv, 1);
	assert_int_equal(back.nv[0].item, 7);
	unlink(path);
	assert_int_equal(mfw_xqcn_load(ctx, path, &back), MFW_E_NOENT);
	mfw_diag_backup_free(&b);
	mfw_diag_backup_free(&back);
	mfw_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hand_written_sample),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_save_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
