/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AT session: V.250 lines over a byte stream. Lines end at CR or LF (the
 * module sends CR LF around every line; empty lines are dropped), the echo
 * of our own command is skipped, unsolicited result codes are told apart
 * from the response by name, and every wait has a deadline.
 */
#include "quectel/at.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct mfw_at {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	mfw_at_urc_fn urc_fn;
	void *urc_user;
	/* bytes read from the port, not yet cut into lines */
	unsigned char rx[1024];
	size_t rx_pos, rx_len;
	/* the line being assembled */
	char line[MFW_AT_LINE_MAX];
	size_t line_len;
	bool line_cut;
	size_t urcs, echoes, truncated;
	struct mfw_at_resp resp;
};

/* Bounded copy that always terminates. */
static void str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	while (n + 1 < cap && src[n]) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
}

int mfw_at_open(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_at **ret)
{
	struct mfw_at *at;

	if (!t || !ret)
		return mfw_fail(ctx, MFW_E_INVAL, "AT session needs an open port");
	at = calloc(1, sizeof(*at));
	if (!at)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for an AT session");
	at->ctx = ctx;
	at->t = t;
	*ret = at;
	return 0;
}

void mfw_at_close(struct mfw_at *at)
{
	free(at);
}

void mfw_at_set_urc(struct mfw_at *at, mfw_at_urc_fn fn, void *user)
{
	at->urc_fn = fn;
	at->urc_user = user;
}

void mfw_at_stats(const struct mfw_at *at, size_t *urcs, size_t *echoes, size_t *truncated)
{
	if (urcs)
		*urcs = at->urcs;
	if (echoes)
		*echoes = at->echoes;
	if (truncated)
		*truncated = at->truncated;
}

/*
 * Next complete, non-empty line into at->line before the deadline: 1, or
 * a negative error. Bytes after the line stay buffered for the next call.
 */
