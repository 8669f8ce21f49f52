/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device-side faults of the virtual modem (emu/fault.c): the spec parser
 * (every form, and refusals that say what is wrong), then each kind's
 * effect seen from a host that speaks raw Sahara and Firehose bytes over
 * an in-process transport pair, written by hand here, never with the host
 * state machines of lib/qcom.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modemfw/emu.h>
#include <modemfw/error.h>
#include "../../emu/emu-internal.h"
#include "proto/firehose.h"
#include "proto/sahara.h"

#define IO_MS 5000
#define MIB (1024u * 1024u)
#define SEG_OFF 0x100u
#define SEG_LEN 3000u
#define ELF_LEN (SEG_OFF + SEG_LEN)
#define EMMC_ATTRS "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\""
#define NAND_ATTRS "SECTOR_SIZE_IN_BYTES=\"4096\" PAGES_PER_BLOCK=\"64\" physical_partition_number=\"0\""
#define CONFIGURE "<configure MemoryName=\"%s\" MaxPayloadSizeToTargetInBytes=\"1048576\"/>"

/* ------------------------------------------------------------------ parser */

static struct emu_fault parse_ok(const char *spec)
{
	struct emu_fault f;
	char err[320] = "";

	if (emu_fault_parse(spec, &f, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", spec, err);
	return f;
}

/* The spec is refused and the message contains want. */
static void parse_bad(const char *spec, const char *want)
{
	struct emu_fault f;
	char err[320] = "";

	assert_int_equal(emu_fault_parse(spec, &f, err, sizeof(err)), MFW_E_INVAL);
	if (!strstr(err, want))
		fail_msg("'%s': message '%s' does not say '%s'", spec, err, want);
}

static void test_parse_forms(void **state)
{
	struct emu_fault f, g;
	(void)state;

	f = parse_ok("stall@bytes=100");
	assert_int_equal(f.kind, EMU_FAULT_STALL);
	assert_int_equal(f.trig, EMU_TRIG_BYTES);
	assert_int_equal(f.at, 100);
	f = parse_ok("stall@bytes=20M");
	assert_int_equal(f.at, 20 * MIB);
	f = parse_ok("silence@op=3,cmd=program");
	assert_int_equal(f.kind, EMU_FAULT_SILENCE);
	assert_int_equal(f.trig, EMU_TRIG_OP);
	assert_int_equal(f.at, 3);
	assert_string_equal(f.cmd, "program");
	f = parse_ok("drop@bytes=0x10,dir=out");
	assert_int_equal(f.kind, EMU_FAULT_DROP);
	assert_true(f.out);
	assert_int_equal(f.armed, 16); /* a byte-count byte fault is armed from the start */
	f = parse_ok("corrupt@op=2,dir=in,off=10,mask=0x40");
	assert_int_equal(f.kind, EMU_FAULT_CORRUPT);
	assert_false(f.out);
	assert_int_equal(f.off, 10);
	assert_int_equal(f.mask, 0x40);
	assert_int_equal(f.armed, UINT64_MAX);
	f = parse_ok("corrupt@bytes=5");
	assert_int_equal(f.mask, 0xFF);
	f = parse_ok("disconnect@bytes=1M,delay=250");
	assert_int_equal(f.kind, EMU_FAULT_DISCONNECT);
	assert_int_equal(f.delay_ms, 250);
	f = parse_ok("disconnect@op=7");
	assert_int_equal(f.delay_ms, 1000);
	f = parse_ok("flood@op=1,lines=5");
	assert_int_equal(f.kind, EMU_FAULT_FLOOD);
	assert_int_equal(f.lines, 5);
	assert_false(f.after);
	f = parse_ok("flood@always,when=after,cmd=nop");
	assert_int_equal(f.trig, EMU_TRIG_ALWAYS);
	assert_true(f.after);
	f = parse_ok("nak@op=2,cmd=erase");
	assert_int_equal(f.kind, EMU_FAULT_NAK);
	assert_string_equal(f.cmd, "erase");
	f = parse_ok("nak@bytes=4096");
	assert_int_equal(f.trig, EMU_TRIG_BYTES);
	f = parse_ok("slowack@op=1,cmd=program,ms=65000");
	assert_int_equal(f.kind, EMU_FAULT_SLOWACK);
	assert_int_equal(f.delay_ms, 65000);
	f = parse_ok("badblock@op=2");
	assert_int_equal(f.kind, EMU_FAULT_BADBLOCK);
	assert_string_equal(f.cmd, "program"); /* a bad block is found by a program */
	f = parse_ok("nohello");
	assert_int_equal(f.kind, EMU_FAULT_NOHELLO);
	assert_int_equal(f.trig, EMU_TRIG_NONE);
	f = parse_ok("nohello@bytes=1000");
	assert_int_equal(f.trig, EMU_TRIG_BYTES);

	/* random: the seed names the point, inside the range, the same every time */
	f = parse_ok("stall@random,seed=7,range=100-200");
	g = parse_ok("stall@random,seed=7,range=100-200");
	assert_int_equal(f.trig, EMU_TRIG_BYTES);
	assert_true(f.at >= 100 && f.at <= 200);
	assert_int_equal(f.at, g.at);
	{
		bool differ = false;
		for (int s = 1; s < 20 && !differ; s++) {
			char spec[64];
			snprintf(spec, sizeof(spec), "stall@random,seed=%d,range=100-200", s);
			g = parse_ok(spec);
			assert_true(g.at >= 100 && g.at <= 200);
			differ = g.at != f.at;
		}
		assert_true(differ);
	}
	f = parse_ok("nak@random=op,seed=3,range=5,cmd=program");
	assert_int_equal(f.trig, EMU_TRIG_OP);
	assert_true(f.at >= 1 && f.at <= 5);
	f = parse_ok("corrupt@random,seed=9,range=64K");
	assert_true(f.at < 64 * 1024);
	assert_int_equal(f.armed, f.at);
	f = parse_ok("disconnect@random=bytes,seed=1");
	assert_true(f.at <= 64 * MIB);
}

static void test_parse_refusals(void **state)
{
	struct mfw_ctx *ctx;
	(void)state;

	parse_bad("", "empty");
	parse_bad("melt@bytes=1", "unknown kind 'melt'");
	parse_bad("stall", "needs a trigger");
	parse_bad("stall@", "unknown trigger");
	parse_bad("stall@bytes=", "is not a byte count");
	parse_bad("stall@bytes=12Q", "is not a byte count");
	parse_bad("stall@bytes=-1", "is not a byte count");
	parse_bad("stall@op=0", "1 is the first");
	parse_bad("stall@when=1", "unknown trigger 'when=1'");
	parse_bad("stall@always", "fires once");
	parse_bad("badblock@always", "fires once");
	parse_bad("nohello@op=1", "no op=");
	parse_bad("slowack@op=1", "needs ms=");
	parse_bad("stall@bytes=1,lines=3", "takes no parameter 'lines'");
	parse_bad("drop@bytes=1,mask=3", "takes no parameter 'mask'");
	parse_bad("drop@bytes=1,dir=sideways", "dir=sideways");
	parse_bad("corrupt@bytes=1,mask=0", "mask=0");
	parse_bad("corrupt@bytes=1,mask=0x100", "mask=0x100");
	parse_bad("drop@bytes=1,off=3", "needs op=N");
	parse_bad("stall@bytes=1,seed=3", "random trigger");
	parse_bad("stall@bytes=1,cmd=program", "cmd= only goes with");
	parse_bad("nak@op=1,cmd=<x>", "not a Firehose command");
	parse_bad("flood@op=1,lines=0", "lines=0");
	parse_bad("flood@op=1,when=during", "when=during");
	parse_bad("badblock@op=1,cmd=erase", "cmd=erase");
	parse_bad("stall@random,range=9-3", "LOW-HIGH");
	parse_bad("nak@random=op,range=0-3", "starts at 1");
	parse_bad("stall@bytes=1,delay", "not param=value");

	/* the public check and the constructor say the same, on the context */
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_emu_fault_check(ctx, "stall@op=2"), 0);
	assert_int_equal(mfw_emu_fault_check(ctx, "slowack@op=2"), MFW_E_INVAL);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "fault 'slowack@op=2': slowack needs ms="));
	{
		struct mfw_emu_config cfg;
		struct mfw_emu *emu = NULL;
		const char *bb[] = { "badblock@op=1" }, *bad[] = { "nak@op=1", "stall@foo" };

		mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
		cfg.size = 4 * MIB;
		cfg.faults = bb;
		cfg.nfaults = 1;
		assert_int_equal(mfw_emu_new(ctx, &cfg, &emu), MFW_E_INVAL);
		assert_non_null(strstr(mfw_ctx_detail(ctx), "NAND only"));
		cfg.faults = bad;
		cfg.nfaults = 2;
		assert_int_equal(mfw_emu_new(ctx, &cfg, &emu), MFW_E_INVAL);
		assert_non_null(strstr(mfw_ctx_detail(ctx), "'stall@foo'"));
		cfg.link = (enum mfw_emu_link)9;
		cfg.nfaults = 1;
		assert_int_equal(mfw_emu_new(ctx, &cfg, &emu), MFW_E_INVAL);
		assert_null(emu);
	}
	mfw_ctx_free(ctx);
}

