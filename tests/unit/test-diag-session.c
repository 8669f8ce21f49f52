/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DIAG session (lib/qcom/diag.c) and DIAG backup/restore (lib/ops) against
 * a scripted fake DIAG device in a thread on the other end of a transport
 * pair. The fake decodes requests and builds answers by hand (byte offsets
 * from reference/diag.md), not with proto/diag.c, so a codec bug cannot
 * hide itself on both sides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <modemfw/diag.h>
#include "core/core.h"
#include "proto/hdlc.h"
#include "qcom/diag.h"
#include "transport/transport.h"
#include "util/bytes.h"
#include "util/crc.h"
#include "util/hash.h"

/* ---- the fake device ---- */

#define FAKE_NV_ITEMS 1024
#define FAKE_FILES 64

struct fake_file {
	char path[128];
	bool dir;
	uint32_t mode;
	uint8_t *data;
	size_t len;
};

struct fake {
	struct mfw_transport *dev;
	/* behaviour */
	bool alt_fs_unknown;        /* answer BAD_CMD to subsystem 0x3E: host must fall back to 0x13 */
	bool fs_unknown;            /* answer BAD_CMD to both EFS2 subsystems */
	bool chatty;                /* a log and a message packet before every answer */
	int corrupt_after;          /* this answer (1-based) goes out with a bad CRC, then silence */
	bool edl_vanish;            /* on switch to EDL: close the port instead of echoing */
	bool nv550_readonly;
	int delay_item;             /* the answer for this NV item comes delay_ms late */
	int delay_ms;
	/* state */
	bool nv_active[FAKE_NV_ITEMS];
	uint8_t nv[FAKE_NV_ITEMS][128];
	bool nv1_active;            /* index 1 of item 550 */
	uint8_t nv1[128];
	struct fake_file files[FAKE_FILES];
	int n_files;
	int fds[8];                 /* file index + 1, 0 free */
	int dirs[4];                /* file index of the directory + 1 */
	/* observations */
	int answers;
	int max_read, max_write;    /* largest EFS chunk asked for / sent */
	int reads;                  /* EFS READ requests */
	int hello_ss;
	int edl_requests;
	char seen_last[64];
};

static int fake_send(struct fake *f, const uint8_t *p, size_t len)
{
	uint8_t wire[2 * 70000];
	uint16_t crc = mfw_crc16_x25(p, len);
	size_t n = 0;
	uint8_t tmp[70000];

	memcpy(tmp, p, len);
	tmp[len] = (uint8_t)crc;
	tmp[len + 1] = (uint8_t)(crc >> 8);
	f->answers++;
	if (f->corrupt_after && f->answers == f->corrupt_after)
		tmp[len] ^= 0x01;
	if (f->corrupt_after && f->answers > f->corrupt_after)
		return 0; /* silence after the broken frame */
	for (size_t i = 0; i < len + 2; i++) {
		if (tmp[i] == 0x7E || tmp[i] == 0x7D) {
			wire[n++] = 0x7D;
			wire[n++] = tmp[i] ^ 0x20;
		} else {
			wire[n++] = tmp[i];
		}
	}
	wire[n++] = 0x7E;
	return mfw_transport_write(f->dev, wire, n, mfw_deadline_in(3000), NULL);
}

static int fake_chatter(struct fake *f)
{
	static const uint8_t log[] = { 0x10, 0x00, 0x0C, 0x00, 0x0C, 0x00, 0x7E, 0x7D, 0x12, 0x34 };
	static const uint8_t msg[] = { 0x79, 0x00, 0x00, 0x01, 'h', 'i' };
	static const uint8_t event[] = { 0x60, 0x02, 0x00 };
	int saved = f->corrupt_after;
	int r;
	/* chatter never counts as an answer */
	f->corrupt_after = 0;
	r = fake_send(f, log, sizeof(log));
	if (r == 0)
		r = fake_send(f, msg, sizeof(msg));
	if (r == 0)
		r = fake_send(f, event, sizeof(event));
	f->answers -= 3;
	f->corrupt_after = saved;
	return r;
}

static int find_file(struct fake *f, const char *path)
{
	for (int i = 0; i < f->n_files; i++)
		if (!strcmp(f->files[i].path, path))
			return i;
	return -1;
}

static int add_file(struct fake *f, const char *path, bool dir, const void *data, size_t len)
{
	struct fake_file *ff;
	assert_true(f->n_files < FAKE_FILES);
	ff = &f->files[f->n_files];
	assert_true(strlen(path) < sizeof(ff->path));
	memcpy(ff->path, path, strlen(path) + 1);
	ff->dir = dir;
	ff->mode = dir ? 040777 : 0100644;
	ff->data = len ? malloc(len) : NULL;
	if (len)
		memcpy(ff->data, data, len);
	ff->len = len;
	return f->n_files++;
}