static int next_line(struct mfw_at *at, mfw_deadline_t deadline)
{
	for (;;) {
		while (at->rx_pos < at->rx_len) {
			unsigned char c = at->rx[at->rx_pos++];

			if (c == '\r' || c == '\n') {
				if (at->line_len == 0)
					continue;
				at->line[at->line_len] = '\0';
				at->line_len = 0;
				if (at->line_cut)
					at->truncated++;
				at->line_cut = false;
				return 1;
			}
			if (at->line_len + 1 < sizeof(at->line))
				at->line[at->line_len++] = (char)c;
			else
				at->line_cut = true;
		}
		at->rx_pos = at->rx_len = 0;
		int r = mfw_transport_read(at->t, at->rx, sizeof(at->rx), deadline);
		if (r < 0)
			return r;
		at->rx_len = (size_t)r;
	}
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* URCs that never answer a command. */
static const char *const bare_urcs[] = {
	"RDY", "RING", "POWERED DOWN", "NORMAL POWER DOWN", "SMS DONE", "PB DONE",
	"UNDER_VOLTAGE", "OVER_VOLTAGE",
};

/* "+NAME:" URCs; a response when the pending command is about NAME (AT+CPIN? answers +CPIN:). */
static const char *const named_urcs[] = {
	"+QIND", "+CPIN", "+QUSIM", "+CFUN", "+CREG", "+CGREG", "+CEREG", "+C5GREG",
	"+CRING", "+CMTI", "+CMT", "+CDS", "+CBM", "+CUSD", "+CGEV", "+QSTAT", "+QIURC",
	"+QSIMSTAT", "+QGPSURC", "+QNETDEVSTATUS", "+QFOTADL", "+QCSQ",
};

/* Does cmd ("AT+CPIN?", "at+cpin=1234") name the command NAME ("+CPIN")? */
static bool cmd_names(const char *cmd, const char *name)
{
	size_t l = strlen(name);

	if (!cmd || !has_prefix_ci(cmd, "AT"))
		return false;
	cmd += 2;
	if (strncasecmp(cmd, name, l))
		return false;
	return cmd[l] == '\0' || cmd[l] == '?' || cmd[l] == '=' || cmd[l] == ';';
}

bool mfw_at_is_urc(const char *line, const char *cmd)
{
	for (size_t i = 0; i < sizeof(bare_urcs) / sizeof(bare_urcs[0]); i++)
		if (!strcasecmp(line, bare_urcs[i]))
			return true;
	for (size_t i = 0; i < sizeof(named_urcs) / sizeof(named_urcs[0]); i++) {
		size_t l = strlen(named_urcs[i]);

		if (strncasecmp(line, named_urcs[i], l) || line[l] != ':')
			continue;
		return !cmd_names(cmd, named_urcs[i]);
	}
	return false;
}

static enum mfw_at_final final_of(const char *line, int *code)
{
	static const struct {
		const char *text;
		enum mfw_at_final f;
	} plain[] = {
		{ "OK", MFW_AT_FINAL_OK },
		{ "ERROR", MFW_AT_FINAL_ERROR },
		{ "NO CARRIER", MFW_AT_FINAL_NO_CARRIER },
		{ "BUSY", MFW_AT_FINAL_BUSY },
		{ "NO ANSWER", MFW_AT_FINAL_NO_ANSWER },
		{ "NO DIALTONE", MFW_AT_FINAL_NO_DIALTONE },
	};
	char *end;

	*code = -1;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (!strcmp(line, plain[i].text))
			return plain[i].f;
	if (!strcmp(line, "CONNECT") || !strncmp(line, "CONNECT ", 8))
		return MFW_AT_FINAL_CONNECT;
	if (!strncmp(line, "+CME ERROR:", 11) || !strncmp(line, "+CMS ERROR:", 11)) {
		long v = strtol(line + 11, &end, 10);

		if (end != line + 11 && v >= 0 && v < 100000)
			*code = (int)v;
		return line[3] == 'E' ? MFW_AT_FINAL_CME_ERROR : MFW_AT_FINAL_CMS_ERROR;
	}
	return MFW_AT_FINAL_NONE;
}

static void route_urc(struct mfw_at *at, const char *line)
{
	at->urcs++;
	mfw_trace(at->ctx, "at: urc '%s'", line);
	if (at->urc_fn)
		at->urc_fn(at->urc_user, line);
}

/* The echo: the command itself, give or take case and trailing blanks. */
static bool is_echo(const char *line, const char *cmd)
{
	size_t l = strlen(cmd), n = strlen(line);

	while (n > l && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	return n == l && strncasecmp(line, cmd, l) == 0;
}

int mfw_at_poll_urcs(struct mfw_at *at, mfw_deadline_t deadline)
{
	for (;;) {
		int r = next_line(at, deadline);

		if (r == MFW_E_TIMEOUT)
			return 0;
		if (r < 0)
			return mfw_fail(at->ctx, r, "AT port '%s' %s", at->t->name,
					r == MFW_E_NODEV ? "went away" : "read failed");
		route_urc(at, at->line);
	}
}

static int check_cmd(struct mfw_at *at, const char *cmd)
{
	size_t l = cmd ? strlen(cmd) : 0;

	if (l == 0 || l + 2 > MFW_AT_LINE_MAX)
		return mfw_fail(at->ctx, MFW_E_INVAL, "AT command empty or longer than %d bytes",
				MFW_AT_LINE_MAX - 2);
	for (size_t i = 0; i < l; i++)
		if (cmd[i] == '\r' || cmd[i] == '\n')
			return mfw_fail(at->ctx, MFW_E_INVAL,
					"AT command '%.40s' contains a line break: one command per call",
					cmd);
	return 0;
}

int mfw_at_cmd(struct mfw_at *at, const char *cmd, int timeout_ms,
	       const struct mfw_at_resp **rsp)
{
	struct mfw_at_resp *res = &at->resp;
	char out[MFW_AT_LINE_MAX + 1];
	mfw_deadline_t deadline;
	bool echo_possible = true;
	size_t len;
	int r;

	if (rsp)
		*rsp = res;
	memset(res, 0, offsetof(struct mfw_at_resp, lines));
	res->code = -1;
	r = check_cmd(at, cmd);
	if (r < 0)
		return r;
	/* what arrived while nothing was pending is unsolicited by definition */
	r = mfw_at_poll_urcs(at, mfw_deadline_in(0));
	if (r < 0)
		return r;
	len = (size_t)snprintf(out, sizeof(out), "%s\r", cmd);
	r = mfw_transport_write(at->t, out, len, mfw_deadline_in(MFW_AT_WRITE_TIMEOUT_MS), NULL);
	if (r < 0)
		return mfw_fail_keep(at->ctx, r, "cannot send '%s' to '%s'", cmd, at->t->name);
	mfw_trace(at->ctx, "at: > %s", cmd);
	deadline = mfw_deadline_in(timeout_ms > 0 ? timeout_ms : MFW_AT_TIMEOUT_MS);
	for (;;) {
		enum mfw_at_final f;

		r = next_line(at, deadline);
		if (r == MFW_E_TIMEOUT)
			return mfw_fail(at->ctx, r,
					"'%s' got no final result from '%s' within %d ms (%zu response "
					"line(s)%s%s)",
					cmd, at->t->name, timeout_ms > 0 ? timeout_ms : MFW_AT_TIMEOUT_MS,
					res->n_lines, res->n_lines ? ", last: " : "",
					res->n_lines ? res->lines[res->n_lines - 1] : "");
		if (r < 0)
			return mfw_fail(at->ctx, r, "AT port '%s' %s while waiting for '%s'",
					at->t->name, r == MFW_E_NODEV ? "went away" : "failed", cmd);
		mfw_trace(at->ctx, "at: < %s", at->line);
		if (echo_possible && is_echo(at->line, cmd)) {
			/* ATE1 (the default) repeats the command before anything else */
			at->echoes++;
			echo_possible = false;
			continue;
		}
		f = final_of(at->line, &res->code);
		if (f != MFW_AT_FINAL_NONE) {
			res->final = f;
			str_copy(res->final_line, sizeof(res->final_line), at->line);
			break;
		}
		if (mfw_at_is_urc(at->line, cmd)) {
			route_urc(at, at->line);
			continue;
		}
		echo_possible = false;
		if (res->n_lines < MFW_AT_MAX_LINES)
			str_copy(res->lines[res->n_lines++], MFW_AT_LINE_MAX, at->line);
		else
			res->dropped++;
	}
	if (res->final == MFW_AT_FINAL_OK || res->final == MFW_AT_FINAL_CONNECT)
		return 0;
	return mfw_fail(at->ctx, MFW_E_NAK, "'%s' answered %s", cmd, res->final_line);
}

/* ---- identity ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void copy_trim(char *dst, size_t cap, const char *src)
{
	while (*src == ' ')
		src++;
	str_copy(dst, cap, src);
}

static bool firmware_complete(const struct mfw_at_ident *id)
{
	size_t rl = strlen(id->revision);

	if (!id->firmware[0])
		return false;
	/* a complete answer is the revision plus a sub-version: EG25GGBR07A08M2G_01.003.01.003 */
	if (rl)
		return strncasecmp(id->firmware, id->revision, rl) == 0 && strlen(id->firmware) > rl + 1;
	return strchr(id->firmware, '_') != NULL;
}

static bool digits_only(const char *s, size_t min, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!isdigit((unsigned char)*s))
			return false;
	return n >= min && n <= max;
}