/* ----------------------------------------------------------- raw host side */

struct fx {
	char dir[64];
	char image[128];
	struct mfw_ctx *ctx;
	struct mfw_emu *emu;
	struct mfw_transport *t;
	struct mfw_fh_splitter sp;
	uint64_t sent;       /* host->device bytes so far (the fault byte count) */
	uint8_t elf[ELF_LEN];
	char logs[16384];
	size_t loglen;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A little ARM ELF32 with one loadable segment: the PBL asks for 52 + 32 + SEG_LEN bytes. */
static void make_elf(uint8_t *b)
{
	memset(b, 0, ELF_LEN);
	for (size_t i = SEG_OFF; i < ELF_LEN; i++)
		b[i] = (uint8_t)(i * 7);
	memcpy(b, "\x7f" "ELF", 4);
	b[4] = 1;
	b[5] = 1;
	b[6] = 1;
	put16(b + 16, 2);
	put16(b + 18, 40);
	put32(b + 20, 1);
	put32(b + 24, 0x8000000);
	put32(b + 28, 52);
	put16(b + 40, 52);
	put16(b + 42, 32);
	put16(b + 44, 1);
	put32(b + 52, 1);
	put32(b + 56, SEG_OFF);
	put32(b + 60, 0x8000000);
	put32(b + 64, 0x8000000);
	put32(b + 68, SEG_LEN);
	put32(b + 72, SEG_LEN);
	put32(b + 76, 5);
	put32(b + 80, 0x1000);
}

/* Host bytes of a full programmer load: HELLO_RESP, the three requests, DONE. */
#define LOAD_BYTES (48u + 52u + 32u + SEG_LEN + 8u)

static struct fx *fx_new(enum mfw_emu_storage storage, const char *const *faults, size_t n)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mfw_emu_config cfg;
	int r;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-emu-fault-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->image, sizeof(f->image), "%s/flash.img", f->dir);
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
	mfw_fh_splitter_init(&f->sp);
	make_elf(f->elf);
	mfw_emu_config_defaults(&cfg, storage);
	cfg.image_path = f->image;
	if (storage == MFW_EMU_NAND)
		cfg.size = 32 * MIB;
	cfg.faults = faults;
	cfg.nfaults = n;
	r = mfw_emu_new(f->ctx, &cfg, &f->emu);
	if (r < 0)
		fail_msg("mfw_emu_new: %s", mfw_ctx_detail(f->ctx));
	assert_int_equal(mfw_emu_attach(f->emu, &f->t), 0);
	return f;
}