/* is child directly inside dir? */
static bool in_dir(const char *dir, const char *child)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		n = 0;
	if (strncmp(child, dir, n) || child[n] != '/' || !child[n + 1])
		return false;
	return strchr(child + n + 1, '/') == NULL;
}

static int fake_efs(struct fake *f, const uint8_t *q, size_t len)
{
	uint8_t r[1200];
	uint16_t cmd = mfw_get_le16(q + 2);
	const char *path;
	size_t rl = 4;
	int i;

	memcpy(r, q, 4);
	memset(r + 4, 0, sizeof(r) - 4);
	switch (cmd) {
	case 0: /* HELLO: echo the proposal */
		f->hello_ss = q[1];
		memcpy(r + 4, q + 4, 40);
		rl = 44;
		break;
	case 2: /* OPEN: oflag, mode, path */
		path = (const char *)q + 12;
		i = find_file(f, path);
		if (i < 0 && (mfw_get_le32(q + 4) & 0x40))
			i = add_file(f, path, false, NULL, 0);
		if (i >= 0 && (mfw_get_le32(q + 4) & 0x200)) {
			free(f->files[i].data);
			f->files[i].data = NULL;
			f->files[i].len = 0;
			f->files[i].mode = 0100000 | (mfw_get_le32(q + 8) & 07777);
		}
		mfw_put_le32(r + 4, 0xFFFFFFFF);
		if (i < 0) {
			mfw_put_le32(r + 8, 2);
		} else {
			for (int k = 0; k < 8; k++) {
				if (!f->fds[k]) {
					f->fds[k] = i + 1;
					mfw_put_le32(r + 4, (uint32_t)k + 3);
					break;
				}
			}
		}
		rl = 12;
		break;
	case 4: { /* READ: fd, nbytes, offset */
		int fd = (int)mfw_get_le32(q + 4) - 3;
		uint32_t n = mfw_get_le32(q + 8), off = mfw_get_le32(q + 12);
		struct fake_file *ff;
		if (fd < 0 || fd >= 8 || !f->fds[fd]) {
			mfw_put_le32(r + 16, 9);
			rl = 20;
			break;
		}
		ff = &f->files[f->fds[fd] - 1];
		f->reads++;
		if ((int)n > f->max_read)
			f->max_read = (int)n;
		if (n > 1024)
			n = 1024;
		if (off >= ff->len)
			n = 0;
		else if (off + n > ff->len)
			n = (uint32_t)(ff->len - off);
		memcpy(r + 4, q + 4, 4);
		mfw_put_le32(r + 8, off);
		mfw_put_le32(r + 12, n);
		if (n)
			memcpy(r + 20, ff->data + off, n);
		rl = 20 + n;
		break;
	}
	case 5: { /* WRITE: fd, offset, data */
		int fd = (int)mfw_get_le32(q + 4) - 3;
		uint32_t off = mfw_get_le32(q + 8), n = (uint32_t)(len - 12);
		struct fake_file *ff;
		if (fd < 0 || fd >= 8 || !f->fds[fd]) {
			mfw_put_le32(r + 16, 9);
			rl = 20;
			break;
		}
		ff = &f->files[f->fds[fd] - 1];
		if ((int)n > f->max_write)
			f->max_write = (int)n;
		if (off + n > ff->len) {
			ff->data = realloc(ff->data, off + n);
			memset(ff->data + ff->len, 0, off + n - ff->len);
			ff->len = off + n;
		}
		memcpy(ff->data + off, q + 12, n);
		memcpy(r + 4, q + 4, 8);
		mfw_put_le32(r + 12, n);
		rl = 20;
		break;
	}
	case 3: /* CLOSE */
	case 13: { /* CLOSEDIR */
		uint32_t h = mfw_get_le32(q + 4);
		if (cmd == 3 && h >= 3 && h < 11 && f->fds[h - 3])
			f->fds[h - 3] = 0;
		else if (cmd == 13 && h >= 100 && h < 104 && f->dirs[h - 100])
			f->dirs[h - 100] = 0;
		else
			mfw_put_le32(r + 4, 9);
		rl = 8;
		break;
	}
	case 15: /* STAT */
		i = find_file(f, (const char *)q + 4);
		if (i < 0) {
			mfw_put_le32(r + 4, 2);
		} else {
			mfw_put_le32(r + 8, f->files[i].mode);
			mfw_put_le32(r + 12, (uint32_t)f->files[i].len);
			mfw_put_le32(r + 16, 1);
		}
		rl = 32;
		break;
	case 11: /* OPENDIR */
		path = (const char *)q + 4;
		i = strcmp(path, "/") ? find_file(f, path) : -2;
		if (i == -1 || (i >= 0 && !f->files[i].dir)) {
			mfw_put_le32(r + 8, i == -1 ? 2 : 20);
		} else {
			for (int k = 0; k < 4; k++) {
				if (!f->dirs[k]) {
					f->dirs[k] = i + 3; /* -2 (root) -> 1 */
					mfw_put_le32(r + 4, (uint32_t)k + 100);
					break;
				}
			}
		}
		rl = 12;
		break;
	case 12: { /* READDIR: dirp, seq */
		uint32_t h = mfw_get_le32(q + 4);
		int32_t seq = (int32_t)mfw_get_le32(q + 8), nth = 0;
		const char *dir;
		memcpy(r + 4, q + 4, 8);
		rl = 40;
		r[40] = 0;
		if (h < 100 || h >= 104 || !f->dirs[h - 100]) {
			mfw_put_le32(r + 12, 0x40000003);
			break;
		}
		dir = f->dirs[h - 100] == 1 ? "/" : f->files[f->dirs[h - 100] - 3].path;
		/* "." and ".." first, as real targets do */
		if (seq <= 2) {
			strcpy((char *)r + 40, seq == 1 ? "." : "..");
			mfw_put_le32(r + 16, 1);
			mfw_put_le32(r + 20, 040777);
			rl = 40 + strlen((char *)r + 40) + 1;
			break;
		}
		for (i = 0; i < f->n_files; i++) {
			if (!in_dir(dir, f->files[i].path))
				continue;
			if (++nth == seq - 2) {
				const char *name = strrchr(f->files[i].path, '/') + 1;
				mfw_put_le32(r + 16, f->files[i].dir ? 1 : 0);
				mfw_put_le32(r + 20, f->files[i].mode);
				mfw_put_le32(r + 24, (uint32_t)f->files[i].len);
				strcpy((char *)r + 40, name);
				rl = 40 + strlen(name) + 1;
				break;
			}
		}
		if (i == f->n_files)
			rl = 41; /* empty name: end of directory */
		break;
	}
	case 9: /* MKDIR: i16 mode, path */
		path = (const char *)q + 6;
		if (find_file(f, path) >= 0)
			mfw_put_le32(r + 4, 17);
		else
			add_file(f, path, true, NULL, 0);
		rl = 8;
		break;
	case 8: /* UNLINK */
		i = find_file(f, (const char *)q + 4);
		if (i < 0) {
			mfw_put_le32(r + 4, 2);
		} else {
			free(f->files[i].data);
			f->files[i] = f->files[--f->n_files];
		}
		rl = 8;
		break;
	default:
		r[0] = 0x13;
		memcpy(r + 1, q, 4);
		rl = 5;
		break;
	}
	return fake_send(f, r, rl);
}

