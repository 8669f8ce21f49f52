/* SPDX-License-Identifier: BSD-3-Clause */
/* DIAG message codec (reference/diag.md §2-4): worked vectors, NV, IMEI, EFS2, matching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <modemfw/error.h>
#include "proto/diag.h"
#include "proto/hdlc.h"
#include "util/crc.h"

static void assert_wire(const uint8_t *payload, int n, const uint8_t *wire, size_t wlen)
{
	uint8_t out[512];
	assert_true(n > 0);
	assert_int_equal(mfw_hdlc_encode(payload, (size_t)n, false, out, sizeof(out)), (int)wlen);
	assert_memory_equal(out, wire, wlen);
}

static void test_worked_vectors(void **state)
{
	static const uint8_t verno_w[] = { 0x00, 0x78, 0xF0, 0x7E };
	static const uint8_t edl_w[] = { 0x4B, 0x65, 0x01, 0x00, 0x54, 0x0F, 0x7E };
	uint8_t req[256], nv_w[136] = { 0x26, 0x26, 0x02 };
	int n;
	(void)state;
	assert_int_equal(mfw_crc16_x25("123456789", 9), 0x906E);
	n = mfw_diag_build_verno(req, sizeof(req));
	assert_wire(req, n, verno_w, sizeof(verno_w));
	n = mfw_diag_build_edl(req, sizeof(req));
	assert_wire(req, n, edl_w, sizeof(edl_w));
	/* NV read of 550: 26 26 02 + 130 zeros, CRC 0x2B3E */
	n = mfw_diag_build_nv(MFW_DIAG_NV_READ, 550, NULL, 0, req, sizeof(req));
	assert_int_equal(n, 133);
	assert_int_equal(mfw_crc16_x25(req, 133), 0x2B3E);
	nv_w[133] = 0x3E;
	nv_w[134] = 0x2B;
	nv_w[135] = 0x7E;
	assert_wire(req, n, nv_w, sizeof(nv_w));
	/* read-ext of 550 index 1: 138 bytes, CRC 0xC648 */
	n = mfw_diag_build_nv_ext(MFW_DIAG_NV_EXT_READ, 550, 1, NULL, 0, req, sizeof(req));
	assert_int_equal(n, 138);
	assert_memory_equal(req, "\x4B\x30\x01\x00\x26\x02\x01\x00", 8);
	assert_int_equal(mfw_crc16_x25(req, 138), 0xC648);
	/* too small buffers */
	assert_int_equal(mfw_diag_build_nv(MFW_DIAG_NV_READ, 550, NULL, 0, req, 132), MFW_E_RANGE);
	assert_int_equal(mfw_diag_build_edl(req, 3), MFW_E_RANGE);
	assert_int_equal(mfw_diag_build_nv(0x99, 550, NULL, 0, req, sizeof(req)), MFW_E_INVAL);
}

static void test_imei(void **state)
{
	static const uint8_t want[] = { 0x08, 0x3A, 0x65, 0x39, 0x08, 0x53, 0x46, 0x83, 0x90 };
	uint8_t data[128], zero[128] = { 0 };
	char imei[16];
	const char *why;
	(void)state;
	assert_int_equal(mfw_imei_encode("356938035643809", data), 0);
	assert_memory_equal(data, want, sizeof(want));
	assert_memory_equal(data + 9, zero, 119);
	assert_int_equal(mfw_imei_decode(data, sizeof(data), imei), 0);
	assert_string_equal(imei, "356938035643809");
	assert_int_equal(mfw_imei_check(imei, &why), 0);
	assert_null(why);
	/* wrong check digit */
	assert_int_equal(mfw_imei_check("356938035643808", &why), MFW_E_FORMAT);
	assert_string_equal(why, "Luhn check digit wrong");
	/* placeholders are refused, as are short strings and letters */
	assert_int_equal(mfw_imei_check("004999010640000", &why), MFW_E_FORMAT);
	assert_int_equal(mfw_imei_check("000000000000000", &why), MFW_E_FORMAT);
	assert_int_equal(mfw_imei_check("35693803564380", &why), MFW_E_FORMAT);
	assert_int_equal(mfw_imei_encode("35693803564380x", data), MFW_E_INVAL);
	/* never-written item (all zeros) and a non-BCD nibble do not decode */
	assert_int_equal(mfw_imei_decode(zero, sizeof(zero), imei), MFW_E_FORMAT);
	assert_string_equal(imei, "");
	assert_int_equal(mfw_imei_encode("356938035643809", data), 0);
	data[5] = 0xB3;
	assert_int_equal(mfw_imei_decode(data, sizeof(data), imei), MFW_E_FORMAT);
	assert_int_equal(mfw_imei_decode(want, 8, imei), MFW_E_FORMAT);
}

