/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA over AT (reference quectel-at-usb.md §1, §1.1; dfota-and-delta.md
 * §2): free space (AT+QFLDS="UFS"), stale file (AT+QFLST, AT+QFDEL),
 * upload (AT+QFUPL in acknowledged mode, size and checksum compared),
 * start (AT+QFOTADL), then the +QIND: "FOTA" URCs through the module's
 * reboots, and AT+QGMR to confirm. Every wait has a deadline; the port
 * may vanish and come back (a USB module re-enumerates when it reboots
 * into recovery and again into its firmware), so it is closed on NODEV
 * and the same spec reopened in a bounded loop.
 */
#include "quectel/fota.h"
#include "quectel/at.h"
#include "core/core.h"
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The user file system as AT+QFOTADL sees it (fwupd's updater passes "/data/ufs/<name>"). */
#define FOTA_UFS_DIR "/data/ufs/"
/* Quectel's upload block in ack mode: the module sends 'A' after each 1 KiB. */
#define FOTA_BLOCK 1024
/*
 * AT+QFUPL <timeout>: how long the module waits for the next data byte
 * (the FILE manual's default is 5 s; a host that stalls longer loses the
 * upload, so give the module room for a busy host: 60 s).
 */
#define FOTA_QFUPL_TIMEOUT_S 60
/* CONNECT after AT+QFUPL: the module only opens a file (a normal command: MFW_AT_TIMEOUT_MS). */
#define FOTA_CONNECT_MS MFW_AT_TIMEOUT_MS
/*
 * One block written and its 'A' back: the module writes 1 KiB to its
 * flash file system, milliseconds; 10 s covers a module busy elsewhere
 * and stays below the module's own data timeout above.
 */
#define FOTA_ACK_MS 10000
/* +QFUPL: and OK after the last byte: the module closes and sums the file. */
#define FOTA_UPLOAD_END_MS 30000
/*
 * From AT+QFOTADL's OK to START (or HTTPSTART/FTPSTART): fwupd allows 15 s
 * for the FOTA restart; a module that reboots first needs more: 60 s.
 */
#define FOTA_START_MS 60000
/* A download (HTTPSTART to HTTPEND): AT+QFOTADL-class commands get 180 s in Quectel's manuals. */
#define FOTA_DOWNLOAD_MS MFW_AT_TIMEOUT_SLOW_MS
/*
 * Longest silence between two URCs while updating: a large partition
 * patched on slow NAND may take minutes between two percent steps.
 */
#define FOTA_IDLE_MS 300000
/* A reboot: the port is gone until the module re-enumerates (brief: up to 120 s). */
#define FOTA_REBOOT_MS 120000
/* How often the host looks for the port to come back. */
#define FOTA_REOPEN_POLL_MS 250
/* After END the module reboots into its firmware; some stay up: wait this long for the port to go. */
#define FOTA_END_REBOOT_MS 20000
/* A freshly booted firmware answers AT within seconds; retry "AT" for this long. */
#define FOTA_READY_MS 30000
/* The whole update, START to END: a bound for a module that keeps reporting forever. */
#define FOTA_TOTAL_MS (60 * 60 * 1000)
/* Malformed +QIND: "FOTA" lines tolerated (fwupd tolerates a couple); the next one is an error. */
#define FOTA_MALFORMED_MAX 2
/* URC lines queued between polls. */
#define FOTA_QUEUE 32
/* Quectel FILE error "file not found" (AT+QFDEL on a missing file). */
#define FOTA_CME_NOT_FOUND 405

uint16_t mfw_fota_checksum(uint16_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum ^= (uint16_t)((p[i] << 8) | p[i + 1]);
	if (i < len)
		sum ^= (uint16_t)(p[i] << 8);
	return sum;
}

static const struct {
	const char *name;
	enum mfw_fota_urc_kind kind;
	bool has_value;
} urc_kinds[] = {
	{ "START", MFW_FOTA_URC_START, false },
	{ "UPDATING", MFW_FOTA_URC_UPDATING, true },
	{ "RESTORE", MFW_FOTA_URC_RESTORE, true },
	{ "END", MFW_FOTA_URC_END, true },
	{ "HTTPSTART", MFW_FOTA_URC_HTTPSTART, false },
	{ "HTTPEND", MFW_FOTA_URC_HTTPEND, true },
	{ "FTPSTART", MFW_FOTA_URC_FTPSTART, false },
	{ "FTPEND", MFW_FOTA_URC_FTPEND, true },
};

/* Whole decimal number (optionally followed by '%' for a percentage) up to 99999. */
static int parse_int(const char *s, bool pct_ok, int *out)
{
	long v = 0;
	size_t n = 0;

	while (*s == ' ')
		s++;
	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		v = v * 10 + (s[n] - '0');
		if (v > 99999)
			return MFW_E_FORMAT;
	}
	if (!n)
		return MFW_E_FORMAT;
	s += n;
	if (pct_ok && *s == '%')
		s++;
	while (*s == ' ')
		s++;
	if (*s)
		return MFW_E_FORMAT;
	*out = (int)v;
	return 0;
}

