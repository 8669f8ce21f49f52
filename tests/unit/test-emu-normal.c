/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem in normal mode, driven over TCP the way a host drives
 * a module: DIAG requests built with the pure codecs (proto/diag.h,
 * proto/hdlc.h), AT lines and Sahara packets written by hand, never the
 * host sessions of lib/qcom (a bug shared by host and device must not
 * hide itself). Persistence is checked on the bytes of the image file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <modemfw/context.h>
#include <modemfw/emu.h>
#include <modemfw/error.h>
#include "core/core.h"
#include "proto/diag.h"
#include "proto/hdlc.h"
#include "transport/transport.h"

#define IO_MS 5000
/* p4K_b256K factory MIBIB: 0:EFS2 starts at block 20 = page 1280 */
#define EFS2_OFF (1280ull * 4096)
#define EFS2_LEN (256u * 1024u)

static const uint8_t imei_bytes[9] = { 0x08, 0x3A, 0x65, 0x39, 0x08, 0x53, 0x46, 0x83, 0x90 };

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct mfw_ctx *ctx;
	struct mfw_emu *emu;
	char dir[128];   /* private: the image and whatever sidecars the emulator adds */
	char image[256];
	pthread_t thread;
	bool running;
	int serve_rc;
	pthread_mutex_t lock;
	int normal_events, edl_events;
	char at[128], diag[128], edl[128];
	struct mfw_hdlc_deframer *df;
	const char *edl_spec; /* what mfw_emu_serve() gets; NULL = tcp port 0 */
};

static void on_event(void *user, const struct mfw_emu_event *ev)
{
	struct fx *f = user;

	pthread_mutex_lock(&f->lock);
	if (ev->kind == MFW_EMU_EVENT_NORMAL) {
		snprintf(f->at, sizeof(f->at), "%s", ev->at);
		snprintf(f->diag, sizeof(f->diag), "%s", ev->diag);
		f->normal_events++;
	} else {
		snprintf(f->edl, sizeof(f->edl), "%s", ev->edl);
		f->edl_events++;
	}
	pthread_mutex_unlock(&f->lock);
}

static void *serve_thread(void *p)
{
	struct fx *f = p;

	f->serve_rc = mfw_emu_serve(f->emu, f->edl_spec ? f->edl_spec : "tcp:127.0.0.1:0");
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Wait (bounded) until the emulator reported n boots into normal mode and m switches to EDL. */
static void wait_events(struct fx *f, int n, int m)
{
	for (int i = 0; i < 500; i++) {
		bool ok;
		pthread_mutex_lock(&f->lock);
		ok = f->normal_events >= n && f->edl_events >= m;
		pthread_mutex_unlock(&f->lock);
		if (ok)
			return;
		sleep_ms(10);
	}
	fail_msg("emulator events: wanted %d normal / %d edl, got %d / %d", n, m, f->normal_events,
		 f->edl_events);
}

static struct fx *fx_new(enum mfw_emu_storage storage)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/mfw-emu-normal-XXXXXX", dir);
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->image, sizeof(f->image), "%s/modem.img", f->dir);
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
	pthread_mutex_init(&f->lock, NULL);
	f->df = malloc(sizeof(*f->df));
	assert_non_null(f->df);
	(void)storage;
	return f;
}

static void fx_open(struct fx *f, enum mfw_emu_storage storage, uint32_t noise)
{
	struct mfw_emu_config cfg;

	mfw_emu_config_defaults(&cfg, storage);
	cfg.image_path = f->image;
	if (storage == MFW_EMU_NAND) {
		cfg.size = 128u << 20;
		cfg.sparse_erased = true;
	}
	cfg.mode = MFW_EMU_MODE_NORMAL;
	cfg.listen_at = "tcp:127.0.0.1:0";
	cfg.listen_diag = "tcp:127.0.0.1:0";
	cfg.diag_noise_permille = noise;
	cfg.on_event = on_event;
	cfg.event_user = f;
	assert_int_equal(mfw_emu_new(f->ctx, &cfg, &f->emu), 0);
}

static void fx_start(struct fx *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, serve_thread, f), 0);
	f->running = true;
}