static void fx_reattach(struct fx *f)
{
	mfw_transport_close(f->t);
	mfw_fh_splitter_free(&f->sp);
	mfw_fh_splitter_init(&f->sp);
	assert_int_equal(mfw_emu_attach(f->emu, &f->t), 0);
}

static void fx_free(struct fx *f)
{
	char cmd[200];

	if (f->t)
		mfw_transport_close(f->t);
	mfw_emu_free(f->emu);
	mfw_fh_splitter_free(&f->sp);
	mfw_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
}

static void h_write(struct fx *f, const void *buf, size_t len)
{
	size_t w = 0;
	int r = mfw_transport_write(f->t, buf, len, mfw_deadline_in(IO_MS), &w);

	f->sent += w;
	if (r < 0)
		fail_msg("host write of %zu bytes: %s (%zu moved)", len, mfw_strerror(r), w);
}

static void h_read(struct fx *f, void *buf, size_t len)
{
	int r = mfw_transport_read_full(f->t, buf, len, mfw_deadline_in(IO_MS));

	if (r < 0)
		fail_msg("host read of %zu bytes: %s", len, mfw_strerror(r));
}

/* Nothing arrives for ms milliseconds (the device waits far longer, so load cannot flake this). */
static void expect_silence(struct fx *f, int ms)
{
	uint8_t b;

	assert_int_equal(mfw_transport_read(f->t, &b, 1, mfw_deadline_in(ms)), MFW_E_TIMEOUT);
}