int mfw_fota_urc_parse(const char *line, struct mfw_fota_urc *u)
{
	const char *p = line, *q;
	char stage[16];
	size_t n;

	if (strncasecmp(p, "+QIND:", 6))
		return 0;
	p += 6;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "\"FOTA\"", 6))
		return 0;
	p += 6;
	if (*p != ',' || p[1] != '"')
		return MFW_E_FORMAT;
	p += 2;
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= sizeof(stage))
		return MFW_E_FORMAT;
	n = (size_t)(q - p);
	memcpy(stage, p, n);
	stage[n] = 0;
	p = q + 1;
	for (size_t i = 0; i < MFW_ARRAY_SIZE(urc_kinds); i++) {
		if (strcasecmp(stage, urc_kinds[i].name))
			continue;
		u->kind = urc_kinds[i].kind;
		u->value = -1;
		if (!urc_kinds[i].has_value)
			return *p ? MFW_E_FORMAT : 1;
		if (*p != ',' || parse_int(p + 1, u->kind == MFW_FOTA_URC_UPDATING ||
					   u->kind == MFW_FOTA_URC_RESTORE, &u->value) < 0)
			return MFW_E_FORMAT;
		if ((u->kind == MFW_FOTA_URC_UPDATING || u->kind == MFW_FOTA_URC_RESTORE) &&
		    u->value > 100)
			return MFW_E_FORMAT;
		return 1;
	}
	return MFW_E_FORMAT;
}

/* "+NAME: <dec>,<x>" with x decimal or (hex) the checksum. */
static int parse_pair(const char *line, const char *prefix, uint64_t *a, const char **rest)
{
	size_t l = strlen(prefix);
	char *end;

	if (strncasecmp(line, prefix, l))
		return MFW_E_FORMAT;
	line += l;
	while (*line == ' ')
		line++;
	if (*line < '0' || *line > '9')
		return MFW_E_FORMAT;
	errno = 0;
	*a = strtoull(line, &end, 10);
	if (errno || *end != ',')
		return MFW_E_FORMAT;
	*rest = end + 1;
	while (**rest == ' ')
		(*rest)++;
	return 0;
}

int mfw_fota_parse_qfupl(const char *line, uint64_t *size, uint16_t *checksum)
{
	const char *rest;
	char *end;
	unsigned long v;

	if (parse_pair(line, "+QFUPL:", size, &rest) < 0)
		return MFW_E_FORMAT;
	if (!((*rest >= '0' && *rest <= '9') || (*rest >= 'a' && *rest <= 'f') ||
	      (*rest >= 'A' && *rest <= 'F')))
		return MFW_E_FORMAT;
	errno = 0;
	v = strtoul(rest, &end, 16);
	while (*end == ' ')
		end++;
	if (errno || *end || v > 0xffff)
		return MFW_E_FORMAT;
	*checksum = (uint16_t)v;
	return 0;
}

int mfw_fota_parse_qflds(const char *line, uint64_t *free_bytes, uint64_t *total)
{
	const char *rest;
	char *end;

	if (parse_pair(line, "+QFLDS:", free_bytes, &rest) < 0)
		return MFW_E_FORMAT;
	if (*rest < '0' || *rest > '9')
		return MFW_E_FORMAT;
	errno = 0;
	*total = strtoull(rest, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || *end || *free_bytes > *total)
		return MFW_E_FORMAT;
	return 0;
}

