/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <modemfw/error.h>
#include "proto/sahara.h"

/* reference sahara-firehose.md §2.1 worked example */
static const uint8_t hello_resp_v2[48] = {
	0x02, 0, 0, 0, 0x30, 0, 0, 0, 0x02, 0, 0, 0, 0x01, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0,
};

static void test_hello_resp_wire(void **state)
{
	struct mfw_sahara_pkt p = { .cmd = MFW_SAHARA_HELLO_RESP };
	uint8_t buf[64];
	(void)state;
	p.u.hello.version = 2;
	p.u.hello.version_compat = 1;
	p.u.hello.max_len_or_status = 0;
	p.u.hello.mode = MFW_SAHARA_MODE_IMAGE_TX_PENDING;
	assert_int_equal(mfw_sahara_build(&p, buf, sizeof(buf)), 48);
	assert_memory_equal(buf, hello_resp_v2, 48);
}

static void test_roundtrip_all(void **state)
{
	static const uint32_t cmds[] = {
		MFW_SAHARA_HELLO, MFW_SAHARA_HELLO_RESP, MFW_SAHARA_READ_DATA,
		MFW_SAHARA_END_OF_IMAGE, MFW_SAHARA_DONE, MFW_SAHARA_DONE_RESP,
		MFW_SAHARA_RESET, MFW_SAHARA_RESET_RESP, MFW_SAHARA_MEMORY_DEBUG,
		MFW_SAHARA_MEMORY_READ, MFW_SAHARA_CMD_READY, MFW_SAHARA_SWITCH_MODE,
		MFW_SAHARA_EXECUTE, MFW_SAHARA_EXECUTE_RESP, MFW_SAHARA_EXECUTE_DATA,
		MFW_SAHARA_MEMORY_DEBUG_64, MFW_SAHARA_MEMORY_READ_64, MFW_SAHARA_READ_DATA_64,
		MFW_SAHARA_RESET_STATE_MACHINE,
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		struct mfw_sahara_pkt in, out;
		uint8_t buf[64];
		int n;
		memset(&in, 0, sizeof(in));
		in.cmd = cmds[i];
		switch (cmds[i]) {
		case MFW_SAHARA_READ_DATA_64:
			in.u.read.image_id = 13;
			in.u.read.offset = 0x123456789ull;
			in.u.read.length = 0x1000;
			break;
		case MFW_SAHARA_READ_DATA:
			in.u.read.image_id = 13;
			in.u.read.offset = 0x34;
			in.u.read.length = 0x20;
			break;
		case MFW_SAHARA_EXECUTE_RESP:
			in.u.exec_resp.client_cmd = 2;
			in.u.exec_resp.data_len = 8;
			break;
		case MFW_SAHARA_END_OF_IMAGE:
			in.u.eoi.image_id = 13;
			in.u.eoi.status = 0x14;
			break;
		default:
			break;
		}
		n = mfw_sahara_build(&in, buf, sizeof(buf));
		assert_true(n >= 8);
		assert_int_equal((uint32_t)n, mfw_sahara_cmd_len(cmds[i]));
		/* every prefix is "need more" */
		for (int k = 0; k < n; k++)
			assert_int_equal(mfw_sahara_parse(buf, (size_t)k, &out), 0);
		assert_int_equal(mfw_sahara_parse(buf, (size_t)n, &out), n);
		assert_int_equal(out.cmd, cmds[i]);
		if (cmds[i] == MFW_SAHARA_READ_DATA_64) {
			assert_int_equal(out.u.read.offset, 0x123456789ull);
			assert_int_equal(out.u.read.length, 0x1000);
		}
		if (cmds[i] == MFW_SAHARA_END_OF_IMAGE)
			assert_int_equal(out.u.eoi.status, 0x14);
		if (cmds[i] == MFW_SAHARA_EXECUTE_RESP)
			assert_int_equal(out.u.exec_resp.data_len, 8);
	}
}

static void test_bad_packets(void **state)
{
	struct mfw_sahara_pkt out;
	uint8_t buf[64] = { 0 };
	(void)state;
	/* unknown command */
	buf[0] = 0x55;
	buf[4] = 8;
	assert_int_equal(mfw_sahara_parse(buf, 8, &out), MFW_E_PROTO);
	/* READ_DATA claiming 8 bytes: shorter than its fields */
	buf[0] = MFW_SAHARA_READ_DATA;
	assert_int_equal(mfw_sahara_parse(buf, 20, &out), MFW_E_PROTO);
	/* absurd length */
	buf[4] = 0;
	buf[5] = 0;
	buf[6] = 1; /* 0x10000 */
	assert_int_equal(mfw_sahara_parse(buf, 20, &out), MFW_E_PROTO);
	/* "<?xml" from a running programmer is not a Sahara packet */
	memcpy(buf, "<?xml ve", 8);
	assert_int_equal(mfw_sahara_parse(buf, 8, &out), MFW_E_PROTO);
	/* build: too small buffer and 32-bit overflow */
	struct mfw_sahara_pkt p = { .cmd = MFW_SAHARA_HELLO };
	assert_int_equal(mfw_sahara_build(&p, buf, 10), MFW_E_INVAL);
	p.cmd = MFW_SAHARA_READ_DATA;
	p.u.read.offset = 1ull << 33;
	assert_int_equal(mfw_sahara_build(&p, buf, sizeof(buf)), MFW_E_INVAL);
}

static void test_padded_hello(void **state)
{
	/* a device that pads HELLO to 0x34 bytes is accepted; trailing bytes stay */
	uint8_t buf[0x40] = { 0x01, 0, 0, 0, 0x34, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0 };
	struct mfw_sahara_pkt out;
	(void)state;
	assert_int_equal(mfw_sahara_parse(buf, sizeof(buf), &out), 0x34);
	assert_int_equal(out.u.hello.version, 3);
	assert_int_equal(out.u.hello.max_len_or_status, 0x400);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mfw_sahara_cmd_name(MFW_SAHARA_READ_DATA_64), "READ_DATA_64");
	assert_string_equal(mfw_sahara_cmd_name(0x99), "UNKNOWN");
	assert_string_equal(mfw_sahara_status_str(0), "success");
	assert_string_equal(mfw_sahara_status_str(0x14), "invalid elf header");
	assert_string_equal(mfw_sahara_status_str(0x28), "hw bulk transfer error");
	assert_string_equal(mfw_sahara_status_str(0x99), "unknown status");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_resp_wire),
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_bad_packets),
		cmocka_unit_test(test_padded_hello),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
