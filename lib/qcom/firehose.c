/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Firehose host session. The XML codec is lib/proto/firehose.c; this file
 * owns waits, log handling, payload negotiation and raw transfers.
 */
#include "qcom/firehose.h"
#include "proto/firehose.h"
#include "util/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define READ_CHUNK 65536
/* Upper bound we accept from a device's "supported" payload (hostile peers). */
#define MAX_PAYLOAD_CAP (16u * 1024u * 1024u)

int mfw_fh_session_init(struct mfw_fh_session *s, struct mfw_ctx *ctx, struct mfw_transport *t,
			const uint8_t *pending, size_t npending)
{
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->t = t;
	s->stall_ms = MFW_FH_STALL_MS;
	s->max_payload = 4096;
	mfw_fh_splitter_init(&s->sp);
	mfw_fh_funcs_init(&s->funcs);
	if (npending)
		return mfw_fh_splitter_push(&s->sp, pending, npending);
	return 0;
}

void mfw_fh_session_free(struct mfw_fh_session *s)
{
	mfw_fh_splitter_free(&s->sp);
	free(s->chunk);
	s->chunk = NULL;
}

void mfw_fh_reply_free(struct mfw_fh_reply *reply)
{
	if (reply) {
		mfw_fh_msg_free(&reply->msg);
		memset(reply, 0, sizeof(*reply));
	}
}

/* Programmers announce the chip serial at start ("INFO: Chip serial num: 1234 (0x4d2)"). */
static void scan_serial(struct mfw_fh_session *s, const char *value)
{
	const char *p = strstr(value, "serial num:");
	unsigned long v;
	char *end;
	if (!p)
		return;
	p += strlen("serial num:");
	v = strtoul(p, &end, 0);
	if (end != p && v <= UINT32_MAX) {
		s->serial = (uint32_t)v;
		s->have_serial = true;
	}
}

static void handle_log(struct mfw_fh_session *s, const char *value)
{
	snprintf(s->last_log, sizeof(s->last_log), "%s", value);
	scan_serial(s, value);
	s->log_count++;
	mfw_fh_funcs_feed(&s->funcs, value);
	if (s->hook)
		s->hook(s->hook_user, value);
	mfw_dbg(s->ctx, "device: %s", value);
}

/* Receive one document (or MFW_E_TIMEOUT at the deadline). */
static int recv_doc(struct mfw_fh_session *s, mfw_deadline_t deadline, struct mfw_fh_msg *msg)
{
	uint8_t buf[READ_CHUNK];
	for (;;) {
		const char *doc;
		size_t len;
		int r = mfw_fh_splitter_next(&s->sp, &doc, &len);
		if (r < 0)
			return mfw_fail(s->ctx, r, "firehose: device sent an oversized or broken message");
		if (r == 1) {
			mfw_trace(s->ctx, "firehose <- %.*s", (int)(len > 400 ? 400 : len), doc);
			r = mfw_fh_parse(s->ctx, doc, len, msg);
			if (r < 0) {
				/* a broken document is logged and skipped: programmers emit odd logs */
				mfw_dbg(s->ctx, "firehose: skipping unparsable message: %.*s",
					(int)(len > 200 ? 200 : len), doc);
				mfw_ctx_clear_detail(s->ctx);
				continue;
			}
			return 0;
		}
		/* a first Ctrl-C waits for a safe point above us; a second one forces */
		if (mfw_ctx_cancel_count(s->ctx) >= 2)
			return mfw_fail(s->ctx, MFW_E_CANCELLED, "firehose: cancelled");
		r = mfw_transport_read(s->t, buf, sizeof(buf), deadline);
		if (r < 0)
			return r;
		r = mfw_fh_splitter_push(&s->sp, buf, (size_t)r);
		if (r < 0)
			return mfw_fail(s->ctx, r, "firehose: device sent more than %u bytes without a "
					"complete message", MFW_FH_MAX_DOC);
	}
}

