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
#include "fota.h"
#include "proto/diag.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
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
	/* after the final result of AT+QFOTADL: the URCs that follow it */
	enum { FOTA_AFTER_NONE, FOTA_AFTER_START, FOTA_AFTER_HTTP, FOTA_AFTER_FTP } fota_after;
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

/*
 * The revision is the firmware version without its sub-version: after a
 * DFOTA update both follow the root file system's version file, so that
 * ATI and AT+QGMR agree (a host takes a QGMR answer that does not start
 * with the revision for an incomplete one).
 */
static void revision(struct at_conn *c, char *out, size_t cap)
{
	emu_fota_version(c->nm->emu->fota, SUBREVISION, out, cap);
	out[strcspn(out, "_")] = 0;
}

static int at_i(struct at_conn *c, enum at_form form, const char *arg)
{
	char rev[160], text[256];

	if (form != AT_EXEC || (arg[0] && strcmp(arg, "0")))
		return -1;
	revision(c, rev, sizeof(rev));
	snprintf(text, sizeof(text), "\r\nQuectel\r\n" MODEL "\r\nRevision: %s\r\n", rev);
	at_text(c, text);
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
	char rev[160], text[180];

	(void)arg;
	revision(c, rev, sizeof(rev));
	snprintf(text, sizeof(text), "Revision: %s", rev);
	return cmd_info(c, text, form);
}