static void fx_stop(struct fx *f)
{
	if (f->running) {
		mfw_ctx_cancel(f->ctx);
		pthread_join(f->thread, NULL);
		f->running = false;
		assert_int_equal(f->serve_rc, 0);
	}
	mfw_emu_free(f->emu);
	f->emu = NULL;
	/* the cancel flag stays set: a restarted emulator needs a new context */
	mfw_ctx_free(f->ctx);
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void fx_free(struct fx *f)
{
	if (f->emu)
		fx_stop(f);
	/* the image, its bad-block list and the sidecar directories of the firmware's file systems */
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	mfw_ctx_free(f->ctx);
	pthread_mutex_destroy(&f->lock);
	free(f->df);
	free(f);
}

static struct mfw_transport *connect_to(struct fx *f, const char *spec)
{
	struct mfw_transport *t = NULL;

	assert_int_equal(mfw_transport_open(f->ctx, spec, &t), 0);
	return t;
}

static void img_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->image, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void img_fill(struct fx *f, uint64_t off, uint8_t v, size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = open(f->image, O_WRONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	memset(buf, v, len);
	assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
	free(buf);
}

/* ---------------------------------------------------------------- DIAG helpers */

static int unsolicited_seen;
/* what came from the DIAG port and was not yet deframed */
static uint8_t rx_buf[4096];
static size_t rx_have, rx_pos;

static void diag_send(struct mfw_transport *t, const uint8_t *req, size_t len)
{
	uint8_t enc[2 * 20000];
	int n = mfw_hdlc_encode(req, len, true, enc, sizeof(enc));
	size_t w;

	assert_true(n > 0);
	assert_int_equal(mfw_transport_write(t, enc, (size_t)n, mfw_deadline_in(IO_MS), &w), 0);
}

/* Next frame that is not a log/event/message packet; its length, or a negative error. */
static int diag_recv(struct fx *f, struct mfw_transport *t, uint8_t *rsp, size_t cap)
{
	uint8_t *buf = rx_buf;
	size_t have = rx_have, pos = rx_pos;
	mfw_deadline_t dl = mfw_deadline_in(IO_MS);

	for (;;) {
		while (pos < have) {
			const uint8_t *frame;
			size_t used, flen;
			int r = mfw_hdlc_feed(f->df, buf + pos, have - pos, &used, &frame, &flen);

			pos += used;
			if (r != 1)
				continue;
			if (flen && mfw_diag_is_unsolicited(frame[0])) {
				unsolicited_seen++;
				continue;
			}
			assert_true(flen <= cap);
			memcpy(rsp, frame, flen);
			rx_have = have;
			rx_pos = pos;
			return (int)flen;
		}
		{
			int r = mfw_transport_read(t, buf, sizeof(buf), dl);
			if (r < 0) {
				rx_have = rx_pos = 0;
				return r;
			}
			have = (size_t)r;
			pos = 0;
		}
	}
}

static int diag_req(struct fx *f, struct mfw_transport *t, const uint8_t *req, size_t len,
		    uint8_t *rsp, size_t cap)
{
	diag_send(t, req, len);
	return diag_recv(f, t, rsp, cap);
}

static struct mfw_transport *diag_open(struct fx *f)
{
	char spec[128];

	pthread_mutex_lock(&f->lock);
	snprintf(spec, sizeof(spec), "%s", f->diag);
	pthread_mutex_unlock(&f->lock);
	mfw_hdlc_deframer_init(f->df, 0);
	rx_have = rx_pos = 0;
	return connect_to(f, spec);
}

static uint16_t nv_read(struct fx *f, struct mfw_transport *t, uint16_t item, int index,
			uint8_t data[128])
{
	uint8_t req[200], rsp[200];
	struct mfw_nv_record rec;
	int n, len;

	if (index < 0) {
		n = mfw_diag_build_nv(MFW_DIAG_NV_READ, item, NULL, 0, req, sizeof(req));
		len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
		assert_int_equal(len, MFW_DIAG_NV_PKT_LEN);
		assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_READ, rsp, (size_t)len, &rec), 0);
	} else {
		n = mfw_diag_build_nv_ext(MFW_DIAG_NV_EXT_READ, item, (uint16_t)index, NULL, 0, req,
					  sizeof(req));
		len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
		assert_int_equal(len, MFW_DIAG_NV_EXT_PKT_LEN);
		assert_int_equal(mfw_diag_parse_nv_ext(MFW_DIAG_NV_EXT_READ, rsp, (size_t)len, &rec), 0);
		assert_int_equal(rec.index, index);
	}
	assert_int_equal(rec.item, item);
	if (data)
		memcpy(data, rec.data, 128);
	return rec.status;
}

static uint16_t nv_write(struct fx *f, struct mfw_transport *t, uint16_t item, int index,
			 const uint8_t *data, size_t dlen)
{
	uint8_t req[200], rsp[200];
	struct mfw_nv_record rec;
	int n = index < 0 ? mfw_diag_build_nv(MFW_DIAG_NV_WRITE, item, data, dlen, req, sizeof(req)) :
			    mfw_diag_build_nv_ext(MFW_DIAG_NV_EXT_WRITE, item, (uint16_t)index, data,
						  dlen, req, sizeof(req));
	int len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));

	if (index < 0)
		assert_int_equal(mfw_diag_parse_nv(MFW_DIAG_NV_WRITE, rsp, (size_t)len, &rec), 0);
	else
		assert_int_equal(mfw_diag_parse_nv_ext(MFW_DIAG_NV_EXT_WRITE, rsp, (size_t)len, &rec), 0);
	return rec.status;
}

/* One EFS request on subsystem 0x3E; the parsed answer. */
static void efs(struct fx *f, struct mfw_transport *t, uint16_t cmd, const uint8_t *req, int n,
		struct mfw_efs_rsp *out, uint8_t *rsp, size_t cap)
{
	int len;

