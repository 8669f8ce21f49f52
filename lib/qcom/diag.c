/* SPDX-License-Identifier: BSD-3-Clause */
#include "qcom/diag.h"
#include "proto/diag.h"
#include "proto/hdlc.h"
#include "util/bytes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mfw_diag {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	int timeout_ms;
	uint8_t efs_ss;            /* subsystem that answered HELLO; 0 = no HELLO yet */
	uint64_t unsolicited;
	uint64_t unmatched;
	size_t rx_pos, rx_len;     /* bytes read from the port, not yet fed to the deframer */
	uint8_t rx[4096];
	uint8_t req[MFW_HDLC_MAX_REQUEST];
	uint8_t tx[2 * (MFW_HDLC_MAX_REQUEST + MFW_HDLC_CRC_LEN) + 2];
	uint8_t rsp[MFW_HDLC_MAX_FRAME];
	size_t rsp_len;
	struct mfw_hdlc_deframer dfr;
};

int mfw_diag_open(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_diag **ret)
{
	struct mfw_diag *d;

	if (!t || !ret)
		return mfw_fail(ctx, MFW_E_INVAL, "diag session needs an open port");
	d = calloc(1, sizeof(*d));
	if (!d)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for a diag session");
	d->ctx = ctx;
	d->t = t;
	d->timeout_ms = MFW_DIAG_RSP_TIMEOUT_MS;
	mfw_hdlc_deframer_init(&d->dfr, MFW_HDLC_MAX_FRAME);
	*ret = d;
	return 0;
}

void mfw_diag_close(struct mfw_diag *d)
{
	free(d);
}

void mfw_diag_set_timeout(struct mfw_diag *d, int ms)
{
	d->timeout_ms = ms > 0 ? ms : MFW_DIAG_RSP_TIMEOUT_MS;
}

void mfw_diag_stats(const struct mfw_diag *d, uint64_t *unsolicited, uint64_t *unmatched,
		    uint64_t *crc_errors)
{
	if (unsolicited)
		*unsolicited = d->unsolicited;
	if (unmatched)
		*unmatched = d->unmatched;
	if (crc_errors)
		*crc_errors = d->dfr.crc_errors;
}

uint8_t mfw_diag_efs_subsys(const struct mfw_diag *d)
{
	return d->efs_ss;
}

/* Next whole frame before the deadline: 0 with d->rsp filled, or a negative error (no detail). */
static int next_frame(struct mfw_diag *d, mfw_deadline_t deadline)
{
	for (;;) {
		const uint8_t *f;
		size_t fl, used;
		int r;

		if (d->rx_pos < d->rx_len) {
			r = mfw_hdlc_feed(&d->dfr, d->rx + d->rx_pos, d->rx_len - d->rx_pos, &used, &f,
					  &fl);
			d->rx_pos += used;
			if (r == 1) {
				memcpy(d->rsp, f, fl);
				d->rsp_len = fl;
				return 0;
			}
			continue;
		}
		if (mfw_cancelled(d->ctx))
			return MFW_E_CANCELLED;
		r = mfw_transport_read(d->t, d->rx, sizeof(d->rx), deadline);
		if (r < 0)
			return r;
		d->rx_pos = 0;
		d->rx_len = (size_t)r;
	}
}