/* Handle logs of msg; when it holds a response, fill reply (taking msg) and return 1. */
static int take_msg(struct mfw_fh_session *s, struct mfw_fh_msg *msg, struct mfw_fh_reply *reply)
{
	const struct mfw_fh_elem *resp = NULL;
	for (size_t i = 0; i < msg->nelem; i++) {
		const struct mfw_fh_elem *e = &msg->elems[i];
		if (!strcasecmp(e->tag, "log")) {
			const char *v = mfw_fh_attr_get(e, "value");
			if (v)
				handle_log(s, v);
		} else if (!strcasecmp(e->tag, "response") && !resp) {
			resp = e;
		}
	}
	if (!resp) {
		mfw_fh_msg_free(msg);
		return 0;
	}
	if (!reply) {
		/* a response nobody waits for (late or duplicate): note it and move on */
		mfw_dbg(s->ctx, "firehose: unexpected response %s",
			mfw_fh_attr_get(resp, "value") ? mfw_fh_attr_get(resp, "value") : "?");
		mfw_fh_msg_free(msg);
		return 0;
	}
	{
		const char *v = mfw_fh_attr_get(resp, "value");
		const char *raw = mfw_fh_attr_get(resp, "rawmode");
		reply->ack = v && !strcasecmp(v, "ACK");
		reply->rawmode = raw ? !strcasecmp(raw, "true") : -1;
		reply->msg = *msg;
		reply->response = resp;
		memset(msg, 0, sizeof(*msg));
	}
	return 1;
}

/*
 * Quiet that ends a drain once the supported-functions list has ended: that
 * list closes the start-up logs (reference §3.1), so waiting the full quiet
 * period after it only costs time (300 ms of every session).
 */
#define FUNCS_END_QUIET_MS 20

int mfw_fh_drain(struct mfw_fh_session *s, int quiet_ms, mfw_deadline_t deadline)
{
	bool listing = !s->funcs.complete;

	quiet_ms = mfw_ctx_ms(s->ctx, quiet_ms);
	for (;;) {
		struct mfw_fh_msg msg = { 0 };
		mfw_deadline_t d = mfw_deadline_min(deadline, mfw_deadline_in(quiet_ms));
		int r = recv_doc(s, d, &msg);
		if (r == MFW_E_TIMEOUT) {
			mfw_ctx_clear_detail(s->ctx);
			return 0;
		}
		if (r < 0)
			return r;
		take_msg(s, &msg, NULL);
		if (listing && s->funcs.complete &&
		    quiet_ms > mfw_ctx_ms(s->ctx, FUNCS_END_QUIET_MS))
			quiet_ms = mfw_ctx_ms(s->ctx, FUNCS_END_QUIET_MS);
		if (mfw_deadline_passed(deadline))
			return 0;
	}
}

static int wait_response(struct mfw_fh_session *s, const char *what, int timeout_ms,
			 struct mfw_fh_reply *reply)
{
	mfw_deadline_t deadline = mfw_deadline_in(mfw_ctx_ms(s->ctx, timeout_ms));
	int64_t start = mfw_now_ms();
	memset(reply, 0, sizeof(*reply));
	for (;;) {
		struct mfw_fh_msg msg = { 0 };
		int r = recv_doc(s, deadline, &msg);
		if (r == MFW_E_TIMEOUT)
			return mfw_fail(s->ctx, r, "device did not answer %s within %.1f s%s%s%s", what,
					(double)(mfw_now_ms() - start) / 1000.0,
					s->last_log[0] ? "; last log: '" : "", s->last_log,
					s->last_log[0] ? "'" : "");
		if (r < 0)
			return mfw_fail_keep(s->ctx, r, "lost the device while waiting for %s: %s", what,
					     mfw_strerror(r));
		if (take_msg(s, &msg, reply))
			return 0;
	}
}

static int send_xml(struct mfw_fh_session *s, const char *tag, const struct mfw_fh_attr *attrs,
		    size_t nattr)
{
	char buf[4096];
	int n = mfw_fh_build(buf, sizeof(buf), tag, attrs, nattr);
	int r;
	if (n < 0)
		return mfw_fail(s->ctx, n, "firehose: <%s> command too long", tag);
	mfw_trace(s->ctx, "firehose -> %s", buf);
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t written = 0;
		r = mfw_transport_write(s->t, buf, (size_t)n, mfw_deadline_in(mfw_ctx_ms(s->ctx, MFW_FH_COMMAND_WRITE_MS)),
					&written);
		if (r != MFW_E_TIMEOUT || written)
			break;
		/*
		 * Some programmers stop reading while their log queue is full
		 * (db410c, QFirehose 1.4.9): read the logs, then try once more.
		 */
		mfw_dbg(s->ctx, "firehose: <%s> write timed out; draining logs and retrying", tag);
		mfw_fh_drain(s, 200, mfw_deadline_in(2000));
	}
	if (r < 0)
		return mfw_fail_keep(s->ctx, r, "sending <%s> failed: %s", tag, mfw_strerror(r));
	return 0;
}

