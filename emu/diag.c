/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem's DIAG port: HDLC frames (proto/hdlc.h) carrying the
 * commands of reference/diag.md §2-4 as a Qualcomm firmware answers them:
 * VERNO, NV read/write (plain and subscription-indexed), SPC, password,
 * CONTROL, loopback, the switch to EDL and the EFS2 subsystem on 0x13 and
 * 0x3E. Refusals are the error packets real targets send (0x13 unknown
 * command, 0x14 bad parameter, 0x15 bad length) followed by the request.
 * Every change to NV items or files is written to the efs2 region at once.
 */
#include "normal.h"
#include "proto/diag.h"
#include "proto/hdlc.h"
#include "util/bytes.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* fs_diag keeps a few descriptors and directories open at a time (errors beyond: EMFILE / 0x40000007). */
#define DIAG_MAX_FDS 16
#define DIAG_MAX_DIRS 8
/* Bytes one EFS READ answers at most: the 1 KiB every known tool asks for. */
#define EFS_READ_MAX 1024u
/* Response payloads: an error packet echoes a whole request (16 KiB) after its code. */
#define RSP_MAX (MFW_HDLC_MAX_REQUEST + 64u)

#define O_ACCMODE_ 0x3
#define O_EXCL_ 0x80

struct efs_fd {
	char *path;       /* NULL = free slot */
	int32_t oflag;
};

struct emu_diag {
	struct emu_normal *nm;
	struct mfw_hdlc_deframer *df;
	uint8_t *rsp;
	uint8_t *enc;
	size_t enc_cap;
	bool spc_ok, password_ok;
	uint16_t mode;                    /* last CONTROL mode (4 online at boot) */
	struct efs_fd fds[DIAG_MAX_FDS];
	char *dirs[DIAG_MAX_DIRS];        /* open directories by path; NULL = free */
	uint32_t rng;
	uint32_t noise_seq;
};

int emu_diag_new(struct emu_normal *nm, struct emu_diag **ret)
{
	struct emu_diag *d = calloc(1, sizeof(*d));

	if (!d)
		return MFW_E_NOMEM;
	d->nm = nm;
	d->df = malloc(sizeof(*d->df));
	d->rsp = malloc(RSP_MAX);
	d->enc_cap = mfw_hdlc_encoded_max(RSP_MAX);
	d->enc = malloc(d->enc_cap);
	if (!d->df || !d->rsp || !d->enc) {
		emu_diag_free(d);
		return MFW_E_NOMEM;
	}
	mfw_hdlc_deframer_init(d->df, MFW_HDLC_MAX_REQUEST);
	d->mode = MFW_DIAG_MODE_ONLINE;
	/* noise is deterministic per module: a failing test can be replayed */
	d->rng = nm->emu->cfg.serial ? nm->emu->cfg.serial : 1;
	*ret = d;
	return 0;
}

static void close_all(struct emu_diag *d)
{
	for (size_t i = 0; i < DIAG_MAX_FDS; i++) {
		free(d->fds[i].path);
		d->fds[i].path = NULL;
	}
	for (size_t i = 0; i < DIAG_MAX_DIRS; i++) {
		free(d->dirs[i]);
		d->dirs[i] = NULL;
	}
}

void emu_diag_free(struct emu_diag *d)
{
	if (!d)
		return;
	close_all(d);
	free(d->df);
	free(d->rsp);
	free(d->enc);
	free(d);
}

static uint32_t next_rand(struct emu_diag *d)
{
	/* xorshift32: small, deterministic, good enough to space out noise */
	uint32_t x = d->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	d->rng = x;
	return x;
}

static int send_frame(struct emu_diag *d, struct mfw_transport *t, const uint8_t *p, size_t len)
{
	int n = mfw_hdlc_encode(p, len, false, d->enc, d->enc_cap);

	if (n < 0)
		return n;
	return emu_port_write(d->nm, t, d->enc, (size_t)n);
}