static void sh_send(struct fx *f, uint32_t cmd, const uint32_t *v, size_t n)
{
	uint8_t buf[64] = { 0 };
	uint32_t len = mfw_sahara_cmd_len(cmd);

	put32(buf, cmd);
	put32(buf + 4, len);
	for (size_t i = 0; i < n; i++)
		put32(buf + 8 + 4 * i, v[i]);
	h_write(f, buf, len);
}

static void sh_recv(struct fx *f, struct mfw_sahara_pkt *p)
{
	uint8_t buf[64];
	uint32_t len;

	h_read(f, buf, 8);
	len = get32(buf + 4);
	assert_true(len >= 8 && len <= sizeof(buf));
	h_read(f, buf + 8, len - 8);
	assert_int_equal(mfw_sahara_parse(buf, len, p), (int)len);
}

static void expect_hello(struct fx *f)
{
	struct mfw_sahara_pkt p;

	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_HELLO);
}

/* HELLO_RESP (without waiting for a HELLO), the programmer upload, DONE, start-up logs. */
static void load(struct fx *f)
{
	uint32_t hr[4] = { 2, 1, 0, 0 };
	struct mfw_sahara_pkt p;

	sh_send(f, MFW_SAHARA_HELLO_RESP, hr, 4);
	for (;;) {
		sh_recv(f, &p);
		if (p.cmd == MFW_SAHARA_END_OF_IMAGE)
			break;
		assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
		assert_true(p.u.read.offset + p.u.read.length <= ELF_LEN);
		h_write(f, f->elf + p.u.read.offset, (size_t)p.u.read.length);
	}
	assert_int_equal(p.u.eoi.status, 0);
	sh_send(f, MFW_SAHARA_DONE, NULL, 0);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_DONE_RESP);
	assert_int_equal(f->sent, LOAD_BYTES);
	for (;;) {
		const char *doc;
		size_t len;
		uint8_t buf[4096];
		int r = mfw_fh_splitter_next(&f->sp, &doc, &len);

		if (r == 1) {
			if (memmem(doc, len, "End of supported functions", 26))
				return;
			continue;
		}
		r = mfw_transport_read(f->t, buf, sizeof(buf), mfw_deadline_in(IO_MS));
		assert_true(r > 0);
		assert_int_equal(mfw_fh_splitter_push(&f->sp, buf, (size_t)r), 0);
	}
}