static int fake_nv(struct fake *f, const uint8_t *q, size_t len)
{
	uint8_t r[160];
	bool ext = q[0] == 0x4B;
	size_t hdr = ext ? 8 : 3, rlen = ext ? 138 : 133;
	uint16_t item = mfw_get_le16(q + (ext ? 4 : 1));
	uint16_t index = ext ? mfw_get_le16(q + 6) : 0;
	bool write = ext ? q[2] == 2 : q[0] == 0x27;
	uint16_t status = 0;
	uint8_t *slot = NULL;
	bool *active = NULL;

	if (len < rlen) {
		r[0] = 0x15;
		return fake_send(f, r, 1);
	}
	memcpy(r, q, rlen);
	if (item >= FAKE_NV_ITEMS || (index && (index != 1 || item != 550))) {
		status = 6; /* bad parameter: no such item */
	} else {
		slot = index ? f->nv1 : f->nv[item];
		active = index ? &f->nv1_active : &f->nv_active[item];
		if (write && item == 550 && f->nv550_readonly) {
			status = 7;
		} else if (write) {
			memcpy(slot, q + hdr, 128);
			*active = true;
		} else if (!*active) {
			status = 5;
			memset(r + hdr, 0, 128);
		} else {
			memcpy(r + hdr, slot, 128);
		}
	}
	mfw_put_le16(r + hdr + 128, status);
	if (f->delay_item && item == f->delay_item)
		usleep((useconds_t)f->delay_ms * 1000);
	return fake_send(f, r, rlen);
}

