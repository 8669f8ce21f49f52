/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem driven the way a host drives a module: raw Sahara
 * packets and Firehose XML over an in-process transport pair, written by
 * hand here (never with lib/qcom host code: a bug shared by host and device
 * must not hide itself). Storage effects are checked on the image file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modemfw/emu.h>
#include <modemfw/error.h>
#include "core/core.h"
#include "fmt/gpt.h"
#include "fmt/mibib.h"
#include "proto/firehose.h"
#include "proto/sahara.h"
#include "transport/transport.h"

#define IO_MS 5000
#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---------------------------------------------------------------- helpers */

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
static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Bitwise CRC-32 (IEEE, reflected), independent of lib/util. */
static uint32_t ref_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return ~c;
}

struct fixture {
	char dir[64];
	char image[128];
	struct mfw_ctx *ctx;
	struct mfw_emu *emu;
	struct mfw_transport *t;
	struct mfw_fh_splitter sp;
	char logs[32768];
	size_t loglen;
	char resp[4096];
};

static struct fixture *fx_new(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-emu-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->image, sizeof(f->image), "%s/flash.img", f->dir);
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
	mfw_fh_splitter_init(&f->sp);
	return f;
}

static void fx_open(struct fixture *f, const struct mfw_emu_config *cfg)
{
	int r = mfw_emu_new(f->ctx, cfg, &f->emu);
	if (r < 0)
		fail_msg("mfw_emu_new: %s: %s", mfw_strerror(r), mfw_ctx_detail(f->ctx));
}

static void fx_attach(struct fixture *f)
{
	if (f->t)
		mfw_transport_close(f->t);
	f->t = NULL;
	mfw_fh_splitter_free(&f->sp);
	mfw_fh_splitter_init(&f->sp);
	assert_int_equal(mfw_emu_attach(f->emu, &f->t), 0);
}

static void fx_free(struct fixture *f)
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

static void h_write(struct fixture *f, const void *buf, size_t len)
{
	size_t w = 0;
	int r = mfw_transport_write(f->t, buf, len, mfw_deadline_in(IO_MS), &w);
	if (r < 0)
		fail_msg("host write of %zu bytes: %s (%zu moved)", len, mfw_strerror(r), w);
}

static void h_read(struct fixture *f, void *buf, size_t len)
{
	int r = mfw_transport_read_full(f->t, buf, len, mfw_deadline_in(IO_MS));
	if (r < 0)
		fail_msg("host read of %zu bytes: %s", len, mfw_strerror(r));
}

/* Image bytes as a test would compare them. */
static void img_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->image, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---- Sahara, host side by hand ---- */

static void sh_send(struct fixture *f, uint32_t cmd, const uint32_t *fields, size_t n)
{
	uint8_t buf[64];
	uint32_t len = mfw_sahara_cmd_len(cmd);
	assert_true(len >= 8 && len <= sizeof(buf));
	memset(buf, 0, sizeof(buf));
	put32(buf, cmd);
	put32(buf + 4, len);
	for (size_t i = 0; i < n; i++)
		put32(buf + 8 + 4 * i, fields[i]);
	h_write(f, buf, len);
}

static void sh_hello_resp(struct fixture *f, uint32_t mode)
{
	uint32_t v[4] = { 2, 1, 0, mode };
	sh_send(f, MFW_SAHARA_HELLO_RESP, v, 4);
}

static void sh_recv(struct fixture *f, struct mfw_sahara_pkt *p)
{
	uint8_t buf[64];
	uint32_t len;
	h_read(f, buf, 8);
	len = get32(buf + 4);
	assert_true(len >= 8 && len <= sizeof(buf));
	h_read(f, buf + 8, len - 8);
	assert_int_equal(mfw_sahara_parse(buf, len, p), (int)len);
}

static void expect_hello(struct fixture *f, uint32_t mode)
{
	struct mfw_sahara_pkt p;
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_HELLO);
	assert_int_equal(p.len, 0x30);
	assert_int_equal(p.u.hello.version, 2);
	assert_int_equal(p.u.hello.version_compat, 1);
	assert_int_equal(p.u.hello.max_len_or_status, 1024);
	assert_int_equal(p.u.hello.mode, mode);
}

/* Nothing arrives for ms milliseconds. */
static void expect_silence(struct fixture *f, int ms)
{
	uint8_t b;
	assert_int_equal(mfw_transport_read(f->t, &b, 1, mfw_deadline_in(ms)), MFW_E_TIMEOUT);
}

/* ---- ELF programmers built here ---- */

struct elf_img {
	uint8_t *buf;
	size_t len;
};

/* Segments: LOAD 3000 bytes, a NULL entry (skipped), LOAD 1.5 MiB (read in two chunks). */
static struct elf_img make_elf(bool is64)
{
	struct elf_img e;
	size_t eh = is64 ? 64 : 52, ph = is64 ? 56 : 32;
	uint64_t seg_off[3] = { 0x1000, 0, 0x2000 };
	uint64_t seg_sz[3] = { 3000, 0, 3 * MIB / 2 };
	uint32_t seg_type[3] = { 1, 0, 1 };
	uint8_t *b;

	e.len = 0x2000 + 3 * MIB / 2;
	e.buf = b = calloc(1, e.len);
	assert_non_null(b);
	for (size_t i = 0; i < e.len; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 9));
	memset(b, 0, 0x1000);
	memcpy(b, "\x7f" "ELF", 4);
	b[4] = is64 ? 2 : 1;
	b[5] = 1;
	b[6] = 1;
	put16(b + 16, 2);             /* ET_EXEC */
	put16(b + 18, is64 ? 183 : 40); /* aarch64 / arm */
	put32(b + 20, 1);
	if (is64) {
		put64(b + 24, 0x8000000);
		put64(b + 32, eh);   /* phoff */
		put16(b + 52, (uint16_t)eh);
		put16(b + 54, (uint16_t)ph);
		put16(b + 56, 3);
	} else {
		put32(b + 24, 0x8000000);
		put32(b + 28, (uint32_t)eh);
		put16(b + 40, (uint16_t)eh);
		put16(b + 42, (uint16_t)ph);
		put16(b + 44, 3);
	}
	for (int i = 0; i < 3; i++) {
		uint8_t *p = b + eh + ph * (size_t)i;
		if (is64) {
			put32(p, seg_type[i]);
			put32(p + 4, 5);
			put64(p + 8, seg_off[i]);
			put64(p + 16, 0x8000000 + seg_off[i]);
			put64(p + 24, 0x8000000 + seg_off[i]);
			put64(p + 32, seg_sz[i]);
			put64(p + 40, seg_sz[i]);
			put64(p + 48, 0x1000);
		} else {
			put32(p, seg_type[i]);
			put32(p + 4, (uint32_t)seg_off[i]);
			put32(p + 8, 0x8000000 + (uint32_t)seg_off[i]);
			put32(p + 12, 0x8000000 + (uint32_t)seg_off[i]);
			put32(p + 16, (uint32_t)seg_sz[i]);
			put32(p + 20, (uint32_t)seg_sz[i]);
			put32(p + 24, 5);
			put32(p + 28, 0x1000);
		}
	}
	return e;
}

