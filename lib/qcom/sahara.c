/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sahara host state machine. The codec is lib/proto/sahara.c; this file
 * owns the waits, the recovery from odd device states, and the messages
 * that tell a user what to do.
 */
#include "qcom/edl.h"
#include "proto/sahara.h"

#include <string.h>

/* Sahara version we announce: 2, compatible 1, as most hosts do (reference §2.6). */
#define HOST_VERSION 2
#define HOST_VERSION_COMPAT 1

void mfw_edl_init(struct mfw_edl *e, struct mfw_ctx *ctx, struct mfw_transport *t)
{
	memset(e, 0, sizeof(*e));
	e->ctx = ctx;
	e->t = t;
}

static bool rx_looks_like_xml(const struct mfw_edl *e)
{
	for (size_t i = 0; i < e->rx_len; i++) {
		if (e->rx[i] == '<')
			return true;
		/* programmers may send whitespace or NULs before their first document */
		if (e->rx[i] != ' ' && e->rx[i] != '\n' && e->rx[i] != '\r' && e->rx[i] != '\t' &&
		    e->rx[i] != 0)
			return false;
	}
	return false;
}

/* Receive more bytes into rx[]. */
static int rx_fill(struct mfw_edl *e, mfw_deadline_t deadline)
{
	int r;
	if (e->rx_len == sizeof(e->rx))
		return mfw_fail(e->ctx, MFW_E_PROTO, "sahara: %zu bytes without a valid packet", e->rx_len);
	r = mfw_transport_read(e->t, e->rx + e->rx_len, sizeof(e->rx) - e->rx_len, deadline);
	if (r < 0)
		return r;
	e->rx_len += (size_t)r;
	return r;
}

static void rx_consume(struct mfw_edl *e, size_t n)
{
	memmove(e->rx, e->rx + n, e->rx_len - n);
	e->rx_len -= n;
}

/*
 * Next Sahara packet before the deadline. MFW_E_TIMEOUT on silence,
 * MFW_E_PROTO on garbage, and 1 (no packet, firehose_running set) when the
 * bytes are XML from a running programmer.
 */
static int recv_packet(struct mfw_edl *e, struct mfw_sahara_pkt *p, mfw_deadline_t deadline)
{
	for (;;) {
		int r;
		if (e->rx_len) {
			if (rx_looks_like_xml(e)) {
				e->firehose_running = true;
				return 1;
			}
			r = mfw_sahara_parse(e->rx, e->rx_len, p);
			if (r > 0) {
				rx_consume(e, (size_t)r);
				mfw_trace(e->ctx, "sahara: <- %s", mfw_sahara_cmd_name(p->cmd));
				return 0;
			}
			if (r < 0)
				return mfw_fail(e->ctx, MFW_E_PROTO,
						"sahara: unexpected bytes from device (first word 0x%08x)",
						e->rx_len >= 4 ? (unsigned)(e->rx[0] | e->rx[1] << 8 |
									   e->rx[2] << 16 |
									   (unsigned)e->rx[3] << 24)
							       : 0u);
		}
		if (mfw_cancelled(e->ctx))
			return mfw_fail(e->ctx, MFW_E_CANCELLED, "sahara: cancelled");
		r = rx_fill(e, deadline);
		if (r < 0)
			return r;
	}
}

static int send_packet(struct mfw_edl *e, const struct mfw_sahara_pkt *p)
{
	uint8_t buf[MFW_SAHARA_MAX_PKT];
	int n = mfw_sahara_build(p, buf, sizeof(buf));
	int r;
	if (n < 0)
		return mfw_fail(e->ctx, n, "sahara: cannot encode %s", mfw_sahara_cmd_name(p->cmd));
	mfw_trace(e->ctx, "sahara: -> %s", mfw_sahara_cmd_name(p->cmd));
	r = mfw_transport_write(e->t, buf, (size_t)n, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_WRITE_TIMEOUT_MS)), NULL);
	if (r < 0)
		return mfw_fail_keep(e->ctx, r, "sahara: sending %s failed: %s",
				     mfw_sahara_cmd_name(p->cmd), mfw_strerror(r));
	return 0;
}

static int send_hello_resp(struct mfw_edl *e, uint32_t mode)
{
	struct mfw_sahara_pkt p = { .cmd = MFW_SAHARA_HELLO_RESP };
	p.u.hello.version = HOST_VERSION;
	p.u.hello.version_compat = HOST_VERSION_COMPAT;
	p.u.hello.max_len_or_status = 0; /* status: success */
	p.u.hello.mode = mode;
	e->hello_pending = false;
	return send_packet(e, &p);
}