static void read_imei(struct mfw_at *at, struct mfw_at_ident *id)
{
	static const char *const cmds[] = { "AT+GSN", "AT+CGSN" };
	const struct mfw_at_resp *rsp;

	for (size_t c = 0; c < 2 && !id->imei[0]; c++) {
		if (mfw_at_cmd(at, cmds[c], 0, &rsp) < 0)
			continue;
		for (size_t i = 0; i < rsp->n_lines; i++) {
			const char *v = rsp->lines[i];

			/* some firmware prefixes the value: +CGSN: "8675..." */
			if (v[0] == '+' && strchr(v, ':'))
				v = strchr(v, ':') + 1;
			while (*v == ' ' || *v == '"')
				v++;
			char tmp[32];
			str_copy(tmp, sizeof(tmp), v);
			tmp[strcspn(tmp, "\"")] = '\0';
			if (digits_only(tmp, 14, 17)) {
				str_copy(id->imei, sizeof(id->imei), tmp);
				break;
			}
		}
	}
	mfw_ctx_clear_detail(at->ctx);
}

int mfw_at_identify(struct mfw_at *at, struct mfw_at_ident *id)
{
	const struct mfw_at_resp *rsp;
	size_t plain = 0;
	int r;

	memset(id, 0, sizeof(*id));
	r = mfw_at_cmd(at, "ATI", 0, &rsp);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rsp->n_lines; i++) {
		const char *l = rsp->lines[i];

		if (has_prefix_ci(l, "Revision:")) {
			copy_trim(id->revision, sizeof(id->revision), l + 9);
		} else if (plain == 0) {
			copy_trim(id->manufacturer, sizeof(id->manufacturer), l);
			plain++;
		} else if (plain == 1) {
			copy_trim(id->model, sizeof(id->model), l);
			plain++;
		}
	}
	for (int attempt = 1; attempt <= MFW_AT_QGMR_ATTEMPTS; attempt++) {
		r = mfw_at_cmd(at, "AT+QGMR", 0, &rsp);
		if (r == 0 && rsp->n_lines)
			copy_trim(id->firmware, sizeof(id->firmware), rsp->lines[0]);
		if (r == MFW_E_NODEV)
			return r;
		id->firmware_complete = firmware_complete(id);
		if (id->firmware_complete || (r == MFW_E_NAK && attempt >= 2))
			break; /* a module without AT+QGMR says ERROR every time */
		mfw_dbg(at->ctx, "at: AT+QGMR answer '%s' incomplete (attempt %d of %d)", id->firmware,
			attempt, MFW_AT_QGMR_ATTEMPTS);
		if (attempt < MFW_AT_QGMR_ATTEMPTS)
			sleep_ms(MFW_AT_QGMR_RETRY_MS);
	}
	mfw_ctx_clear_detail(at->ctx);
	read_imei(at, id);
	return 0;
}