struct req {
	uint64_t off, len;
};

/*
 * Serve READ_DATA(_64) from img until END_OF_IMAGE; returns its status.
 * The requests are recorded in reqs.
 */
static uint32_t serve_image(struct fixture *f, const uint8_t *img, size_t img_len, uint32_t want_cmd,
			    struct req *reqs, size_t *nreq, size_t cap)
{
	*nreq = 0;
	for (;;) {
		struct mfw_sahara_pkt p;
		sh_recv(f, &p);
		if (p.cmd == MFW_SAHARA_END_OF_IMAGE) {
			assert_int_equal(p.u.eoi.image_id, 13);
			return p.u.eoi.status;
		}
		assert_int_equal(p.cmd, want_cmd);
		assert_int_equal(p.u.read.image_id, 13);
		assert_true(p.u.read.length <= MIB);
		assert_true(p.u.read.offset + p.u.read.length <= img_len);
		if (*nreq < cap) {
			reqs[*nreq].off = p.u.read.offset;
			reqs[*nreq].len = p.u.read.length;
		}
		(*nreq)++;
		h_write(f, img + p.u.read.offset, (size_t)p.u.read.length);
	}
}

/* ---- Firehose, host side by hand ---- */

/* Read documents until a <response>; logs are collected. Returns 1 ACK, 0 NAK. */
static int fh_response(struct fixture *f, int *rawmode)
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
				if (!strcmp(e->tag, "log")) {
					const char *v = mfw_fh_attr_get(e, "value");
					f->loglen += (size_t)snprintf(f->logs + f->loglen,
								      sizeof(f->logs) - f->loglen,
								      "%s\n", v ? v : "");
					if (f->loglen >= sizeof(f->logs))
						f->loglen = sizeof(f->logs) - 1;
				} else if (!strcmp(e->tag, "response")) {
					const char *v = mfw_fh_attr_get(e, "value");
					const char *rm = mfw_fh_attr_get(e, "rawmode");
					int ack = v && !strcmp(v, "ACK");
					snprintf(f->resp, sizeof(f->resp), "%.*s", (int)len, doc);
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

static void fh_send(struct fixture *f, const char *fmt, ...)
{
	char body[2048], doc[2300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	snprintf(doc, sizeof(doc), "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data>%s</data>",
		 body);
	h_write(f, doc, strlen(doc));
}

/* Send one command, return ACK(1)/NAK(0); logs of this command only in f->logs. */
static int fh_cmd(struct fixture *f, const char *fmt, ...)
{
	char body[8192], doc[8300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	f->loglen = 0;
	f->logs[0] = '\0';
	snprintf(doc, sizeof(doc), "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data>%s</data>",
		 body);
	h_write(f, doc, strlen(doc));
	return fh_response(f, NULL);
}

/* Raw bytes after a rawmode ACK: first what the splitter already holds. */
static void fh_read_raw(struct fixture *f, uint8_t *buf, size_t len)
{
	size_t got = mfw_fh_splitter_take_raw(&f->sp, buf, len);
	if (got < len)
		h_read(f, buf + got, len - got);
}

/* <program>: setup ACK, data in odd-sized chunks, final response. Returns the final ACK/NAK. */
static int fh_program(struct fixture *f, const uint8_t *data, size_t len, const char *attrs)
{
	int raw = -1, ok;
	f->loglen = 0;
	f->logs[0] = '\0';
	fh_send(f, "<program %s/>", attrs);
	ok = fh_response(f, &raw);
	if (!ok)
		return -1; /* setup refused */
	assert_int_equal(raw, 1);
	for (size_t o = 0; o < len;) {
		size_t n = len - o < 10007 ? len - o : 10007;
		h_write(f, data + o, n);
		o += n;
	}
	ok = fh_response(f, &raw);
	assert_int_equal(raw, 0);
	return ok;
}

static int fh_readback(struct fixture *f, uint8_t *buf, size_t len, const char *attrs)
{
	int raw = -1, ok;
	f->loglen = 0;
	fh_send(f, "<read %s/>", attrs);
	ok = fh_response(f, &raw);
	if (!ok)
		return -1;
	assert_int_equal(raw, 1);
	fh_read_raw(f, buf, len);
	ok = fh_response(f, &raw);
	assert_int_equal(raw, 0);
	return ok;
}

static void load_programmer(struct fixture *f)
{
	struct elf_img e = make_elf(false);
	struct req reqs[16];
	struct mfw_sahara_pkt p;
	size_t n;
	uint32_t done[1] = { 0 };

	expect_hello(f, 0);
	sh_hello_resp(f, 0);
	assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 16), 0);
	sh_send(f, MFW_SAHARA_DONE, done, 0);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_DONE_RESP);
	assert_int_equal(p.u.done_resp.status, 1);
	free(e.buf);
	/* the start-up logs end with the functions list */
	f->loglen = 0;
	for (;;) {
		const char *doc;
		size_t len;
		uint8_t buf[4096];
		int r = mfw_fh_splitter_next(&f->sp, &doc, &len);
		if (r == 1) {
			if (memmem(doc, len, "End of supported functions", 26))
				break;
			continue;
		}
		r = mfw_transport_read(f->t, buf, sizeof(buf), mfw_deadline_in(IO_MS));
		assert_true(r > 0);
		assert_int_equal(mfw_fh_splitter_push(&f->sp, buf, (size_t)r), 0);
	}
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PROGRAMMER);
}