/*
 * An unsolicited packet as another client's masks produce them: a log
 * record, an event or an extended message (reference diag.md §1). The
 * host has to skip these while it waits for its answer.
 */
static int send_noise(struct emu_diag *d, struct mfw_transport *t)
{
	uint8_t p[64];
	uint64_t ts = (uint64_t)(d->noise_seq++) << 16;
	size_t n;

	memset(p, 0, sizeof(p));
	switch (d->noise_seq % 3) {
	case 0: /* log: 10 00, u16 len, u16 len, u16 log code, u64 time, payload */
		p[0] = MFW_DIAG_LOG;
		mfw_put_le16(p + 2, 16);
		mfw_put_le16(p + 4, 16);
		mfw_put_le16(p + 6, 0xB0C0); /* an LTE RRC log code */
		mfw_put_le64(p + 8, ts);
		mfw_put_le32(p + 16, d->noise_seq);
		n = 20;
		break;
	case 1: /* event: 60, u16 len, u16 id, u64 time */
		p[0] = MFW_DIAG_EVENT;
		mfw_put_le16(p + 1, 10);
		mfw_put_le16(p + 3, 0x0124);
		mfw_put_le64(p + 5, ts);
		n = 13;
		break;
	default: { /* extended message: 79, ts type, nargs, drops, u64 time, line, ssid, mask, fmt, file */
		static const char text[] = "emu heartbeat\0modem.c";
		p[0] = MFW_DIAG_EXT_MSG;
		mfw_put_le64(p + 4, ts);
		mfw_put_le16(p + 12, 42);
		mfw_put_le16(p + 14, 5000);
		mfw_put_le32(p + 16, 2);
		memcpy(p + 20, text, sizeof(text));
		n = 20 + sizeof(text);
		break;
	}
	}
	return send_frame(d, t, p, n);
}

static int respond(struct emu_diag *d, struct mfw_transport *t, size_t len)
{
	uint32_t permille = d->nm->emu->cfg.diag_noise_permille;

	if (permille && next_rand(d) % 1000 < permille) {
		int r = send_noise(d, t);
		if (r < 0)
			return r;
	}
	return send_frame(d, t, d->rsp, len);
}

/* Error packet: its code, then the request as the target received it. */
static size_t error_rsp(struct emu_diag *d, uint8_t code, const uint8_t *req, size_t len)
{
	if (len > RSP_MAX - 1)
		len = RSP_MAX - 1;
	d->rsp[0] = code;
	memcpy(d->rsp + 1, req, len);
	return len + 1;
}

/* ---- plain commands ---- */

static void put_str(uint8_t *p, const char *s, size_t width)
{
	size_t n = strlen(s);
	memset(p, 0, width);
	memcpy(p, s, n < width ? n : width);
}

static size_t verno(struct emu_diag *d)
{
	uint8_t *p = d->rsp;

	/* the EC25EFAR06A06M4G build: dates of the firmware, model directory, MSM 9x07 */
	p[0] = MFW_DIAG_VERNO;
	put_str(p + 1, "Mar 29 2021", 11);
	put_str(p + 12, "10:20:30", 8);
	put_str(p + 20, "Mar 29 2021", 11);
	put_str(p + 31, "10:00:00", 8);
	put_str(p + 39, "EC25EFAR", 8);
	p[47] = 0x01;  /* scm */
	p[48] = 0x06;  /* cai rev */
	p[49] = 0xFF;  /* mobile model: "see the build id" on MSM targets */
	mfw_put_le16(p + 50, 0x0606);
	p[52] = 0x00;  /* slot cycle */
	p[53] = 0x00;  /* hw major */
	p[54] = 0x00;  /* hw minor */
	return MFW_DIAG_VERNO_LEN;
}