int mfw_diag_request(struct mfw_diag *d, const char *what, const uint8_t *req, size_t req_len,
		     size_t echo, const uint8_t **rsp, size_t *rsp_len)
{
	mfw_deadline_t deadline;
	size_t written = 0;
	unsigned skipped = 0;
	int n, r;

	if (echo > req_len)
		echo = req_len;
	if (req_len == 0 || req_len > MFW_HDLC_MAX_REQUEST)
		return mfw_fail(d->ctx, MFW_E_INVAL, "%s: request of %zu bytes is out of range", what,
				req_len);
	/* a leading flag makes the target drop half-received text (an AT command, a stale frame) */
	n = mfw_hdlc_encode(req, req_len, true, d->tx, sizeof(d->tx));
	if (n < 0)
		return mfw_fail(d->ctx, n, "%s: cannot frame the request", what);
	mfw_trace(d->ctx, "diag: sending %s (%zu bytes)", what, req_len);
	r = mfw_transport_write(d->t, d->tx, (size_t)n, mfw_deadline_in(MFW_DIAG_WRITE_TIMEOUT_MS),
				&written);
	if (r == MFW_E_NODEV)
		return mfw_fail(d->ctx, r, "%s: '%s' went away while sending", what, d->t->name);
	if (r < 0)
		return mfw_fail(d->ctx, r, "%s: sending to '%s' stopped after %zu of %d bytes", what,
				d->t->name, written, n);

	deadline = mfw_deadline_in(d->timeout_ms);
	for (;;) {
		enum mfw_diag_match m;

		r = next_frame(d, deadline);
		if (r == MFW_E_TIMEOUT)
			return mfw_fail(d->ctx, r,
					"no answer to %s from '%s' within %d ms (%u other packets "
					"skipped, %" PRIu64 " frames with bad CRC dropped)",
					what, d->t->name, d->timeout_ms, skipped, d->dfr.crc_errors);
		if (r == MFW_E_NODEV)
			return mfw_fail(d->ctx, r, "%s: '%s' went away while waiting for the answer",
					what, d->t->name);
		if (r == MFW_E_CANCELLED)
			return mfw_fail(d->ctx, r, "%s: cancelled", what);
		if (r < 0)
			return mfw_fail(d->ctx, r, "%s: reading from '%s' failed", what, d->t->name);

		m = mfw_diag_match(req, req_len, d->rsp, d->rsp_len);
		if (m == MFW_DIAG_MATCH_RSP &&
		    (d->rsp_len < echo || memcmp(d->rsp, req, echo)))
			m = MFW_DIAG_MATCH_NONE; /* a stale answer to an earlier request */
		switch (m) {
		case MFW_DIAG_MATCH_RSP:
			*rsp = d->rsp;
			*rsp_len = d->rsp_len;
			return 0;
		case MFW_DIAG_MATCH_ERROR:
			return mfw_fail(d->ctx, mfw_diag_error_err(d->rsp[0]),
					"%s refused by the device: %s (0x%02x)", what,
					mfw_diag_cmd_name(d->rsp[0]), d->rsp[0]);
		case MFW_DIAG_MATCH_UNSOLICITED:
			d->unsolicited++;
			break;
		default:
			d->unmatched++;
			mfw_trace(d->ctx, "diag: skipped a %zu-byte %s packet while waiting for %s",
				  d->rsp_len, mfw_diag_cmd_name(d->rsp[0]), what);
			break;
		}
		if (++skipped > MFW_DIAG_MAX_SKIPPED)
			return mfw_fail(d->ctx, MFW_E_PROTO,
					"%s: more than %d unrelated packets and no answer; is another "
					"program using '%s'?",
					what, MFW_DIAG_MAX_SKIPPED, d->t->name);
	}
}

/* ---- simple commands ---- */

int mfw_diag_version(struct mfw_diag *d, struct mfw_diag_version *out)
{
	const uint8_t *rsp;
	size_t len;
	int n = mfw_diag_build_verno(d->req, sizeof(d->req)), r;

	r = mfw_diag_request(d, "VERNO (version info)", d->req, (size_t)n, 1, &rsp, &len);
	if (r < 0)
		return r;
	r = mfw_diag_parse_verno(rsp, len, out);
	if (r < 0)
		return mfw_fail(d->ctx, r, "malformed VERNO answer (%zu bytes)", len);
	return 0;
}