/* A small NAND: 32 MiB, 128 blocks of 64 x 4 KiB pages. */
static struct fixture *nand_device(const uint32_t *bad, size_t nbad, uint32_t max_payload)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.size = 32 * MIB;
	cfg.bad_blocks = bad;
	cfg.n_bad_blocks = nbad;
	if (max_payload)
		cfg.max_payload = max_payload;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	return f;
}

static struct fixture *emmc_device(void)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	return f;
}

static void configure(struct fixture *f, const char *mem)
{
	assert_int_equal(fh_cmd(f, "<configure MemoryName=\"%s\" MaxPayloadSizeToTargetInBytes=\"1048576\""
			      " Verbose=\"0\" ZlpAwareHost=\"1\"/>", mem), 1);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 13 + (i >> 11));
	return b;
}

static bool all_bytes(const uint8_t *b, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (b[i] != v)
			return false;
	return true;
}

/* ------------------------------------------------------------------ Sahara */

/* The programmer's first words are logs, no response; read them by hand. */
static void test_sahara_elf32_read_data_64(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	(void)state;
	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	fx_free(f);
}

static void check_transfer(bool is64, bool read32)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct elf_img e = make_elf(is64);
	struct req reqs[16];
	struct mfw_sahara_pkt p;
	size_t n, eh = is64 ? 64 : 52;
	char text[65536];
	size_t tl = 0;

	text[0] = '\0';

	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	cfg.sahara_read_data_32 = read32;
	fx_open(f, &cfg);
	fx_attach(f);
	expect_hello(f, 0);
	sh_hello_resp(f, 0);
	assert_int_equal(serve_image(f, e.buf, e.len,
				     read32 ? MFW_SAHARA_READ_DATA : MFW_SAHARA_READ_DATA_64, reqs,
				     &n, 16), 0);
	assert_int_equal(n, is64 ? 6 : 5);
	assert_int_equal(reqs[0].off, 0);
	assert_int_equal(reqs[0].len, 52);
	if (is64) {
		assert_int_equal(reqs[1].off, 0);
		assert_int_equal(reqs[1].len, 64);
	}
	{
		struct req *r = &reqs[is64 ? 2 : 1];
		assert_int_equal(r[0].off, eh);
		assert_int_equal(r[0].len, 3 * (is64 ? 56 : 32));
		assert_int_equal(r[1].off, 0x1000);
		assert_int_equal(r[1].len, 3000);
		assert_int_equal(r[2].off, 0x2000);
		assert_int_equal(r[2].len, MIB);
		assert_int_equal(r[3].off, 0x2000 + MIB);
		assert_int_equal(r[3].len, MIB / 2);
	}
	sh_send(f, MFW_SAHARA_DONE, NULL, 0);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_DONE_RESP);
	assert_int_equal(p.u.done_resp.status, 1);
	/* start-up logs, read as raw text until the end of the functions list */
	while (!strstr(text, "End of supported functions 11")) {
		int r = mfw_transport_read(f->t, text + tl, sizeof(text) - 1 - tl,
					   mfw_deadline_in(IO_MS));
		assert_true(r > 0);
		tl += (size_t)r;
		text[tl] = '\0';
	}
	assert_non_null(strstr(text, "Binary build date"));
	assert_non_null(strstr(text, "Chip serial num: 232910861 (0xde1f00d)"));
	assert_non_null(strstr(text, "INFO: Supported Functions (11):"));
	assert_non_null(strstr(text, "value=\"INFO: getsha256digest\""));
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PROGRAMMER);
	free(e.buf);
	fx_free(f);
}

static void test_sahara_transfer_variants(void **state)
{
	(void)state;
	check_transfer(false, false);
	check_transfer(true, false);
	check_transfer(false, true);
	check_transfer(true, true);
}

static void test_sahara_refuses_non_elf(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	uint8_t junk[4096];
	struct req reqs[4];
	size_t n;
	(void)state;

	memset(junk, 'A', sizeof(junk));
	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.size = 32 * MIB;
	fx_open(f, &cfg);
	fx_attach(f);
	expect_hello(f, 0);
	sh_hello_resp(f, 0);
	assert_int_equal(serve_image(f, junk, sizeof(junk), MFW_SAHARA_READ_DATA_64, reqs, &n, 4),
			 0x14);
	assert_int_equal(n, 1);
	/* a wrong program header size is its own status */
	{
		struct elf_img e = make_elf(false);
		put16(e.buf + 42, 40);
		sh_hello_resp(f, 0);
		assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 4),
				 0x0F);
		/* a segment whose file size exceeds its memory size */
		put16(e.buf + 42, 32);
		put32(e.buf + 52 + 20, 10);
		sh_hello_resp(f, 0);
		assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 4),
				 0x13);
		free(e.buf);
	}
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PBL);
	fx_free(f);
}

static void test_sahara_command_mode(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct mfw_sahara_pkt p;
	uint8_t data[64];
	uint32_t arg[1];
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.size = 32 * MIB;
	cfg.serial = 0x12345678;
	cfg.hw_id = 0x0009F0E100A10000ull;
	fx_open(f, &cfg);
	fx_attach(f);
	expect_hello(f, 0);
	sh_hello_resp(f, 3);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_CMD_READY);

	arg[0] = 1;
	sh_send(f, MFW_SAHARA_EXECUTE, arg, 1);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_EXECUTE_RESP);
	assert_int_equal(p.u.exec_resp.client_cmd, 1);
	assert_int_equal(p.u.exec_resp.data_len, 4);
	sh_send(f, MFW_SAHARA_EXECUTE_DATA, arg, 1);
	h_read(f, data, 4);
	assert_int_equal(get32(data), 0x12345678);

	arg[0] = 2;
	sh_send(f, MFW_SAHARA_EXECUTE, arg, 1);
	sh_recv(f, &p);
	assert_int_equal(p.u.exec_resp.data_len, 8);
	sh_send(f, MFW_SAHARA_EXECUTE_DATA, arg, 1);
	h_read(f, data, 8);
	assert_int_equal(get32(data), 0x00A10000);
	assert_int_equal(get32(data + 4), 0x0009F0E1);

	arg[0] = 3;
	sh_send(f, MFW_SAHARA_EXECUTE, arg, 1);
	sh_recv(f, &p);
	assert_int_equal(p.u.exec_resp.data_len, 32);
	sh_send(f, MFW_SAHARA_EXECUTE_DATA, arg, 1);
	h_read(f, data, 32);

	arg[0] = 8;
	sh_send(f, MFW_SAHARA_EXECUTE, arg, 1);
	sh_recv(f, &p);
	assert_true(p.u.exec_resp.data_len >= 16 && p.u.exec_resp.data_len % 4 == 0);
	sh_send(f, MFW_SAHARA_EXECUTE_DATA, arg, 1);
	h_read(f, data, p.u.exec_resp.data_len);
	assert_int_equal(get32(data + 4), 1);

	/* unknown client command */
	arg[0] = 0x77;
	sh_send(f, MFW_SAHARA_EXECUTE, arg, 1);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_END_OF_IMAGE);
	assert_int_equal(p.u.eoi.status, 0x1F);

	arg[0] = 0;
	sh_send(f, MFW_SAHARA_SWITCH_MODE, arg, 1);
	expect_hello(f, 0);
	{
		struct elf_img e = make_elf(false);
		struct req reqs[8];
		size_t n;
		sh_hello_resp(f, 0);
		assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 8), 0);
		free(e.buf);
	}
	fx_free(f);
}