/* Write one NV item and persist the store; returns the NV status. */
static uint16_t nv_write(struct emu_diag *d, uint16_t item, uint16_t index, const uint8_t *data)
{
	struct emu_normal *nm = d->nm;
	uint8_t old[EMU_NV_DATA];
	bool existed = emu_nv_get(&nm->nv, item, index, old) == 0;
	size_t grow = existed ? EMU_NV_DATA : 6 + EMU_NV_DATA;
	int r;

	/* the store must still fit its region; check before anything changes */
	if (emu_nvstore_size(&nm->nv) + grow > nm->nv.capacity)
		return MFW_NV_FULL;
	r = emu_nv_set(&nm->nv, item, index, data);
	if (r == MFW_E_NOSPC)
		return MFW_NV_FULL;
	if (r < 0)
		return MFW_NV_FAIL;
	r = emu_nvstore_save(nm->emu->dctx, &nm->emu->st, &nm->nv);
	if (r < 0) {
		mfw_dbg(nm->emu->ctx, "diag: NV %u not persisted: %s", item, mfw_strerror(r));
		return MFW_NV_FAIL;
	}
	return MFW_NV_DONE;
}

/* 26/27 (plain, index 0) and 4B 30 01/02 00 (indexed) share everything but the header. */
static size_t nv_cmd(struct emu_diag *d, const uint8_t *req, size_t len, bool ext)
{
	size_t need = ext ? MFW_DIAG_NV_EXT_PKT_LEN : MFW_DIAG_NV_PKT_LEN;
	size_t hdr = ext ? 8 : 3;
	bool write = ext ? mfw_get_le16(req + 2) == MFW_DIAG_NV_EXT_WRITE : req[0] == MFW_DIAG_NV_WRITE;
	uint16_t item, index, status;

	if (len < need)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, len);
	memcpy(d->rsp, req, need);
	item = mfw_get_le16(req + (ext ? 4 : 1));
	index = ext ? mfw_get_le16(req + 6) : 0;
	pthread_mutex_lock(&d->nm->lock);
	if (index > 1) {
		/* single-SIM firmware with dual-SIM tables: subscriptions 0 and 1 exist */
		status = MFW_NV_BADPARM;
	} else if (write) {
		status = nv_write(d, item, index, req + hdr);
	} else {
		status = emu_nv_get(&d->nm->nv, item, index, d->rsp + hdr) == 0 ? MFW_NV_DONE :
										 MFW_NV_NOTACTIVE;
	}
	pthread_mutex_unlock(&d->nm->lock);
	if (status != MFW_NV_DONE && !write)
		memset(d->rsp + hdr, 0, EMU_NV_DATA);
	mfw_put_le16(d->rsp + hdr + EMU_NV_DATA, status);
	return need;
}

/* ---- EFS2 ---- */

struct efs_req {
	const uint8_t *b;  /* body after the 4-byte header */
	size_t n;
};

static void efs_hdr(struct emu_diag *d, const uint8_t *req)
{
	memcpy(d->rsp, req, MFW_EFS_HDR_LEN);
}

static size_t put_i32s(struct emu_diag *d, const int32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mfw_put_le32(d->rsp + MFW_EFS_HDR_LEN + 4 * i, (uint32_t)v[i]);
	return MFW_EFS_HDR_LEN + 4 * n;
}

/* A NUL-terminated path from the request, normalised; an errno when it is not one. */
static int32_t get_path(const uint8_t *p, size_t n, char out[EMU_EFS_PATH_MAX + 1])
{
	char raw[EMU_EFS_PATH_MAX + 1];
	const uint8_t *nul = memchr(p, 0, n);
	size_t len;

	if (!nul)
		return EMU_FS_DIAG_INVALID_PATH;
	len = (size_t)(nul - p);
	if (len > EMU_EFS_PATH_MAX)
		return EMU_FS_DIAG_PATH_TOO_LONG;
	memcpy(raw, p, len);
	raw[len] = 0;
	return emu_efs_normalise(raw, out, EMU_EFS_PATH_MAX + 1);
}