static int nak_error(struct mfw_fh_session *s, const char *what)
{
	return mfw_fail(s->ctx, MFW_E_NAK, "device refused %s%s%s%s", what,
			s->last_log[0] ? ": '" : "", s->last_log, s->last_log[0] ? "'" : "");
}

int mfw_fh_command(struct mfw_fh_session *s, const char *tag, const struct mfw_fh_attr *attrs,
		   size_t nattr, int timeout_ms, struct mfw_fh_reply *reply)
{
	char what[64];
	int r;
	s->last_log[0] = '\0';
	r = send_xml(s, tag, attrs, nattr);
	if (r < 0)
		return r;
	snprintf(what, sizeof(what), "<%s>", tag);
	return wait_response(s, what, timeout_ms, reply);
}

/* Command that must be ACKed; the reply is discarded. */
static int command_ack(struct mfw_fh_session *s, const char *tag, const struct mfw_fh_attr *attrs,
		       size_t nattr, int timeout_ms, const char *what)
{
	struct mfw_fh_reply reply;
	int r = mfw_fh_command(s, tag, attrs, nattr, timeout_ms, &reply);
	if (r < 0)
		return r;
	r = reply.ack ? 0 : nak_error(s, what);
	mfw_fh_reply_free(&reply);
	return r;
}