static void test_nv_parse(void **state)
{
	uint8_t rsp[140], data[128];
	struct mfw_nv_record rec;
	(void)state;
	mfw_imei_encode("356938035643809", data);
	assert_int_equal(mfw_diag_build_nv(MFW_DIAG_NV_READ, 550, data, 128, rsp, sizeof(rsp)), 133);
	rsp[131] = 0;
	assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_READ, rsp, 133, &rec), 0);
	assert_int_equal(rec.item, 550);
	assert_int_equal(rec.status, MFW_NV_DONE);
	assert_memory_equal(rec.data, data, 128);
	/* inactive item */
	rsp[131] = 5;
	assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_READ, rsp, 133, &rec), 0);
	assert_int_equal(rec.status, 5);
	assert_string_equal(mfw_nv_status_name(5), "inactive (never written)");
	assert_int_equal(mfw_nv_status_err(5), MFW_E_NOENT);
	assert_int_equal(mfw_nv_status_err(7), MFW_E_NAK);
	assert_int_equal(mfw_nv_status_err(0), 0);
	assert_string_equal(mfw_nv_status_name(42), "failed (unknown status)");
	/* short answers and the wrong command are protocol errors */
	assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_READ, rsp, 132, &rec), MFW_E_PROTO);
	assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_WRITE, rsp, 133, &rec), MFW_E_PROTO);
	/* ext */
	assert_int_equal(mfw_diag_build_nv_ext(MFW_DIAG_NV_EXT_WRITE, 550, 1, data, 9, rsp,
					       sizeof(rsp)), 138);
	assert_int_equal(mfw_diag_parse_nv_ext(MFW_DIAG_NV_EXT_WRITE, rsp, 138, &rec), 0);
	assert_int_equal(rec.item, 550);
	assert_int_equal(rec.index, 1);
	assert_memory_equal(rec.data, data, 9);
	assert_int_equal(mfw_diag_parse_nv_ext(MFW_DIAG_NV_EXT_READ, rsp, 138, &rec), MFW_E_PROTO);
}

static void test_verno(void **state)
{
	uint8_t rsp[64] = { 0 };
	struct mfw_diag_version v;
	(void)state;
	memcpy(rsp + 1, "Jun 12 2023", 11);
	memcpy(rsp + 12, "10:11:12", 8);
	memcpy(rsp + 20, "Jun 13 2023", 11);
	memcpy(rsp + 31, "01:02:03", 8);
	memcpy(rsp + 39, "EC25EF\0\0", 8);
	rsp[47] = 1;
	rsp[48] = 9;
	rsp[49] = 0xFE;
	rsp[50] = 0x34;
	rsp[51] = 0x12;
	rsp[52] = 2;
	rsp[53] = 7;
	rsp[54] = 1;
	assert_int_equal(mfw_diag_parse_verno(rsp, 55, &v), 0);
	assert_int_equal(v.fields, 12);
	assert_string_equal(v.comp_date, "Jun 12 2023");
	assert_string_equal(v.rel_time, "01:02:03");
	assert_string_equal(v.ver_dir, "EC25EF");
	assert_int_equal(v.model, 0xFE);
	assert_int_equal(v.firm_rev, 0x1234);
	assert_int_equal(v.hw_major, 7);
	assert_int_equal(v.hw_minor, 1);
	/* a short answer keeps what came */
	assert_int_equal(mfw_diag_parse_verno(rsp, 25, &v), 0);
	assert_int_equal(v.fields, 2);
	assert_string_equal(v.comp_time, "10:11:12");
	assert_string_equal(v.rel_date, "");
	/* control characters never reach the caller */
	rsp[3] = 0x1B;
	assert_int_equal(mfw_diag_parse_verno(rsp, 12, &v), 0);
	assert_string_equal(v.comp_date, "Ju? 12 2023");
	assert_int_equal(mfw_diag_parse_verno(rsp, 0, &v), MFW_E_PROTO);
	rsp[0] = 0x13;
	assert_int_equal(mfw_diag_parse_verno(rsp, 55, &v), MFW_E_PROTO);
}

