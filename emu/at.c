/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem's AT port, as an EC25 answers (reference
 * quectel-at-usb.md §1): echo on (ATE0/ATE1), verbose result codes
 * ("\r\nOK\r\n"), identification (ATI, AT+GMR, AT+QGMR, AT+CGMI, ...),
 * the IMEI from NV 550 (AT+GSN, AT+CGSN), AT+CPIN?, AT+CMEE, and "RDY"
 * to the first host after boot. A command line ends at CR (S3); a lone
 * LF ends one too, and the LF of a CR LF pair is ignored.
 *
 * Commands live in one table of {name, handler}; a handler gets the form
 * (exec, read "?", test "=?", set "=...") and the argument text. Later
 * commands (AT+QFUPL, AT+QFOTADL) are one more row each.
 */
#include "normal.h"
#include "proto/diag.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* 3GPP TS 27.007 asks for at least 560 characters per command line; longer lines get ERROR. */
#define AT_LINE_MAX 1024

#define MODEL "EC25"
#define REVISION "EC25EFAR06A06M4G"
#define SUBREVISION REVISION "_01.002.01.002"

enum at_form {
	AT_EXEC, /* AT+X */
	AT_READ, /* AT+X? */
	AT_TEST, /* AT+X=? */
	AT_SET,  /* AT+X=args */
};

struct at_conn {
	struct emu_normal *nm;
	struct mfw_transport *t;
	int err; /* first write error: the session ends with it */
};

/* Handlers send their information lines and return the final result: 0 OK, -1 ERROR, > 0 +CME ERROR. */
typedef int (*at_fn)(struct at_conn *c, enum at_form form, const char *arg);

struct at_cmd {
	const char *name;  /* without "AT": "+GSN", "I", "E" */
	at_fn fn;
};

static void at_send(struct at_conn *c, const char *s, size_t len)
{
	if (!c->err)
		c->err = emu_port_write(c->nm, c->t, s, len);
}

/* One information line or result code: CR LF text CR LF (V1, verbose). */
static void at_line(struct at_conn *c, const char *fmt, ...)
{
	char buf[256];
	int n;
	va_list ap;

	buf[0] = '\r';
	buf[1] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(buf + 2, sizeof(buf) - 4, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 5)
		n = (int)sizeof(buf) - 5;
	buf[2 + n] = '\r';
	buf[3 + n] = '\n';
	at_send(c, buf, (size_t)n + 4);
}

/* Plain information text: the lines of a multi-line answer share one CR LF frame. */
static void at_text(struct at_conn *c, const char *s)
{
	at_send(c, s, strlen(s));
}

static int only_exec(enum at_form form)
{
	return form == AT_EXEC ? 0 : form == AT_TEST ? 1 : -1;
}

static int cmd_info(struct at_conn *c, const char *text, enum at_form form)
{
	int r = only_exec(form);

	if (r < 0)
		return -1;
	if (r == 0)
		at_line(c, "%s", text);
	return 0;
}

static int at_i(struct at_conn *c, enum at_form form, const char *arg)
{
	if (form != AT_EXEC || (arg[0] && strcmp(arg, "0")))
		return -1;
	at_text(c, "\r\nQuectel\r\n" MODEL "\r\nRevision: " REVISION "\r\n");
	return 0;
}

static int at_e(struct at_conn *c, enum at_form form, const char *arg)
{
	if (form != AT_EXEC || (arg[0] && strcmp(arg, "0") && strcmp(arg, "1")))
		return -1;
	c->nm->at_echo = arg[0] == '1';
	return 0;
}

static int at_manufacturer(struct at_conn *c, enum at_form form, const char *arg)
{
	(void)arg;
	return cmd_info(c, "Quectel", form);
}

static int at_model(struct at_conn *c, enum at_form form, const char *arg)
{
	(void)arg;
	return cmd_info(c, MODEL, form);
}

static int at_gmr(struct at_conn *c, enum at_form form, const char *arg)
{
	(void)arg;
	return cmd_info(c, "Revision: " REVISION, form);
}

static int at_qgmr(struct at_conn *c, enum at_form form, const char *arg)
{
	(void)arg;
	return cmd_info(c, SUBREVISION, form);
}

/*
 * The IMEI as the firmware reads it from NV 550. With a wiped EFS the read
 * fails and ATCoP answers the bare result code ERROR: no 27.007 +CME code
 * fits "no IMEI" (docs/emulator.md).
 */
static int at_gsn(struct at_conn *c, enum at_form form, const char *arg)
{
	uint8_t nv[EMU_NV_DATA];
	char imei[MFW_IMEI_DIGITS + 1];
	int r;

	(void)arg;
	if (form == AT_TEST)
		return 0;
	if (form != AT_EXEC)
		return -1;
	pthread_mutex_lock(&c->nm->lock);
	r = emu_nv_get(&c->nm->nv, MFW_NV_ITEM_IMEI, 0, nv);
	pthread_mutex_unlock(&c->nm->lock);
	if (r < 0 || mfw_imei_decode(nv, sizeof(nv), imei) < 0)
		return -1;
	at_line(c, "%s", imei);
	return 0;
}