static int32_t persist(struct emu_diag *d)
{
	int r = emu_nvstore_save(d->nm->emu->dctx, &d->nm->emu->st, &d->nm->nv);

	if (r == MFW_E_NOSPC)
		return EMU_ENOSPC;
	return r < 0 ? 5 /* EIO */ : 0;
}

static bool fits(struct emu_diag *d, size_t grow)
{
	return emu_nvstore_size(&d->nm->nv) + grow <= d->nm->nv.capacity;
}

static struct efs_fd *get_fd(struct emu_diag *d, int32_t fd)
{
	if (fd < 1 || fd > DIAG_MAX_FDS || !d->fds[fd - 1].path)
		return NULL;
	return &d->fds[fd - 1];
}

static size_t efs_hello(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	static const uint32_t ours[10] = {
		MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW,
		MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW,
		1, 1, 1, MFW_EFS_HELLO_FEATURES,
	};

	/* a new fs_diag client: whatever the last one left open is closed */
	close_all(d);
	efs_hdr(d, req);
	for (size_t i = 0; i < 10; i++) {
		uint32_t v = ours[i];
		/* windows: the smaller of both sides; version 1 is all we speak */
		if (i < 6 && q->n >= 4 * (i + 1) && mfw_get_le32(q->b + 4 * i) < v)
			v = mfw_get_le32(q->b + 4 * i);
		if (i == 9 && q->n >= 40)
			v &= mfw_get_le32(q->b + 36);
		mfw_put_le32(d->rsp + MFW_EFS_HDR_LEN + 4 * i, v);
	}
	return MFW_EFS_HDR_LEN + 40;
}

static int32_t do_open(struct emu_diag *d, int32_t oflag, int32_t mode, const char *path,
		       int32_t *fd)
{
	struct emu_nvstore *s = &d->nm->nv;
	struct emu_efs_node *n = emu_efs_find(s, path);
	int32_t acc = oflag & O_ACCMODE_, err;
	size_t slot;

	for (slot = 0; slot < DIAG_MAX_FDS && d->fds[slot].path; slot++)
		;
	if (slot == DIAG_MAX_FDS)
		return EMU_EMFILE;
	if (!strcmp(path, "/") || (n && (n->mode & EMU_EFS_S_IFMT) == EMU_EFS_S_IFDIR))
		return EMU_EISDIR;
	if (n && (oflag & MFW_EFS_O_CREAT) && (oflag & O_EXCL_))
		return EMU_EEXIST;
	if (!n) {
		if (!(oflag & MFW_EFS_O_CREAT))
			return EMU_ENOENT;
		err = emu_efs_parent_ok(s, path);
		if (err)
			return err;
		if (!fits(d, 14 + strlen(path)))
			return EMU_ENOSPC;
		if (emu_efs_add(s, path, EMU_EFS_S_IFREG | ((uint32_t)mode & 0777), &n) < 0)
			return EMU_ENOSPC;
		err = persist(d);
		if (err)
			return err;
	} else if ((oflag & MFW_EFS_O_TRUNC) && acc != MFW_EFS_O_RDONLY && n->len) {
		free(n->data);
		n->data = NULL;
		n->len = 0;
		n->mtime = (uint32_t)time(NULL);
		err = persist(d);
		if (err)
			return err;
	}
	d->fds[slot].path = strdup(path);
	if (!d->fds[slot].path)
		return EMU_ENOMEM;
	d->fds[slot].oflag = oflag;
	*fd = (int32_t)slot + 1;
	return 0;
}

static size_t efs_open(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	char path[EMU_EFS_PATH_MAX + 1];
	int32_t v[2] = { -1, 0 };

	efs_hdr(d, req);
	if (q->n < 8)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
	v[1] = get_path(q->b + 8, q->n - 8, path);
	if (!v[1])
		v[1] = do_open(d, (int32_t)mfw_get_le32(q->b), (int32_t)mfw_get_le32(q->b + 4), path,
			       &v[0]);
	if (v[1])
		v[0] = -1;
	return put_i32s(d, v, 2);
}