static int nv_status(struct mfw_diag *d, const char *op, const struct mfw_nv_record *rec,
		     int index, uint16_t *status)
{
	int err = mfw_nv_status_err(rec->status);

	if (status)
		*status = rec->status;
	if (!err)
		return 0;
	if (index >= 0)
		return mfw_fail(d->ctx, err, "%s of NV item %u index %d: %s (status %u)", op,
				rec->item, index, mfw_nv_status_name(rec->status), rec->status);
	return mfw_fail(d->ctx, err, "%s of NV item %u: %s (status %u)", op, rec->item,
			mfw_nv_status_name(rec->status), rec->status);
}

static int nv_op(struct mfw_diag *d, bool write, uint16_t item, int index, const uint8_t *data,
		 size_t len, struct mfw_nv_record *rec, uint16_t *status)
{
	const char *op = write ? "NV_WRITE" : "NV_READ";
	const uint8_t *rsp;
	size_t rlen;
	char what[64];
	int n, r;

	if (status)
		*status = 0xFFFF;
	if (len > MFW_NV_DATA_LEN)
		return mfw_fail(d->ctx, MFW_E_INVAL, "%s of NV item %u: %zu bytes is more than 128",
				op, item, len);
	if (index > 0xFFFF)
		return mfw_fail(d->ctx, MFW_E_INVAL, "NV index %d out of range", index);
	if (index < 0) {
		uint8_t cmd = write ? MFW_DIAG_NV_WRITE : MFW_DIAG_NV_READ;
		snprintf(what, sizeof(what), "%s of item %u", op, item);
		n = mfw_diag_build_nv(cmd, item, data, len, d->req, sizeof(d->req));
		/* command and item id must come back: a late answer for another item is skipped */
		r = n < 0 ? n : mfw_diag_request(d, what, d->req, (size_t)n, 3, &rsp, &rlen);
		if (r < 0)
			return r;
		r = mfw_diag_parse_nv(cmd, rsp, rlen, rec);
	} else {
		uint8_t opc = write ? MFW_DIAG_NV_EXT_WRITE : MFW_DIAG_NV_EXT_READ;
		snprintf(what, sizeof(what), "%s_EXT of item %u index %d", op, item, index);
		n = mfw_diag_build_nv_ext(opc, item, (uint16_t)index, data, len, d->req,
					  sizeof(d->req));
		r = n < 0 ? n : mfw_diag_request(d, what, d->req, (size_t)n, 8, &rsp, &rlen);
		if (r < 0)
			return r;
		r = mfw_diag_parse_nv_ext(opc, rsp, rlen, rec);
	}
	if (r < 0)
		return mfw_fail(d->ctx, r, "%s: malformed answer (%zu bytes)", what, rlen);
	return nv_status(d, op, rec, index, status);
}

int mfw_diag_nv_read(struct mfw_diag *d, uint16_t item, int index, uint8_t data[MFW_NV_DATA_LEN],
		     uint16_t *status)
{
	struct mfw_nv_record rec;
	int r = nv_op(d, false, item, index, NULL, 0, &rec, status);

	/* inactive items still answer with data (zeros); hand it over either way */
	if (r >= 0 || r == MFW_E_NOENT)
		memcpy(data, rec.data, MFW_NV_DATA_LEN);
	return r;
}

int mfw_diag_nv_write(struct mfw_diag *d, uint16_t item, int index, const uint8_t *data,
		      size_t len, uint16_t *status)
{
	struct mfw_nv_record rec;
	return nv_op(d, true, item, index, data, len, &rec, status);
}

int mfw_diag_read_imei(struct mfw_diag *d, int index, char imei[MFW_IMEI_DIGITS + 1])
{
	uint8_t data[MFW_NV_DATA_LEN];
	const char *why;
	int r;

	imei[0] = 0;
	r = mfw_diag_nv_read(d, MFW_NV_ITEM_IMEI, index, data, NULL);
	if (r < 0)
		return r;
	if (mfw_imei_decode(data, sizeof(data), imei) < 0)
		return mfw_fail(d->ctx, MFW_E_FORMAT,
				"NV item 550 does not hold an IMEI (first bytes %02x %02x %02x)",
				data[0], data[1], data[2]);
	r = mfw_imei_check(imei, &why);
	if (r < 0)
		return mfw_fail(d->ctx, r, "IMEI %s in NV item 550 is not valid: %s", imei, why);
	return 0;
}