/*
 * Result codes in words (reference dfota-and-delta.md §2, quectel-at-usb.md
 * §1.1). Ranges are looked up in order; verified = false where no public
 * source confirms the meaning.
 */
static const struct {
	int lo, hi;
	bool verified;
	const char *text;
} code_table[] = {
	{ 0, 0, true, "the update succeeded" },
	{ 501, 501, false, "the updater failed (501; meaning not published)" },
	{ 502, 502, true, "the updater exited on an unexpected error" },
	{ 503, 503, false, "the updater failed (503; meaning not published)" },
	{ 504, 504, true, "the package file is wrong (damaged, incomplete or badly signed)" },
	{ 505, 505, true, "the package file is wrong: it is for another firmware version" },
	{ 506, 509, false, "the updater failed (506-509; meaning not published)" },
	{ 510, 510, true, "the patch does not match the firmware in the module (a file or partition differs)" },
	{ 511, 511, true, "not enough file-system space on the module" },
	{ 521, 521, true, "the firmware upgrade failed: the retry limit was reached (modemfw's updater)" },
	{ 520, 530, true, "the firmware upgrade failed (writing the new firmware)" },
	{ 540, 546, true, "the firmware upgrade failed" },
	{ 601, 601, true, "the FTP download failed (unknown error)" },
	{ 701, 701, true, "the HTTP download failed (unknown error)" },
	{ 702, 702, false, "the HTTP download failed (702, seen on a forum; meaning not published)" },
};

const char *mfw_fota_code_text(int code, bool *verified)
{
	for (size_t i = 0; i < MFW_ARRAY_SIZE(code_table); i++) {
		if (code >= code_table[i].lo && code <= code_table[i].hi) {
			if (verified)
				*verified = code_table[i].verified;
			return code_table[i].text;
		}
	}
	if (verified)
		*verified = false;
	return "unknown result code";
}

/* ---- the send ---- */

struct send {
	struct mfw_ctx *ctx;
	const struct mfw_fota_send_opts *o;
	struct mfw_fota_send_result *res;
	struct mfw_transport *t;
	struct mfw_at *at;
	/* lines the URC callback received, oldest first */
	char q[FOTA_QUEUE][MFW_AT_LINE_MAX];
	unsigned qepoch[FOTA_QUEUE];
	size_t qh, qn, qdropped;
	/* bumped at every reopen: a line from an older epoch came before the port went away */
	unsigned epoch;
	/* END arrived on a connection that has gone since: the reboot after it already happened */
	bool end_then_gone;
};

static void emit(struct send *s, const char *step, int code, uint64_t a, uint64_t b,
		 const char *fmt, ...) MFW_PRINTF(6, 7);