static void test_past_hello(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct mfw_sahara_pkt p;
	uint8_t buf[8];
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.size = 32 * MIB;
	fx_open(f, &cfg);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_FRESH);
	fx_attach(f);
	expect_hello(f, 0);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PBL);

	/* host tool restarts: the PBL does not say HELLO again */
	fx_attach(f);
	expect_silence(f, 300);
	/* but an unsolicited HELLO_RESP works */
	sh_hello_resp(f, 3);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_CMD_READY);

	/* probing with Firehose XML while the PBL runs gets no answer */
	fx_attach(f);
	fh_send(f, "<nop />");
	expect_silence(f, 300);
	sh_hello_resp(f, 0);
	{
		struct elf_img e = make_elf(false);
		struct req reqs[8];
		size_t n;
		assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 8), 0);
		free(e.buf);
	}
	sh_send(f, MFW_SAHARA_DONE, NULL, 0);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_DONE_RESP);

	/* programmer running: a new host gets no Sahara, but <nop/> is answered with XML */
	fx_attach(f);
	expect_silence(f, 300);
	/* a host that still believes in Sahara sends HELLO_RESP first: ignored as line noise */
	sh_hello_resp(f, 0);
	expect_silence(f, 200);
	fh_send(f, "<nop />");
	h_read(f, buf, 5);
	assert_memory_equal(buf, "<?xml", 5);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_PROGRAMMER);
	fx_free(f);
}

/* ---------------------------------------------------------------- Firehose */

static void test_configure_negotiation(void **state)
{
	struct fixture *f = nand_device(NULL, 0, 8192);
	(void)state;

	/* commands before configure are refused */
	assert_int_equal(fh_cmd(f, "<getstorageinfo physical_partition_number=\"0\"/>"), 0);
	assert_non_null(strstr(f->logs, "configure"));
	/* the NAKed configure carries what the device takes */
	assert_int_equal(fh_cmd(f, "<configure MemoryName=\"nand\" MaxPayloadSizeToTargetInBytes=\"1048576\"/>"), 0);
	assert_non_null(strstr(f->resp, "MaxPayloadSizeToTargetInBytes=\"8192\""));
	assert_non_null(strstr(f->resp, "MemoryName=\"NAND\""));
	assert_non_null(strstr(f->resp, "TargetName="));
	/* wrong memory type: NAK naming ours */
	assert_int_equal(fh_cmd(f, "<configure MemoryName=\"eMMC\" MaxPayloadSizeToTargetInBytes=\"8192\"/>"), 0);
	assert_non_null(strstr(f->resp, "MemoryName=\"NAND\""));
	/* within limits: ACK with the full set */
	assert_int_equal(fh_cmd(f, "<configure MemoryName=\"NAND\" MaxPayloadSizeToTargetInBytes=\"8192\" ZlpAwareHost=\"1\"/>"), 1);
	assert_non_null(strstr(f->resp, "MaxPayloadSizeToTargetInBytesSupported=\"8192\""));
	assert_non_null(strstr(f->resp, "MaxPayloadSizeFromTargetInBytes="));
	assert_non_null(strstr(f->resp, "MaxXMLSizeInBytes="));
	assert_non_null(strstr(f->resp, "Version="));
	/* now storage info answers, as JSON in a log */
	assert_int_equal(fh_cmd(f, "<getstorageinfo physical_partition_number=\"0\"/>"), 1);
	{
		struct mfw_fh_storage_info si;
		char *line = f->logs;
		memset(&si, 0, sizeof(si));
		while (line && *line) {
			char *nl = strchr(line, '\n');
			if (nl)
				*nl = '\0';
			mfw_fh_storage_info_feed(&si, line);
			line = nl ? nl + 1 : NULL;
		}
		assert_int_equal(si.total_blocks, 128);
		assert_int_equal(si.block_size, 256 * KIB);
		assert_int_equal(si.page_size, 4096);
		assert_string_equal(si.mem_type, "NAND");
	}
	/* unknown command and XML junk */
	assert_int_equal(fh_cmd(f, "<frobnicate />"), 0);
	assert_non_null(strstr(f->logs, "Unsupported command"));
	assert_int_equal(fh_cmd(f, "<program <<< broken"), 0);
	assert_int_equal(fh_cmd(f, "<nop />"), 1);
	assert_non_null(strstr(f->logs, "End of supported functions"));
	assert_int_equal(fh_cmd(f, "<setbootablestoragedrive value=\"0\"/>"), 0);
	fx_free(f);
}

#define NAND_ATTRS "SECTOR_SIZE_IN_BYTES=\"4096\" PAGES_PER_BLOCK=\"64\" physical_partition_number=\"0\""