static int ack_cmd(struct mfw_diag *d, const char *what, int n)
{
	const uint8_t *rsp;
	size_t len;
	int r;

	if (n < 0)
		return mfw_fail(d->ctx, n, "%s: bad argument", what);
	r = mfw_diag_request(d, what, d->req, (size_t)n, 1, &rsp, &len);
	if (r < 0)
		return r;
	r = mfw_diag_parse_ack(d->req[0], rsp, len);
	if (r < 0)
		return mfw_fail(d->ctx, r, "%s: malformed answer (%zu bytes)", what, len);
	if (r == 0)
		return mfw_fail(d->ctx, MFW_E_NAK, "%s rejected by the device", what);
	return 0;
}

int mfw_diag_spc(struct mfw_diag *d, const char *code)
{
	/* never retried: repeated wrong codes can lock the unit out (reference §3) */
	return ack_cmd(d, "SPC", mfw_diag_build_spc(code, d->req, sizeof(d->req)));
}

int mfw_diag_password(struct mfw_diag *d, const uint8_t pw[8])
{
	return ack_cmd(d, "security password", mfw_diag_build_password(pw, d->req, sizeof(d->req)));
}

int mfw_diag_control(struct mfw_diag *d, uint16_t mode)
{
	const uint8_t *rsp;
	size_t len;
	char what[32];
	int n = mfw_diag_build_control(mode, d->req, sizeof(d->req));

	if (n < 0)
		return mfw_fail(d->ctx, n, "CONTROL mode %u is not a mode", mode);
	snprintf(what, sizeof(what), "CONTROL mode %u", mode);
	return mfw_diag_request(d, what, d->req, (size_t)n, 1, &rsp, &len);
}

int mfw_diag_switch_to_edl(struct mfw_diag *d)
{
	int saved = d->timeout_ms, r = MFW_E_TIMEOUT;
	int n = mfw_diag_build_edl(d->req, sizeof(d->req));

	d->timeout_ms = MFW_DIAG_EDL_WAIT_MS;
	for (int attempt = 1; attempt <= MFW_DIAG_EDL_ATTEMPTS; attempt++) {
		const uint8_t *rsp;
		size_t len;

		mfw_ctx_clear_detail(d->ctx);
		r = mfw_diag_request(d, "switch to EDL (4B 65 01 00)", d->req, (size_t)n, 4, &rsp,
				     &len);
		/* an echo means it accepted; a vanished port means it is already rebooting */
		if (r == 0 || r == MFW_E_NODEV) {
			mfw_dbg(d->ctx, "diag: switch to EDL %s after %d attempt(s)",
				r ? "took the port away" : "acknowledged", attempt);
			r = 0;
			break;
		}
		if (r != MFW_E_TIMEOUT)
			break; /* refused (error packet) or broken port: retrying will not help */
	}
	d->timeout_ms = saved;
	if (r == MFW_E_TIMEOUT)
		return mfw_fail(d->ctx, r,
				"switch to EDL: no echo and the port stayed after %d attempts of %d ms",
				MFW_DIAG_EDL_ATTEMPTS, MFW_DIAG_EDL_WAIT_MS);
	return r;
}

/* ---- EFS2 ---- */

static int efs_request(struct mfw_diag *d, uint16_t cmd, const char *what, int n,
		       struct mfw_efs_rsp *out)
{
	const uint8_t *rsp;
	size_t len;
	int r;