static size_t efs_read(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	int32_t fd;
	uint32_t want, off;
	struct efs_fd *f;
	const struct emu_efs_node *n;
	int32_t v[4];
	uint32_t got = 0;

	if (q->n < 12)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
	efs_hdr(d, req);
	fd = (int32_t)mfw_get_le32(q->b);
	want = mfw_get_le32(q->b + 4);
	off = mfw_get_le32(q->b + 8);
	f = get_fd(d, fd);
	n = f ? emu_efs_find(&d->nm->nv, f->path) : NULL;
	v[0] = fd;
	v[1] = (int32_t)off;
	if (!n || (f->oflag & O_ACCMODE_) == MFW_EFS_O_WRONLY) {
		v[2] = -1;
		v[3] = EMU_EBADF;
		return put_i32s(d, v, 4);
	}
	if (want > EFS_READ_MAX)
		want = EFS_READ_MAX;
	if (off < n->len)
		got = n->len - off < want ? n->len - off : want;
	if (got)
		memcpy(d->rsp + MFW_EFS_HDR_LEN + 16, n->data + off, got);
	v[2] = (int32_t)got;
	v[3] = 0;
	return put_i32s(d, v, 4) + got;
}

static int32_t do_write(struct emu_diag *d, struct efs_fd *f, uint32_t off, const uint8_t *data,
			uint32_t len)
{
	struct emu_efs_node *n = emu_efs_find(&d->nm->nv, f->path);
	uint32_t end;

	if (!n || (f->oflag & O_ACCMODE_) == MFW_EFS_O_RDONLY)
		return EMU_EBADF;
	if (off > EMU_EFS_FILE_MAX || len > EMU_EFS_FILE_MAX - off)
		return EMU_EFBIG;
	end = off + len;
	if (end > n->len) {
		uint8_t *nd;

		if (!fits(d, end - n->len))
			return EMU_ENOSPC;
		nd = realloc(n->data, end);
		if (!nd)
			return EMU_ENOMEM;
		/* a write past the end leaves a hole of zeros, as on any POSIX file system */
		memset(nd + n->len, 0, end - n->len);
		n->data = nd;
		n->len = end;
	}
	if (len)
		memcpy(n->data + off, data, len);
	n->mtime = (uint32_t)time(NULL);
	return persist(d);
}

static size_t efs_write(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	struct efs_fd *f;
	int32_t v[4];

	if (q->n < 8)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
	efs_hdr(d, req);
	v[0] = (int32_t)mfw_get_le32(q->b);
	v[1] = (int32_t)mfw_get_le32(q->b + 4);
	f = get_fd(d, v[0]);
	v[3] = f ? do_write(d, f, (uint32_t)v[1], q->b + 8, (uint32_t)(q->n - 8)) : EMU_EBADF;
	v[2] = v[3] ? -1 : (int32_t)(q->n - 8);
	return put_i32s(d, v, 4);
}

static size_t efs_handle(struct emu_diag *d, const uint8_t *req, struct efs_req *q, bool dir)
{
	int32_t h, err = 0;

	if (q->n < 4)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
	efs_hdr(d, req);
	h = (int32_t)mfw_get_le32(q->b);
	if (dir) {
		if (h < 1 || h > DIAG_MAX_DIRS || !d->dirs[h - 1]) {
			err = EMU_FS_DIAG_DIR_NOT_OPEN;
		} else {
			free(d->dirs[h - 1]);
			d->dirs[h - 1] = NULL;
		}
	} else {
		struct efs_fd *f = get_fd(d, h);
		if (!f) {
			err = EMU_EBADF;
		} else {
			free(f->path);
			f->path = NULL;
		}
	}
	return put_i32s(d, &err, 1);
}