static void test_nand_roundtrip(void **state)
{
	struct fixture *f = nand_device(NULL, 0, 0);
	size_t len = 100 * 4096;
	uint8_t *data = pattern(len, 1), *back = malloc(len);
	(void)state;

	configure(f, "nand");
	/* block 40 = sector 2560 */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"128\"/>"), 1);
	img_read(f, 2560ull * 4096, back, 128 * 4096 > len ? len : 128 * 4096);
	assert_true(all_bytes(back, len, 0xFF));
	assert_int_equal(fh_program(f, data, len, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"100\""), 1);
	img_read(f, 2560ull * 4096, back, len);
	assert_memory_equal(back, data, len);
	memset(back, 0, len);
	assert_int_equal(fh_readback(f, back, len, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"100\""), 1);
	assert_memory_equal(back, data, len);

	/* programming a written page is refused after the data was taken */
	assert_int_equal(fh_program(f, data, 4096, NAND_ATTRS " start_sector=\"2599\" num_partition_sectors=\"1\""), 0);
	assert_non_null(strstr(f->logs, "page not erased at sector 2599"));
	/* all-0xFF data onto erased pages is fine */
	memset(back, 0xFF, 8192);
	assert_int_equal(fh_program(f, back, 8192, NAND_ATTRS " start_sector=\"2660\" num_partition_sectors=\"2\""), 1);

	/* alignment and geometry */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2561\" num_partition_sectors=\"64\"/>"), 0);
	assert_non_null(strstr(f->logs, "start_sector unaligned"));
	assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"4096\" PAGES_PER_BLOCK=\"128\" start_sector=\"2560\" num_partition_sectors=\"128\"/>"), 0);
	assert_non_null(strstr(f->logs, "Attribute 'PAGES_PER_BLOCK'=128 must be equal to disk pages per block 64"));
	assert_int_equal(fh_program(f, data, 512, "SECTOR_SIZE_IN_BYTES=\"512\" start_sector=\"0\" num_partition_sectors=\"1\""), -1);
	assert_non_null(strstr(f->logs, "unaligned"));
	/* erase without physical_partition_number (Telit) works */
	assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"4096\" start_sector=\"2560\" num_partition_sectors=\"64\"/>"), 1);
	img_read(f, 2560ull * 4096, back, 64 * 4096);
	assert_true(all_bytes(back, 64 * 4096, 0xFF));
	free(data);
	free(back);
	fx_free(f);
}

static void test_nand_bad_blocks(void **state)
{
	static const uint32_t bad[] = { 41 };
	struct fixture *f = nand_device(bad, 1, 0);
	size_t blk = 256 * KIB, len = 2 * blk;
	uint8_t *data = pattern(len, 7), *back = malloc(len);
	char sidecar[200];
	FILE *sf;
	(void)state;

	configure(f, "NAND");
	/* blocks 40..43 */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " label=\"test\" start_sector=\"2560\" last_sector=\"2815\" num_partition_sectors=\"256\"/>"), 1);
	assert_non_null(strstr(f->logs, "1 bad blocks skipped"));
	assert_int_equal(fh_program(f, data, len, NAND_ATTRS " label=\"test\" start_sector=\"2560\" last_sector=\"2815\" num_partition_sectors=\"128\""), 1);
	/* first block in 40, second skips bad 41 and lands in 42 */
	img_read(f, 40ull * blk, back, blk);
	assert_memory_equal(back, data, blk);
	img_read(f, 41ull * blk, back, blk);
	assert_true(all_bytes(back, blk, 0x00));
	img_read(f, 42ull * blk, back, blk);
	assert_memory_equal(back, data + blk, blk);
	/* read maps the same way */
	memset(back, 0, len);
	assert_int_equal(fh_readback(f, back, len, NAND_ATTRS " label=\"test\" start_sector=\"2560\" last_sector=\"2815\" num_partition_sectors=\"128\""), 1);
	assert_memory_equal(back, data, len);

	/* a window of 3 blocks with one bad cannot take 3 blocks of data */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"256\"/>"), 1);
	{
		uint8_t *big = pattern(3 * blk, 9);
		assert_int_equal(fh_program(f, big, 3 * blk, NAND_ATTRS " label=\"x\" start_sector=\"2560\" last_sector=\"2751\" num_partition_sectors=\"192\""), -1);
		assert_non_null(strstr(f->logs, "out of good blocks"));
		free(big);
	}
	/* the bad block persists in the sidecar, and grown ones are added */
	assert_int_equal(mfw_emu_mark_bad(f->emu, 50), 0);
	snprintf(sidecar, sizeof(sidecar), "%s.badblocks", f->image);
	sf = fopen(sidecar, "r");
	assert_non_null(sf);
	{
		char text[256];
		size_t n = fread(text, 1, sizeof(text) - 1, sf);
		text[n] = '\0';
		assert_non_null(strstr(text, "\n41\n"));
		assert_non_null(strstr(text, "\n50\n"));
	}
	fclose(sf);
	free(data);
	free(back);
	fx_free(f);
}