static int at_qgmr(struct at_conn *c, enum at_form form, const char *arg)
{
	char v[160];

	(void)arg;
	/* after a DFOTA update the version is the one the root file system carries */
	emu_fota_version(c->nm->emu->fota, SUBREVISION, v, sizeof(v));
	return cmd_info(c, v, form);
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

/* ---- user file system and DFOTA (emu/fota.c; docs/emulator.md, "DFOTA over AT") ---- */

/*
 * A quoted string argument at *p ("name"), copied into out; *p moves past
 * it. -1 when it is not one or does not fit.
 */
static int quoted(const char **p, char *out, size_t cap)
{
	const char *s = *p, *e;

	if (*s != '"' || !(e = strchr(s + 1, '"')) || (size_t)(e - s - 1) >= cap)
		return -1;
	memcpy(out, s + 1, (size_t)(e - s - 1));
	out[e - s - 1] = 0;
	*p = e + 1;
	return 0;
}

static int at_qflds(struct at_conn *c, enum at_form form, const char *arg)
{
	uint64_t fr, total;

	if (form == AT_TEST)
		return 0;
	/* AT+QFLDS="UFS": the user file system's free and total bytes */
	if (form != AT_SET || strcasecmp(arg, "\"UFS\""))
		return -1;
	if (!emu_fota_enabled(c->nm->emu->fota))
		return EMU_CME_NOT_ALLOWED;
	emu_fota_space(c->nm->emu->fota, &fr, &total);
	at_line(c, "+QFLDS: %" PRIu64 ",%" PRIu64, fr, total);
	return 0;
}

struct qflst_arg {
	struct at_conn *c;
	const char *only; /* NULL = every file */
};

static void qflst_one(void *user, const char *name, uint64_t size)
{
	struct qflst_arg *a = user;

	if (!a->only || !strcmp(a->only, name))
		at_line(a->c, "+QFLST: \"%s\",%" PRIu64, name, size);
}

static int at_qflst(struct at_conn *c, enum at_form form, const char *arg)
{
	struct qflst_arg a = { .c = c };
	char name[128];

	if (form == AT_TEST)
		return 0;
	if (!emu_fota_enabled(c->nm->emu->fota))
		return EMU_CME_NOT_ALLOWED;
	if (form == AT_SET) {
		if (quoted(&arg, name, sizeof(name)) < 0 || *arg)
			return EMU_FILE_E_BAD_NAME;
		if (strcmp(name, "*"))
			a.only = name;
	} else if (form != AT_EXEC) {
		return -1;
	}
	emu_fota_list(c->nm->emu->fota, qflst_one, &a);
	return 0;
}

static int at_qfdel(struct at_conn *c, enum at_form form, const char *arg)
{
	char name[128];

	if (form == AT_TEST)
		return 0;
	if (form != AT_SET)
		return -1;
	if (!emu_fota_enabled(c->nm->emu->fota))
		return EMU_CME_NOT_ALLOWED;
	if (quoted(&arg, name, sizeof(name)) < 0 || *arg)
		return EMU_FILE_E_BAD_NAME;
	return emu_fota_delete(c->nm->emu->fota, name);
}

/* Unsigned decimal field at *p, then an optional ','. -1 when there is none. */
static int field_u64(const char **p, uint64_t *out)
{
	char *end;

	if (**p < '0' || **p > '9')
		return -1;
	*out = strtoull(*p, &end, 10);
	if (*end == ',')
		end++;
	else if (*end)
		return -1;
	*p = end;
	return 0;
}

/*
 * AT+QFUPL="<name>",<size>[,<timeout s>[,<ackmode>]]: CONNECT, then the
 * data (with ackmode 1 an 'A' after each 1 KiB), then +QFUPL: <size>,<sum>
 * (sum in hex) and OK. The file must not exist (407: delete it first).
 */
static int at_qfupl(struct at_conn *c, enum at_form form, const char *arg)
{
	struct emu_fota *f = c->nm->emu->fota;
	uint64_t size = 0, tmo = 5, ack = 0;
	char name[128];
	uint16_t sum;
	int r;

	if (form == AT_TEST)
		return 0;
	if (form != AT_SET)
		return -1;
	if (!emu_fota_enabled(f))
		return EMU_CME_NOT_ALLOWED;
	if (quoted(&arg, name, sizeof(name)) < 0 || *arg++ != ',' || field_u64(&arg, &size) < 0 ||
	    (*arg && field_u64(&arg, &tmo) < 0) || (*arg && field_u64(&arg, &ack) < 0) || *arg ||
	    ack > 1 || tmo == 0 || tmo > 3600)
		return 400; /* FILE error: invalid input value */
	r = emu_fota_upload_check(f, name, size);
	if (r)
		return r;
	at_line(c, "CONNECT");
	if (c->err)
		return -1;
	r = emu_fota_receive(c->nm, c->t, f, name, size, (unsigned)tmo, ack == 1, &sum);
	if (r < 0) {
		c->err = r;
		return -1;
	}
	if (r)
		return r;
	at_line(c, "+QFUPL: %" PRIu64 ",%x", size, sum);
	return 0;
}

/*
 * AT+QFOTADL="<url or /data/ufs/name>": OK, then +QIND URCs. A local file
 * starts the update (START, then the reboot into recovery); the module
 * has no network, so a URL ends its download with the unknown-error code
 * (HTTP 701, FTP 601).
 */
static int at_qfotadl(struct at_conn *c, enum at_form form, const char *arg)
{
	char path[300];
	int r;

	if (form == AT_TEST)
		return 0;
	if (form != AT_SET || quoted(&arg, path, sizeof(path)) < 0 || *arg)
		return -1;
	if (!strncasecmp(path, "http://", 7) || !strncasecmp(path, "https://", 8)) {
		c->fota_after = FOTA_AFTER_HTTP;
		return 0;
	}
	if (!strncasecmp(path, "ftp://", 6)) {
		c->fota_after = FOTA_AFTER_FTP;
		return 0;
	}
	if (!emu_fota_enabled(c->nm->emu->fota))
		return EMU_CME_NOT_ALLOWED;
	r = emu_fota_start(c->nm->emu->fota, path);
	if (r)
		return r;
	c->fota_after = FOTA_AFTER_START;
	return 0;
}

static void fota_urcs(struct at_conn *c)
{
	switch (c->fota_after) {
	case FOTA_AFTER_HTTP:
		at_line(c, "+QIND: \"FOTA\",\"HTTPSTART\"");
		at_line(c, "+QIND: \"FOTA\",\"HTTPEND\",701");
		break;
	case FOTA_AFTER_FTP:
		at_line(c, "+QIND: \"FOTA\",\"FTPSTART\"");
		at_line(c, "+QIND: \"FOTA\",\"FTPEND\",601");
		break;
	case FOTA_AFTER_START:
		/* the session ends after this: the module reboots into its recovery */
		at_line(c, "+QIND: \"FOTA\",\"START\"");
		break;
	default:
		break;
	}
	c->fota_after = FOTA_AFTER_NONE;
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
	{ "+QFLDS", at_qflds },
	{ "+QFLST", at_qflst },
	{ "+QFDEL", at_qfdel },
	{ "+QFUPL", at_qfupl },
	{ "+QFOTADL", at_qfotadl },
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
			fota_urcs(c);
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
		/* AT+QFOTADL started an update: the firmware goes down for the recovery */
		if (emu_fota_pending(nm->emu->fota))
			return 0;
	}
}