static int parse_attr_u32(const struct mfw_fh_elem *e, const char *name, uint32_t *out)
{
	uint64_t v;
	const char *s = e ? mfw_fh_attr_get(e, name) : NULL;
	if (!s || mfw_fh_parse_u64(s, &v) < 0 || v == 0 || v > MAX_PAYLOAD_CAP)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int configure_once(struct mfw_fh_session *s, const char *memory, uint32_t size,
			  struct mfw_fh_reply *reply)
{
	char sz[16];
	struct mfw_fh_attr attrs[] = {
		{ "MemoryName", (char *)memory },
		{ "MaxPayloadSizeToTargetInBytes", sz },
		{ "Verbose", "0" },
		{ "ZlpAwareHost", "1" },
		{ "SkipStorageInit", "0" },
		{ "AlwaysValidate", "0" },
		{ "MaxDigestTableSizeInBytes", "8192" },
	};
	snprintf(sz, sizeof(sz), "%u", size);
	return mfw_fh_command(s, "configure", attrs, MFW_ARRAY_SIZE(attrs), MFW_FH_CONFIGURE_MS, reply);
}

static int set_payload(struct mfw_fh_session *s, uint32_t size)
{
	uint8_t *p;
	if (s->chunk_cap >= size) {
		s->max_payload = size;
		return 0;
	}
	p = realloc(s->chunk, size);
	if (!p)
		return mfw_fail(s->ctx, MFW_E_NOMEM, "cannot allocate a %u-byte transfer buffer", size);
	s->chunk = p;
	s->chunk_cap = size;
	s->max_payload = size;
	return 0;
}

int mfw_fh_configure(struct mfw_fh_session *s, const char *memory, uint32_t proposal)
{
	struct mfw_fh_reply reply;
	uint32_t size = proposal, dev;
	int r;

	r = configure_once(s, memory, size, &reply);
	if (r < 0)
		return r;
	if (!reply.ack) {
		const char *devmem = mfw_fh_attr_get(reply.response, "MemoryName");
		/* a NAK carries the size (and memory) the device accepts: retry once with it */
		if (devmem && strcasecmp(devmem, memory)) {
			r = mfw_fail(s->ctx, MFW_E_MISMATCH,
				     "the device's storage is %s but the package is for %s", devmem,
				     memory);
			mfw_fh_reply_free(&reply);
			return r;
		}
		if (parse_attr_u32(reply.response, "MaxPayloadSizeToTargetInBytes", &dev) < 0 ||
		    dev >= size) {
			mfw_fh_reply_free(&reply);
			return nak_error(s, "<configure>");
		}
		mfw_dbg(s->ctx, "firehose: configure NAKed; device accepts %u-byte payloads", dev);
		mfw_fh_reply_free(&reply);
		size = dev;
		r = configure_once(s, memory, size, &reply);
		if (r < 0)
			return r;
		if (!reply.ack) {
			mfw_fh_reply_free(&reply);
			return nak_error(s, "<configure> with the device's own payload size");
		}
	}
	/* ACK: the device may offer more than we asked for: take it once (qdl does) */
	if (parse_attr_u32(reply.response, "MaxPayloadSizeToTargetInBytes", &dev) == 0 && dev < size)
		size = dev;
	if (parse_attr_u32(reply.response, "MaxPayloadSizeFromTargetInBytes", &dev) == 0)
		s->max_payload_from_target = dev;
	if (parse_attr_u32(reply.response, "MaxPayloadSizeToTargetInBytesSupported", &dev) == 0 &&
	    dev > size) {
		mfw_fh_reply_free(&reply);
		mfw_dbg(s->ctx, "firehose: device supports %u-byte payloads; raising", dev);
		r = configure_once(s, memory, dev, &reply);
		if (r < 0)
			return r;
		if (reply.ack)
			size = dev;
		/* a refused raise keeps the size that was already ACKed */
	}
	mfw_fh_reply_free(&reply);
	snprintf(s->memory, sizeof(s->memory), "%s", memory);
	s->configured = true;
	mfw_dbg(s->ctx, "firehose: configured %s, %u-byte payloads", memory, size);
	return set_payload(s, size);
}

static int stall_error(struct mfw_fh_session *s, const char *verb, const char *label, uint64_t done,
		       int64_t since, int err)
{
	char off[32];
	double mib = (double)done / (1024.0 * 1024.0);
	snprintf(off, sizeof(off), mib >= 1 ? "%.1f MiB" : "%.0f KiB",
		 mib >= 1 ? mib : (double)done / 1024.0);
	if (err == MFW_E_TIMEOUT)
		return mfw_fail(s->ctx, err,
				"device stopped %s data at '%s' +%s (byte %llu) after %.1f s without "
				"progress%s%s%s",
				verb, label, off, (unsigned long long)done,
				(double)(mfw_now_ms() - since) / 1000.0,
				s->last_log[0] ? "; last log: '" : "", s->last_log,
				s->last_log[0] ? "'" : "");
	return mfw_fail_keep(s->ctx, err, "transfer of '%s' failed at +%s (byte %llu): %s", label, off,
			     (unsigned long long)done, mfw_strerror(err));
}

struct fill_adapter {
	mfw_fh_source_fn fill;
	void *user;
};

static int fill_as_view(void *user, uint8_t *buf, size_t len, struct mfw_fh_chunk *c)
{
	struct fill_adapter *a = user;

	(void)c; /* data already points at buf */
	return a->fill(a->user, buf, len);
}

int mfw_fh_program(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		   uint64_t total, mfw_fh_source_fn src, void *user, const char *label)
{
	struct fill_adapter a = { .fill = src, .user = user };

	return mfw_fh_program_view(s, attrs, nattr, total, fill_as_view, &a, label);
}

int mfw_fh_program_view(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
			uint64_t total, mfw_fh_view_fn view, void *user, const char *label)
{
	struct mfw_fh_reply reply;
	uint64_t done = 0;
	char what[128];
	int r;

	if (!s->configured)
		return mfw_fail(s->ctx, MFW_E_PROTO, "firehose: program before configure");
	snprintf(what, sizeof(what), "<program> of '%s'", label);
	r = mfw_fh_command(s, "program", attrs, nattr, MFW_FH_SETUP_ACK_MS, &reply);
	if (r < 0)
		return r;
	if (!reply.ack || reply.rawmode != 1) {
		bool ack = reply.ack;
		mfw_fh_reply_free(&reply);
		if (ack)
			return mfw_fail(s->ctx, MFW_E_PROTO,
					"device ACKed %s without entering raw mode", what);
		return nak_error(s, what);
	}
	mfw_fh_reply_free(&reply);

	mfw_progress(s->ctx, "program", label, 0, total);
	while (done < total) {
		size_t n = total - done > s->max_payload ? s->max_payload : (size_t)(total - done);
		size_t written = 0;
		int64_t since = mfw_now_ms();
		struct mfw_fh_chunk c = {
			.data = s->chunk, .file = -1, .file_ok = mfw_transport_can_send_file(s->t),
		};
		r = view(user, s->chunk, n, &c);
		if (r < 0)
			return mfw_fail_keep(s->ctx, r, "reading data for '%s' failed", label);
		/* watchdog: a chunk that makes no progress for stall_ms ends the attempt */
		if (c.file >= 0)
			r = mfw_transport_send_file(s->t, c.file, c.off, n,
						    mfw_deadline_in(s->stall_ms), &written);
		else
			r = mfw_transport_write(s->t, c.data, n, mfw_deadline_in(s->stall_ms),
						&written);
		done += written;
		if (r < 0)
			return stall_error(s, "accepting", label, done, since, r);
		mfw_progress(s->ctx, "program", label, done, total);
		if (mfw_ctx_cancel_count(s->ctx) >= 2)
			return mfw_fail(s->ctx, MFW_E_CANCELLED,
					"forced stop during '%s' at byte %llu; the partition will be "
					"redone from its start", label, (unsigned long long)done);
	}
	snprintf(what, sizeof(what), "the final ACK of '%s'", label);
	r = wait_response(s, what, MFW_FH_FINAL_ACK_MS, &reply);
	if (r < 0)
		return r;
	r = 0;
	if (!reply.ack)
		r = nak_error(s, what);
	else if (reply.rawmode == 1)
		r = mfw_fail(s->ctx, MFW_E_PROTO, "device stayed in raw mode after '%s'", label);
	mfw_fh_reply_free(&reply);
	return r;
}

int mfw_fh_read(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		uint64_t total, mfw_fh_sink_fn sink, void *user, const char *label)
{
	struct mfw_fh_reply reply;
	uint8_t buf[READ_CHUNK];
	uint64_t done = 0;
	char what[128];
	int r;

	if (!s->configured)
		return mfw_fail(s->ctx, MFW_E_PROTO, "firehose: read before configure");
	snprintf(what, sizeof(what), "<read> of '%s'", label);
	r = mfw_fh_command(s, "read", attrs, nattr, MFW_FH_SETUP_ACK_MS, &reply);
	if (r < 0)
		return r;
	if (!reply.ack || reply.rawmode != 1) {
		bool ack = reply.ack;
		mfw_fh_reply_free(&reply);
		return ack ? mfw_fail(s->ctx, MFW_E_PROTO, "device ACKed %s without raw mode", what)
			   : nak_error(s, what);
	}
	mfw_fh_reply_free(&reply);
	mfw_progress(s->ctx, "read", label, 0, total);
	while (done < total) {
		size_t want = total - done > sizeof(buf) ? sizeof(buf) : (size_t)(total - done);
		/* raw bytes may already sit behind the ACK document */
		size_t n = mfw_fh_splitter_take_raw(&s->sp, buf, want);
		int64_t since = mfw_now_ms();
		if (!n) {
			r = mfw_transport_read(s->t, buf, want, mfw_deadline_in(s->stall_ms));
			if (r < 0)
				return stall_error(s, "sending", label, done, since, r);
			n = (size_t)r;
		}
		r = sink(user, buf, n);
		if (r < 0)
			return mfw_fail_keep(s->ctx, r, "storing data read from '%s' failed", label);
		done += n;
		mfw_progress(s->ctx, "read", label, done, total);
		if (mfw_ctx_cancel_count(s->ctx) >= 2)
			return mfw_fail(s->ctx, MFW_E_CANCELLED, "cancelled while reading '%s'", label);
	}
	snprintf(what, sizeof(what), "the final ACK of the read of '%s'", label);
	r = wait_response(s, what, MFW_FH_SETUP_ACK_MS, &reply);
	if (r < 0)
		return r;
	r = reply.ack ? 0 : nak_error(s, what);
	mfw_fh_reply_free(&reply);
	return r;
}

int mfw_fh_erase(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		 const char *label)
{
	char what[128];
	snprintf(what, sizeof(what), "<erase> of '%s'", label);
	return command_ack(s, "erase", attrs, nattr, MFW_FH_ERASE_MS, what);
}

int mfw_fh_patch(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr)
{
	return command_ack(s, "patch", attrs, nattr, MFW_FH_PATCH_MS, "<patch>");
}

static void storage_hook(void *user, const char *line)
{
	mfw_fh_storage_info_feed(user, line);
}

int mfw_fh_storage_info(struct mfw_fh_session *s, unsigned lun, struct mfw_fh_storage_info *si)
{
	char l[16];
	struct mfw_fh_attr attrs[] = { { "physical_partition_number", l } };
	int r;
	memset(si, 0, sizeof(*si));
	snprintf(l, sizeof(l), "%u", lun);
	s->hook = storage_hook;
	s->hook_user = si;
	r = command_ack(s, "getstorageinfo", attrs, 1, MFW_FH_OTHER_MS, "<getstorageinfo>");
	s->hook = NULL;
	if (r < 0)
		return r;
	/* late logs (MSM8916 sends logs after the response) */
	s->hook = storage_hook;
	s->hook_user = si;
	if (!(si->have & MFW_FH_SI_TOTAL_BLOCKS))
		mfw_fh_drain(s, MFW_FH_QUIET_MS, mfw_deadline_in(1000));
	s->hook = NULL;
	if (!(si->have & MFW_FH_SI_TOTAL_BLOCKS))
		return mfw_fail(s->ctx, MFW_E_PROTO,
				"the programmer's <getstorageinfo> answer has no total_blocks");
	return 0;
}

struct digest_hook {
	uint8_t digest[32];
	bool found;
};

static void digest_hook_fn(void *user, const char *line)
{
	struct digest_hook *h = user;
	if (!h->found && mfw_fh_find_digest(line, h->digest) == 1)
		h->found = true;
}

int mfw_fh_sha256(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		  uint8_t digest[32])
{
	struct digest_hook h = { .found = false };
	struct mfw_fh_reply reply;
	int r;
	s->hook = digest_hook_fn;
	s->hook_user = &h;
	r = mfw_fh_command(s, "getsha256digest", attrs, nattr, MFW_FH_DIGEST_MS, &reply);
	s->hook = NULL;
	if (r < 0)
		return r;
	if (!reply.ack) {
		mfw_fh_reply_free(&reply);
		return nak_error(s, "<getsha256digest>");
	}
	if (!h.found) {
		const char *d = mfw_fh_attr_get(reply.response, "Digest");
		if (!d)
			d = mfw_fh_attr_get(reply.response, "SHA256");
		if (d) {
			char text[128];
			snprintf(text, sizeof(text), "digest %s", d);
			h.found = mfw_fh_find_digest(text, h.digest) == 1;
		}
	}
	mfw_fh_reply_free(&reply);
	if (!h.found)
		return mfw_fail(s->ctx, MFW_E_PROTO, "the programmer's <getsha256digest> answer has no digest");
	memcpy(digest, h.digest, 32);
	return 0;
}

static int hash_sink(void *user, const uint8_t *buf, size_t len)
{
	return mfw_hash_update(user, buf, len);
}

int mfw_fh_range_sha256(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
			uint64_t bytes, bool use_digest, const char *label, uint8_t out[32])
{
	struct mfw_hash h;
	int r;

	if (use_digest)
		return mfw_fh_sha256(s, attrs, nattr, out);
	r = mfw_hash_init(&h, MFW_HASH_SHA256);
	if (r < 0)
		return r;
	r = mfw_fh_read(s, attrs, nattr, bytes, hash_sink, &h, label);
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	r = mfw_hash_final(&h, out, 32);
	return r < 0 ? r : 0;
}

int mfw_fh_power(struct mfw_fh_session *s, const char *value, unsigned delay_s)
{
	char d[16];
	struct mfw_fh_attr attrs[] = { { "value", (char *)value }, { "DelayInSeconds", d } };
	int r;
	snprintf(d, sizeof(d), "%u", delay_s);
	r = command_ack(s, "power", attrs, 2, MFW_FH_OTHER_MS, "<power>");
	/*
	 * A device that vanishes right after being asked to reset did what was
	 * asked (a tty or USB link goes away with it, sometimes before the ACK
	 * arrives).
	 */
	if (r == MFW_E_NODEV || r == MFW_E_IO) {
		mfw_dbg(s->ctx, "firehose: device went away after <power value=\"%s\">", value);
		mfw_ctx_clear_detail(s->ctx);
		return 0;
	}
	if (r < 0)
		return r;
	/* logs after power; the device may also vanish now, which is fine */
	mfw_fh_drain(s, 100, mfw_deadline_in(500));
	mfw_ctx_clear_detail(s->ctx);
	return 0;
}

int mfw_fh_nop(struct mfw_fh_session *s)
{
	return command_ack(s, "nop", NULL, 0, MFW_FH_OTHER_MS, "<nop>");
}
