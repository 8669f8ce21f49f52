/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_AT_H
#define MODEMFW_AT_H

/*
 * AT session over a transport (a module's AT port in normal mode): one
 * command at a time, each with its own deadline. The echo of the command
 * is skipped, the response lines are collected up to the final result
 * (OK, ERROR, +CME ERROR: n, +CMS ERROR: n, CONNECT, NO CARRIER, ...),
 * and unsolicited result codes (+QIND:, RDY, +CPIN: when not asked,
 * POWERED DOWN, ...) go to a callback instead of the response. Lines are
 * bounded (MFW_AT_LINE_MAX); longer ones are cut and counted.
 */
#include <modemfw/context.h>

#include <stdbool.h>
#include <stddef.h>

struct mfw_transport;
struct mfw_at;

/* Longest line kept (bytes, without the terminator); the rest of a longer line is dropped. */
#define MFW_AT_LINE_MAX 512
/* Response lines kept per command; more are counted in dropped. */
#define MFW_AT_MAX_LINES 64
/*
 * Default per-command timeout. 3GPP TS 27.007 sets none; Quectel's AT
 * manuals give 300 ms for most query commands, ModemManager allows 3 s by
 * default: 5 s leaves margin for a module busy at start-up.
 */
#define MFW_AT_TIMEOUT_MS 5000
/* Slow commands (AT+COPS=?, AT+QFOTADL-class): Quectel manuals give up to 180 s. */
#define MFW_AT_TIMEOUT_SLOW_MS 180000

enum mfw_at_final {
	MFW_AT_FINAL_NONE = 0,
	MFW_AT_FINAL_OK,
	MFW_AT_FINAL_ERROR,
	MFW_AT_FINAL_CME_ERROR,
	MFW_AT_FINAL_CMS_ERROR,
	MFW_AT_FINAL_CONNECT,    /* data phase follows (AT+QFUPL) */
	MFW_AT_FINAL_NO_CARRIER,
	MFW_AT_FINAL_BUSY,
	MFW_AT_FINAL_NO_ANSWER,
	MFW_AT_FINAL_NO_DIALTONE,
};

struct mfw_at_resp {
	enum mfw_at_final final;
	int code;                         /* +CME/+CMS ERROR number, -1 for a text or none */
	char final_line[MFW_AT_LINE_MAX]; /* the final result line as received */
	size_t n_lines;
	size_t dropped;                   /* response lines beyond MFW_AT_MAX_LINES */
	char lines[MFW_AT_MAX_LINES][MFW_AT_LINE_MAX];
};

typedef void (*mfw_at_urc_fn)(void *user, const char *line);

/* Wrap an open transport (not owned). */
int mfw_at_open(struct mfw_ctx *ctx, struct mfw_transport *t, struct mfw_at **ret);
void mfw_at_close(struct mfw_at *at);
void mfw_at_set_urc(struct mfw_at *at, mfw_at_urc_fn fn, void *user);

/*
 * Send cmd ("AT+QGMR", no terminator) and wait up to timeout_ms (0 =
 * MFW_AT_TIMEOUT_MS) for its final result. *rsp (may be NULL) points into
 * the session until the next command. 0 on OK or CONNECT; MFW_E_NAK on
 * ERROR/+CME/+CMS/NO CARRIER..., with the final line in the detail;
 * MFW_E_TIMEOUT with the lines seen so far; MFW_E_NODEV when the port
 * went away.
 */
int mfw_at_cmd(struct mfw_at *at, const char *cmd, int timeout_ms,
	       const struct mfw_at_resp **rsp);

/* Read and route whatever arrives until the deadline (URCs only); 0 or NODEV/IO. */
int mfw_at_poll_urcs(struct mfw_at *at, mfw_deadline_t deadline);

/* Counters: URCs routed, echoes skipped, lines cut at MFW_AT_LINE_MAX. */
void mfw_at_stats(const struct mfw_at *at, size_t *urcs, size_t *echoes, size_t *truncated);

/* Is line an unsolicited result code while cmd (may be NULL: idle) is pending? Pure. */
bool mfw_at_is_urc(const char *line, const char *cmd);

/* What a module in normal mode says about itself. */
struct mfw_at_ident {
	char manufacturer[64]; /* ATI line 1: "Quectel" */
	char model[64];        /* ATI line 2: "EC25" */
	char revision[128];    /* ATI "Revision: EC25EFAR06A06M4G" */
	char firmware[160];    /* AT+QGMR: "EC25EFAR06A06M4G_01.003.01.003" */
	bool firmware_complete;
	char imei[32];         /* AT+GSN (AT+CGSN as fallback) */
};
/*
 * Early AT+QGMR answers can be incomplete (no sub-version after the
 * revision); ModemManager retries up to 16 times. We retry this often,
 * this far apart, then report what we have with firmware_complete false.
 */
#define MFW_AT_QGMR_ATTEMPTS 8
#define MFW_AT_QGMR_RETRY_MS 500
/* ATI, AT+QGMR, AT+GSN. Fails only when ATI fails; missing parts stay "". */
int mfw_at_identify(struct mfw_at *at, struct mfw_at_ident *id);

#endif
