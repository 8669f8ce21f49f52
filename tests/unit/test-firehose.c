/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "proto/firehose.h"

#define DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"

/* Real-looking device output (EM12-G era NAND programmer) */
static const char doc_log[] =
	DECL "<data><log value=\"INFO: Binary build date: Jun 20 2019 @ 04:15:09\" /></data>";
static const char doc_nak[] =
	DECL "<data><response value=\"NAK\" MemoryName=\"NAND\" "
	"MaxPayloadSizeToTargetInBytes=\"8192\" "
	"MaxPayloadSizeToTargetInBytesSupported=\"8192\" TargetName=\"9x55\" /></data>";
static const char doc_ack_raw[] =
	DECL "<data><response value=\"ACK\" rawmode=\"true\" /></data>";

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Drain every complete document into out (concatenated, '|' separated). */
static int drain(struct mfw_fh_splitter *sp, char *out, size_t cap, size_t *used)
{
	const char *d;
	size_t n;
	int count = 0, r;

	while ((r = mfw_fh_splitter_next(sp, &d, &n)) == 1) {
		assert_true(*used + n + 2 < cap);
		memcpy(out + *used, d, n);
		*used += n;
		out[(*used)++] = '|';
		out[*used] = '\0';
		count++;
	}
	assert_int_equal(r, 0);
	return count;
}

static void feed_chunked(const char *stream, size_t len, int mode, char *out, size_t cap,
			 int *ndocs)
{
	struct mfw_fh_splitter sp;
	size_t used = 0, pos = 0;

	mfw_fh_splitter_init(&sp);
	out[0] = '\0';
	*ndocs = 0;
	while (pos < len) {
		size_t k = mode == 0 ? 1 : 1 + rnd() % 97;

		if (k > len - pos)
			k = len - pos;
		assert_int_equal(mfw_fh_splitter_push(&sp, stream + pos, k), 0);
		pos += k;
		*ndocs += drain(&sp, out, cap, &used);
	}
	assert_int_equal(mfw_fh_splitter_pending(&sp), 0);
	mfw_fh_splitter_free(&sp);
}

static void test_split_bytewise_and_random(void **state)
{
	char stream[2048], out[4096], expect[4096];
	int n;
	(void)state;

	snprintf(stream, sizeof(stream), "%s\r\n%s\n%s", doc_log, doc_nak, doc_ack_raw);
	snprintf(expect, sizeof(expect), "%s|%s|%s|", doc_log, doc_nak, doc_ack_raw);
	feed_chunked(stream, strlen(stream), 0, out, sizeof(out), &n);
	assert_int_equal(n, 3);
	assert_string_equal(out, expect);
	for (int round = 0; round < 50; round++) {
		feed_chunked(stream, strlen(stream), 1, out, sizeof(out), &n);
		assert_int_equal(n, 3);
		assert_string_equal(out, expect);
	}
}