static void test_emmc_program_patch_digest(void **state)
{
	struct fixture *f = emmc_device();
	size_t len = 16 * 512;
	uint8_t *data = pattern(len, 3), *back = malloc(len);
	uint8_t md[32], le[4];
	char hex[65];
	struct stat sb;
	(void)state;

	configure(f, "emmc");
	assert_int_equal(fh_program(f, data, len, "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"40000\" num_partition_sectors=\"16\""), 1);
	img_read(f, 40000ull * 512, back, len);
	assert_memory_equal(back, data, len);
	memset(back, 0, len);
	assert_int_equal(fh_readback(f, back, len, "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"40000\" num_partition_sectors=\"16\""), 1);
	assert_memory_equal(back, data, len);

	/* DISK patch with a CRC over device storage */
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"4\" filename=\"DISK\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"40100\" value=\"CRC32(40000,8192)\" what=\"test\"/>"), 1);
	img_read(f, 40100ull * 512 + 4, le, 4);
	assert_int_equal(get32(le), ref_crc32(data, len));
	/* start_sector and value as NUM_DISK_SECTORS expressions */
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"8\" filename=\"DISK\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"NUM_DISK_SECTORS-1.\" value=\"NUM_DISK_SECTORS-34.\" what=\"last usable\"/>"), 1);
	img_read(f, (8388608ull - 1) * 512 + 8, le, 4);
	assert_int_equal(get32(le), 8388608 - 34);
	/* patches of files are the host's business */
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"gpt_main0.bin\" physical_partition_number=\"0\" size_in_bytes=\"4\" start_sector=\"1\" value=\"0\"/>"), 0);

	/* digest against an independent SHA-256 */
	assert_int_equal(fh_cmd(f, "<getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"16\" physical_partition_number=\"0\" start_sector=\"40000\"/>"), 1);
	SHA256(data, len, md);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
	assert_non_null(strstr(f->logs, "Digest: "));
	assert_non_null(strstr(f->logs, hex));

	/* program/read at NUM_DISK_SECTORS-33. */
	assert_int_equal(fh_program(f, data, 512, "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"NUM_DISK_SECTORS-33.\" num_partition_sectors=\"1\""), 1);
	img_read(f, (8388608ull - 33) * 512, back, 512);
	assert_memory_equal(back, data, 512);

	/* erase reads back as zeros */
	assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"40000\" num_partition_sectors=\"16\"/>"), 1);
	img_read(f, 40000ull * 512, back, len);
	assert_true(all_bytes(back, len, 0));
	/* other LUNs and wrong sector sizes are refused */
	assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"1\" start_sector=\"0\" num_partition_sectors=\"1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"4096\" physical_partition_number=\"0\" start_sector=\"0\" num_partition_sectors=\"1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<setbootablestoragedrive value=\"1\"/>"), 1);

	/* a label without numbers stands for its GPT partition: modemst2 = LBA 81920, 4096 sectors */
	{
		uint8_t *st2 = malloc(4096 * 512);
		img_read(f, 81920ull * 512, st2, 4096 * 512);
		assert_memory_equal(st2, "MFWNV001", 8);
		SHA256(st2, 4096 * 512, md);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02X", md[i]);
		assert_int_equal(fh_cmd(f, "<getsha256digest SECTOR_SIZE_IN_BYTES=\"512\" label=\"modemst2\" physical_partition_number=\"0\"/>"), 1);
		assert_non_null(strstr(f->logs, hex));
		assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"512\" label=\"modemst2\" physical_partition_number=\"0\"/>"), 1);
		img_read(f, 81920ull * 512, st2, 4096 * 512);
		assert_true(all_bytes(st2, 4096 * 512, 0));
		img_read(f, 77824ull * 512, st2, 8);
		assert_memory_equal(st2, "MFWNV001", 8);
		assert_int_equal(fh_cmd(f, "<erase SECTOR_SIZE_IN_BYTES=\"512\" label=\"nosuch\" physical_partition_number=\"0\"/>"), 0);
		free(st2);
	}

	/* zero data (expanded sparse images) overwrites and stays sparse */
	{
		size_t zl = 16 * MIB;
		uint8_t *z = calloc(1, zl);
		assert_int_equal(fh_program(f, data, len, "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"60000\" num_partition_sectors=\"16\""), 1);
		assert_int_equal(fh_program(f, z, zl, "SECTOR_SIZE_IN_BYTES=\"512\" physical_partition_number=\"0\" start_sector=\"60000\" num_partition_sectors=\"32768\""), 1);
		img_read(f, 60000ull * 512, back, len);
		assert_true(all_bytes(back, len, 0));
		free(z);
	}
	/* a 4 GiB image costs little disk */
	assert_int_equal(stat(f->image, &sb), 0);
	assert_int_equal(sb.st_size, 4ull << 30);
	assert_true((uint64_t)sb.st_blocks * 512 < 64 * MIB);
	free(data);
	free(back);
	fx_free(f);
}

static void test_power_reset(void **state)
{
	struct fixture *f = nand_device(NULL, 0, 0);
	uint8_t b[256];
	int r;
	(void)state;

	configure(f, "NAND");
	assert_int_equal(fh_cmd(f, "<power value=\"reset\" DelayInSeconds=\"10\"/>"), 1);
	/* the link drops */
	do {
		r = mfw_transport_read(f->t, b, sizeof(b), mfw_deadline_in(IO_MS));
	} while (r > 0);
	assert_int_equal(r, MFW_E_NODEV);
	/* the module comes back in its boot ROM and says HELLO */
	fx_attach(f);
	expect_hello(f, 0);
	fx_free(f);
}

static void test_quirks(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	uint8_t *data = pattern(8192, 5);
	int64_t t0;
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.size = 32 * MIB;
	cfg.log_flood = 5;
	cfg.final_ack_delay_ms = 300;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	configure(f, "nand");
	/* the flood follows the response: the next command's logs start with it */
	assert_int_equal(fh_cmd(f, "<nop />"), 1);
	assert_non_null(strstr(f->logs, "background task 5 of 5"));
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"64\"/>"), 1);
	t0 = mfw_now_ms();
	assert_int_equal(fh_program(f, data, 8192, NAND_ATTRS " start_sector=\"2560\" num_partition_sectors=\"2\""), 1);
	assert_true(mfw_now_ms() - t0 >= 300);
	free(data);
	fx_free(f);
}

/* Sparse-erased NAND: erased pages are holes but read as 0xFF through the device. */
static void test_nand_sparse_erased(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	size_t len = 64 * 4096;
	uint8_t *data = pattern(len, 11), *back = malloc(len);
	struct stat sb;
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.sparse_erased = true;
	fx_open(f, &cfg);
	assert_int_equal(stat(f->image, &sb), 0);
	assert_true((uint64_t)sb.st_blocks * 512 < 16 * MIB);
	fx_attach(f);
	load_programmer(f);
	configure(f, "nand");
	/* a factory-erased page reads 0xFF, programs, and reads back */
	assert_int_equal(fh_readback(f, back, len, NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"64\""), 1);
	assert_true(all_bytes(back, len, 0xFF));
	assert_int_equal(fh_program(f, data, len, NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"64\""), 1);
	assert_int_equal(fh_program(f, data, 4096, NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"1\""), 0);
	img_read(f, 73216ull * 4096, back, len);
	assert_memory_equal(back, data, len);
	/* erase punches the block out again; the device reads it as erased */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"64\"/>"), 1);
	assert_int_equal(fh_readback(f, back, len, NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"64\""), 1);
	assert_true(all_bytes(back, len, 0xFF));
	/* the mode is remembered with the image */
	mfw_transport_close(f->t);
	f->t = NULL;
	mfw_emu_free(f->emu);
	cfg.sparse_erased = false;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	configure(f, "nand");
	assert_int_equal(fh_program(f, data, len, NAND_ATTRS " start_sector=\"73216\" num_partition_sectors=\"64\""), 1);
	free(data);
	free(back);
	fx_free(f);
}