/* Read documents up to a <response>; returns 1 ACK, 0 NAK; logs collected in f->logs. */
static int fh_response(struct fx *f, int *rawmode)
{
	for (;;) {
		const char *doc;
		size_t len;
		uint8_t buf[4096];
		int r = mfw_fh_splitter_next(&f->sp, &doc, &len);

		assert_true(r >= 0);
		if (r == 1) {
			struct mfw_fh_msg msg;

			assert_int_equal(mfw_fh_parse(NULL, doc, len, &msg), 0);
			for (size_t i = 0; i < msg.nelem; i++) {
				const struct mfw_fh_elem *e = &msg.elems[i];
				const char *v = mfw_fh_attr_get(e, "value");

				if (!strcmp(e->tag, "log")) {
					size_t room = sizeof(f->logs) - f->loglen;
					int n = snprintf(f->logs + f->loglen, room, "%s\n", v ? v : "");
					f->loglen += n > 0 && (size_t)n < room ? (size_t)n : 0;
				} else if (!strcmp(e->tag, "response")) {
					const char *rm = mfw_fh_attr_get(e, "rawmode");
					int ack = v && !strcmp(v, "ACK");

					if (rawmode)
						*rawmode = !rm ? -1 : !strcmp(rm, "true");
					mfw_fh_msg_free(&msg);
					return ack;
				}
			}
			mfw_fh_msg_free(&msg);
			continue;
		}
		r = mfw_transport_read(f->t, buf, sizeof(buf), mfw_deadline_in(IO_MS));
		if (r < 0)
			fail_msg("waiting for a response: %s", mfw_strerror(r));
		assert_int_equal(mfw_fh_splitter_push(&f->sp, buf, (size_t)r), 0);
	}
}

/* One command document; returns its length on the wire. */
static size_t fh_send(struct fx *f, const char *fmt, ...)
{
	char body[1024], doc[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	n = snprintf(doc, sizeof(doc), "<?xml version=\"1.0\" ?><data>%s</data>", body);
	f->loglen = 0;
	f->logs[0] = '\0';
	h_write(f, doc, (size_t)n);
	return (size_t)n;
}

#define fh_cmd(f, ...) (fh_send(f, __VA_ARGS__), fh_response(f, NULL))

/* <program> of len bytes: setup ACK, the data, then the final ACK (1) or NAK (0). */
static int fh_program(struct fx *f, const uint8_t *data, size_t len, const char *attrs)
{
	int raw = -1;

	fh_send(f, "<program %s/>", attrs);
	assert_int_equal(fh_response(f, &raw), 1);
	assert_int_equal(raw, 1);
	h_write(f, data, len);
	raw = -1;
	len = (size_t)fh_response(f, &raw);
	assert_int_equal(raw, 0);
	return (int)len;
}

static void img_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->image, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 13 + (i >> 9));
	return b;
}

/* ----------------------------------------------------------------- effects */