static void test_small_requests(void **state)
{
	static const uint8_t pw[8] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE };
	uint8_t req[16], ack[2] = { MFW_DIAG_SPC, 1 };
	(void)state;
	assert_int_equal(mfw_diag_build_spc("000000", req, sizeof(req)), 7);
	assert_memory_equal(req, "\x41" "000000", 7);
	assert_int_equal(mfw_diag_build_spc("00000", req, sizeof(req)), MFW_E_INVAL);
	assert_int_equal(mfw_diag_build_spc("00000a", req, sizeof(req)), MFW_E_INVAL);
	assert_int_equal(mfw_diag_build_password(pw, req, sizeof(req)), 9);
	assert_int_equal(req[0], 0x46);
	assert_int_equal(req[8], 0xFE);
	assert_int_equal(mfw_diag_build_control(MFW_DIAG_MODE_OFFLINE_D, req, sizeof(req)), 3);
	assert_memory_equal(req, "\x29\x01\x00", 3);
	assert_int_equal(mfw_diag_build_control(7, req, sizeof(req)), MFW_E_INVAL);
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_SPC, ack, 2), 1);
	ack[1] = 0;
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_SPC, ack, 2), 0);
	ack[1] = 3;
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_SPC, ack, 2), MFW_E_PROTO);
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_PASSWORD, ack, 2), MFW_E_PROTO);
}

static void test_match(void **state)
{
	static const uint8_t efs_req[] = { 0x4B, 0x3E, 0x04, 0x00, 1, 0, 0, 0 };
	static const uint8_t efs_rsp[] = { 0x4B, 0x3E, 0x04, 0x00, 0 };
	static const uint8_t efs_other_cmd[] = { 0x4B, 0x3E, 0x05, 0x00, 0 };
	static const uint8_t efs_other_ss[] = { 0x4B, 0x13, 0x04, 0x00, 0 };
	static const uint8_t nv_req[] = { 0x26, 0x26, 0x02 };
	static const uint8_t log[] = { 0x10, 0x00, 0x12, 0x00 };
	static const uint8_t bad_cmd_echo[] = { 0x13, 0x26, 0x26, 0x02 };
	static const uint8_t bad_cmd_other[] = { 0x13, 0x00 };
	static const uint8_t bad_spc[] = { 0x42 };
	static const uint8_t efs_err[] = { 0x14, 0x4B, 0x3E, 0x04 };
	static const uint8_t efs_err_other[] = { 0x14, 0x4B, 0x13, 0x04 };
	uint8_t msgs[] = { 0x1F, 0x79, 0x7D, 0x7E, 0x60 };
	(void)state;
	assert_int_equal(mfw_diag_match(efs_req, sizeof(efs_req), efs_rsp, sizeof(efs_rsp)),
			 MFW_DIAG_MATCH_RSP);
	assert_int_equal(mfw_diag_match(efs_req, sizeof(efs_req), efs_other_cmd, 5),
			 MFW_DIAG_MATCH_NONE);
	assert_int_equal(mfw_diag_match(efs_req, sizeof(efs_req), efs_other_ss, 5),
			 MFW_DIAG_MATCH_NONE);
	assert_int_equal(mfw_diag_match(efs_req, sizeof(efs_req), efs_rsp, 3), MFW_DIAG_MATCH_NONE);
	assert_int_equal(mfw_diag_match(nv_req, 3, log, sizeof(log)), MFW_DIAG_MATCH_UNSOLICITED);
	for (size_t i = 0; i < sizeof(msgs); i++)
		assert_int_equal(mfw_diag_match(nv_req, 3, &msgs[i], 1), MFW_DIAG_MATCH_UNSOLICITED);
	assert_int_equal(mfw_diag_match(nv_req, 3, bad_cmd_echo, 4), MFW_DIAG_MATCH_ERROR);
	assert_int_equal(mfw_diag_match(nv_req, 3, bad_cmd_other, 2), MFW_DIAG_MATCH_NONE);
	assert_int_equal(mfw_diag_match(nv_req, 3, bad_spc, 1), MFW_DIAG_MATCH_ERROR);
	assert_int_equal(mfw_diag_match(efs_req, 8, efs_err, 4), MFW_DIAG_MATCH_ERROR);
	assert_int_equal(mfw_diag_match(efs_req, 8, efs_err_other, 4), MFW_DIAG_MATCH_NONE);
	assert_int_equal(mfw_diag_error_err(0x13), MFW_E_UNSUPPORTED);
	assert_int_equal(mfw_diag_error_err(0x42), MFW_E_NAK);
	assert_int_equal(mfw_diag_error_err(0x47), MFW_E_NAK);
	assert_string_equal(mfw_diag_cmd_name(0x47), "BAD_SEC_MODE");
	assert_string_equal(mfw_diag_cmd_name(0x15), "BAD_LEN");
}