	if (n < 0)
		return mfw_fail(d->ctx, n, "EFS %s %s: bad argument (path empty or too long?)",
				mfw_efs_cmd_name(cmd), what);
	r = mfw_diag_request(d, what, d->req, (size_t)n, MFW_EFS_HDR_LEN, &rsp, &len);
	if (r < 0)
		return r;
	r = mfw_efs_parse(d->efs_ss, cmd, rsp, len, out);
	if (r < 0)
		return mfw_fail(d->ctx, r, "%s: malformed answer (%zu bytes)", what, len);
	if (out->err)
		return mfw_fail(d->ctx, mfw_efs_errno_err(out->err), "%s failed: %s (errno %" PRId32 ")",
				what, mfw_efs_errno_name(out->err), out->err);
	return 0;
}

int mfw_diag_efs_hello(struct mfw_diag *d)
{
	/* qfenix and edl try FS_ALTERNATE (0x3E) first, then the classic FS (0x13) */
	static const uint8_t subsys[] = { MFW_DIAG_SS_FS_ALT, MFW_DIAG_SS_FS };
	int r = MFW_E_UNSUPPORTED;

	for (size_t i = 0; i < MFW_ARRAY_SIZE(subsys); i++) {
		struct mfw_efs_rsp rsp;
		char what[48];

		d->efs_ss = subsys[i];
		snprintf(what, sizeof(what), "EFS HELLO on subsystem 0x%02x", subsys[i]);
		r = efs_request(d, MFW_EFS_HELLO, what,
				mfw_efs_build_hello(subsys[i], d->req, sizeof(d->req)), &rsp);
		if (r == 0) {
			mfw_dbg(d->ctx, "diag: EFS2 on subsystem 0x%02x, version %u", subsys[i],
				rsp.u.hello.version);
			return 0;
		}
		if (r == MFW_E_NODEV || r == MFW_E_CANCELLED)
			break;
	}
	d->efs_ss = 0;
	return r;
}

static int efs_ready(struct mfw_diag *d)
{
	return d->efs_ss ? 0 : mfw_diag_efs_hello(d);
}

int mfw_diag_efs_open(struct mfw_diag *d, const char *path, int32_t oflag, int32_t mode,
		      int32_t *fd)
{
	struct mfw_efs_rsp rsp;
	char what[MFW_EFS_PATH_MAX + 32];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "EFS open of '%s'", path ? path : "");
	r = efs_request(d, MFW_EFS_OPEN, what,
			mfw_efs_build_open(d->efs_ss, path, oflag, mode, d->req, sizeof(d->req)),
			&rsp);
	if (r < 0)
		return r;
	if (rsp.u.open.fd < 0)
		return mfw_fail(d->ctx, MFW_E_PROTO, "%s: negative fd %" PRId32 " without errno", what,
				rsp.u.open.fd);
	*fd = rsp.u.open.fd;
	return 0;
}

int mfw_diag_efs_read(struct mfw_diag *d, int32_t fd, uint32_t offset, void *buf, size_t n)
{
	struct mfw_efs_rsp rsp;
	char what[64];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	if (n > MFW_HDLC_MAX_FRAME / 2)
		n = MFW_HDLC_MAX_FRAME / 2;
	snprintf(what, sizeof(what), "EFS read of fd %" PRId32 " at %" PRIu32, fd, offset);
	r = efs_request(d, MFW_EFS_READ, what,
			mfw_efs_build_read(d->efs_ss, fd, (uint32_t)n, offset, d->req,
					   sizeof(d->req)),
			&rsp);
	if (r < 0)
		return r;
	if ((size_t)rsp.u.read.bytes > n || rsp.u.read.offset != offset)
		return mfw_fail(d->ctx, MFW_E_PROTO,
				"%s: device sent %" PRId32 " bytes at %" PRIu32 " for %zu at %" PRIu32,
				what, rsp.u.read.bytes, rsp.u.read.offset, n, offset);
	memcpy(buf, rsp.u.read.data, (size_t)rsp.u.read.bytes);
	return rsp.u.read.bytes;
}