static void stat_of(const struct emu_efs_node *n, int32_t v[6])
{
	if (!n) {
		/* the root: a directory that always exists */
		v[0] = (int32_t)(EMU_EFS_S_IFDIR | 0777);
		v[1] = 0;
		v[2] = 2;
		v[3] = v[4] = v[5] = 0;
		return;
	}
	v[0] = (int32_t)n->mode;
	v[1] = (int32_t)n->len;
	v[2] = (n->mode & EMU_EFS_S_IFMT) == EMU_EFS_S_IFDIR ? 2 : 1;
	v[3] = v[4] = v[5] = (int32_t)n->mtime;
}

static size_t efs_stat(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	char path[EMU_EFS_PATH_MAX + 1];
	int32_t v[7] = { 0 };

	efs_hdr(d, req);
	v[0] = get_path(q->b, q->n, path);
	if (!v[0]) {
		const struct emu_efs_node *n = emu_efs_find(&d->nm->nv, path);
		if (n || !strcmp(path, "/"))
			stat_of(n, v + 1);
		else
			v[0] = EMU_ENOENT;
	}
	return put_i32s(d, v, 7);
}

static size_t efs_opendir(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	char path[EMU_EFS_PATH_MAX + 1];
	int32_t v[2] = { 0, 0 };

	efs_hdr(d, req);
	v[1] = get_path(q->b, q->n, path);
	if (!v[1] && strcmp(path, "/")) {
		const struct emu_efs_node *n = emu_efs_find(&d->nm->nv, path);
		if (!n)
			v[1] = EMU_ENOENT;
		else if ((n->mode & EMU_EFS_S_IFMT) != EMU_EFS_S_IFDIR)
			v[1] = EMU_ENOTDIR;
	}
	if (!v[1]) {
		size_t slot;
		for (slot = 0; slot < DIAG_MAX_DIRS && d->dirs[slot]; slot++)
			;
		if (slot == DIAG_MAX_DIRS) {
			v[1] = EMU_FS_DIAG_TOO_MANY_DIRS;
		} else if (!(d->dirs[slot] = strdup(path))) {
			v[1] = EMU_ENOMEM;
		} else {
			v[0] = (int32_t)slot + 1;
		}
	}
	return put_i32s(d, v, 2);
}

static size_t efs_readdir(struct emu_diag *d, const uint8_t *req, struct efs_req *q)
{
	int32_t v[9] = { 0 }, dirp, seq;
	const struct emu_efs_node *n = NULL;
	size_t len;

	if (q->n < 8)
		return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
	efs_hdr(d, req);
	dirp = (int32_t)mfw_get_le32(q->b);
	seq = (int32_t)mfw_get_le32(q->b + 4);
	v[0] = dirp;
	v[1] = seq;
	if (dirp < 1 || dirp > DIAG_MAX_DIRS || !d->dirs[dirp - 1])
		v[2] = EMU_FS_DIAG_DIR_NOT_OPEN;
	else if (seq < 1)
		v[2] = EMU_FS_DIAG_INVALID_SEQ;
	else
		n = emu_efs_child(&d->nm->nv, d->dirs[dirp - 1], (size_t)seq - 1);
	if (n) {
		int32_t st[6];
		stat_of(n, st);
		v[3] = (n->mode & EMU_EFS_S_IFMT) == EMU_EFS_S_IFDIR ? 1 : 0;
		v[4] = st[0];
		v[5] = st[1];
		v[6] = v[7] = v[8] = st[3];
	}
	len = put_i32s(d, v, 9);
	/* the name; an empty one is the end of the directory */
	if (n) {
		const char *name = strrchr(n->path, '/') + 1;
		size_t nl = strlen(name);
		memcpy(d->rsp + len, name, nl);
		len += nl;
	}
	d->rsp[len++] = 0;
	return len;
}