/* stall: the device reads exactly N bytes and then nothing; writes stop completing. */
static void test_stall(void **state)
{
	const char *faults[] = { "stall@op=2" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	uint8_t *junk = calloc(1, 4 * MIB);
	size_t w = 0;
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	fh_send(f, "<nop/>");
	expect_silence(f, 300);
	/* nothing is read any more: the pair's buffer fills and the write times out */
	assert_int_equal(mfw_transport_write(f->t, junk, 4 * MIB, mfw_deadline_in(500), &w),
			 MFW_E_TIMEOUT);
	assert_true(w < 4 * MIB);
	/* a hung module stays hung for a new host */
	fx_reattach(f);
	expect_silence(f, 200);
	free(junk);
	fx_free(f);
}

/* stall on a byte count lands on its exact byte. */
static void test_stall_bytes(void **state)
{
	const char *faults[] = { "stall@bytes=100" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	uint32_t hr[4] = { 2, 1, 0, 0 };
	struct mfw_sahara_pkt p;
	size_t w = 0;
	(void)state;

	expect_hello(f);
	sh_send(f, MFW_SAHARA_HELLO_RESP, hr, 4);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
	/* 48 + 52 = 100: the header is taken whole and answered ... */
	h_write(f, f->elf, 52);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
	assert_int_equal(p.u.read.offset, 52);
	/* ... but not one byte more is read: no request for the segment follows */
	h_write(f, f->elf + 52, 32);
	expect_silence(f, 300);
	assert_int_equal(mfw_transport_write(f->t, f->elf, ELF_LEN, mfw_deadline_in(300), &w),
			 0); /* small enough for the buffer between us */
	expect_silence(f, 100);
	fx_free(f);
}

/* silence: the device keeps taking bytes but never answers. */
static void test_silence(void **state)
{
	const char *faults[] = { "silence@op=2" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	uint8_t *junk = calloc(1, 4 * MIB);
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	fh_send(f, "<nop/>");
	expect_silence(f, 300);
	/* more than any buffer between us holds: still taken */
	h_write(f, junk, 4 * MIB);
	expect_silence(f, 100);
	free(junk);
	fx_free(f);
}

/* corrupt/drop of a byte from the host: the data lands changed in storage. */
static void test_corrupt_drop_in(void **state)
{
	/* the program's raw data starts after the load, the configure and the program documents */
	char cfg_doc[300], prog_doc[300];
	size_t cfg_len, prog_len;
	uint64_t data_at;
	char spec[2][64];
	const char *faults[2] = { spec[0], spec[1] };
	struct fx *f;
	uint8_t *data = pattern(8192, 3), got[8192];
	(void)state;

	cfg_len = (size_t)snprintf(cfg_doc, sizeof(cfg_doc), "<?xml version=\"1.0\" ?><data>" CONFIGURE
				   "</data>", "emmc");
	prog_len = (size_t)snprintf(prog_doc, sizeof(prog_doc), "<?xml version=\"1.0\" ?><data><program "
				    EMMC_ATTRS " start_sector=\"100\" num_partition_sectors=\"16\"/></data>");
	data_at = LOAD_BYTES + cfg_len + prog_len;
	/* byte 1000 of the data flipped on a byte count; byte 5000 of the next program lost (op=) */
	snprintf(spec[0], sizeof(spec[0]), "corrupt@bytes=%llu,mask=0x81",
		 (unsigned long long)(data_at + 1000));
	snprintf(spec[1], sizeof(spec[1]), "drop@op=2,cmd=program,off=5000");
	f = fx_new(MFW_EMU_EMMC, faults, 2);
	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	assert_int_equal(fh_program(f, data, 8192, EMMC_ATTRS " start_sector=\"100\" num_partition_sectors=\"16\""), 1);
	img_read(f, 100 * 512, got, 8192);
	assert_int_equal(got[1000], data[1000] ^ 0x81);
	got[1000] ^= 0x81;
	assert_memory_equal(got, data, 8192);

	/* the second program loses data byte 5000: one more byte completes it, shifted */
	{
		int raw = -1;
		uint8_t extra = 0xA5;

		fh_send(f, "<program " EMMC_ATTRS " start_sector=\"200\" num_partition_sectors=\"16\"/>");
		assert_int_equal(fh_response(f, &raw), 1);
		h_write(f, data, 8192);
		expect_silence(f, 200); /* one byte short */
		h_write(f, &extra, 1);
		assert_int_equal(fh_response(f, &raw), 1);
	}
	img_read(f, 200 * 512, got, 8192);
	assert_memory_equal(got, data, 5000);
	assert_memory_equal(got + 5000, data + 5001, 8192 - 5001);
	assert_int_equal(got[8191], 0xA5);
	free(data);
	fx_free(f);
}

/* corrupt/drop of a byte to the host, seen in the raw reply bytes. */
static void test_corrupt_drop_out(void **state)
{
	const char *faults[] = { "drop@op=1,cmd=nop,dir=out", "corrupt@op=2,cmd=nop,dir=out,off=2,mask=0x20" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 2);
	char buf[16];
	(void)state;

	expect_hello(f);
	load(f);
	/* the first byte of the first <nop/> answer is lost: it starts "?xml" */
	fh_send(f, "<nop/>");
	h_read(f, buf, 5);
	assert_memory_equal(buf, "?xml ", 5);
	/* resynchronise: a splitter skips the broken document up to the next one */
	assert_int_equal(fh_response(f, NULL), 1);
	/* the third byte of the second <nop/> answer: 'x' ^ 0x20 = 'X' */
	fh_send(f, "<nop/>");
	h_read(f, buf, 5);
	assert_memory_equal(buf, "<?Xml", 5);
	fx_free(f);
}

/* disconnect: the link drops, the device is back in its boot ROM, storage as it was. */
static void test_disconnect(void **state)
{
	const char *faults[] = { "disconnect@op=2,cmd=program,delay=100" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	uint8_t *data = pattern(4096, 9), got[4096], b[64];
	int r;
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	assert_int_equal(fh_program(f, data, 4096, EMMC_ATTRS " start_sector=\"64\" num_partition_sectors=\"8\""), 1);
	fh_send(f, "<program " EMMC_ATTRS " start_sector=\"64\" num_partition_sectors=\"8\"/>");
	do {
		r = mfw_transport_read(f->t, b, sizeof(b), mfw_deadline_in(IO_MS));
	} while (r > 0);
	assert_int_equal(r, MFW_E_NODEV);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_FRESH);
	fx_reattach(f);
	/* power-cycled: Sahara again, the programmer must be loaded again */
	f->sent = 0;
	expect_hello(f);
	load(f);
	img_read(f, 64 * 512, got, 4096);
	assert_memory_equal(got, data, 4096);
	free(data);
	fx_free(f);
}

/* flood: lines= logs before the response of the chosen command. */
static void test_flood(void **state)
{
	const char *faults[] = { "flood@op=2,lines=7" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	assert_null(strstr(f->logs, "background task"));
	assert_int_equal(fh_cmd(f, "<getstorageinfo physical_partition_number=\"0\"/>"), 1);
	assert_non_null(strstr(f->logs, "background task 7 of 7"));
	assert_null(strstr(f->logs, "background task 8"));
	/* once */
	assert_int_equal(fh_cmd(f, "<getstorageinfo physical_partition_number=\"0\"/>"), 1);
	assert_null(strstr(f->logs, "background task"));
	fx_free(f);
}

/* nak: the N-th command of a kind is refused with a log saying why; the data is not written. */
static void test_nak(void **state)
{
	const char *faults[] = { "nak@op=2,cmd=erase", "nak@op=1,cmd=program" };
	struct fx *f = fx_new(MFW_EMU_NAND, faults, 2);
	uint8_t *data = pattern(8192, 4), got[8192];
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "nand"), 1);
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"64\"/>"), 1);
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"64\"/>"), 0);
	assert_non_null(strstr(f->logs, "ERROR: Failed to erase block at sector 2560"));
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"64\"/>"), 1);
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"2\""), 0);
	assert_non_null(strstr(f->logs, "ERROR: Write Failed: sector 2560"));
	img_read(f, 2560ull * 4096, got, 8192);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0xFF);
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"2\""), 1);
	img_read(f, 2560ull * 4096, got, 8192);
	assert_memory_equal(got, data, 8192);
	free(data);
	fx_free(f);
}