static void emit(struct send *s, const char *step, int code, uint64_t a, uint64_t b,
		 const char *fmt, ...)
{
	struct mfw_fota_event ev = { .step = step, .code = code, .a = a, .b = b };
	char text[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	ev.text = text;
	mfw_dbg(s->ctx, "dfota send: %s: %s", step, text);
	if (s->o->on_event)
		s->o->on_event(s->o->event_user, &ev);
}

static void on_urc(void *user, const char *line)
{
	struct send *s = user;

	if (s->qn == FOTA_QUEUE) {
		/* keep the newest: the latest progress and the END matter most */
		s->qh = (s->qh + 1) % FOTA_QUEUE;
		s->qn--;
		s->qdropped++;
	}
	snprintf(s->q[(s->qh + s->qn) % FOTA_QUEUE], MFW_AT_LINE_MAX, "%s", line);
	s->qepoch[(s->qh + s->qn) % FOTA_QUEUE] = s->epoch;
	s->qn++;
}

static bool queue_pop(struct send *s, char *out, unsigned *epoch)
{
	if (!s->qn)
		return false;
	memcpy(out, s->q[s->qh], MFW_AT_LINE_MAX);
	if (epoch)
		*epoch = s->qepoch[s->qh];
	s->qh = (s->qh + 1) % FOTA_QUEUE;
	s->qn--;
	return true;
}

static void port_close(struct send *s)
{
	if (s->at)
		mfw_at_close(s->at);
	if (s->t)
		mfw_transport_close(s->t);
	s->at = NULL;
	s->t = NULL;
}

static int port_open(struct send *s)
{
	int r = mfw_transport_open(s->ctx, s->o->port, &s->t);

	if (r < 0)
		return r;
	r = mfw_at_open(s->ctx, s->t, &s->at);
	if (r < 0) {
		port_close(s);
		return r;
	}
	mfw_at_set_urc(s->at, on_urc, s);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The port went away (a reboot): wait, bounded, for it to come back. */
static int port_reopen(struct send *s, int wait_ms, const char *why)
{
	mfw_deadline_t deadline = mfw_deadline_in(wait_ms);
	char last[256];
	int r;

	port_close(s);
	emit(s, "reboot", -1, 0, 0, "the AT port went away (%s); waiting up to %d s for it", why,
	     wait_ms / 1000);
	for (;;) {
		if (mfw_cancelled(s->ctx))
			return mfw_fail(s->ctx, MFW_E_CANCELLED, "cancelled while waiting for '%s'",
					s->o->port);
		r = port_open(s);
		if (r == 0)
			break;
		if (mfw_deadline_passed(deadline)) {
			/* the detail is formatted into the context: copy the reason out first */
			snprintf(last, sizeof(last), "%s", mfw_ctx_detail(s->ctx));
			return mfw_fail(s->ctx, MFW_E_TIMEOUT,
					"the AT port '%s' did not come back within %d s after %s (last: %s)",
					s->o->port, wait_ms / 1000, why, last);
		}
		sleep_ms(FOTA_REOPEN_POLL_MS);
	}
	mfw_ctx_clear_detail(s->ctx);
	s->epoch++;
	s->res->reconnects++;
	emit(s, "reconnect", -1, 0, 0, "the AT port '%s' is back", s->o->port);
	return 0;
}

static bool gone(int r)
{
	return r == MFW_E_NODEV || r == MFW_E_IO;
}

/* AT until it answers OK: a freshly booted module may say nothing or ERROR for a while. */
static int wait_ready(struct send *s, int wait_ms)
{
	mfw_deadline_t deadline = mfw_deadline_in(wait_ms);
	char last[256];
	int r;

	for (;;) {
		r = s->at ? mfw_at_cmd(s->at, "AT", 1000, NULL) : MFW_E_NODEV;
		if (r == 0)
			break;
		if (gone(r)) {
			r = port_reopen(s, mfw_deadline_left(deadline) > 0 ?
					mfw_deadline_left(deadline) : 1, "a reboot");
			if (r < 0)
				return r;
			continue;
		}
		if (mfw_deadline_passed(deadline)) {
			snprintf(last, sizeof(last), "%s", mfw_ctx_detail(s->ctx));
			return mfw_fail(s->ctx, MFW_E_TIMEOUT,
					"the module on '%s' did not answer AT within %d s: %s", s->o->port,
					wait_ms / 1000, last);
		}
		if (mfw_cancelled(s->ctx))
			return mfw_fail(s->ctx, MFW_E_CANCELLED, "cancelled");
		sleep_ms(FOTA_REOPEN_POLL_MS);
	}
	/* numeric +CME ERROR codes, so "file not found" can be told apart */
	r = mfw_at_cmd(s->at, "AT+CMEE=1", 0, NULL);
	if (r < 0 && !gone(r))
		mfw_ctx_clear_detail(s->ctx);
	return gone(r) ? r : 0;
}

static int firmware(struct send *s, char *out, size_t cap)
{
	struct mfw_at_ident id;
	int r = mfw_at_identify(s->at, &id);

	if (r < 0)
		return r;
	snprintf(out, cap, "%s", id.firmware[0] ? id.firmware : id.revision);
	return 0;
}

/* The first response line starting with prefix, or NULL. */
static const char *resp_line(const struct mfw_at_resp *rsp, const char *prefix)
{
	for (size_t i = 0; i < rsp->n_lines; i++)
		if (!strncasecmp(rsp->lines[i], prefix, strlen(prefix)))
			return rsp->lines[i];
	return NULL;
}

/* Free space, and the stale file of the same name deleted (its size counts as free). */
static int space_and_delete(struct send *s, const char *name, uint64_t size)
{
	const struct mfw_at_resp *rsp;
	uint64_t stale = 0;
	char cmd[300], want[300];
	const char *l;
	int r;

	r = mfw_at_cmd(s->at, "AT+QFLDS=\"UFS\"", 0, &rsp);
	if (r < 0)
		return mfw_fail_keep(s->ctx, r, "cannot read the module's free space");
	l = resp_line(rsp, "+QFLDS:");
	if (!l || mfw_fota_parse_qflds(l, &s->res->free_bytes, &s->res->total_bytes) < 0)
		return mfw_fail(s->ctx, MFW_E_PROTO, "AT+QFLDS=\"UFS\" answered '%s', not +QFLDS: <free>,<total>",
				l ? l : "(nothing)");
	/* a stale upload of the same name is deleted below: its space will be free */
	snprintf(want, sizeof(want), "+QFLST: \"%s\",", name);
	r = mfw_at_cmd(s->at, "AT+QFLST=\"*\"", 0, &rsp);
	if (gone(r))
		return r;
	if (r == 0) {
		for (size_t i = 0; i < rsp->n_lines; i++) {
			if (!strncmp(rsp->lines[i], want, strlen(want))) {
				stale = strtoull(rsp->lines[i] + strlen(want), NULL, 10);
				break;
			}
		}
	}
	mfw_ctx_clear_detail(s->ctx);
	emit(s, "space", -1, s->res->free_bytes, s->res->total_bytes,
	     "%" PRIu64 " bytes free of %" PRIu64 " in the user file system%s", s->res->free_bytes,
	     s->res->total_bytes, stale ? " (plus a stale upload)" : "");
	if (s->res->free_bytes + stale < size)
		return mfw_fail(s->ctx, MFW_E_NOSPC,
				"the package needs %" PRIu64 " bytes, the module's user file system has %" PRIu64
				" free (of %" PRIu64 ")",
				size, s->res->free_bytes + stale, s->res->total_bytes);
	snprintf(cmd, sizeof(cmd), "AT+QFDEL=\"%s\"", name);
	r = mfw_at_cmd(s->at, cmd, 0, &rsp);
	if (r == MFW_E_NAK && rsp->final == MFW_AT_FINAL_CME_ERROR && rsp->code == FOTA_CME_NOT_FOUND) {
		mfw_ctx_clear_detail(s->ctx);
		return 0; /* nothing stale: fine */
	}
	if (r < 0)
		return mfw_fail_keep(s->ctx, r, "cannot delete the old '%s' on the module", name);
	emit(s, "delete", -1, 0, 0, "deleted an old '%s' on the module", name);
	return 0;
}

/* The module's 'A' after a full block (CR/LF around it are skipped). */
static int wait_ack(struct send *s, uint64_t off)
{
	mfw_deadline_t deadline = mfw_deadline_in(FOTA_ACK_MS);
	uint8_t c;
	int r;

	for (;;) {
		r = mfw_transport_read(s->t, &c, 1, deadline);
		if (r == MFW_E_TIMEOUT)
			return mfw_fail(s->ctx, r,
					"the module did not acknowledge the upload at byte %" PRIu64
					" within %d s", off, FOTA_ACK_MS / 1000);
		if (r < 0)
			return mfw_fail(s->ctx, r, "the AT port went away during the upload at byte %" PRIu64,
					off);
		if (r == 0 || c == '\r' || c == '\n')
			continue;
		if (c == 'A')
			return 0;
		return mfw_fail(s->ctx, MFW_E_PROTO,
				"expected the module's acknowledgement 'A' at byte %" PRIu64 ", got 0x%02x",
				off, c);
	}
}

/*
 * After the data: "+QFUPL: <size>,<checksum>" then OK. The lines come
 * through the URC callback (nothing is pending in the session).
 */
static int upload_end(struct send *s, uint64_t size, uint16_t sum)
{
	mfw_deadline_t deadline = mfw_deadline_in(FOTA_UPLOAD_END_MS);
	char line[MFW_AT_LINE_MAX];
	bool have = false;
	uint64_t msize = 0;
	uint16_t msum = 0;

	for (;;) {
		while (queue_pop(s, line, NULL)) {
			const char *l = line;

			/* an 'A' the module sent with no line break before the answer */
			while (*l == 'A')
				l++;
			if (!*l)
				continue;
			if (!strncasecmp(l, "+QFUPL:", 7)) {
				if (mfw_fota_parse_qfupl(l, &msize, &msum) < 0)
					return mfw_fail(s->ctx, MFW_E_PROTO, "malformed upload answer '%s'", l);
				have = true;
			} else if (!strcmp(l, "OK")) {
				if (!have)
					return mfw_fail(s->ctx, MFW_E_PROTO,
							"the module ended the upload with OK but no +QFUPL: line");
				if (msize != size || msum != sum)
					return mfw_fail(s->ctx, MFW_E_VERIFY,
							"upload corrupted: sent %" PRIu64 " bytes with checksum %04x, "
							"the module has %" PRIu64 " bytes with checksum %04x",
							size, sum, msize, msum);
				return 0;
			} else if (!strcmp(l, "ERROR") || !strncmp(l, "+CME ERROR:", 11)) {
				return mfw_fail(s->ctx, MFW_E_NAK, "the module refused the upload: %s", l);
			} else {
				mfw_dbg(s->ctx, "dfota send: during the upload: '%s'", l);
			}
		}
		if (mfw_deadline_passed(deadline))
			return mfw_fail(s->ctx, MFW_E_TIMEOUT,
					"no +QFUPL: answer within %d s after the last byte",
					FOTA_UPLOAD_END_MS / 1000);
		int r = mfw_at_poll_urcs(s->at, mfw_deadline_min(deadline, mfw_deadline_in(50)));
		if (r < 0)
			return r;
	}
}

static int upload(struct send *s, const char *package, const char *name)
{
	const struct mfw_at_resp *rsp;
	uint8_t buf[FOTA_BLOCK];
	char cmd[320];
	uint64_t size, off = 0;
	uint16_t sum = 0;
	struct stat st;
	int fd, r;

	fd = open(package, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mfw_fail(s->ctx, MFW_E_IO, "cannot open '%s': %s", package, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = mfw_fail(s->ctx, MFW_E_INVAL, "'%s' is not a regular file", package);
		goto out_close;
	}
	size = (uint64_t)st.st_size;
	r = space_and_delete(s, name, size);
	if (r < 0)
		goto out_close;
	snprintf(cmd, sizeof(cmd), "AT+QFUPL=\"%s\",%" PRIu64 ",%d,1", name, size, FOTA_QFUPL_TIMEOUT_S);
	r = mfw_at_cmd(s->at, cmd, FOTA_CONNECT_MS, &rsp);
	if (r == 0 && rsp->final != MFW_AT_FINAL_CONNECT)
		r = mfw_fail(s->ctx, MFW_E_PROTO, "'%s' answered %s instead of CONNECT", cmd,
			     rsp->final_line);
	if (r < 0)
		goto out_close;
	mfw_progress(s->ctx, "upload", name, 0, size);
	while (off < size) {
		size_t want = size - off < FOTA_BLOCK ? (size_t)(size - off) : FOTA_BLOCK;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n != (ssize_t)want) {
			/* the module waits for the rest: it gives up after its own timeout */
			r = mfw_fail(s->ctx, MFW_E_IO, "cannot read '%s' at %" PRIu64 "%s%s", package, off,
				     n < 0 ? ": " : " (file shrank)", n < 0 ? strerror(errno) : "");
			goto out_close;
		}
		r = mfw_transport_write(s->t, buf, want, mfw_deadline_in(FOTA_ACK_MS), NULL);
		if (r < 0) {
			r = mfw_fail_keep(s->ctx, r, "upload stopped at byte %" PRIu64 ": %s", off,
					  mfw_strerror(r));
			goto out_close;
		}
		sum = mfw_fota_checksum(sum, buf, want);
		off += want;
		if (want == FOTA_BLOCK) {
			r = wait_ack(s, off);
			if (r < 0)
				goto out_close;
		}
		mfw_progress(s->ctx, "upload", name, off, size);
	}
	r = upload_end(s, size, sum);
	if (r < 0)
		goto out_close;
	s->res->size = size;
	s->res->checksum = sum;
	emit(s, "upload", -1, size, sum, "uploaded '%s': %" PRIu64 " bytes, checksum %04x confirmed",
	     name, size, sum);
out_close:
	close(fd);
	return r;
}

enum phase {
	PH_START,     /* waiting for START or a download to begin */
	PH_DOWNLOAD,  /* HTTPSTART/FTPSTART seen */
	PH_UPDATING,  /* START seen */
};

/* Follow the URCs to END (or a failed download); res->code gets the code. */
static int follow(struct send *s, const char *label)
{
	mfw_deadline_t total = mfw_deadline_in(FOTA_TOTAL_MS);
	mfw_deadline_t deadline = mfw_deadline_in(FOTA_START_MS);
	enum phase ph = PH_START;
	char line[MFW_AT_LINE_MAX];
	unsigned epoch;
	int r;

	for (;;) {
		while (queue_pop(s, line, &epoch)) {
			struct mfw_fota_urc u;

			r = mfw_fota_urc_parse(line, &u);
			if (r == 0) {
				mfw_dbg(s->ctx, "dfota send: other URC '%s'", line);
				continue;
			}
			if (r < 0) {
				s->res->malformed++;
				emit(s, "malformed", -1, 0, 0, "%s", line);
				if (s->res->malformed > FOTA_MALFORMED_MAX)
					return mfw_fail(s->ctx, MFW_E_PROTO,
							"%u malformed FOTA URCs from the module (last: '%s')",
							s->res->malformed, line);
				continue;
			}
			emit(s, "urc", u.kind == MFW_FOTA_URC_UPDATING ? u.value : -1, 0, 0, "%s", line);
			switch (u.kind) {
			case MFW_FOTA_URC_HTTPSTART:
			case MFW_FOTA_URC_FTPSTART:
				ph = PH_DOWNLOAD;
				deadline = mfw_deadline_in(FOTA_DOWNLOAD_MS);
				break;
			case MFW_FOTA_URC_HTTPEND:
			case MFW_FOTA_URC_FTPEND:
				if (u.value != 0) {
					/* the download failed: the module stays in its firmware */
					s->res->code = u.value;
					return 0;
				}
				ph = PH_START;
				deadline = mfw_deadline_in(FOTA_START_MS);
				break;
			case MFW_FOTA_URC_START:
				ph = PH_UPDATING;
				deadline = mfw_deadline_in(FOTA_IDLE_MS);
				break;
			case MFW_FOTA_URC_UPDATING:
			case MFW_FOTA_URC_RESTORE:
				ph = PH_UPDATING;
				s->res->last_pct = u.value;
				mfw_progress(s->ctx, "update", label, (uint64_t)u.value, 100);
				deadline = mfw_deadline_in(FOTA_IDLE_MS);
				break;
			case MFW_FOTA_URC_END:
				s->res->code = u.value;
				s->end_then_gone = epoch != s->epoch;
				return 0;
			}
		}
		if (mfw_cancelled(s->ctx))
			return mfw_fail(s->ctx, MFW_E_CANCELLED,
					"cancelled while the module updates (it goes on by itself)");
		if (!s->at) {
			/*
			 * the reboot into recovery (or a power loss there): the port comes
			 * back within its own bound, whatever was left of the phase's
			 */
			r = port_reopen(s, FOTA_REBOOT_MS, "the module rebooted");
			if (r < 0)
				return r;
			if (ph != PH_DOWNLOAD)
				deadline = mfw_deadline_in(FOTA_IDLE_MS);
			continue;
		}
		if (mfw_deadline_passed(deadline) || mfw_deadline_passed(total))
			return mfw_fail(s->ctx, MFW_E_TIMEOUT,
					"no FOTA report from the module for %d s %s (last progress %d%%)",
					(ph == PH_START ? FOTA_START_MS :
					 ph == PH_DOWNLOAD ? FOTA_DOWNLOAD_MS : FOTA_IDLE_MS) / 1000,
					ph == PH_START ? "waiting for START" :
					ph == PH_DOWNLOAD ? "during the download" : "during the update",
					s->res->last_pct);
		r = mfw_at_poll_urcs(s->at, mfw_deadline_min(deadline, mfw_deadline_in(200)));
		if (gone(r)) {
			/* what arrived before the port went is handled first, then it is reopened */
			port_close(s);
			continue;
		}
		if (r < 0)
			return r;
	}
}

/* After END the module reboots into its firmware: see the port go (bounded) and come back. */
static int after_end(struct send *s)
{
	mfw_deadline_t deadline = mfw_deadline_in(FOTA_END_REBOOT_MS);
	int r;

	/* the port went away after END was sent: that was the reboot */
	if (!s->at || s->end_then_gone)
		return wait_ready(s, FOTA_REBOOT_MS);
	while (!mfw_deadline_passed(deadline)) {
		r = mfw_at_poll_urcs(s->at, mfw_deadline_min(deadline, mfw_deadline_in(200)));
		if (gone(r))
			return wait_ready(s, FOTA_REBOOT_MS);
		if (r < 0)
			return r;
	}
	/* it stayed up: ask it on the same port */
	return wait_ready(s, FOTA_READY_MS);
}

int mfw_fota_send(struct mfw_ctx *ctx, const char *package, const struct mfw_fota_send_opts *opts,
		  struct mfw_fota_send_result *res)
{
	struct send *s;
	const char *name;
	char cmd[320];
	bool verified;
	int r;

	if (!opts || !opts->port || !res || (!package && !opts->url))
		return mfw_fail(ctx, MFW_E_INVAL, "dfota send needs a port and a package or a URL");
	name = opts->name ? opts->name : MFW_FOTA_DEFAULT_NAME;
	if (!*name || strlen(name) > 80 || strpbrk(name, "\"/\\\r\n"))
		return mfw_fail(ctx, MFW_E_INVAL,
				"file name '%s' must be 1-80 characters without quotes, slashes or line breaks",
				name);
	if (opts->url && (strlen(opts->url) > 255 || strpbrk(opts->url, "\"\r\n")))
		return mfw_fail(ctx, MFW_E_INVAL,
				"URL must be at most 255 characters without quotes or line breaks");
	memset(res, 0, sizeof(*res));
	res->code = -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for dfota send");
	s->ctx = ctx;
	s->o = opts;
	s->res = res;
	r = port_open(s);
	if (r < 0)
		goto out_free;
	r = wait_ready(s, FOTA_READY_MS);
	if (r == 0)
		r = firmware(s, res->firmware_before, sizeof(res->firmware_before));
	if (r < 0)
		goto out_close;
	emit(s, "identify", -1, 0, 0, "firmware %s", res->firmware_before);
	if (opts->url) {
		snprintf(cmd, sizeof(cmd), "AT+QFOTADL=\"%s\"", opts->url);
	} else {
		r = upload(s, package, name);
		if (r < 0)
			goto out_close;
		snprintf(cmd, sizeof(cmd), "AT+QFOTADL=\"" FOTA_UFS_DIR "%s\"", name);
	}
	r = mfw_at_cmd(s->at, cmd, 0, NULL);
	if (r < 0)
		goto out_close;
	emit(s, "start", -1, 0, 0, "%s", cmd);
	mfw_progress(s->ctx, "update", name, 0, 100);
	r = follow(s, name);
	if (r < 0)
		goto out_close;
	emit(s, "end", res->code, 0, 0, "%s", mfw_fota_code_text(res->code, &verified));
	if (res->code == 0 && res->last_pct != 100)
		mfw_progress(s->ctx, "update", name, 100, 100);
	/* a failed download leaves the module in its firmware: no reboot to wait for */
	r = res->code == 0 || (res->code >= 501 && res->code <= 599) ? after_end(s) :
								       wait_ready(s, FOTA_READY_MS);
	if (r == 0)
		r = firmware(s, res->firmware_after, sizeof(res->firmware_after));
	if (r < 0) {
		char why[400];

		snprintf(why, sizeof(why), "%s", mfw_ctx_detail(ctx));
		r = mfw_fail(ctx, r, "the update ended with %d, but the module did not come back: %s",
			     res->code, why);
		goto out_close;
	}
	emit(s, "confirm", -1, 0, 0, "firmware %s%s", res->firmware_after,
	     strcmp(res->firmware_before, res->firmware_after) ? "" : " (unchanged)");
out_close:
	port_close(s);
out_free:
	free(s);
	return r;
}