static int fake_handle(struct fake *f, const uint8_t *q, size_t len)
{
	uint8_t r[64];
	snprintf(f->seen_last, sizeof(f->seen_last), "%02x %02x", q[0], len > 1 ? q[1] : 0);
	if (f->chatty && fake_chatter(f) < 0)
		return -1;
	if (q[0] == 0x00) { /* VERNO */
		memset(r, 0, 55);
		memcpy(r + 1, "Nov 21 2026", 11);
		memcpy(r + 12, "12:00:00", 8);
		memcpy(r + 20, "Nov 21 2026", 11);
		memcpy(r + 31, "12:30:00", 8);
		memcpy(r + 39, "FAKE25", 6);
		r[49] = 0x42;
		r[53] = 9;
		return fake_send(f, r, 55);
	}
	if (q[0] == 0x26 || q[0] == 0x27 || (len >= 4 && q[0] == 0x4B && q[1] == 0x30))
		return fake_nv(f, q, len);
	if (q[0] == 0x41) { /* SPC: 000000 only */
		r[0] = 0x41;
		r[1] = len == 7 && !memcmp(q + 1, "000000", 6);
		return fake_send(f, r, 2);
	}
	if (len >= 4 && q[0] == 0x4B && q[1] == 0x65 && q[2] == 1) {
		f->edl_requests++;
		if (f->edl_vanish) {
			mfw_transport_close(f->dev);
			f->dev = NULL;
			return 1;
		}
		return fake_send(f, q, 4);
	}
	if (len >= 4 && q[0] == 0x4B && (q[1] == 0x13 || q[1] == 0x3E)) {
		if ((q[1] == 0x3E && f->alt_fs_unknown) || f->fs_unknown) {
			r[0] = 0x13;
			memcpy(r + 1, q, 4);
			return fake_send(f, r, 5);
		}
		return fake_efs(f, q, len);
	}
	r[0] = 0x13;
	r[1] = q[0];
	return fake_send(f, r, 2);
}

/* The device loop: deframe requests by hand (not with proto/hdlc.c), answer each. */
static void *fake_thread(void *arg)
{
	struct fake *f = arg;
	static uint8_t frame[20000];
	size_t n = 0;
	bool esc = false;

	for (;;) {
		uint8_t b;
		int r = mfw_transport_read(f->dev, &b, 1, mfw_deadline_in(20000));
		if (r <= 0)
			break;
		if (b == 0x7E) {
			if (n >= 3 && mfw_crc16_x25(frame, n - 2) == mfw_get_le16(frame + n - 2)) {
				r = fake_handle(f, frame, n - 2);
				if (r != 0)
					break;
			}
			n = 0;
			continue;
		}
		if (b == 0x7D) {
			esc = true;
			continue;
		}
		if (esc)
			b ^= 0x20;
		esc = false;
		if (n < sizeof(frame))
			frame[n++] = b;
	}
	return NULL;
}

struct rig {
	struct fake *f;
	struct mfw_ctx *ctx;
	struct mfw_transport *host;
	struct mfw_diag *d;
	pthread_t th;
};

static void rig_start(struct rig *rig, struct fake *f)
{
	memset(rig, 0, sizeof(*rig));
	rig->f = f;
	assert_int_equal(mfw_ctx_new(&rig->ctx), 0);
	assert_int_equal(mfw_transport_pair(rig->ctx, 1 << 20, &rig->host, &f->dev), 0);
	assert_int_equal(pthread_create(&rig->th, NULL, fake_thread, f), 0);
	assert_int_equal(mfw_diag_open(rig->ctx, rig->host, &rig->d), 0);
}

static void rig_stop(struct rig *rig)
{
	mfw_diag_close(rig->d);
	mfw_transport_close(rig->host);
	pthread_join(rig->th, NULL);
	if (rig->f->dev)
		mfw_transport_close(rig->f->dev);
	rig->f->dev = NULL;
	mfw_ctx_free(rig->ctx);
}

static void fake_clear_files(struct fake *f)
{
	for (int i = 0; i < f->n_files; i++)
		free(f->files[i].data);
	f->n_files = 0;
}

static void fake_free(struct fake *f)
{
	fake_clear_files(f);
	free(f);
}

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	/* IMEI 356938035643809 in NV 550, a couple of other items */
	static const uint8_t imei[] = { 0x08, 0x3A, 0x65, 0x39, 0x08, 0x53, 0x46, 0x83, 0x90 };
	memcpy(f->nv[550], imei, sizeof(imei));
	f->nv_active[550] = true;
	memset(f->nv[10], 0x5A, 128);
	f->nv_active[10] = true;
	f->nv[453][0] = 1;
	f->nv_active[453] = true;
	return f;
}

/* ---- session tests ---- */