/* slowack: all data is taken, the final ACK waits (60 s here: it must not arrive soon). */
static void test_slowack(void **state)
{
	const char *faults[] = { "slowack@op=1,cmd=program,ms=60000" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	uint8_t *data = pattern(4096, 1);
	int raw = -1;
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "emmc"), 1);
	fh_send(f, "<program " EMMC_ATTRS " start_sector=\"64\" num_partition_sectors=\"8\"/>");
	assert_int_equal(fh_response(f, &raw), 1);
	h_write(f, data, 4096);
	expect_silence(f, 300);
	/* freeing the device stops the wait (every wait polls its stop flag) */
	free(data);
	fx_free(f);
}

/* badblock: the program that reaches the next block grows a bad block, persisted, and NAKs. */
static void test_badblock(void **state)
{
	const char *faults[] = { "badblock@op=2" };
	struct fx *f = fx_new(MFW_EMU_NAND, faults, 1);
	uint8_t *data = pattern(8192, 8), got[8192];
	char bb[200], line[64];
	bool found = false;
	FILE *fp;
	(void)state;

	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, CONFIGURE, "nand"), 1);
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"192\"/>"), 1);
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"2\""), 1);
	/* second program: block 41 (sectors 2624..) goes bad */
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2624\" num_partition_sectors=\"2\""), 0);
	assert_non_null(strstr(f->logs, "Write Failed"));
	assert_non_null(strstr(f->logs, "block 41 is a bad block"));
	snprintf(bb, sizeof(bb), "%s.badblocks", f->image);
	fp = fopen(bb, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		found |= !strcmp(line, "41\n");
	fclose(fp);
	assert_true(found);
	/* our marking: a bad block reads 0x00 */
	img_read(f, 2624ull * 4096, got, 8192);
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0x00);
	/* a partition window skips it now: the data lands in block 42 */
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2624\" num_partition_sectors=\"2\""
				    " last_sector=\"2751\""), 1);
	img_read(f, 2688ull * 4096, got, 8192);
	assert_memory_equal(got, data, 8192);
	free(data);
	fx_free(f);
}