static void test_efs_requests(void **state)
{
	uint8_t req[2048], big[1100];
	char longpath[MFW_EFS_PATH_MAX + 8];
	int n;
	(void)state;
	n = mfw_efs_build_hello(MFW_DIAG_SS_FS_ALT, req, sizeof(req));
	assert_int_equal(n, 44);
	assert_memory_equal(req, "\x4B\x3E\x00\x00\x00\x00\x10\x00", 8);
	assert_memory_equal(req + 28, "\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\xFF\xFF\xFF\xFF", 16);
	n = mfw_efs_build_open(MFW_DIAG_SS_FS, "/nv/x", 0x241, 0644, req, sizeof(req));
	assert_int_equal(n, 18);
	assert_memory_equal(req, "\x4B\x13\x02\x00\x41\x02\x00\x00\xA4\x01\x00\x00/nv/x\0", 18);
	n = mfw_efs_build_read(MFW_DIAG_SS_FS, 3, 1024, 2048, req, sizeof(req));
	assert_int_equal(n, 16);
	assert_memory_equal(req, "\x4B\x13\x04\x00\x03\x00\x00\x00\x00\x04\x00\x00\x00\x08\x00\x00", 16);
	memset(big, 0xAB, sizeof(big));
	n = mfw_efs_build_write(MFW_DIAG_SS_FS, 3, 1024, big, 1024, req, sizeof(req));
	assert_int_equal(n, 12 + 1024);
	assert_int_equal(req[12 + 1023], 0xAB);
	n = mfw_efs_build_handle(MFW_DIAG_SS_FS, MFW_EFS_CLOSEDIR, 0x11223344, req, sizeof(req));
	assert_int_equal(n, 8);
	assert_memory_equal(req, "\x4B\x13\x0D\x00\x44\x33\x22\x11", 8);
	assert_int_equal(mfw_efs_build_handle(MFW_DIAG_SS_FS, MFW_EFS_READ, 1, req, sizeof(req)),
			 MFW_E_INVAL);
	n = mfw_efs_build_path(MFW_DIAG_SS_FS, MFW_EFS_UNLINK, "/a", req, sizeof(req));
	assert_memory_equal(req, "\x4B\x13\x08\x00/a\0", 7);
	assert_int_equal(n, 7);
	n = mfw_efs_build_path(MFW_DIAG_SS_FS, MFW_EFS_RMDIR, "/a", req, sizeof(req));
	assert_int_equal(req[2], 10);
	n = mfw_efs_build_mkdir(MFW_DIAG_SS_FS, 040777, "/d", req, sizeof(req));
	assert_int_equal(n, 9);
	assert_memory_equal(req, "\x4B\x13\x09\x00\xFF\x41/d\0", 9);
	n = mfw_efs_build_readdir(MFW_DIAG_SS_FS, 7, 1, req, sizeof(req));
	assert_memory_equal(req, "\x4B\x13\x0C\x00\x07\x00\x00\x00\x01\x00\x00\x00", 12);
	/* bad arguments */
	memset(longpath, 'a', sizeof(longpath));
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(mfw_efs_build_path(MFW_DIAG_SS_FS, MFW_EFS_STAT, longpath, req, sizeof(req)),
			 MFW_E_INVAL);
	assert_int_equal(mfw_efs_build_path(MFW_DIAG_SS_FS, MFW_EFS_STAT, "", req, sizeof(req)),
			 MFW_E_INVAL);
	assert_int_equal(mfw_efs_build_path(0x99, MFW_EFS_STAT, "/", req, sizeof(req)), MFW_E_INVAL);
	assert_int_equal(mfw_efs_build_open(MFW_DIAG_SS_FS, "/nv/x", 0, 0, req, 10), MFW_E_RANGE);
}