static void test_version_and_nv(void **state)
{
	struct fake *f = fake_new();
	struct mfw_diag_version v;
	struct rig rig;
	uint8_t data[128], want[128];
	uint16_t status;
	char imei[16];
	(void)state;
	f->chatty = true; /* every answer comes after a log, a message and an event packet */
	rig_start(&rig, f);
	assert_int_equal(mfw_diag_version(rig.d, &v), 0);
	assert_string_equal(v.comp_date, "Nov 21 2026");
	assert_string_equal(v.ver_dir, "FAKE25");
	assert_int_equal(v.model, 0x42);
	assert_int_equal(v.fields, 12);

	assert_int_equal(mfw_diag_read_imei(rig.d, -1, imei), 0);
	assert_string_equal(imei, "356938035643809");
	/* item 10 round trip, then an inactive and a missing item */
	assert_int_equal(mfw_diag_nv_read(rig.d, 10, -1, data, &status), 0);
	memset(want, 0x5A, 128);
	assert_memory_equal(data, want, 128);
	memset(want, 0, 128);
	memcpy(want, "\x01\x02\x7E\x7D", 4); /* bytes that need escaping */
	assert_int_equal(mfw_diag_nv_write(rig.d, 20, -1, want, 4, &status), 0);
	assert_int_equal(mfw_diag_nv_read(rig.d, 20, -1, data, &status), 0);
	assert_memory_equal(data, want, 128);
	assert_int_equal(mfw_diag_nv_read(rig.d, 21, -1, data, &status), MFW_E_NOENT);
	assert_int_equal(status, MFW_NV_NOTACTIVE);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "NV item 21: inactive"));
	assert_int_equal(mfw_diag_nv_read(rig.d, 2000, -1, data, &status), MFW_E_NOENT);
	assert_int_equal(status, MFW_NV_BADPARM);
	/* subscription-indexed: index 1 of 550 */
	assert_int_equal(mfw_diag_read_imei(rig.d, 1, imei), MFW_E_NOENT);
	mfw_imei_encode("490154203237518", want);
	assert_int_equal(mfw_diag_nv_write(rig.d, 550, 1, want, 128, &status), 0);
	assert_int_equal(mfw_diag_read_imei(rig.d, 1, imei), 0);
	assert_string_equal(imei, "490154203237518");
	assert_int_equal(mfw_diag_read_imei(rig.d, -1, imei), 0);
	assert_string_equal(imei, "356938035643809");
	/* SPC: right and wrong */
	assert_int_equal(mfw_diag_spc(rig.d, "000000"), 0);
	assert_int_equal(mfw_diag_spc(rig.d, "123456"), MFW_E_NAK);
	/* unknown command: error packet mapped to UNSUPPORTED, named */
	assert_int_equal(mfw_diag_control(rig.d, MFW_DIAG_MODE_OFFLINE_D), MFW_E_UNSUPPORTED);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "BAD_CMD"));
	{
		uint64_t unsol, unm, crc;
		mfw_diag_stats(rig.d, &unsol, &unm, &crc);
		assert_true(unsol >= 3 * 14);
		assert_int_equal(crc, 0);
	}
	rig_stop(&rig);
	fake_free(f);
}

static void test_read_only_imei(void **state)
{
	struct fake *f = fake_new();
	struct rig rig;
	uint8_t data[128];
	uint16_t status;
	(void)state;
	f->nv550_readonly = true;
	rig_start(&rig, f);
	mfw_imei_encode("490154203237518", data);
	assert_int_equal(mfw_diag_nv_write(rig.d, 550, -1, data, 128, &status), MFW_E_NAK);
	assert_int_equal(status, MFW_NV_READONLY);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "read-only"));
	rig_stop(&rig);
	fake_free(f);
}

static void test_efs_get_put(void **state)
{
	struct fake *f = fake_new();
	struct mfw_efs_stat st;
	struct rig rig;
	uint8_t src[3000], *got;
	size_t len;
	(void)state;
	f->alt_fs_unknown = true;
	f->chatty = true;
	rig_start(&rig, f);
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 31 + (i >> 8)); /* includes 0x7E and 0x7D */
	assert_int_equal(mfw_diag_efs_mkdir(rig.d, "/nv", 040777), 0);
	assert_int_equal(f->hello_ss, 0x13); /* fell back from 0x3E */
	assert_int_equal(mfw_diag_efs_subsys(rig.d), 0x13);
	assert_int_equal(mfw_diag_efs_put(rig.d, "/nv/cal.bin", src, sizeof(src), 0600), 0);
	assert_int_equal(f->max_write, 1024);
	assert_int_equal(mfw_diag_efs_stat(rig.d, "/nv/cal.bin", &st), 0);
	assert_int_equal(st.size, 3000);
	assert_int_equal(st.mode, 0100600);
	f->reads = 0;
	assert_int_equal(mfw_diag_efs_get(rig.d, "/nv/cal.bin", 0, &got, &len), 0);
	assert_int_equal(len, 3000);
	assert_memory_equal(got, src, 3000);
	assert_int_equal(f->max_read, 1024);
	assert_int_equal(f->reads, 3); /* 1024 + 1024 + 952: the short read ends the file */
	free(got);
	/* a limit below the size is refused and the fd is closed anyway */
	assert_int_equal(mfw_diag_efs_get(rig.d, "/nv/cal.bin", 2000, &got, &len), MFW_E_RANGE);
	assert_null(got);
	for (int k = 0; k < 8; k++)
		assert_int_equal(f->fds[k], 0);
	/* exactly 1024 and empty files end properly */
	assert_int_equal(mfw_diag_efs_put(rig.d, "/nv/k.bin", src, 1024, 0), 0);
	assert_int_equal(mfw_diag_efs_get(rig.d, "/nv/k.bin", 0, &got, &len), 0);
	assert_int_equal(len, 1024);
	free(got);
	assert_int_equal(mfw_diag_efs_put(rig.d, "/nv/empty", src, 0, 0), 0);
	assert_int_equal(mfw_diag_efs_get(rig.d, "/nv/empty", 0, &got, &len), 0);
	assert_int_equal(len, 0);
	free(got);
	/* errno mapping and naming */
	assert_int_equal(mfw_diag_efs_get(rig.d, "/nope", 0, &got, &len), MFW_E_NOENT);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "'/nope'"));
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "ENOENT"));
	assert_int_equal(mfw_diag_efs_mkdir(rig.d, "/nv", 040777), MFW_E_EXIST);
	assert_int_equal(mfw_diag_efs_unlink(rig.d, "/nv/k.bin"), 0);
	assert_int_equal(mfw_diag_efs_stat(rig.d, "/nv/k.bin", &st), MFW_E_NOENT);
	rig_stop(&rig);
	fake_free(f);
}