static int at_cpin(struct at_conn *c, enum at_form form, const char *arg)
{
	(void)arg;
	if (form == AT_TEST)
		return 0;
	if (form != AT_READ)
		return -1;
	at_line(c, "+CPIN: READY");
	return 0;
}

static int at_cmee(struct at_conn *c, enum at_form form, const char *arg)
{
	switch (form) {
	case AT_READ:
		at_line(c, "+CMEE: %u", c->nm->at_cmee);
		return 0;
	case AT_TEST:
		at_line(c, "+CMEE: (0-2)");
		return 0;
	case AT_SET:
		if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '2')
			return -1;
		c->nm->at_cmee = (uint8_t)(arg[0] - '0');
		return 0;
	default:
		return -1;
	}
}

static const struct at_cmd commands[] = {
	{ "E", at_e },
	{ "I", at_i },
	{ "+GMI", at_manufacturer },
	{ "+CGMI", at_manufacturer },
	{ "+GMM", at_model },
	{ "+CGMM", at_model },
	{ "+GMR", at_gmr },
	{ "+CGMR", at_gmr },
	{ "+QGMR", at_qgmr },
	{ "+GSN", at_gsn },
	{ "+CGSN", at_gsn },
	{ "+CPIN", at_cpin },
	{ "+CMEE", at_cmee },
};

static void result(struct at_conn *c, int r)
{
	if (r == 0)
		at_line(c, "OK");
	else if (r > 0 && c->nm->at_cmee == 1)
		at_line(c, "+CME ERROR: %d", r);
	else
		at_line(c, "ERROR");
}

/* One command line (without its terminator). Lines not starting with AT are ignored, like a modem does. */
static void run_line(struct at_conn *c, const char *line)
{
	char name[32];
	const char *p = line, *arg = "";
	enum at_form form = AT_EXEC;
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (strncasecmp(p, "AT", 2))
		return;
	p += 2;
	if (!*p) {
		result(c, 0);
		return;
	}
	if (*p == '+') {
		/* extended: +NAME, then ?, =? or =args */
		name[n++] = '+';
		p++;
		while (isalnum((unsigned char)*p) && n + 1 < sizeof(name))
			name[n++] = (char)toupper((unsigned char)*p++);
		name[n] = 0;
		if (!strcmp(p, "?")) {
			form = AT_READ;
		} else if (!strcmp(p, "=?")) {
			form = AT_TEST;
		} else if (*p == '=') {
			form = AT_SET;
			arg = p + 1;
		} else if (*p) {
			result(c, -1);
			return;
		}
	} else if (isalpha((unsigned char)*p)) {
		/* basic: one letter and an optional number (ATE0, ATI) */
		name[n++] = (char)toupper((unsigned char)*p++);
		name[n] = 0;
		arg = p;
		for (const char *q = p; *q; q++) {
			if (!isdigit((unsigned char)*q)) {
				result(c, -1);
				return;
			}
		}
	} else {
		result(c, -1);
		return;
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(commands); i++) {
		if (!strcmp(commands[i].name, name)) {
			result(c, commands[i].fn(c, form, arg));
			return;
		}
	}
	result(c, -1);
}

int emu_at_session(struct emu_normal *nm, struct mfw_transport *t)
{
	struct at_conn c = { .nm = nm, .t = t };
	char line[AT_LINE_MAX + 1];
	size_t len = 0;
	bool overflow = false, last_cr = false;
	uint8_t buf[1024];

	if (!nm->at_rdy_sent) {
		/* the boot URC; on USB only a host that is already listening gets it */
		nm->at_rdy_sent = true;
		at_line(&c, "RDY");
		if (c.err)
			return c.err;
	}
	for (;;) {
		int n = emu_port_read(nm, t, buf, sizeof(buf), MFW_DEADLINE_NONE);

		if (n < 0)
			return n;
		/* echo what came, as a modem echoes each character it takes */
		if (nm->at_echo)
			at_send(&c, (const char *)buf, (size_t)n);
		for (int i = 0; i < n && !c.err; i++) {
			char ch = (char)buf[i];

			if (ch == '\n' && last_cr) {
				last_cr = false;
				continue;
			}
			last_cr = ch == '\r';
			if (ch == '\r' || ch == '\n') {
				line[len] = 0;
				if (overflow)
					result(&c, -1);
				else if (len)
					run_line(&c, line);
				len = 0;
				overflow = false;
				continue;
			}
			if (ch == 0x08 || ch == 0x7f) {
				/* backspace edits the line, as on a terminal */
				if (len)
					len--;
				continue;
			}
			if (len < AT_LINE_MAX)
				line[len++] = ch;
			else
				overflow = true;
		}
		if (c.err)
			return c.err;
	}
}