static int past_hello_advice(struct mfw_edl *e, int err)
{
	return mfw_fail(e->ctx, err,
			"device in EDL does not answer Sahara (no HELLO, no reply to HELLO_RESP, no "
			"Firehose): it is probably past HELLO from an earlier session. Power-cycle the "
			"module (or unplug and replug it) and try again; on EC25-class modules a host "
			"suspend/resume with USB_BOOT held has also helped");
}

int mfw_edl_connect(struct mfw_edl *e)
{
	struct mfw_sahara_pkt p;
	int r;

	e->firehose_running = false;
	e->hello_pending = false;
	r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_HELLO_TIMEOUT_MS)));
	if (r == 1) {
		mfw_dbg(e->ctx, "edl: a Firehose programmer is already running");
		return 0;
	}
	if (r == 0 && p.cmd == MFW_SAHARA_HELLO) {
		e->hello_pending = true;
		e->device_version = p.u.hello.version;
		mfw_dbg(e->ctx, "sahara: HELLO version %u (compatible %u), mode %u",
			p.u.hello.version, p.u.hello.version_compat, p.u.hello.mode);
		return 0;
	}
	if (r < 0 && r != MFW_E_TIMEOUT && r != MFW_E_PROTO)
		return r;
	/*
	 * Silence, a stray packet or garbage: the device is past HELLO (an
	 * earlier host consumed it). Newer qdl answers with an unsolicited
	 * HELLO_RESP; a waiting PBL then continues with READ_DATA, and a running
	 * programmer answers the binary with XML. Either reply tells us which.
	 */
	mfw_dbg(e->ctx, "sahara: no HELLO (%s); sending an unsolicited HELLO_RESP",
		r == 0 ? mfw_sahara_cmd_name(p.cmd) : mfw_strerror(r));
	e->rx_len = 0;
	mfw_ctx_clear_detail(e->ctx);
	r = send_hello_resp(e, MFW_SAHARA_MODE_IMAGE_TX_PENDING);
	if (r < 0)
		return r;
	r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_RESYNC_TIMEOUT_MS)));
	if (r == 1)
		return 0;
	if (r == 0 && (p.cmd == MFW_SAHARA_READ_DATA || p.cmd == MFW_SAHARA_READ_DATA_64)) {
		/* keep the request for the loader: put it back in front */
		uint8_t buf[MFW_SAHARA_MAX_PKT];
		int n = mfw_sahara_build(&p, buf, sizeof(buf));
		if (n > 0 && (size_t)n + e->rx_len <= sizeof(e->rx)) {
			memmove(e->rx + n, e->rx, e->rx_len);
			memcpy(e->rx, buf, (size_t)n);
			e->rx_len += (size_t)n;
		}
		return 0;
	}
	if (r == 0 && p.cmd == MFW_SAHARA_HELLO) {
		e->hello_pending = true;
		e->device_version = p.u.hello.version;
		return 0;
	}
	if (r == MFW_E_TIMEOUT) {
		/*
		 * Still silent: a running programmer may be waiting for a complete
		 * XML document and ignore binary. A <nop/> gets it talking; a PBL
		 * ignores it like any other junk.
		 */
		static const char nop[] = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data><nop /></data>";
		mfw_ctx_clear_detail(e->ctx);
		mfw_dbg(e->ctx, "sahara: no answer to HELLO_RESP; probing for a running programmer");
		r = mfw_transport_write(e->t, nop, sizeof(nop) - 1,
					mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_WRITE_TIMEOUT_MS)), NULL);
		if (r == 0)
			r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_RESYNC_TIMEOUT_MS)));
		if (r == 1)
			return 0;
	}
	return past_hello_advice(e, r < 0 ? r : MFW_E_PROTO);
}