/* label without last_sector: the MIBIB says where the partition is, bad blocks inside are skipped */
static void test_nand_label_from_mibib(void **state)
{
	static const uint32_t bad[] = { 342 };
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	size_t blk = 256 * KIB;
	uint8_t *data = pattern(2 * blk, 21), *back = malloc(2 * blk);
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	cfg.sparse_erased = true;
	cfg.bad_blocks = bad;
	cfg.n_bad_blocks = 1;
	fx_open(f, &cfg);
	fx_attach(f);
	load_programmer(f);
	configure(f, "nand");
	/* modem = blocks 341..628 */
	assert_int_equal(fh_cmd(f, "<erase " NAND_ATTRS " label=\"modem\" start_sector=\"21824\" num_partition_sectors=\"18432\"/>"), 1);
	assert_int_equal(fh_program(f, data, 2 * blk, NAND_ATTRS " label=\"modem\" start_sector=\"21824\" num_partition_sectors=\"128\""), 1);
	img_read(f, 341ull * blk, back, blk);
	assert_memory_equal(back, data, blk);
	img_read(f, 343ull * blk, back, blk);
	assert_memory_equal(back, data + blk, blk);
	/* a start inside the partition counts good pages from the partition start */
	assert_int_equal(fh_readback(f, back, blk, NAND_ATTRS " label=\"modem\" start_sector=\"21888\" num_partition_sectors=\"64\""), 1);
	assert_memory_equal(back, data + blk, blk);
	/* without partition information a read is linear: block 342 is the bad one */
	assert_int_equal(fh_readback(f, back, blk, NAND_ATTRS " start_sector=\"21888\" num_partition_sectors=\"64\""), 1);
	assert_true(all_bytes(back, blk, 0x00));
	/* and a write over it has no room to skip */
	assert_int_equal(fh_program(f, data, blk, NAND_ATTRS " start_sector=\"21888\" num_partition_sectors=\"64\""), -1);
	assert_non_null(strstr(f->logs, "out of good blocks"));
	/* digests follow the same mapping */
	assert_int_equal(fh_cmd(f, "<getsha256digest " NAND_ATTRS " label=\"modem\" start_sector=\"21824\" num_partition_sectors=\"128\"/>"), 1);
	{
		uint8_t md[32];
		char hex[65];
		SHA256(data, 2 * blk, md);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02X", md[i]);
		assert_non_null(strstr(f->logs, hex));
	}
	free(data);
	free(back);
	fx_free(f);
}

/* Faults: a hung device (stops reading), and one that drops off the bus and comes back fresh. */
static void test_faults(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct elf_img e = make_elf(false);
	struct mfw_sahara_pkt p;
	size_t w = 0;
	uint8_t b[64];
	int r;
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	cfg.fault_stall_at = 48 + 52 + 96 + 3000 + 1000;
	fx_open(f, &cfg);
	fx_attach(f);
	expect_hello(f, 0);
	sh_hello_resp(f, 0);
	for (int i = 0; i < 3; i++) {
		sh_recv(f, &p);
		assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
		h_write(f, e.buf + p.u.read.offset, (size_t)p.u.read.length);
	}
	/* the 1 MiB segment request: the device takes 1000 bytes, then nothing more */
	sh_recv(f, &p);
	assert_int_equal(p.u.read.length, MIB);
	r = mfw_transport_write(f->t, e.buf + p.u.read.offset, MIB, mfw_deadline_in(500), &w);
	assert_int_equal(r, MFW_E_TIMEOUT);
	assert_true(w < MIB);
	mfw_transport_close(f->t);
	f->t = NULL;
	mfw_emu_free(f->emu);
	f->emu = NULL;

	/* disconnect after the ELF header, back in the boot ROM after 300 ms */
	cfg.fault_stall_at = 0;
	cfg.fault_disconnect_at = 48 + 52;
	cfg.fault_disconnect_delay_ms = 300;
	fx_open(f, &cfg);
	fx_attach(f);
	expect_hello(f, 0);
	sh_hello_resp(f, 0);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
	h_write(f, e.buf, 52);
	sh_recv(f, &p);
	assert_int_equal(p.cmd, MFW_SAHARA_READ_DATA_64);
	do {
		r = mfw_transport_read(f->t, b, sizeof(b), mfw_deadline_in(IO_MS));
	} while (r > 0);
	assert_int_equal(r, MFW_E_NODEV);
	assert_int_equal(mfw_emu_state(f->emu), MFW_EMU_STATE_FRESH);
	fx_attach(f);
	expect_hello(f, 0);
	/* the fault fired once: a full load now works */
	sh_hello_resp(f, 0);
	{
		struct req reqs[8];
		size_t n;
		assert_int_equal(serve_image(f, e.buf, e.len, MFW_SAHARA_READ_DATA_64, reqs, &n, 8), 0);
	}
	free(e.buf);
	fx_free(f);
}