static void test_split_packed_and_garbage(void **state)
{
	struct mfw_fh_splitter sp;
	char stream[2048];
	const char *d;
	size_t n;
	(void)state;

	/* NULs, blanks, line noise, then two documents and a self-closing one */
	memcpy(stream, "\0\0 \n", 4);
	snprintf(stream + 4, sizeof(stream) - 4, "garbage>xx<%s%s<data/>", doc_log, doc_nak);
	mfw_fh_splitter_init(&sp);
	assert_int_equal(mfw_fh_splitter_push(&sp, stream, 4 + strlen(stream + 4)), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_int_equal(n, strlen(doc_log));
	assert_memory_equal(d, doc_log, n);
	assert_int_equal(sp.skipped, strlen("garbage>xx<"));
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_memory_equal(d, doc_nak, n);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_int_equal(n, 7);
	assert_memory_equal(d, "<data/>", 7);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 0);
	assert_int_equal(mfw_fh_splitter_pending(&sp), 0);

	/* a prefix that may become a document is kept, not dropped */
	assert_int_equal(mfw_fh_splitter_push(&sp, "junk<?x", 7), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 0);
	assert_int_equal(mfw_fh_splitter_pending(&sp), 3);
	assert_int_equal(mfw_fh_splitter_push(&sp, doc_log + 3, strlen(doc_log) - 3), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_memory_equal(d, doc_log, n);

	/* a document cut short by a new one is dropped, the new one survives */
	assert_int_equal(mfw_fh_splitter_push(&sp, doc_nak, 60), 0);
	assert_int_equal(mfw_fh_splitter_push(&sp, doc_log, strlen(doc_log)), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_int_equal(n, strlen(doc_log));
	assert_memory_equal(d, doc_log, n);
	/* "<database>" is not a document start */
	assert_int_equal(mfw_fh_splitter_push(&sp, "<database></data>", 17), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 0);
	mfw_fh_splitter_free(&sp);
}

static void test_split_raw_after_doc(void **state)
{
	struct mfw_fh_splitter sp;
	uint8_t stream[1024], raw[600], got[600];
	size_t len = strlen(doc_ack_raw), n;
	const char *d;
	(void)state;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 3);
	raw[0] = '<'; /* raw data that looks like markup stays raw */
	memcpy(stream, doc_ack_raw, len);
	memcpy(stream + len, raw, sizeof(raw));
	mfw_fh_splitter_init(&sp);
	assert_int_equal(mfw_fh_splitter_push(&sp, stream, len + sizeof(raw)), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_int_equal(n, len);
	assert_memory_equal(d, doc_ack_raw, len);
	assert_int_equal(mfw_fh_splitter_pending(&sp), sizeof(raw));
	assert_int_equal(mfw_fh_splitter_take_raw(&sp, got, 100), 100);
	assert_int_equal(mfw_fh_splitter_take_raw(&sp, got + 100, sizeof(got)), 500);
	assert_memory_equal(got, raw, sizeof(raw));
	assert_int_equal(mfw_fh_splitter_pending(&sp), 0);
	assert_int_equal(mfw_fh_splitter_take_raw(&sp, got, sizeof(got)), 0);
	/* back to XML after the raw phase */
	assert_int_equal(mfw_fh_splitter_push(&sp, doc_log, strlen(doc_log)), 0);
	assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 1);
	assert_memory_equal(d, doc_log, n);
	mfw_fh_splitter_free(&sp);
}

static void test_split_oversize(void **state)
{
	struct mfw_fh_splitter sp;
	size_t big = MFW_FH_MAX_DOC + 100;
	char *s = malloc(big + 64);
	const char *d;
	size_t n, pushed = 0;
	int r = 0;
	(void)state;

	assert_non_null(s);
	strcpy(s, DECL "<data><log value=\"");
	memset(s + strlen(s), 'A', big - strlen(s));
	mfw_fh_splitter_init(&sp);
	/* pushed in 1 KiB reads: must refuse before buffering more than the limit */
	while (pushed < big) {
		size_t k = big - pushed < 1024 ? big - pushed : 1024;

		r = mfw_fh_splitter_push(&sp, s + pushed, k);
		if (r < 0)
			break;
		pushed += k;
		assert_int_equal(mfw_fh_splitter_next(&sp, &d, &n), 0);
	}
	assert_int_equal(r, MFW_E_PROTO);
	assert_true(mfw_fh_splitter_pending(&sp) <= MFW_FH_MAX_DOC);
	mfw_fh_splitter_free(&sp);

	/* a complete but oversize document in one push is refused as well */
	strcpy(s + big - 20, "\" /></data>");
	mfw_fh_splitter_init(&sp);
	assert_int_equal(mfw_fh_splitter_push(&sp, s, strlen(s)), MFW_E_PROTO);
	assert_int_equal(mfw_fh_splitter_pending(&sp), 0);
	mfw_fh_splitter_free(&sp);

	/* pure garbage beyond the limit */
	memset(s, 'x', big);
	mfw_fh_splitter_init(&sp);
	assert_int_equal(mfw_fh_splitter_push(&sp, s, big), MFW_E_PROTO);
	mfw_fh_splitter_free(&sp);
	free(s);
}

static void test_parse_log(void **state)
{
	struct mfw_fh_msg m;
	const struct mfw_fh_elem *e;
	(void)state;

	assert_int_equal(mfw_fh_parse(NULL, doc_log, strlen(doc_log), &m), 0);
	assert_int_equal(m.nelem, 1);
	e = mfw_fh_msg_find(&m, "log");
	assert_non_null(e);
	assert_string_equal(mfw_fh_attr_get(e, "value"),
			    "INFO: Binary build date: Jun 20 2019 @ 04:15:09");
	assert_string_equal(mfw_fh_attr_get(e, "VALUE"),
			    "INFO: Binary build date: Jun 20 2019 @ 04:15:09");
	assert_null(mfw_fh_msg_find(&m, "response"));
	mfw_fh_msg_free(&m);
}

static void test_parse_nak(void **state)
{
	struct mfw_fh_msg m;
	const struct mfw_fh_elem *e;
	uint64_t v;
	(void)state;

	assert_int_equal(mfw_fh_parse(NULL, doc_nak, strlen(doc_nak), &m), 0);
	e = mfw_fh_msg_find(&m, "response");
	assert_non_null(e);
	assert_int_equal(e->nattr, 5);
	/* document order */
	assert_string_equal(e->attrs[0].name, "value");
	assert_string_equal(e->attrs[1].name, "MemoryName");
	assert_string_equal(e->attrs[4].name, "TargetName");
	assert_string_equal(mfw_fh_attr_get(e, "value"), "NAK");
	assert_string_equal(mfw_fh_attr_get(e, "memoryname"), "NAND");
	assert_string_equal(mfw_fh_attr_get(e, "TargetName"), "9x55");
	assert_int_equal(mfw_fh_parse_u64(mfw_fh_attr_get(e, "MaxPayloadSizeToTargetInBytes"), &v),
			 0);
	assert_int_equal(v, 8192);
	assert_null(mfw_fh_attr_get(e, "rawmode"));
	mfw_fh_msg_free(&m);
}

static void test_parse_several_and_entities(void **state)
{
	static const char doc[] =
		DECL "<data>\n  <log value=\"say &quot;hi&quot; &amp; &lt;bye&gt; &#65;\"/>\n"
		"  <log value='x'/><response value=\"ACK\" rawmode=\"false\"/>\n</data>\n";
	struct mfw_fh_msg m;
	(void)state;

	assert_int_equal(mfw_fh_parse(NULL, doc, strlen(doc), &m), 0);
	assert_int_equal(m.nelem, 3);
	assert_string_equal(m.elems[0].tag, "log");
	assert_string_equal(m.elems[0].attrs[0].value, "say \"hi\" & <bye> A");
	assert_string_equal(m.elems[1].attrs[0].value, "x");
	assert_string_equal(m.elems[2].tag, "response");
	assert_string_equal(mfw_fh_attr_get(&m.elems[2], "rawmode"), "false");
	mfw_fh_msg_free(&m);

	/* self-closing root: no elements, but valid */
	assert_int_equal(mfw_fh_parse(NULL, "<data/>", 7, &m), 0);
	assert_int_equal(m.nelem, 0);
	mfw_fh_msg_free(&m);
}

static void test_parse_rejects(void **state)
{
	static const char *const bad[] = {
		DECL "<patches><patch /></patches>",
		DECL "<data><log value=\"x\" /></dat>",
		DECL "<data><log value=\"x></data>",
		"<data><log value=\"&unknown;\" /></data>",
		DECL "<!DOCTYPE data [<!ENTITY e \"boom\">]><data><log value=\"&e;\" /></data>",
		DECL "<!DOCTYPE data SYSTEM \"http://example.invalid/x.dtd\"><data/>",
		"not xml at all",
	};
	struct mfw_fh_msg m;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mfw_fh_parse(NULL, bad[i], strlen(bad[i]), &m), MFW_E_FORMAT);
		assert_int_equal(m.nelem, 0);
		assert_null(m.elems);
	}
	assert_int_equal(mfw_fh_parse(NULL, "", 0, &m), MFW_E_FORMAT);
}