static int read_exec(struct mfw_edl *e, uint32_t client_cmd, uint8_t *out, size_t cap, size_t *got)
{
	struct mfw_sahara_pkt p = { .cmd = MFW_SAHARA_EXECUTE };
	int r;

	p.u.exec.client_cmd = client_cmd;
	r = send_packet(e, &p);
	if (r < 0)
		return r;
	r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
	if (r != 0)
		return r < 0 ? r : MFW_E_PROTO;
	if (p.cmd == MFW_SAHARA_END_OF_IMAGE)
		return MFW_E_UNSUPPORTED; /* v3 devices refuse some commands this way */
	if (p.cmd != MFW_SAHARA_EXECUTE_RESP || p.u.exec_resp.client_cmd != client_cmd)
		return mfw_fail(e->ctx, MFW_E_PROTO, "sahara: expected EXECUTE_RESP, got %s",
				mfw_sahara_cmd_name(p.cmd));
	if (p.u.exec_resp.data_len > 4096)
		return mfw_fail(e->ctx, MFW_E_PROTO, "sahara: command 0x%x answers %u bytes",
				client_cmd, p.u.exec_resp.data_len);
	p.cmd = MFW_SAHARA_EXECUTE_DATA;
	p.u.exec.client_cmd = client_cmd;
	r = send_packet(e, &p);
	if (r < 0)
		return r;
	{
		uint32_t n = p.u.exec_resp.data_len;
		uint8_t tmp[4096];
		size_t have = e->rx_len < n ? e->rx_len : n;
		memcpy(tmp, e->rx, have);
		rx_consume(e, have);
		if (have < n) {
			r = mfw_transport_read_full(e->t, tmp + have, n - have,
						    mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
			if (r < 0)
				return r;
		}
		*got = n < cap ? n : cap;
		memcpy(out, tmp, *got);
	}
	return 0;
}

int mfw_edl_identify(struct mfw_edl *e, struct mfw_edl_identity *id)
{
	struct mfw_sahara_pkt p;
	uint8_t buf[4096];
	size_t got;
	int r;

	memset(id, 0, sizeof(*id));
	if (e->firehose_running)
		return mfw_fail(e->ctx, MFW_E_UNSUPPORTED,
				"a Firehose programmer is already running: Sahara identity is only "
				"readable before the programmer starts (power-cycle the module)");
	if (!e->hello_pending)
		return mfw_fail(e->ctx, MFW_E_PROTO,
				"sahara: device is past HELLO; identity needs a fresh HELLO "
				"(power-cycle the module)");
	id->sahara_version = e->device_version;
	r = send_hello_resp(e, MFW_SAHARA_MODE_COMMAND);
	if (r < 0)
		return r;
	r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
	if (r != 0 || p.cmd != MFW_SAHARA_CMD_READY)
		return mfw_fail_keep(e->ctx, r < 0 ? r : MFW_E_UNSUPPORTED,
				     "sahara: device refused command mode");

	if (read_exec(e, MFW_SAHARA_EXEC_SERIAL_NUM, buf, sizeof(buf), &got) == 0 && got >= 4) {
		id->have_serial = true;
		id->serial = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
			     (uint32_t)buf[3] << 24;
	}
	if (read_exec(e, MFW_SAHARA_EXEC_MSM_HW_ID, buf, sizeof(buf), &got) == 0 && got >= 8) {
		id->have_hw_id = true;
		id->hw_id = 0;
		for (int i = 7; i >= 0; i--)
			id->hw_id = id->hw_id << 8 | buf[i];
	}
	if (read_exec(e, MFW_SAHARA_EXEC_OEM_PK_HASH, buf, sizeof(buf), &got) == 0 && got > 0) {
		id->pk_hash_len = got < sizeof(id->pk_hash) ? got : sizeof(id->pk_hash);
		memcpy(id->pk_hash, buf, id->pk_hash_len);
	}
	mfw_ctx_clear_detail(e->ctx);

	/* back to image transfer: the device answers with a fresh HELLO */
	p.cmd = MFW_SAHARA_SWITCH_MODE;
	p.u.switch_mode.mode = MFW_SAHARA_MODE_IMAGE_TX_PENDING;
	r = send_packet(e, &p);
	if (r < 0)
		return r;
	r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
	if (r != 0 || p.cmd != MFW_SAHARA_HELLO)
		return mfw_fail_keep(e->ctx, r < 0 ? r : MFW_E_PROTO,
				     "sahara: no HELLO after leaving command mode");
	e->hello_pending = true;
	return 0;
}

static int serve_read(struct mfw_edl *e, const struct mfw_sahara_pkt *p, const uint8_t *image,
		      size_t len, const char *name)
{
	uint64_t off = p->u.read.offset, n = p->u.read.length;
	size_t written = 0;
	int r;

	if (p->u.read.image_id != MFW_SAHARA_IMAGE_FIREHOSE)
		return mfw_fail(e->ctx, MFW_E_UNSUPPORTED,
				"device asks for image id %llu; only the Firehose programmer (13) "
				"is provided — this chip needs a multi-image loader",
				(unsigned long long)p->u.read.image_id);
	if (n == 0 || n > MFW_SAHARA_MAX_READ || off > len || n > len - off)
		return mfw_fail(e->ctx, MFW_E_MISMATCH,
				"device asks for bytes %llu..%llu of '%s' (%zu bytes): the "
				"programmer does not fit this chip",
				(unsigned long long)off, (unsigned long long)(off + n), name, len);
	r = mfw_transport_write(e->t, image + off, (size_t)n,
				mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_WRITE_TIMEOUT_MS)), &written);
	if (r < 0)
		return mfw_fail_keep(e->ctx, r,
				     "sahara: device stopped reading '%s' at offset %llu (%zu of %llu bytes): %s",
				     name, (unsigned long long)off, written, (unsigned long long)n,
				     mfw_strerror(r));
	return 0;
}