/* nohello: the first power-up's HELLO is lost; an unsolicited HELLO_RESP still works. */
static void test_nohello(void **state)
{
	const char *faults[] = { "nohello" };
	struct fx *f = fx_new(MFW_EMU_EMMC, faults, 1);
	(void)state;

	expect_silence(f, 300);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PBL);
	load(f);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PROGRAMMER);
	/* once: after a reset the next power-up says HELLO */
	assert_int_equal(fh_cmd(f, "<power value=\"reset\"/>"), 1);
	fx_reattach(f);
	expect_hello(f);
	fx_free(f);
}

/* The older single-purpose fields still work, now through the schedule. */
static void test_legacy_fields(void **state)
{
	struct mfw_emu_config cfg;
	struct fx *f = fx_new(MFW_EMU_EMMC, NULL, 0);
	(void)state;

	mfw_transport_close(f->t);
	f->t = NULL;
	mfw_emu_free(f->emu);
	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	cfg.log_flood = 3;
	cfg.fault_stall_at = LOAD_BYTES + 4000;
	assert_int_equal(mfw_emu_new(f->ctx, &cfg, &f->emu), 0);
	assert_int_equal(mfw_emu_attach(f->emu, &f->t), 0);
	expect_hello(f);
	load(f);
	assert_int_equal(fh_cmd(f, "<nop/>"), 1);
	/* the flood follows the response: the next command's logs start with it */
	assert_int_equal(fh_cmd(f, "<nop/>"), 1);
	assert_non_null(strstr(f->logs, "background task 3 of 3"));
	{
		uint8_t *junk = calloc(1, 4 * MIB);
		size_t w = 0;
		assert_int_equal(mfw_transport_write(f->t, junk, 4 * MIB, mfw_deadline_in(500), &w),
				 MFW_E_TIMEOUT);
		free(junk);
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_forms),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_stall),
		cmocka_unit_test(test_stall_bytes),
		cmocka_unit_test(test_silence),
		cmocka_unit_test(test_corrupt_drop_in),
		cmocka_unit_test(test_corrupt_drop_out),
		cmocka_unit_test(test_disconnect),
		cmocka_unit_test(test_flood),
		cmocka_unit_test(test_nak),
		cmocka_unit_test(test_slowack),
		cmocka_unit_test(test_badblock),
		cmocka_unit_test(test_nohello),
		cmocka_unit_test(test_legacy_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