static int32_t do_mkdir(struct emu_diag *d, const char *path, uint16_t mode)
{
	struct emu_nvstore *s = &d->nm->nv;
	int32_t err;

	if (!strcmp(path, "/") || emu_efs_find(s, path))
		return EMU_EEXIST;
	err = emu_efs_parent_ok(s, path);
	if (err)
		return err;
	if (!fits(d, 14 + strlen(path)) ||
	    emu_efs_add(s, path, EMU_EFS_S_IFDIR | (mode & 0777u), NULL) < 0)
		return EMU_ENOSPC;
	return persist(d);
}

static int32_t do_remove(struct emu_diag *d, const char *path, bool dir)
{
	struct emu_nvstore *s = &d->nm->nv;
	struct emu_efs_node *n;

	if (!strcmp(path, "/"))
		return dir ? EMU_EACCES : EMU_EISDIR;
	n = emu_efs_find(s, path);
	if (!n)
		return EMU_ENOENT;
	if (dir && (n->mode & EMU_EFS_S_IFMT) != EMU_EFS_S_IFDIR)
		return EMU_ENOTDIR;
	if (!dir && (n->mode & EMU_EFS_S_IFMT) == EMU_EFS_S_IFDIR)
		return EMU_EISDIR;
	if (dir && emu_efs_has_children(s, path))
		return EMU_ENOTEMPTY;
	emu_efs_remove(s, n);
	return persist(d);
}

static size_t efs_path_op(struct emu_diag *d, const uint8_t *req, struct efs_req *q, uint16_t cmd)
{
	char path[EMU_EFS_PATH_MAX + 1];
	int32_t err;
	uint16_t mode = 0;
	size_t skip = 0;

	if (cmd == MFW_EFS_MKDIR) {
		if (q->n < 2)
			return error_rsp(d, MFW_DIAG_BAD_LEN, req, q->n + MFW_EFS_HDR_LEN);
		mode = mfw_get_le16(q->b);
		skip = 2;
	}
	efs_hdr(d, req);
	err = get_path(q->b + skip, q->n - skip, path);
	if (!err) {
		if (cmd == MFW_EFS_MKDIR)
			err = do_mkdir(d, path, mode);
		else
			err = do_remove(d, path, cmd == MFW_EFS_RMDIR);
	}
	return put_i32s(d, &err, 1);
}

static size_t efs_cmd(struct emu_diag *d, const uint8_t *req, size_t len)
{
	struct efs_req q = { req + MFW_EFS_HDR_LEN, len - MFW_EFS_HDR_LEN };
	uint16_t cmd = mfw_get_le16(req + 2);
	size_t r;

	pthread_mutex_lock(&d->nm->lock);
	switch (cmd) {
	case MFW_EFS_HELLO: r = efs_hello(d, req, &q); break;
	case MFW_EFS_OPEN: r = efs_open(d, req, &q); break;
	case MFW_EFS_READ: r = efs_read(d, req, &q); break;
	case MFW_EFS_WRITE: r = efs_write(d, req, &q); break;
	case MFW_EFS_CLOSE: r = efs_handle(d, req, &q, false); break;
	case MFW_EFS_STAT: r = efs_stat(d, req, &q); break;
	case MFW_EFS_OPENDIR: r = efs_opendir(d, req, &q); break;
	case MFW_EFS_READDIR: r = efs_readdir(d, req, &q); break;
	case MFW_EFS_CLOSEDIR: r = efs_handle(d, req, &q, true); break;
	case MFW_EFS_MKDIR:
	case MFW_EFS_UNLINK:
	case MFW_EFS_RMDIR: r = efs_path_op(d, req, &q, cmd); break;
	default:
		/* QUERY, RENAME, PUT/GET, factory image, ...: this firmware does not have them */
		r = error_rsp(d, MFW_DIAG_BAD_CMD, req, len);
		break;
	}
	pthread_mutex_unlock(&d->nm->lock);
	return r;
}

/* ---- dispatch ---- */