struct walk_log {
	char text[2048];
	int n;
	int stop_at;
};

static int walk_cb(void *user, const char *path, const struct mfw_efs_dirent *e)
{
	struct walk_log *w = user;
	size_t l = strlen(w->text);
	snprintf(w->text + l, sizeof(w->text) - l, "%s%s:%u;", path,
		 (e->mode & MFW_EFS_S_IFMT) == MFW_EFS_S_IFDIR ? "/" : "", e->size);
	return ++w->n == w->stop_at ? 42 : 0;
}

static void test_efs_walk(void **state)
{
	struct fake *f = fake_new();
	struct walk_log w = { .stop_at = 0 };
	struct rig rig;
	(void)state;
	add_file(f, "/nv", true, NULL, 0);
	add_file(f, "/nv/item_files", true, NULL, 0);
	add_file(f, "/nv/item_files/rfnv", true, NULL, 0);
	add_file(f, "/nv/item_files/rfnv/00020000", false, "abc", 3);
	add_file(f, "/policyman", true, NULL, 0);
	add_file(f, "/policyman/carrier.xml", false, "<x/>", 4);
	add_file(f, "/top.bin", false, "12345", 5);
	rig_start(&rig, f);
	assert_int_equal(mfw_diag_efs_walk(rig.d, "/", 8, 100, walk_cb, &w), 0);
	assert_string_equal(w.text, "/nv/:0;/nv/item_files/:0;/nv/item_files/rfnv/:0;"
				    "/nv/item_files/rfnv/00020000:3;/policyman/:0;"
				    "/policyman/carrier.xml:4;/top.bin:5;");
	/* every directory was closed again */
	for (int k = 0; k < 4; k++)
		assert_int_equal(f->dirs[k], 0);
	/* bounds: depth and entry count */
	memset(&w, 0, sizeof(w));
	assert_int_equal(mfw_diag_efs_walk(rig.d, "/", 1, 100, walk_cb, &w), MFW_E_RANGE);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "deeper than 1"));
	memset(&w, 0, sizeof(w));
	assert_int_equal(mfw_diag_efs_walk(rig.d, "/", 8, 3, walk_cb, &w), MFW_E_RANGE);
	/* the callback can stop the walk */
	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(mfw_diag_efs_walk(rig.d, "/", 8, 100, walk_cb, &w), 42);
	for (int k = 0; k < 4; k++)
		assert_int_equal(f->dirs[k], 0);
	rig_stop(&rig);
	fake_free(f);
}

static void test_crc_drop_then_timeout(void **state)
{
	struct fake *f = fake_new();
	struct rig rig;
	uint8_t data[128];
	int64_t t0;
	int r;
	(void)state;
	f->corrupt_after = 2; /* the second answer is broken, then the device is silent */
	rig_start(&rig, f);
	mfw_diag_set_timeout(rig.d, 400);
	assert_int_equal(mfw_diag_nv_read(rig.d, 10, -1, data, NULL), 0);
	t0 = mfw_now_ms();
	r = mfw_diag_nv_read(rig.d, 550, -1, data, NULL);
	assert_int_equal(r, MFW_E_TIMEOUT);
	assert_true(mfw_now_ms() - t0 < 3000);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "no answer to NV_READ of item 550"));
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "1 frames with bad CRC dropped"));
	rig_stop(&rig);
	fake_free(f);
}