	assert_true(n > 0);
	len = diag_req(f, t, req, (size_t)n, rsp, cap);
	assert_true(len > 0);
	assert_int_equal(mfw_efs_parse(MFW_DIAG_SS_FS_ALT, cmd, rsp, (size_t)len, out), 0);
}

/*
 * Look an NV record up in the raw store bytes (format of docs/emulator.md),
 * independently of the emulator's decoder.
 */
static const uint8_t *raw_nv_record(const uint8_t *store, uint16_t item, uint16_t index,
				    uint16_t *len)
{
	uint32_t count, l;
	size_t o = 16;

	if (memcmp(store, "MFWNV001", 8))
		return NULL;
	count = store[8] | store[9] << 8 | store[10] << 16 | (uint32_t)store[11] << 24;
	l = store[12] | store[13] << 8 | store[14] << 16 | (uint32_t)store[15] << 24;
	for (uint32_t i = 0; i < count && o < 16 + l; i++) {
		uint16_t it = (uint16_t)(store[o] | store[o + 1] << 8);
		uint16_t ix = (uint16_t)(store[o + 2] | store[o + 3] << 8);
		uint16_t n = (uint16_t)(store[o + 4] | store[o + 5] << 8);
		if (it == item && ix == index) {
			*len = n;
			return store + o + 6;
		}
		o += 6u + n;
	}
	return NULL;
}

/* ---------------------------------------------------------------- tests */

static void test_diag_basics(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	struct mfw_diag_version v;
	uint8_t req[64], rsp[512], data[128];
	int n, len;
	(void)state;

	/* half the answers come after an unsolicited packet: the host must skip them */
	fx_open(f, MFW_EMU_NAND, 500);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);
	unsolicited_seen = 0;

	n = mfw_diag_build_verno(req, sizeof(req));
	len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
	assert_int_equal(len, MFW_DIAG_VERNO_LEN);
	assert_int_equal(mfw_diag_parse_verno(rsp, (size_t)len, &v), 0);
	assert_string_equal(v.ver_dir, "EC25EFAR");

	/* NV 550 holds the factory IMEI, encoded as reference diag.md §3.1 */
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));
	for (int i = 9; i < 128; i++)
		assert_int_equal(data[i], 0);
	assert_int_equal(nv_read(f, t, 550, 0, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));
	/* single SIM: no second IMEI; never-written items are inactive; index 2 does not exist */
	assert_int_equal(nv_read(f, t, 550, 1, NULL), MFW_NV_NOTACTIVE);
	assert_int_equal(nv_read(f, t, 4321, -1, NULL), MFW_NV_NOTACTIVE);
	assert_int_equal(nv_read(f, t, 550, 2, NULL), MFW_NV_BADPARM);
	assert_int_equal(nv_read(f, t, 453, -1, data), MFW_NV_DONE);
	assert_int_equal(data[0], 0x01);

	/* SPC: the default code is accepted, another one refused */
	n = mfw_diag_build_spc("000000", req, sizeof(req));
	len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_SPC, rsp, (size_t)len), 1);
	n = mfw_diag_build_spc("123456", req, sizeof(req));
	len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
	assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_SPC, rsp, (size_t)len), 0);
	{
		static const uint8_t pw[8] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE };
		n = mfw_diag_build_password(pw, req, sizeof(req));
		len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
		assert_int_equal(mfw_diag_parse_ack(MFW_DIAG_PASSWORD, rsp, (size_t)len), 1);
	}
	n = mfw_diag_build_control(MFW_DIAG_MODE_OFFLINE_D, req, sizeof(req));
	len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
	assert_int_equal(len, 3);
	assert_memory_equal(rsp, req, 3);

	/* refusals: unknown command -> 13 + request; short NV request -> 15 + request */
	req[0] = 0xA5;
	req[1] = 0x01;
	len = diag_req(f, t, req, 2, rsp, sizeof(rsp));
	assert_int_equal(len, 3);
	assert_int_equal(rsp[0], MFW_DIAG_BAD_CMD);
	assert_memory_equal(rsp + 1, req, 2);
	req[0] = MFW_DIAG_NV_READ;
	len = diag_req(f, t, req, 10, rsp, sizeof(rsp));
	assert_int_equal(len, 11);
	assert_int_equal(rsp[0], MFW_DIAG_BAD_LEN);
	assert_int_equal(rsp[1], MFW_DIAG_NV_READ);
	/* an unknown subsystem */
	memcpy(req, "\x4b\x44\x01\x00", 4);
	len = diag_req(f, t, req, 4, rsp, sizeof(rsp));
	assert_int_equal(rsp[0], MFW_DIAG_BAD_CMD);

	/* garbage (AT text) on the DIAG port is dropped; the next request still works */
	{
		size_t w;
		assert_int_equal(mfw_transport_write(t, "AT\r\n", 4, mfw_deadline_in(IO_MS), &w), 0);
	}
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_DONE);
	assert_true(unsolicited_seen > 0);
	mfw_transport_close(t);
	fx_free(f);
}