int mfw_edl_load_programmer(struct mfw_edl *e, const uint8_t *image, size_t len, const char *name)
{
	struct mfw_sahara_pkt p;
	uint64_t served = 0;
	int r;

	if (e->firehose_running) {
		mfw_notice(e->ctx, "a Firehose programmer is already running; not uploading '%s'", name);
		return 0;
	}
	if (e->hello_pending) {
		r = send_hello_resp(e, MFW_SAHARA_MODE_IMAGE_TX_PENDING);
		if (r < 0)
			return r;
	}
	for (;;) {
		r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
		if (r == 1)
			return 0; /* programmer started speaking (should not happen before DONE) */
		if (r < 0)
			return mfw_fail_keep(e->ctx, r, "sahara: device went silent while loading '%s' "
						 "after %llu bytes", name, (unsigned long long)served);
		switch (p.cmd) {
		case MFW_SAHARA_HELLO:
			/* the PBL restarted (or repeats HELLO): answer again */
			r = send_hello_resp(e, MFW_SAHARA_MODE_IMAGE_TX_PENDING);
			break;
		case MFW_SAHARA_READ_DATA:
		case MFW_SAHARA_READ_DATA_64:
			r = serve_read(e, &p, image, len, name);
			served += p.u.read.length;
			if (r == 0)
				mfw_progress(e->ctx, "sahara", name, served > len ? len : served, len);
			break;
		case MFW_SAHARA_END_OF_IMAGE:
			if (p.u.eoi.status != 0)
				return mfw_fail(e->ctx, MFW_E_NAK,
						"device refused programmer '%s': %s (status 0x%02x); "
						"it is not the right programmer for this chip, or the "
						"device only accepts signed programmers",
						name, mfw_sahara_status_str(p.u.eoi.status),
						p.u.eoi.status);
			p.cmd = MFW_SAHARA_DONE;
			r = send_packet(e, &p);
			if (r < 0)
				return r;
			r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_PACKET_TIMEOUT_MS)));
			if (r != 0 || p.cmd != MFW_SAHARA_DONE_RESP)
				return mfw_fail_keep(e->ctx, r < 0 ? r : MFW_E_PROTO,
						     "sahara: no DONE_RESP after '%s'", name);
			if (p.u.done_resp.status == MFW_SAHARA_DONE_COMPLETE) {
				mfw_dbg(e->ctx, "sahara: programmer '%s' started", name);
				return 0;
			}
			/*
			 * "pending": more images follow (multi-image loaders), or a chip
			 * that always says pending after its single image (MSM8916,
			 * fwupd accepts it for ids 7, 13, 21). Keep serving: the next
			 * packet decides, and silence means the programmer took over.
			 */
			mfw_dbg(e->ctx, "sahara: DONE_RESP pending after '%s'", name);
			r = recv_packet(e, &p, mfw_deadline_in(mfw_ctx_ms(e->ctx, MFW_SAHARA_RESYNC_TIMEOUT_MS)));
			if (r == MFW_E_TIMEOUT || r == 1) {
				mfw_ctx_clear_detail(e->ctx);
				return 0;
			}
			if (r < 0)
				return r;
			if (p.cmd == MFW_SAHARA_READ_DATA || p.cmd == MFW_SAHARA_READ_DATA_64) {
				r = serve_read(e, &p, image, len, name);
				break;
			}
			return mfw_fail(e->ctx, MFW_E_PROTO, "sahara: unexpected %s after DONE_RESP",
					mfw_sahara_cmd_name(p.cmd));
		default:
			return mfw_fail(e->ctx, MFW_E_PROTO, "sahara: unexpected %s while loading '%s'",
					mfw_sahara_cmd_name(p.cmd), name);
		}
		if (r < 0)
			return r;
	}
}