static void test_parse_u64(void **state)
{
	uint64_t v;
	(void)state;

	assert_int_equal(mfw_fh_parse_u64("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mfw_fh_parse_u64("1048576", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(mfw_fh_parse_u64("0x2000", &v), 0);
	assert_int_equal(v, 0x2000);
	assert_int_equal(mfw_fh_parse_u64("0XfFfF", &v), 0);
	assert_int_equal(v, 0xffff);
	assert_int_equal(mfw_fh_parse_u64("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(mfw_fh_parse_u64("0xFFFFFFFFFFFFFFFF", &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(mfw_fh_parse_u64("18446744073709551616", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("0x10000000000000000", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("0x", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("-1", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("12a", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64(" 12", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64("0x1g", &v), MFW_E_FORMAT);
	assert_int_equal(mfw_fh_parse_u64(NULL, &v), MFW_E_FORMAT);
}

static void test_build_exact(void **state)
{
	char buf[512];
	struct mfw_fh_attr a[] = {
		{ "SECTOR_SIZE_IN_BYTES", "4096" },
		{ "num_partition_sectors", "640" },
		{ "physical_partition_number", "0" },
		{ "start_sector", "0" },
	};
	static const char expect[] =
		DECL "<data><program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"640\" "
		"physical_partition_number=\"0\" start_sector=\"0\" /></data>";
	int n;
	(void)state;

	n = mfw_fh_build(buf, sizeof(buf), "program", a, 4);
	assert_int_equal(n, strlen(expect));
	assert_string_equal(buf, expect);
	n = mfw_fh_build(buf, sizeof(buf), "nop", NULL, 0);
	assert_string_equal(buf, DECL "<data><nop /></data>");
	assert_int_equal(n, strlen(buf));
	/* exact fit needs room for the NUL */
	assert_int_equal(mfw_fh_build(buf, strlen(expect) + 1, "program", a, 4),
			 (int)strlen(expect));
	assert_int_equal(mfw_fh_build(buf, strlen(expect), "program", a, 4), MFW_E_RANGE);
	assert_int_equal(mfw_fh_build(buf, 0, "nop", NULL, 0), MFW_E_RANGE);
	/* bad names cannot inject markup */
	assert_int_equal(mfw_fh_build(buf, sizeof(buf), "nop /><power", NULL, 0), MFW_E_INVAL);
	a[0].name = "x=\"1\" y";
	assert_int_equal(mfw_fh_build(buf, sizeof(buf), "program", a, 1), MFW_E_INVAL);

	n = mfw_fh_build_log(buf, sizeof(buf), "Digest: 00");
	assert_string_equal(buf, DECL "<data><log value=\"Digest: 00\" /></data>");
	n = mfw_fh_build_response(buf, sizeof(buf), true, 1, NULL, 0);
	assert_string_equal(buf, DECL "<data><response value=\"ACK\" rawmode=\"true\" /></data>");
	n = mfw_fh_build_response(buf, sizeof(buf), true, 0, NULL, 0);
	assert_string_equal(buf, DECL "<data><response value=\"ACK\" rawmode=\"false\" /></data>");
	{
		struct mfw_fh_attr x[] = { { "MemoryName", "NAND" }, { "TargetName", "9x55" } };

		n = mfw_fh_build_response(buf, sizeof(buf), false, -1, x, 2);
		assert_string_equal(buf, DECL "<data><response value=\"NAK\" MemoryName=\"NAND\" "
					      "TargetName=\"9x55\" /></data>");
		assert_int_equal(n, strlen(buf));
	}
}

static void test_escape_roundtrip(void **state)
{
	static const char *const vals[] = {
		"a & b < c > d \" e ' f",
		"&amp; literal",
		"tab\there\nnewline\r",
		"",
		"UTF-8: \xc3\xa9t\xc3\xa9",
	};
	char buf[512];
	(void)state;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		struct mfw_fh_attr a = { "value", (char *)vals[i] };
		struct mfw_fh_msg m;
		int n = mfw_fh_build(buf, sizeof(buf), "log", &a, 1);

		assert_true(n > 0);
		assert_int_equal(mfw_fh_parse(NULL, buf, (size_t)n, &m), 0);
		assert_int_equal(m.nelem, 1);
		assert_string_equal(mfw_fh_attr_get(&m.elems[0], "value"), vals[i]);
		mfw_fh_msg_free(&m);
	}
	{
		struct mfw_fh_attr a = { "value", "&<>\"'" };

		mfw_fh_build(buf, sizeof(buf), "log", &a, 1);
		assert_string_equal(buf, DECL "<data><log value=\"&amp;&lt;&gt;&quot;&apos;\" /></data>");
		a.value = "bell\a";
		assert_int_equal(mfw_fh_build(buf, sizeof(buf), "log", &a, 1), MFW_E_INVAL);
	}
}

static void test_funcs_list(void **state)
{
	static const char *const lines[] = {
		"INFO: Binary build date: Jun 20 2019 @ 04:15:09",
		"INFO: Chip serial num: 3735928559 (0xdeadbeef)",
		"INFO: Supported Functions (15):",
		"INFO: program", "INFO: read", "INFO: nop", "INFO: patch", "INFO: configure",
		"INFO: setbootablestoragedrive", "INFO: erase", "INFO: power",
		"INFO: firmwarewrite", "INFO: getstorageinfo", "INFO: benchmark", "INFO: emmc",
		"INFO: ufs", "INFO: fixgpt", "INFO: getsha256digest",
		"INFO: End of supported functions 15",
		"INFO: later",
	};
	struct mfw_fh_funcs f;
	(void)state;

	mfw_fh_funcs_init(&f);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		mfw_fh_funcs_feed(&f, lines[i]);
		if (i == 5)
			assert_false(f.complete);
	}
	assert_true(f.complete);
	assert_false(f.in_list);
	assert_int_equal(f.n, 15);
	assert_true(mfw_fh_funcs_has(&f, "program"));
	assert_true(mfw_fh_funcs_has(&f, "getsha256digest"));
	assert_true(mfw_fh_funcs_has(&f, "GetStorageInfo"));
	assert_false(mfw_fh_funcs_has(&f, "peek"));
	assert_false(mfw_fh_funcs_has(&f, "later"));
	assert_false(mfw_fh_funcs_has(&f, "Binary"));
	/* <nop/> repeats the list: no duplicates */
	mfw_fh_funcs_feed(&f, "INFO: Supported Functions (1):");
	mfw_fh_funcs_feed(&f, "INFO: program");
	mfw_fh_funcs_feed(&f, "INFO: End of supported functions 1");
	assert_int_equal(f.n, 15);
}

static void test_funcs_one_line(void **state)
{
	struct mfw_fh_funcs f;
	(void)state;

	mfw_fh_funcs_init(&f);
	mfw_fh_funcs_feed(&f, "Supported Functions: program read nop patch configure erase");
	assert_true(f.complete);
	assert_int_equal(f.n, 6);
	assert_true(mfw_fh_funcs_has(&f, "erase"));
	assert_true(mfw_fh_funcs_has(&f, "nop"));
	assert_false(mfw_fh_funcs_has(&f, "getsha256digest"));

	mfw_fh_funcs_init(&f);
	mfw_fh_funcs_feed(&f, "INFO: Supported Functions:  program, getsha256digest ");
	assert_true(f.complete);
	assert_int_equal(f.n, 2);
	assert_true(mfw_fh_funcs_has(&f, "getsha256digest"));
}

static void test_storage_info_json(void **state)
{
	struct mfw_fh_storage_info si;
	(void)state;

	memset(&si, 0, sizeof(si));
	mfw_fh_storage_info_feed(&si,
				 "INFO: {\"storage_info\": {\"total_blocks\":2048, "
				 "\"block_size\":262144, \"page_size\":4096, \"num_physical\":1, "
				 "\"manufacturer_id\": 44, \"mem_type\":\"NAND\", "
				 "\"prod_name\":\"MT29F4G08 total_blocks=7\"}}");
	assert_int_equal(si.have, MFW_FH_SI_TOTAL_BLOCKS | MFW_FH_SI_BLOCK_SIZE |
					   MFW_FH_SI_PAGE_SIZE | MFW_FH_SI_NUM_PHYSICAL);
	assert_int_equal(si.total_blocks, 2048);
	assert_int_equal(si.block_size, 262144);
	assert_int_equal(si.page_size, 4096);
	assert_int_equal(si.num_physical, 1);
	assert_string_equal(si.mem_type, "NAND");
	assert_string_equal(si.prod_name, "MT29F4G08 total_blocks=7");

	/* eMMC, extra spaces */
	memset(&si, 0, sizeof(si));
	mfw_fh_storage_info_feed(&si, "INFO: { \"storage_info\" : { \"total_blocks\" : 8388608 ,"
				      " \"block_size\" : 512 , \"page_size\" : 512 ,"
				      " \"num_physical\" : 2 , \"mem_type\" : \"eMMC\" } }");
	assert_int_equal(si.total_blocks, 8388608);
	assert_int_equal(si.block_size, 512);
	assert_int_equal(si.num_physical, 2);
	assert_string_equal(si.mem_type, "eMMC");
}

static void test_storage_info_lines(void **state)
{
	static const char *const lines[] = {
		"INFO: total_blocks: 2048",
		"INFO: block_size=262144",
		"INFO:   page_size :  0x1000  ",
		"INFO: num_physical = 1",
		"INFO: bad_block_count: 3",
		"INFO: mem_type: NAND",
		"INFO: Storage info done",
	};
	struct mfw_fh_storage_info si;
	(void)state;

	memset(&si, 0, sizeof(si));
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		mfw_fh_storage_info_feed(&si, lines[i]);
	assert_int_equal(si.have, 15);
	assert_int_equal(si.total_blocks, 2048);
	assert_int_equal(si.block_size, 262144);
	assert_int_equal(si.page_size, 4096);
	assert_int_equal(si.num_physical, 1);
	assert_string_equal(si.mem_type, "NAND");

	/* numbers only: garbage and overflow leave the field unset */
	memset(&si, 0, sizeof(si));
	mfw_fh_storage_info_feed(&si, "block_size: 256K");
	mfw_fh_storage_info_feed(&si, "page_size: 4294967296");
	mfw_fh_storage_info_feed(&si, "total_blocks: -1");
	mfw_fh_storage_info_feed(&si, "xtotal_blocks: 5");
	assert_int_equal(si.have, 0);
}

static void test_digest(void **state)
{
	static const char hex[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const uint8_t bin[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
		0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
		0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	static const char *const fmts[] = {
		"Digest: %s", "INFO: digest = %s", "DIGEST 0x%s", "sha256 digest:0X%s",
		"INFO: Digest %s (sector 0)",
	};
	char line[256];
	uint8_t out[32];
	(void)state;

	for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(out, 0, sizeof(out));
		snprintf(line, sizeof(line), fmts[i], hex);
		assert_int_equal(mfw_fh_find_digest(line, out), 1);
		assert_memory_equal(out, bin, 32);
	}
	/* uppercase hex */
	snprintf(line, sizeof(line), "Digest: %s", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
	assert_int_equal(mfw_fh_find_digest(line, out), 1);
	assert_memory_equal(out, bin, 32);
	/* too short, too long, no keyword */
	assert_int_equal(mfw_fh_find_digest("Digest: e3b0c442", out), 0);
	snprintf(line, sizeof(line), "Digest: %s0", hex);
	assert_int_equal(mfw_fh_find_digest(line, out), 0);
	snprintf(line, sizeof(line), "hash: %s", hex);
	assert_int_equal(mfw_fh_find_digest(line, out), 0);
	/* a second mention after a non-digest one */
	snprintf(line, sizeof(line), "digest table ok; Digest: %s", hex);
	assert_int_equal(mfw_fh_find_digest(line, out), 1);
	assert_memory_equal(out, bin, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_bytewise_and_random),
		cmocka_unit_test(test_split_packed_and_garbage),
		cmocka_unit_test(test_split_raw_after_doc),
		cmocka_unit_test(test_split_oversize),
		cmocka_unit_test(test_parse_log),
		cmocka_unit_test(test_parse_nak),
		cmocka_unit_test(test_parse_several_and_entities),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_build_exact),
		cmocka_unit_test(test_escape_roundtrip),
		cmocka_unit_test(test_funcs_list),
		cmocka_unit_test(test_funcs_one_line),
		cmocka_unit_test(test_storage_info_json),
		cmocka_unit_test(test_storage_info_lines),
		cmocka_unit_test(test_digest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