int mfw_diag_efs_write(struct mfw_diag *d, int32_t fd, uint32_t offset, const void *buf, size_t n)
{
	struct mfw_efs_rsp rsp;
	char what[64];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "EFS write of fd %" PRId32 " at %" PRIu32, fd, offset);
	r = efs_request(d, MFW_EFS_WRITE, what,
			mfw_efs_build_write(d->efs_ss, fd, offset, buf, n, d->req, sizeof(d->req)),
			&rsp);
	if (r < 0)
		return r;
	if (rsp.u.write.bytes < 0 || (size_t)rsp.u.write.bytes > n)
		return mfw_fail(d->ctx, MFW_E_PROTO, "%s: device claims %" PRId32 " of %zu bytes", what,
				rsp.u.write.bytes, n);
	return rsp.u.write.bytes;
}

static int handle_cmd(struct mfw_diag *d, uint16_t cmd, uint32_t h, const char *what)
{
	struct mfw_efs_rsp rsp;
	int r = efs_ready(d);

	if (r < 0)
		return r;
	return efs_request(d, cmd, what,
			   mfw_efs_build_handle(d->efs_ss, cmd, h, d->req, sizeof(d->req)), &rsp);
}

int mfw_diag_efs_close(struct mfw_diag *d, int32_t fd)
{
	return handle_cmd(d, MFW_EFS_CLOSE, (uint32_t)fd, "EFS close");
}

int mfw_diag_efs_closedir(struct mfw_diag *d, uint32_t dirp)
{
	return handle_cmd(d, MFW_EFS_CLOSEDIR, dirp, "EFS closedir");
}

static int path_cmd(struct mfw_diag *d, uint16_t cmd, const char *verb, const char *path,
		    struct mfw_efs_rsp *rsp)
{
	char what[MFW_EFS_PATH_MAX + 32];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "EFS %s of '%s'", verb, path ? path : "");
	return efs_request(d, cmd, what,
			   mfw_efs_build_path(d->efs_ss, cmd, path, d->req, sizeof(d->req)), rsp);
}

int mfw_diag_efs_stat(struct mfw_diag *d, const char *path, struct mfw_efs_stat *st)
{
	struct mfw_efs_rsp rsp;
	int r = path_cmd(d, MFW_EFS_STAT, "stat", path, &rsp);

	if (r < 0)
		return r;
	*st = rsp.u.stat;
	return 0;
}

int mfw_diag_efs_opendir(struct mfw_diag *d, const char *path, uint32_t *dirp)
{
	struct mfw_efs_rsp rsp;
	int r = path_cmd(d, MFW_EFS_OPENDIR, "opendir", path, &rsp);

	if (r < 0)
		return r;
	*dirp = rsp.u.opendir.dirp;
	return 0;
}

int mfw_diag_efs_unlink(struct mfw_diag *d, const char *path)
{
	struct mfw_efs_rsp rsp;
	return path_cmd(d, MFW_EFS_UNLINK, "unlink", path, &rsp);
}

int mfw_diag_efs_rmdir(struct mfw_diag *d, const char *path)
{
	struct mfw_efs_rsp rsp;
	return path_cmd(d, MFW_EFS_RMDIR, "rmdir", path, &rsp);
}

int mfw_diag_efs_mkdir(struct mfw_diag *d, const char *path, uint16_t mode)
{
	struct mfw_efs_rsp rsp;
	char what[MFW_EFS_PATH_MAX + 32];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "EFS mkdir of '%s'", path ? path : "");
	return efs_request(d, MFW_EFS_MKDIR, what,
			   mfw_efs_build_mkdir(d->efs_ss, mode, path, d->req, sizeof(d->req)), &rsp);
}