/* An answer that comes after its request timed out must not be taken for the next one. */
static void test_late_answer_skipped(void **state)
{
	struct fake *f = fake_new();
	struct rig rig;
	uint8_t data[128], want[128];
	uint64_t unmatched;
	(void)state;
	f->delay_item = 550;
	f->delay_ms = 600;
	rig_start(&rig, f);
	mfw_diag_set_timeout(rig.d, 250);
	assert_int_equal(mfw_diag_nv_read(rig.d, 550, -1, data, NULL), MFW_E_TIMEOUT);
	mfw_diag_set_timeout(rig.d, 3000);
	assert_int_equal(mfw_diag_nv_read(rig.d, 10, -1, data, NULL), 0);
	memset(want, 0x5A, sizeof(want));
	assert_memory_equal(data, want, 128);
	mfw_diag_stats(rig.d, NULL, &unmatched, NULL);
	assert_int_equal(unmatched, 1);
	rig_stop(&rig);
	fake_free(f);
}

static void test_switch_to_edl(void **state)
{
	struct fake *f = fake_new();
	struct rig rig;
	(void)state;
	rig_start(&rig, f);
	assert_int_equal(mfw_diag_switch_to_edl(rig.d), 0);
	assert_int_equal(f->edl_requests, 1);
	rig_stop(&rig);
	fake_free(f);
	/* the port vanishes instead of echoing: also success */
	f = fake_new();
	f->edl_vanish = true;
	rig_start(&rig, f);
	assert_int_equal(mfw_diag_switch_to_edl(rig.d), 0);
	assert_int_equal(f->edl_requests, 1);
	rig_stop(&rig);
	fake_free(f);
}

/* ---- backup / restore (lib/ops/diag_backup.c) ---- */

static bool file_has(const char *path, const char *needle)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "rb");
	size_t n;
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strstr(buf, needle) != NULL;
}

static void fill_unit(struct fake *f)
{
	add_file(f, "/nv", true, NULL, 0);
	add_file(f, "/nv/item_files", true, NULL, 0);
	add_file(f, "/nv/item_files/rfnv", true, NULL, 0);
	{
		static uint8_t cal[2500];
		for (size_t i = 0; i < sizeof(cal); i++)
			cal[i] = (uint8_t)(i * 7);
		add_file(f, "/nv/item_files/rfnv/00020000", false, cal, sizeof(cal));
	}
	add_file(f, "/policyman", true, NULL, 0);
	add_file(f, "/policyman/carrier.xml", false, "<x/>", 4);
	mfw_imei_encode("490154203237518", f->nv1);
	f->nv1_active = true;
}