/* Hostile input: noise, broken and oversized documents, absurd attributes. The device answers, never dies. */
static void test_programmer_hostile_input(void **state)
{
	struct fixture *f = emmc_device();
	uint8_t noise[3000];
	char *big;
	uint32_t x = 12345;
	(void)state;

	for (size_t i = 0; i < sizeof(noise); i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (uint8_t)(x >> 16);
		if (noise[i] == '<')
			noise[i] = ' ';
	}
	h_write(f, noise, sizeof(noise));
	assert_int_equal(fh_cmd(f, "<nop />"), 1);
	configure(f, "emmc");
	/* a document above the 64 KiB limit */
	big = malloc(70 * 1024);
	memset(big, 'a', 70 * 1024 - 1);
	big[70 * 1024 - 1] = '\0';
	memcpy(big, "<?xml version=\"1.0\" ?><data><nop x=\"", 36);
	h_write(f, big, strlen(big));
	f->loglen = 0;
	assert_int_equal(fh_response(f, NULL), 0);
	free(big);
	h_write(f, "\"/></data>", 10);
	assert_int_equal(fh_cmd(f, "<nop />"), 1);
	/* a complete document above MaxXMLSizeInBytes (4096) */
	{
		char pad[5000];
		memset(pad, 'b', sizeof(pad) - 1);
		pad[sizeof(pad) - 1] = '\0';
		assert_int_equal(fh_cmd(f, "<nop x=\"%s\"/>", pad), 0);
		assert_non_null(strstr(f->logs, "MaxXMLSizeInBytes"));
	}
	/* numbers that overflow, expressions that do not parse, ranges past the end */
	assert_int_equal(fh_cmd(f, "<read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"99999999999999999999999\" start_sector=\"0\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" start_sector=\"NUM_DISK_SECTORS-99999999999.\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"1\" start_sector=\"system(rm)\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<read SECTOR_SIZE_IN_BYTES=\"512\" num_partition_sectors=\"18446744073709551615\" start_sector=\"1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"18446744073709551615\" filename=\"DISK\" size_in_bytes=\"4\" start_sector=\"1\" value=\"1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" size_in_bytes=\"4\" start_sector=\"1\" value=\"CRC32(8388000,999999999)\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<patch SECTOR_SIZE_IN_BYTES=\"512\" byte_offset=\"0\" filename=\"DISK\" size_in_bytes=\"9\" start_sector=\"1\" value=\"1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<configure MaxPayloadSizeToTargetInBytes=\"-1\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<power value=\"explode\"/>"), 0);
	assert_int_equal(fh_cmd(f, "<data><nop/></data>"), 0);
	assert_int_equal(fh_cmd(f, ""), 0);
	assert_int_equal(fh_cmd(f, "<nop />"), 1);
	fx_free(f);
}

/* --------------------------------------------------------------- factory */

static void test_factory_nand(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct mfw_mibib *m = calloc(1, sizeof(*m));
	uint8_t *buf = malloc(4 * 4096);
	static const uint8_t imei[9] = { 0x08, 0x3A, 0x65, 0x39, 0x08, 0x53, 0x46, 0x83, 0x90 };
	uint64_t first, last;
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = f->image;
	fx_open(f, &cfg);
	/* MIBIB at sector 640, device form */
	img_read(f, 640ull * 4096, buf, 4 * 4096);
	assert_int_equal(mfw_mibib_parse(NULL, buf, 4 * 4096, 4096, m), 0);
	assert_int_equal(m->nparts, 20);
	assert_int_equal(mfw_mibib_range(NULL, m, "EFS2", 64, 2048, &first, &last), 0);
	assert_int_equal(first, 1280);
	assert_int_equal(last, 6911);
	assert_int_equal(mfw_mibib_range(NULL, m, "usrfs", 64, 2048, &first, &last), 0);
	assert_int_equal(last, 131071);
	assert_int_not_equal(m->crc_stored, 0);
	assert_int_equal(m->crc_stored, ref_crc32(buf, 8192));
	/* EFS2 NV store */
	img_read(f, 1280ull * 4096, buf, 4096);
	assert_memory_equal(buf, "MFWNV001", 8);
	assert_int_equal(buf[16] | buf[17] << 8, 550);
	assert_memory_equal(buf + 22, imei, sizeof(imei));
	{
		uint32_t rl = get32(buf + 12);
		assert_int_equal(get32(buf + 16 + rl), ref_crc32(buf, 16 + rl));
	}
	/* content in SBL names the partition; an empty partition is erased */
	img_read(f, 0, buf, 64);
	assert_non_null(memmem(buf, 64, "partition: SBL", 14));
	img_read(f, 73216ull * 4096, buf, 4096);
	assert_true(all_bytes(buf, 4096, 0xFF));
	mfw_emu_free(f->emu);
	f->emu = NULL;
	/* reopening keeps the contents and does not rebuild */
	fx_open(f, &cfg);
	img_read(f, 1280ull * 4096, buf, 8);
	assert_memory_equal(buf, "MFWNV001", 8);
	free(m);
	free(buf);
	fx_free(f);
}

static void test_factory_emmc(void **state)
{
	struct fixture *f = fx_new();
	struct mfw_emu_config cfg;
	struct mfw_gpt *g = calloc(1, sizeof(*g));
	size_t plen = 34 * 512;
	uint8_t *buf = malloc(plen);
	static const uint8_t imei[9] = { 0x08, 0x3A, 0x65, 0x39, 0x08, 0x53, 0x46, 0x83, 0x90 };
	const struct mfw_gpt_part *p;
	(void)state;

	mfw_emu_config_defaults(&cfg, MFW_EMU_EMMC);
	cfg.image_path = f->image;
	fx_open(f, &cfg);
	img_read(f, 0, buf, plen);
	assert_int_equal(mfw_gpt_parse(NULL, buf, plen, 512, 0, g), 0);
	assert_int_equal(g->last_usable, 8388608 - 34);
	p = mfw_gpt_find(g, "modemst1");
	assert_non_null(p);
	assert_int_equal(p->first_lba, 77824);
	img_read(f, p->first_lba * 512, buf, 512);
	assert_memory_equal(buf, "MFWNV001", 8);
	assert_memory_equal(buf + 22, imei, sizeof(imei));
	p = mfw_gpt_find(g, "fsg");
	assert_non_null(p);
	img_read(f, p->first_lba * 512, buf, 512);
	assert_memory_equal(buf + 22, imei, sizeof(imei));
	/* backup header in the last sector */
	img_read(f, (8388608ull - 1) * 512, buf, 512);
	assert_memory_equal(buf, "EFI PART", 8);
	free(g);
	free(buf);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sahara_elf32_read_data_64),
		cmocka_unit_test(test_sahara_transfer_variants),
		cmocka_unit_test(test_sahara_refuses_non_elf),
		cmocka_unit_test(test_sahara_command_mode),
		cmocka_unit_test(test_past_hello),
		cmocka_unit_test(test_configure_negotiation),
		cmocka_unit_test(test_nand_roundtrip),
		cmocka_unit_test(test_nand_bad_blocks),
		cmocka_unit_test(test_emmc_program_patch_digest),
		cmocka_unit_test(test_power_reset),
		cmocka_unit_test(test_quirks),
		cmocka_unit_test(test_nand_sparse_erased),
		cmocka_unit_test(test_nand_label_from_mibib),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_programmer_hostile_input),
		cmocka_unit_test(test_factory_nand),
		cmocka_unit_test(test_factory_emmc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