int mfw_diag_efs_readdir(struct mfw_diag *d, uint32_t dirp, int32_t seq,
			 struct mfw_efs_dirent *ent)
{
	struct mfw_efs_rsp rsp;
	char what[64];
	int r = efs_ready(d);

	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "EFS readdir #%" PRId32, seq);
	r = efs_request(d, MFW_EFS_READDIR, what,
			mfw_efs_build_readdir(d->efs_ss, dirp, seq, d->req, sizeof(d->req)), &rsp);
	if (r == MFW_E_NOENT) {
		/* some targets end a listing with "dirent not found" instead of an empty name */
		mfw_ctx_clear_detail(d->ctx);
		return 0;
	}
	if (r < 0)
		return r;
	if (!rsp.u.readdir.ent.name[0])
		return 0;
	*ent = rsp.u.readdir.ent;
	return 1;
}

int mfw_diag_efs_get(struct mfw_diag *d, const char *path, size_t max, uint8_t **data,
		     size_t *len)
{
	uint8_t *buf = NULL;
	size_t have = 0, cap = 0;
	int32_t fd;
	int r, rc;

	*data = NULL;
	*len = 0;
	if (max == 0)
		max = MFW_DIAG_EFS_GET_DEFAULT_MAX;
	r = mfw_diag_efs_open(d, path, MFW_EFS_O_RDONLY, 0, &fd);
	if (r < 0)
		return r;
	for (;;) {
		if (have + MFW_EFS_CHUNK > cap) {
			size_t ncap = cap ? cap * 2 : 4 * MFW_EFS_CHUNK;
			uint8_t *nb;
			if (ncap > max + MFW_EFS_CHUNK)
				ncap = max + MFW_EFS_CHUNK;
			nb = realloc(buf, ncap);
			if (!nb) {
				r = mfw_fail(d->ctx, MFW_E_NOMEM, "out of memory reading '%s'", path);
				goto close_fd;
			}
			buf = nb;
			cap = ncap;
		}
		r = mfw_diag_efs_read(d, fd, (uint32_t)have, buf + have, MFW_EFS_CHUNK);
		if (r < 0)
			goto close_fd;
		have += (size_t)r;
		if (have > max) {
			r = mfw_fail(d->ctx, MFW_E_RANGE, "EFS file '%s' is larger than %zu bytes",
				     path, max);
			goto close_fd;
		}
		if (r < (int)MFW_EFS_CHUNK)
			break; /* a short read is the end of the file */
	}
	r = 0;
close_fd:
	rc = mfw_diag_efs_close(d, fd);
	if (r == 0 && rc < 0)
		r = rc;
	if (r < 0) {
		free(buf);
		return r;
	}
	*data = buf;
	*len = have;
	return 0;
}

int mfw_diag_efs_put(struct mfw_diag *d, const char *path, const void *data, size_t len,
		     uint32_t mode)
{
	const uint8_t *p = data;
	size_t off = 0;
	int32_t fd;
	int r, rc;

	if (len > UINT32_MAX)
		return mfw_fail(d->ctx, MFW_E_RANGE, "'%s' is too large for EFS2", path);
	mode &= 07777;
	r = mfw_diag_efs_open(d, path, MFW_EFS_O_WRONLY | MFW_EFS_O_CREAT | MFW_EFS_O_TRUNC,
			      (int32_t)(mode ? mode : 0644), &fd);
	if (r < 0)
		return r;
	while (off < len) {
		size_t n = len - off < MFW_EFS_CHUNK ? len - off : MFW_EFS_CHUNK;

		r = mfw_diag_efs_write(d, fd, (uint32_t)off, p + off, n);
		if (r < 0)
			goto close_fd;
		if (r == 0) {
			r = mfw_fail(d->ctx, MFW_E_NOSPC,
				     "EFS write of '%s' at %zu: device wrote nothing (full?)", path, off);
			goto close_fd;
		}
		off += (size_t)r;
	}
	r = 0;
close_fd:
	rc = mfw_diag_efs_close(d, fd);
	if (r == 0 && rc < 0)
		r = rc;
	return r;
}

/* ---- walk ---- */

struct walk {
	struct mfw_diag *d;
	unsigned max_depth, max_entries, entries;
	mfw_efs_walk_fn fn;
	void *user;
};