static void test_backup_restore(void **state)
{
	struct mfw_diag_backup_opts bo = { .nv_last = 1023, .nv_sim1 = true };
	struct mfw_diag_backup_summary bs;
	struct mfw_diag_restore_opts ro = { 0 };
	struct mfw_diag_restore_summary rs;
	struct fake *f = fake_new(), *g;
	struct rig rig;
	char dir[] = "/tmp/test-diag-backup-XXXXXX", path[256];
	int i;
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	bo.dir = path;
	fill_unit(f);
	f->chatty = true;
	rig_start(&rig, f);
	assert_int_equal(mfw_diag_backup_run(rig.ctx, rig.host, &bo, &bs), 0);
	assert_true(bs.have_version);
	assert_string_equal(bs.version.ver_dir, "FAKE25");
	assert_string_equal(bs.imei, "356938035643809");
	assert_string_equal(bs.imei2, "490154203237518");
	assert_null(bs.imei_note);
	assert_int_equal(bs.nv_scanned, 1024);
	assert_int_equal(bs.nv_items, 4); /* 10, 453, 550, 550 index 1 */
	assert_int_equal(bs.efs_files, 2);
	assert_int_equal(bs.efs_dirs, 4);
	assert_int_equal(bs.efs_bytes, 2504);
	snprintf(path, sizeof(path), "%s/out/manifest.json", dir);
	assert_true(file_has(path, "\"imei\": \"356938035643809\""));
	assert_true(file_has(path, "\"path\": \"efs/nv/item_files/rfnv/00020000\", \"size\": 2500"));
	assert_true(file_has(path, "\"path\": \"nv/00550-1.bin\", \"size\": 128"));
	assert_true(file_has(path, "\"path\": \"backup.xqcn\""));
	assert_true(file_has(path, "\"ver_dir\": \"FAKE25\""));
	snprintf(path, sizeof(path), "%s/out/backup.xqcn", dir);
	assert_true(file_has(path, "Name='NV_ITEM_ARRAY_SIM_1'"));
	assert_true(file_has(path, "2F 70 6F 6C 69 63 79 6D 61 6E")); /* "/policyman" */
	/* a second backup into the same directory is refused before anything is written */
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(mfw_diag_backup_run(rig.ctx, rig.host, &bo, &bs), MFW_E_EXIST);
	/* no EFS2 over DIAG on this firmware: NV items are still backed up, and it says so */
	f->fs_unknown = true;
	snprintf(path, sizeof(path), "%s/nv-only", dir);
	bo.dir = path;
	bo.nv_last = 600;
	assert_int_equal(mfw_diag_backup_run(rig.ctx, rig.host, &bo, &bs), 0);
	assert_true(bs.efs_unavailable);
	assert_int_equal(bs.efs_files, 0);
	assert_int_equal(bs.nv_items, 4);
	snprintf(path, sizeof(path), "%s/nv-only/manifest.json", dir);
	assert_true(file_has(path, "\"efs_unavailable\": true"));
	snprintf(path, sizeof(path), "%s/out", dir);
	rig_stop(&rig);

	/* restore onto a blank unit: everything but the IMEI without the flag */
	g = calloc(1, sizeof(*g));
	assert_non_null(g);
	rig_start(&rig, g);
	ro.source = path;
	assert_int_equal(mfw_diag_restore_run(rig.ctx, rig.host, &ro, &rs), 0);
	assert_true(rs.imei_skipped);
	assert_int_equal(rs.nv_written, 2);
	assert_int_equal(rs.nv_verified, 2);
	assert_int_equal(rs.nv_skipped, 2);
	assert_int_equal(rs.efs_written, 2);
	assert_int_equal(rs.efs_verified, 2);
	assert_false(g->nv_active[550]);
	assert_true(g->nv_active[10]);
	assert_memory_equal(g->nv[10], f->nv[10], 128);
	i = find_file(g, "/nv/item_files/rfnv/00020000");
	assert_true(i >= 0);
	assert_int_equal(g->files[i].len, 2500);
	assert_memory_equal(g->files[i].data, f->files[find_file(f, "/nv/item_files/rfnv/00020000")].data, 2500);
	assert_true(find_file(g, "/nv/item_files") >= 0 && g->files[find_file(g, "/nv/item_files")].dir);
	/* with the owner's word, the IMEI comes back too (both subscriptions) */
	ro.write_imei = true;
	ro.no_efs = true;
	assert_int_equal(mfw_diag_restore_run(rig.ctx, rig.host, &ro, &rs), 0);
	assert_int_equal(rs.nv_written, 4);
	assert_memory_equal(g->nv[550], f->nv[550], 128);
	assert_memory_equal(g->nv1, f->nv1, 128);
	rig_stop(&rig);
	fake_free(f);

	/* a read-only IMEI (both subscriptions) is counted as refused, the rest still restored */
	g->nv550_readonly = true;
	memset(g->nv_active, 0, sizeof(g->nv_active));
	fake_clear_files(g);
	rig_start(&rig, g);
	assert_int_equal(mfw_diag_restore_run(rig.ctx, rig.host, &ro, &rs), MFW_E_NAK);
	assert_int_equal(rs.nv_failed, 2);
	assert_int_equal(rs.nv_verified, 2);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "refused 2 NV item"));
	rig_stop(&rig);

	/* a backup file changed after the fact: refused before the device sees a byte */
	snprintf(path, sizeof(path), "%s/out/nv/00010.bin", dir);
	{
		FILE *fp = fopen(path, "r+b");
		assert_non_null(fp);
		fputc(0x00, fp);
		fclose(fp);
	}
	fake_clear_files(g);
	memset(g, 0, sizeof(*g));
	rig_start(&rig, g);
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(mfw_diag_restore_run(rig.ctx, rig.host, &ro, &rs), MFW_E_VERIFY);
	assert_non_null(strstr(mfw_ctx_detail(rig.ctx), "changed since the backup"));
	assert_int_equal(g->answers, 0);
	rig_stop(&rig);

	/* the .xqcn alone (as QPST users bring it) restores without a manifest */
	memset(g, 0, sizeof(*g));
	rig_start(&rig, g);
	snprintf(path, sizeof(path), "%s/out/backup.xqcn", dir);
	ro.source = path;
	ro.no_efs = false;
	assert_int_equal(mfw_diag_restore_run(rig.ctx, rig.host, &ro, &rs), 0);
	assert_int_equal(rs.nv_verified, 4);
	assert_int_equal(rs.efs_verified, 2);
	assert_true(find_file(g, "/policyman/carrier.xml") >= 0);
	rig_stop(&rig);
	fake_free(g);
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_and_nv),
		cmocka_unit_test(test_read_only_imei),
		cmocka_unit_test(test_efs_get_put),
		cmocka_unit_test(test_efs_walk),
		cmocka_unit_test(test_crc_drop_then_timeout),
		cmocka_unit_test(test_late_answer_skipped),
		cmocka_unit_test(test_switch_to_edl),
		cmocka_unit_test(test_backup_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