/* Handle one request; *switch_edl is set when the module must reboot into EDL after answering. */
static size_t handle(struct emu_diag *d, const uint8_t *req, size_t len, bool *switch_edl)
{
	switch (req[0]) {
	case MFW_DIAG_VERNO:
		return verno(d);
	case MFW_DIAG_NV_READ:
	case MFW_DIAG_NV_WRITE:
		return nv_cmd(d, req, len, false);
	case MFW_DIAG_SPC:
		if (len < 1 + MFW_DIAG_SPC_LEN)
			return error_rsp(d, MFW_DIAG_BAD_LEN, req, len);
		/* the default code; a wrong one is refused (no lock-out timer modelled) */
		d->spc_ok = !memcmp(req + 1, "000000", MFW_DIAG_SPC_LEN);
		d->rsp[0] = MFW_DIAG_SPC;
		d->rsp[1] = d->spc_ok;
		return 2;
	case MFW_DIAG_PASSWORD: {
		static const uint8_t def[MFW_DIAG_PASSWORD_LEN] = {
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
		};
		if (len < 1 + MFW_DIAG_PASSWORD_LEN)
			return error_rsp(d, MFW_DIAG_BAD_LEN, req, len);
		d->password_ok = !memcmp(req + 1, def, sizeof(def));
		d->rsp[0] = MFW_DIAG_PASSWORD;
		d->rsp[1] = d->password_ok;
		return 2;
	}
	case MFW_DIAG_CONTROL:
		if (len < 3)
			return error_rsp(d, MFW_DIAG_BAD_LEN, req, len);
		if (mfw_get_le16(req + 1) > MFW_DIAG_MODE_POWER_OFF)
			return error_rsp(d, MFW_DIAG_BAD_PARM, req, len);
		/* the mode is remembered and echoed; it changes nothing else here */
		d->mode = mfw_get_le16(req + 1);
		memcpy(d->rsp, req, 3);
		return 3;
	case MFW_DIAG_LOOPBACK:
		memcpy(d->rsp, req, len);
		return len;
	case MFW_DIAG_SUBSYS:
		if (len < 4)
			return error_rsp(d, MFW_DIAG_BAD_LEN, req, len);
		if (req[1] == MFW_DIAG_SS_SYSOPS && mfw_get_le16(req + 2) == MFW_DIAG_SYSOPS_EDL) {
			memcpy(d->rsp, req, 4);
			*switch_edl = true;
			return 4;
		}
		if (req[1] == MFW_DIAG_SS_NV && (mfw_get_le16(req + 2) == MFW_DIAG_NV_EXT_READ ||
						 mfw_get_le16(req + 2) == MFW_DIAG_NV_EXT_WRITE))
			return nv_cmd(d, req, len, true);
		if (req[1] == MFW_DIAG_SS_FS || req[1] == MFW_DIAG_SS_FS_ALT)
			return efs_cmd(d, req, len);
		return error_rsp(d, MFW_DIAG_BAD_CMD, req, len);
	default:
		return error_rsp(d, MFW_DIAG_BAD_CMD, req, len);
	}
}

int emu_diag_session(struct emu_diag *d, struct mfw_transport *t)
{
	uint8_t buf[4096];

	/* a half frame of the last host is not this host's first request */
	mfw_hdlc_deframer_reset(d->df);
	for (;;) {
		int n = emu_port_read(d->nm, t, buf, sizeof(buf), MFW_DEADLINE_NONE);
		size_t off = 0;

		if (n < 0)
			return n;
		while (off < (size_t)n) {
			const uint8_t *frame;
			size_t used, flen, rlen;
			bool sw = false;
			int r = mfw_hdlc_feed(d->df, buf + off, (size_t)n - off, &used, &frame, &flen);

			off += used;
			if (r != 1 || !flen)
				continue;
			rlen = handle(d, frame, flen, &sw);
			r = respond(d, t, rlen);
			if (r < 0)
				return r;
			if (sw) {
				mfw_dbg(d->nm->emu->ctx, "diag: switch to EDL requested: rebooting");
				return 1;
			}
		}
	}
}