static void test_nv_write_persists(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	uint8_t data[128], *store = malloc(EFS2_LEN);
	const uint8_t *rec;
	uint16_t rlen;
	(void)state;

	assert_non_null(store);
	fx_open(f, MFW_EMU_NAND, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);
	memset(data, 0, sizeof(data));
	memcpy(data, "\x11\x22\x33\x44\x55", 5);
	assert_int_equal(nv_write(f, t, 6000, -1, data, 5), MFW_NV_DONE);
	assert_int_equal(nv_write(f, t, 550, 1, imei_bytes, sizeof(imei_bytes)), MFW_NV_DONE);
	memset(data, 0, sizeof(data));
	assert_int_equal(nv_read(f, t, 6000, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, "\x11\x22\x33\x44\x55", 5);
	assert_int_equal(nv_read(f, t, 550, 1, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));

	/* the write is in the efs2 region at once, CRC and all */
	img_read(f, EFS2_OFF, store, EFS2_LEN);
	rec = raw_nv_record(store, 6000, 0, &rlen);
	assert_non_null(rec);
	assert_int_equal(rlen, 5);
	assert_memory_equal(rec, "\x11\x22\x33\x44\x55", 5);
	rec = raw_nv_record(store, 550, 0, &rlen);
	assert_non_null(rec);
	assert_memory_equal(rec, imei_bytes, sizeof(imei_bytes));
	assert_non_null(raw_nv_record(store, 550, 1, &rlen));
	mfw_transport_close(t);

	/* and it survives a restart of the emulator (a power cycle) */
	fx_stop(f);
	f->normal_events = 0;
	fx_open(f, MFW_EMU_NAND, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);
	assert_int_equal(nv_read(f, t, 6000, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, "\x11\x22\x33\x44\x55", 5);
	mfw_transport_close(t);
	free(store);
	fx_free(f);
}

static void test_efs(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	struct mfw_efs_rsp r;
	uint8_t req[2048], rsp[2048], *blob = malloc(2500), *store = malloc(EFS2_LEN);
	const uint8_t ss = MFW_DIAG_SS_FS_ALT;
	int32_t fd;
	uint32_t dirp;
	bool saw = false;
	(void)state;

	assert_non_null(blob);
	assert_non_null(store);
	for (int i = 0; i < 2500; i++)
		blob[i] = (uint8_t)(i * 7 + 3);
	fx_open(f, MFW_EMU_NAND, 100);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);

	efs(f, t, MFW_EFS_HELLO, req, mfw_efs_build_hello(ss, req, sizeof(req)), &r, rsp, sizeof(rsp));
	assert_int_equal(r.u.hello.version, 1);

	/* the factory calibration file reads back in 1 KiB chunks: 1024, 1024, 952 */
	efs(f, t, MFW_EFS_STAT, req,
	    mfw_efs_build_path(ss, MFW_EFS_STAT, "/nv/item_files/rfnv/00020001", req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	assert_int_equal(r.u.stat.size, 3000);
	assert_int_equal(r.u.stat.mode & MFW_EFS_S_IFMT, MFW_EFS_S_IFITM);

	/* put: create, two writes, close */
	efs(f, t, MFW_EFS_MKDIR, req, mfw_efs_build_mkdir(ss, 040777, "/test", req, sizeof(req)), &r,
	    rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	efs(f, t, MFW_EFS_MKDIR, req, mfw_efs_build_mkdir(ss, 040777, "/test", req, sizeof(req)), &r,
	    rsp, sizeof(rsp));
	assert_int_equal(r.err, 17); /* EEXIST */
	efs(f, t, MFW_EFS_OPEN, req,
	    mfw_efs_build_open(ss, "/test/blob.bin", MFW_EFS_O_WRONLY | MFW_EFS_O_CREAT | MFW_EFS_O_TRUNC,
			       0644, req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	fd = r.u.open.fd;
	efs(f, t, MFW_EFS_WRITE, req, mfw_efs_build_write(ss, fd, 0, blob, 1024, req, sizeof(req)), &r,
	    rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	assert_int_equal(r.u.write.bytes, 1024);
	efs(f, t, MFW_EFS_WRITE, req,
	    mfw_efs_build_write(ss, fd, 1024, blob + 1024, 1476, req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	assert_int_equal(r.u.write.bytes, 1476);
	efs(f, t, MFW_EFS_CLOSE, req, mfw_efs_build_handle(ss, MFW_EFS_CLOSE, (uint32_t)fd, req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	/* a closed descriptor is gone */
	efs(f, t, MFW_EFS_CLOSE, req, mfw_efs_build_handle(ss, MFW_EFS_CLOSE, (uint32_t)fd, req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 9); /* EBADF */

	/* get: read it back */
	efs(f, t, MFW_EFS_OPEN, req,
	    mfw_efs_build_open(ss, "//test/./blob.bin", MFW_EFS_O_RDONLY, 0, req, sizeof(req)), &r,
	    rsp, sizeof(rsp));
	assert_int_equal(r.err, 0x40000005); /* "." is not a path an EFS takes */
	efs(f, t, MFW_EFS_OPEN, req,
	    mfw_efs_build_open(ss, "//test/blob.bin", MFW_EFS_O_RDONLY, 0, req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	assert_int_equal(r.err, 0);
	fd = r.u.open.fd;
	for (uint32_t off = 0; off < 2500;) {
		efs(f, t, MFW_EFS_READ, req, mfw_efs_build_read(ss, fd, 1024, off, req, sizeof(req)), &r,
		    rsp, sizeof(rsp));
		assert_int_equal(r.err, 0);
		assert_int_equal(r.u.read.offset, off);
		assert_int_equal(r.u.read.bytes, off + 1024 <= 2500 ? 1024 : 2500 - off);
		assert_memory_equal(r.u.read.data, blob + off, (size_t)r.u.read.bytes);
		off += (uint32_t)r.u.read.bytes;
	}
	efs(f, t, MFW_EFS_READ, req, mfw_efs_build_read(ss, fd, 1024, 2500, req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	assert_int_equal(r.u.read.bytes, 0);
	efs(f, t, MFW_EFS_CLOSE, req, mfw_efs_build_handle(ss, MFW_EFS_CLOSE, (uint32_t)fd, req, sizeof(req)),
	    &r, rsp, sizeof(rsp));

	/* readdir of / lists the factory directories and ours, then an empty name */
	efs(f, t, MFW_EFS_OPENDIR, req, mfw_efs_build_path(ss, MFW_EFS_OPENDIR, "/", req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	dirp = r.u.opendir.dirp;
	for (int32_t seq = 1;; seq++) {
		efs(f, t, MFW_EFS_READDIR, req, mfw_efs_build_readdir(ss, dirp, seq, req, sizeof(req)),
		    &r, rsp, sizeof(rsp));
		assert_int_equal(r.err, 0);
		if (!r.u.readdir.ent.name[0])
			break;
		assert_true(seq < 10);
		if (!strcmp(r.u.readdir.ent.name, "test")) {
			saw = true;
			assert_int_equal(r.u.readdir.ent.mode & MFW_EFS_S_IFMT, MFW_EFS_S_IFDIR);
			assert_int_equal(r.u.readdir.ent.type, 1);
		}
	}
	assert_true(saw);
	efs(f, t, MFW_EFS_CLOSEDIR, req, mfw_efs_build_handle(ss, MFW_EFS_CLOSEDIR, dirp, req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);

	/* the file is in the efs2 region: its path and content are in the store bytes */
	img_read(f, EFS2_OFF, store, EFS2_LEN);
	assert_non_null(memmem(store, EFS2_LEN, "MFWEFS01", 8));
	assert_non_null(memmem(store, EFS2_LEN, "/test/blob.bin", 14));
	assert_non_null(memmem(store, EFS2_LEN, blob, 2500));

	/* rmdir of a non-empty directory, unlink, rmdir, then both are gone */
	efs(f, t, MFW_EFS_RMDIR, req, mfw_efs_build_path(ss, MFW_EFS_RMDIR, "/test", req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 39); /* ENOTEMPTY */
	efs(f, t, MFW_EFS_UNLINK, req,
	    mfw_efs_build_path(ss, MFW_EFS_UNLINK, "/test/blob.bin", req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	assert_int_equal(r.err, 0);
	efs(f, t, MFW_EFS_RMDIR, req, mfw_efs_build_path(ss, MFW_EFS_RMDIR, "/test", req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	efs(f, t, MFW_EFS_STAT, req, mfw_efs_build_path(ss, MFW_EFS_STAT, "/test", req, sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 2); /* ENOENT */
	efs(f, t, MFW_EFS_OPEN, req,
	    mfw_efs_build_open(ss, "/nosuch/file", MFW_EFS_O_WRONLY | MFW_EFS_O_CREAT, 0644, req,
			       sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 2);
	assert_int_equal(r.u.open.fd, -1);
	img_read(f, EFS2_OFF, store, EFS2_LEN);
	assert_null(memmem(store, EFS2_LEN, "/test/blob.bin", 14));

	/* an EFS command this firmware does not have: BAD_CMD with the request */
	{
		uint8_t q[8] = { 0x4B, MFW_DIAG_SS_FS_ALT, 14, 0, 'x', 0, 'y', 0 };
		int len = diag_req(f, t, q, sizeof(q), rsp, sizeof(rsp));
		assert_int_equal(len, 9);
		assert_int_equal(rsp[0], MFW_DIAG_BAD_CMD);
		assert_memory_equal(rsp + 1, q, sizeof(q));
	}
	mfw_transport_close(t);
	free(blob);
	free(store);
	fx_free(f);
}

static void at_expect(struct mfw_transport *t, const char *send, const char *want)
{
	char buf[512];
	size_t have = 0, w, wl = strlen(want);
	mfw_deadline_t dl = mfw_deadline_in(IO_MS);

	if (send[0])
		assert_int_equal(mfw_transport_write(t, send, strlen(send), mfw_deadline_in(IO_MS), &w), 0);
	while (have < wl) {
		int r = mfw_transport_read(t, buf + have, wl - have, dl);
		if (r < 0)
			fail_msg("AT '%s': got '%.*s' then %s", send, (int)have, buf, mfw_strerror(r));
		have += (size_t)r;
	}
	buf[have] = 0;
	assert_string_equal(buf, want);
}

static struct mfw_transport *at_open(struct fx *f)
{
	char spec[128];

	pthread_mutex_lock(&f->lock);
	snprintf(spec, sizeof(spec), "%s", f->at);
	pthread_mutex_unlock(&f->lock);
	return connect_to(f, spec);
}

static void test_at(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	(void)state;

	fx_open(f, MFW_EMU_NAND, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	t = at_open(f);
	at_expect(t, "", "\r\nRDY\r\n");
	at_expect(t, "AT\r", "AT\r\r\nOK\r\n");
	at_expect(t, "ATI\r", "ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n");
	at_expect(t, "at+qgmr\r", "at+qgmr\r\r\nEC25EFAR06A06M4G_01.002.01.002\r\n\r\nOK\r\n");
	at_expect(t, "ATE0\r", "ATE0\r\r\nOK\r\n");
	/* no echo from here; LF alone and CR LF end a line too */
	at_expect(t, "AT+GSN\n", "\r\n356938035643809\r\n\r\nOK\r\n");
	at_expect(t, "AT+CGSN\r\n", "\r\n356938035643809\r\n\r\nOK\r\n");
	at_expect(t, "AT+CPIN?\r", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
	at_expect(t, "AT+NOSUCH\r", "\r\nERROR\r\n");
	at_expect(t, "AT+GSN?\r", "\r\nERROR\r\n");
	/* a line that is not a command is ignored; the one after it is answered */
	at_expect(t, "hello\rAT\r", "\r\nOK\r\n");
	at_expect(t, "ATE1\r", "\r\nOK\r\n");
	at_expect(t, "AT+CMEE?\r", "AT+CMEE?\r\r\n+CMEE: 1\r\n\r\nOK\r\n");
	mfw_transport_close(t);

	/* RDY is for the first host after boot only; echo stays as the last host left it */
	t = at_open(f);
	at_expect(t, "AT\r", "AT\r\r\nOK\r\n");
	mfw_transport_close(t);
	fx_free(f);
}

static void test_erased_efs(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	struct mfw_efs_rsp r;
	uint8_t req[256], rsp[512], data[128];
	uint32_t dirp;
	(void)state;

	/* a factory image whose efs2 block was then erased (all 0xFF): EFS wiped */
	fx_open(f, MFW_EMU_NAND, 0);
	mfw_emu_free(f->emu);
	f->emu = NULL;
	img_fill(f, EFS2_OFF, 0xFF, EFS2_LEN);
	fx_open(f, MFW_EMU_NAND, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_NOTACTIVE);
	for (int i = 0; i < 128; i++)
		assert_int_equal(data[i], 0);
	assert_int_equal(nv_read(f, t, 453, -1, NULL), MFW_NV_NOTACTIVE);
	efs(f, t, MFW_EFS_OPENDIR, req,
	    mfw_efs_build_path(MFW_DIAG_SS_FS_ALT, MFW_EFS_OPENDIR, "/", req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	dirp = r.u.opendir.dirp;
	efs(f, t, MFW_EFS_READDIR, req,
	    mfw_efs_build_readdir(MFW_DIAG_SS_FS_ALT, dirp, 1, req, sizeof(req)), &r, rsp, sizeof(rsp));
	assert_string_equal(r.u.readdir.ent.name, "");
	mfw_transport_close(t);
	t = at_open(f);
	at_expect(t, "", "\r\nRDY\r\n");
	at_expect(t, "AT+GSN\r", "AT+GSN\r\r\nERROR\r\n");
	mfw_transport_close(t);

	/* nothing was written: the region is still erased; a restore of the IMEI writes a store */
	img_read(f, EFS2_OFF, data, 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(data[i], 0xFF);
	t = diag_open(f);
	assert_int_equal(nv_write(f, t, 550, -1, imei_bytes, sizeof(imei_bytes)), MFW_NV_DONE);
	mfw_transport_close(t);
	img_read(f, EFS2_OFF, data, 8);
	assert_memory_equal(data, "MFWNV001", 8);
	t = at_open(f);
	at_expect(t, "AT+GSN\r", "AT+GSN\r\r\n356938035643809\r\n\r\nOK\r\n");
	mfw_transport_close(t);
	fx_free(f);
}

static void test_switch_to_edl(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t, *e;
	uint8_t req[16], rsp[160], buf[64];
	char at_spec[128], edl_spec[128];
	int n, len;
	size_t w;
	(void)state;

	fx_open(f, MFW_EMU_NAND, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	/* no EDL port before the switch */
	assert_int_equal(f->edl_events, 0);
	snprintf(at_spec, sizeof(at_spec), "%s", f->at);
	t = diag_open(f);
	n = mfw_diag_build_edl(req, sizeof(req));
	len = diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp));
	assert_int_equal(len, 4);
	assert_memory_equal(rsp, "\x4b\x65\x01\x00", 4);
	/* the module reboots: the DIAG link drops */
	len = diag_recv(f, t, rsp, sizeof(rsp));
	assert_int_equal(len, MFW_E_NODEV);
	mfw_transport_close(t);
	wait_events(f, 1, 1);
	/* the AT port went away with it */
	assert_int_not_equal(mfw_transport_open(f->ctx, at_spec, &t), 0);

	/* the boot ROM greets with HELLO (command 1, 48 bytes, version 2) */
	snprintf(edl_spec, sizeof(edl_spec), "%s", f->edl);
	e = connect_to(f, edl_spec);
	assert_int_equal(mfw_transport_read_full(e, buf, 48, mfw_deadline_in(IO_MS)), 0);
	assert_memory_equal(buf, "\x01\x00\x00\x00\x30\x00\x00\x00\x02\x00\x00\x00", 12);
	/* Sahara RESET: answered, then the module resets ... */
	memcpy(req, "\x07\x00\x00\x00\x08\x00\x00\x00", 8);
	assert_int_equal(mfw_transport_write(e, req, 8, mfw_deadline_in(IO_MS), &w), 0);
	assert_int_equal(mfw_transport_read_full(e, buf, 8, mfw_deadline_in(IO_MS)), 0);
	assert_int_equal(buf[0], 0x08);
	mfw_transport_close(e);
	/* ... and boots its firmware: AT and DIAG are back on the same ports */
	wait_events(f, 2, 1);
	assert_string_equal(f->at, at_spec);
	t = diag_open(f);
	assert_int_equal(nv_read(f, t, 550, -1, rsp), MFW_NV_DONE);
	assert_memory_equal(rsp, imei_bytes, sizeof(imei_bytes));
	mfw_transport_close(t);
	fx_free(f);
}

static void test_emmc_golden_copy(void **state)
{
	struct fx *f = fx_new(MFW_EMU_EMMC);
	struct mfw_transport *t;
	uint8_t data[128];
	/* canonical GPT: modemst1 at LBA 77824, modemst2 at 81920, 4096 sectors each */
	const uint64_t st1 = 77824ull * 512, st2 = 81920ull * 512, len = 4096u * 512u;
	(void)state;

	fx_open(f, MFW_EMU_EMMC, 0);
	mfw_emu_free(f->emu);
	f->emu = NULL;
	/* both working copies erased (0x00): the firmware falls back to the golden copy in fsg */
	img_fill(f, st1, 0x00, len);
	img_fill(f, st2, 0x00, len);
	fx_open(f, MFW_EMU_EMMC, 0);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));
	/* a write goes to the working copies, not to fsg */
	assert_int_equal(nv_write(f, t, 6001, -1, (const uint8_t *)"\x42", 1), MFW_NV_DONE);
	mfw_transport_close(t);
	img_read(f, st1, data, 8);
	assert_memory_equal(data, "MFWNV001", 8);
	img_read(f, st2, data, 8);
	assert_memory_equal(data, "MFWNV001", 8);
	fx_free(f);
}

static void test_diag_hostile(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	struct mfw_efs_rsp r;
	uint8_t req[2100], rsp[20000], data[128];
	const uint8_t ss = MFW_DIAG_SS_FS;
	static const uint8_t firsts[] = { 0x00, 0x26, 0x27, 0x29, 0x41, 0x46, 0x4B, 0x7B, 0x80, 0xFF };
	static const uint8_t subsys[] = { 0x13, 0x3E, 0x30, 0x44 }; /* never 0x65: no switch */
	uint32_t seed = 12345;
	int32_t fds[17];
	int len, n;
	(void)state;

	fx_open(f, MFW_EMU_NAND, 50);
	fx_start(f);
	wait_events(f, 1, 0);
	t = diag_open(f);

	/* 2000 well-framed requests of random content: each gets an answer, none kills the port */
	for (int i = 0; i < 2000; i++) {
		size_t l;
		seed = seed * 1103515245u + 12345u;
		l = 1 + (seed >> 8) % 300;
		for (size_t k = 0; k < l; k++) {
			seed = seed * 1103515245u + 12345u;
			req[k] = (uint8_t)(seed >> 16);
		}
		req[0] = firsts[(seed >> 4) % sizeof(firsts)];
		if (req[0] == 0x4B && l > 1)
			req[1] = subsys[(seed >> 12) % sizeof(subsys)];
		len = diag_req(f, t, req, l, rsp, sizeof(rsp));
		assert_true(len > 0);
	}
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));

	/* a path without its NUL, and one beyond 1023 bytes */
	memcpy(req, "\x4b\x13\x0f\x00/nv", 7);
	len = diag_req(f, t, req, 7, rsp, sizeof(rsp));
	assert_int_equal(mfw_efs_parse(ss, MFW_EFS_STAT, rsp, (size_t)len, &r), 0);
	assert_int_equal(r.err, 0x40000005);
	memcpy(req, "\x4b\x13\x0f\x00", 4);
	req[4] = '/';
	memset(req + 5, 'a', 1100);
	req[1105] = 0;
	len = diag_req(f, t, req, 1106, rsp, sizeof(rsp));
	assert_int_equal(mfw_efs_parse(ss, MFW_EFS_STAT, rsp, (size_t)len, &r), 0);
	assert_int_not_equal(r.err, 0);

	/* 16 descriptors at most */
	for (int i = 0; i < 17; i++) {
		efs(f, t, MFW_EFS_OPEN, req,
		    mfw_efs_build_open(MFW_DIAG_SS_FS_ALT, "/policyman/device_config.xml", 0, 0, req,
				       sizeof(req)),
		    &r, rsp, sizeof(rsp));
		fds[i] = r.u.open.fd;
		assert_int_equal(r.err, i < 16 ? 0 : 24);
	}
	for (int i = 0; i < 16; i++)
		efs(f, t, MFW_EFS_CLOSE, req,
		    mfw_efs_build_handle(MFW_DIAG_SS_FS_ALT, MFW_EFS_CLOSE, (uint32_t)fds[i], req,
					 sizeof(req)),
		    &r, rsp, sizeof(rsp));

	/* the store fills its 256 KiB block: ENOSPC, and what was there stays readable */
	efs(f, t, MFW_EFS_OPEN, req,
	    mfw_efs_build_open(MFW_DIAG_SS_FS_ALT, "/big", MFW_EFS_O_WRONLY | MFW_EFS_O_CREAT, 0644, req,
			       sizeof(req)),
	    &r, rsp, sizeof(rsp));
	assert_int_equal(r.err, 0);
	n = r.u.open.fd;
	memset(data, 0x5A, sizeof(data));
	{
		uint8_t chunk[1024];
		int32_t err = 0;
		uint32_t off;
		memset(chunk, 0xA5, sizeof(chunk));
		for (off = 0; off < 400u * 1024 && !err; off += 1024) {
			efs(f, t, MFW_EFS_WRITE, req,
			    mfw_efs_build_write(MFW_DIAG_SS_FS_ALT, n, off, chunk, sizeof(chunk), req,
						sizeof(req)),
			    &r, rsp, sizeof(rsp));
			err = r.err;
		}
		assert_int_equal(err, 28);
		assert_true(off > 200u * 1024);
	}
	assert_int_equal(nv_write(f, t, 7000, -1, data, 128), MFW_NV_DONE);
	efs(f, t, MFW_EFS_CLOSE, req,
	    mfw_efs_build_handle(MFW_DIAG_SS_FS_ALT, MFW_EFS_CLOSE, (uint32_t)n, req, sizeof(req)), &r,
	    rsp, sizeof(rsp));
	efs(f, t, MFW_EFS_UNLINK, req,
	    mfw_efs_build_path(MFW_DIAG_SS_FS_ALT, MFW_EFS_UNLINK, "/big", req, sizeof(req)), &r, rsp,
	    sizeof(rsp));
	assert_int_equal(r.err, 0);
	assert_int_equal(nv_read(f, t, 550, -1, data), MFW_NV_DONE);
	assert_memory_equal(data, imei_bytes, sizeof(imei_bytes));
	mfw_transport_close(t);
	fx_free(f);
}

static void test_edl_where_diag_was(void **state)
{
	struct fx *f = fx_new(MFW_EMU_NAND);
	struct mfw_transport *t;
	uint8_t req[16], rsp[64];
	char diag[128];
	int n;
	(void)state;

	fx_open(f, MFW_EMU_NAND, 0);
	f->edl_spec = "diag";
	fx_start(f);
	wait_events(f, 1, 0);
	snprintf(diag, sizeof(diag), "%s", f->diag);
	t = diag_open(f);
	n = mfw_diag_build_edl(req, sizeof(req));
	assert_int_equal(diag_req(f, t, req, (size_t)n, rsp, sizeof(rsp)), 4);
	mfw_transport_close(t);
	wait_events(f, 1, 1);
	/* the boot ROM answers on the DIAG port's address */
	assert_string_equal(f->edl, diag);
	t = connect_to(f, diag);
	assert_int_equal(mfw_transport_read_full(t, rsp, 48, mfw_deadline_in(IO_MS)), 0);
	assert_int_equal(rsp[0], 0x01);
	mfw_transport_close(t);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_diag_basics),
		cmocka_unit_test(test_nv_write_persists),
		cmocka_unit_test(test_efs),
		cmocka_unit_test(test_at),
		cmocka_unit_test(test_erased_efs),
		cmocka_unit_test(test_switch_to_edl),
		cmocka_unit_test(test_emmc_golden_copy),
		cmocka_unit_test(test_diag_hostile),
		cmocka_unit_test(test_edl_where_diag_was),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