static void test_efs_responses(void **state)
{
	uint8_t rsp[128] = { 0x4B, 0x13, 0x04, 0x00 };
	struct mfw_efs_rsp r;
	(void)state;
	/* READ: fd 3, offset 1024, 5 bytes */
	rsp[4] = 3;
	rsp[9] = 4;
	rsp[12] = 5;
	memcpy(rsp + 20, "hello", 5);
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READ, rsp, 25, &r), 0);
	assert_int_equal(r.u.read.fd, 3);
	assert_int_equal(r.u.read.offset, 1024);
	assert_int_equal(r.u.read.bytes, 5);
	assert_memory_equal(r.u.read.data, "hello", 5);
	/* a count larger than the data that came is refused */
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READ, rsp, 24, &r), MFW_E_PROTO);
	rsp[12] = 0xFF; rsp[13] = 0xFF; rsp[14] = 0xFF; rsp[15] = 0xFF;
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READ, rsp, 25, &r), MFW_E_PROTO);
	/* wrong subsystem / command */
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS_ALT, MFW_EFS_READ, rsp, 25, &r), MFW_E_PROTO);
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_OPEN, rsp, 25, &r), MFW_E_PROTO);
	/* READDIR with a name, then the end marker */
	memset(rsp, 0, sizeof(rsp));
	memcpy(rsp, "\x4B\x13\x0C\x00", 4);
	rsp[4] = 7;
	rsp[8] = 2;
	rsp[16] = 1;
	rsp[20] = 0x00; rsp[21] = 0x80; /* mode 0100000 = 0x8000 */
	rsp[24] = 100;
	memcpy(rsp + 40, "imei.bin", 9);
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READDIR, rsp, 49, &r), 0);
	assert_int_equal(r.u.readdir.dirp, 7);
	assert_int_equal(r.u.readdir.seq, 2);
	assert_int_equal(r.u.readdir.ent.type, 1);
	assert_int_equal(r.u.readdir.ent.mode, MFW_EFS_S_IFREG);
	assert_int_equal(r.u.readdir.ent.size, 100);
	assert_string_equal(r.u.readdir.ent.name, "imei.bin");
	/* no NUL at the end of the packet: name ends there */
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READDIR, rsp, 44, &r), 0);
	assert_string_equal(r.u.readdir.ent.name, "imei");
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_READDIR, rsp, 39, &r), MFW_E_PROTO);
	/* STAT with errno ENOENT */
	memset(rsp, 0, sizeof(rsp));
	memcpy(rsp, "\x4B\x13\x0F\x00\x02", 5);
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_STAT, rsp, 32, &r), 0);
	assert_int_equal(r.err, 2);
	assert_string_equal(mfw_efs_errno_name(r.err), "ENOENT");
	assert_int_equal(mfw_efs_errno_err(r.err), MFW_E_NOENT);
	assert_string_equal(mfw_efs_errno_name(0x40000005), "FS_DIAG_INVALID_PATH");
	assert_string_equal(mfw_efs_errno_name(0x4000000D), "errno");
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS, MFW_EFS_STAT, rsp, 31, &r), MFW_E_PROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_vectors),
		cmocka_unit_test(test_imei),
		cmocka_unit_test(test_nv_parse),
		cmocka_unit_test(test_verno),
		cmocka_unit_test(test_small_requests),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_efs_requests),
		cmocka_unit_test(test_efs_responses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