static bool is_dir(const struct mfw_efs_dirent *e)
{
	if (e->mode)
		return (e->mode & MFW_EFS_S_IFMT) == MFW_EFS_S_IFDIR;
	return e->type == 1; /* no mode: the entry type says directory */
}

/* List one directory fully, then close it before recursing: targets allow few open dirs. */
static int list_dir(struct walk *w, const char *path, struct mfw_efs_dirent **out, size_t *n_out)
{
	struct mfw_efs_dirent *list = NULL, ent;
	size_t n = 0, cap = 0;
	uint32_t dirp;
	int r, rc;

	*out = NULL;
	*n_out = 0;
	r = mfw_diag_efs_opendir(w->d, path, &dirp);
	if (r < 0)
		return r;
	for (int32_t seq = 1;; seq++) {
		if (seq > MFW_DIAG_READDIR_MAX) {
			r = mfw_fail(w->d->ctx, MFW_E_RANGE, "EFS directory '%s' lists more than %d entries",
				     path, MFW_DIAG_READDIR_MAX);
			goto close_dir;
		}
		r = mfw_diag_efs_readdir(w->d, dirp, seq, &ent);
		if (r < 0)
			goto close_dir;
		if (r == 0)
			break;
		if (!strcmp(ent.name, ".") || !strcmp(ent.name, ".."))
			continue;
		if (strchr(ent.name, '/')) {
			mfw_dbg(w->d->ctx, "diag: skipping EFS entry '%s' in '%s' (slash in name)",
				ent.name, path);
			continue;
		}
		if (++w->entries > w->max_entries) {
			r = mfw_fail(w->d->ctx, MFW_E_RANGE, "EFS walk: more than %u entries",
				     w->max_entries);
			goto close_dir;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct mfw_efs_dirent *nl = realloc(list, ncap * sizeof(*nl));
			if (!nl) {
				r = mfw_fail(w->d->ctx, MFW_E_NOMEM, "out of memory listing '%s'", path);
				goto close_dir;
			}
			list = nl;
			cap = ncap;
		}
		list[n++] = ent;
	}
	r = 0;
close_dir:
	rc = mfw_diag_efs_closedir(w->d, dirp);
	if (r == 0 && rc < 0)
		r = rc;
	if (r < 0) {
		free(list);
		return r;
	}
	*out = list;
	*n_out = n;
	return 0;
}

static int walk_dir(struct walk *w, const char *path, unsigned depth)
{
	struct mfw_efs_dirent *list;
	size_t n;
	int r = list_dir(w, path, &list, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n && r == 0; i++) {
		char child[MFW_EFS_PATH_MAX];
		int len = snprintf(child, sizeof(child), "%s%s%s", path,
				   path[strlen(path) - 1] == '/' ? "" : "/", list[i].name);

		if (len < 0 || (size_t)len >= sizeof(child)) {
			mfw_dbg(w->d->ctx, "diag: skipping '%s/%s': path too long", path, list[i].name);
			continue;
		}
		r = w->fn(w->user, child, &list[i]);
		if (r != 0)
			break;
		if (is_dir(&list[i])) {
			if (depth + 1 > w->max_depth) {
				r = mfw_fail(w->d->ctx, MFW_E_RANGE,
					     "EFS walk: '%s' is deeper than %u levels", child,
					     w->max_depth);
				break;
			}
			r = walk_dir(w, child, depth + 1);
		}
	}
	free(list);
	return r;
}

int mfw_diag_efs_walk(struct mfw_diag *d, const char *root, unsigned max_depth,
		      unsigned max_entries, mfw_efs_walk_fn fn, void *user)
{
	struct walk w = { .d = d, .max_depth = max_depth ? max_depth : 16,
			  .max_entries = max_entries ? max_entries : 20000, .fn = fn, .user = user };

	if (!root || root[0] != '/')
		return mfw_fail(d->ctx, MFW_E_INVAL, "EFS walk needs an absolute path");
	return walk_dir(&w, root, 0);
}
