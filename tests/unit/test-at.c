/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AT session (lib/quectel/at.c) against a scripted fake AT port in a
 * thread on the other end of a transport pair: echo on and off, URCs
 * interleaved with a response, ERROR and +CME ERROR, timeouts, long
 * lines, answers dribbled one byte at a time, the identity sequence with
 * an incomplete AT+QGMR.
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

#include <modemfw/at.h>
#include "core/core.h"
#include "quectel/at.h"
#include "transport/transport.h"

#define MAX_STEPS 16

struct step {
	const char *expect; /* command line the host must send (without CR) */
	const char *reply;  /* bytes sent back; NULL = stay silent */
};

struct fake {
	struct mfw_transport *dev;
	const char *unsolicited; /* sent before the first command */
	bool dribble;            /* replies one byte per write */
	bool hang_up;            /* close the port after the last step */
	struct step steps[MAX_STEPS];
	int n_steps;
	/* observations */
	int served;
	char mismatch[256];
};

static void fake_write(struct fake *f, const char *s)
{
	size_t len = strlen(s);

	if (!f->dribble) {
		mfw_transport_write(f->dev, s, len, mfw_deadline_in(2000), NULL);
		return;
	}
	for (size_t i = 0; i < len; i++)
		mfw_transport_write(f->dev, s + i, 1, mfw_deadline_in(2000), NULL);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char line[1024];
	size_t len = 0;

	if (f->unsolicited)
		fake_write(f, f->unsolicited);
	while (f->served < f->n_steps) {
		char c;
		int r = mfw_transport_read(f->dev, &c, 1, mfw_deadline_in(5000));

		if (r <= 0)
			break;
		if (c != '\r') {
			if (len + 1 < sizeof(line))
				line[len++] = c;
			continue;
		}
		line[len] = '\0';
		len = 0;
		const struct step *s = &f->steps[f->served++];
		if (strcmp(line, s->expect)) {
			snprintf(f->mismatch, sizeof(f->mismatch), "expected '%.60s', got '%.60s'",
				 s->expect, line);
			break;
		}
		if (s->reply)
			fake_write(f, s->reply);
	}
	if (f->hang_up) {
		mfw_transport_close(f->dev);
		f->dev = NULL;
	}
	return NULL;
}

struct rig {
	struct mfw_ctx *ctx;
	struct mfw_transport *host, *dev;
	struct mfw_at *at;
	struct fake fake;
	pthread_t th;
	char urcs[8][128];
	int n_urcs;
};

static void on_urc(void *user, const char *line)
{
	struct rig *r = user;

	if (r->n_urcs < 8)
		snprintf(r->urcs[r->n_urcs++], sizeof(r->urcs[0]), "%s", line);
}

static void rig_start(struct rig *r)
{
	assert_int_equal(mfw_ctx_new(&r->ctx), 0);
	assert_int_equal(mfw_transport_pair(r->ctx, 8192, &r->host, &r->dev), 0);
	r->fake.dev = r->dev;
	assert_int_equal(mfw_at_open(r->ctx, r->host, &r->at), 0);
	mfw_at_set_urc(r->at, on_urc, r);
	assert_int_equal(pthread_create(&r->th, NULL, fake_main, &r->fake), 0);
}

static void rig_stop(struct rig *r)
{
	mfw_at_close(r->at);
	mfw_transport_close(r->host);
	pthread_join(r->th, NULL);
	if (r->fake.dev)
		mfw_transport_close(r->fake.dev);
	assert_string_equal(r->fake.mismatch, "");
	mfw_ctx_free(r->ctx);
}

static void add(struct rig *r, const char *expect, const char *reply)
{
	r->fake.steps[r->fake.n_steps].expect = expect;
	r->fake.steps[r->fake.n_steps].reply = reply;
	r->fake.n_steps++;
}

static void test_echo_on(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;
	size_t echoes;

	(void)state;
	add(&r, "ATI", "ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n");
	rig_start(&r);
	assert_int_equal(mfw_at_cmd(r.at, "ATI", 0, &rsp), 0);
	assert_int_equal(rsp->final, MFW_AT_FINAL_OK);
	assert_int_equal(rsp->n_lines, 3);
	assert_string_equal(rsp->lines[0], "Quectel");
	assert_string_equal(rsp->lines[1], "EC25");
	assert_string_equal(rsp->lines[2], "Revision: EC25EFAR06A06M4G");
	mfw_at_stats(r.at, NULL, &echoes, NULL);
	assert_int_equal(echoes, 1);
	rig_stop(&r);
}

static void test_echo_off_dribbled(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;
	size_t echoes;

	(void)state;
	r.fake.dribble = true;
	add(&r, "AT+GSN", "\r\n867962040000005\r\n\r\nOK\r\n");
	rig_start(&r);
	assert_int_equal(mfw_at_cmd(r.at, "AT+GSN", 0, &rsp), 0);
	assert_int_equal(rsp->n_lines, 1);
	assert_string_equal(rsp->lines[0], "867962040000005");
	mfw_at_stats(r.at, NULL, &echoes, NULL);
	assert_int_equal(echoes, 0);
	rig_stop(&r);
}

static void test_urc_interleaved(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;
	size_t urcs;

	(void)state;
	/* a URC waiting before the command, two inside the answer, +CPIN: asked and unasked */
	r.fake.unsolicited = "\r\nRDY\r\n";
	add(&r, "AT+QGMR",
	    "AT+QGMR\r\r\n+QIND: \"FOTA\",\"START\"\r\nEC25EFAR06A06M4G_01.003.01.003\r\n"
	    "+CPIN: READY\r\n\r\nOK\r\n");
	add(&r, "AT+CPIN?", "AT+CPIN?\r\r\n+CPIN: READY\r\n\r\nOK\r\n");
	rig_start(&r);
	/* give the unsolicited RDY time to arrive before the command goes out */
	assert_int_equal(mfw_at_poll_urcs(r.at, mfw_deadline_in(200)), 0);
	assert_int_equal(mfw_at_cmd(r.at, "AT+QGMR", 0, &rsp), 0);
	assert_int_equal(rsp->n_lines, 1);
	assert_string_equal(rsp->lines[0], "EC25EFAR06A06M4G_01.003.01.003");
	assert_int_equal(r.n_urcs, 3);
	assert_string_equal(r.urcs[0], "RDY");
	assert_string_equal(r.urcs[1], "+QIND: \"FOTA\",\"START\"");
	assert_string_equal(r.urcs[2], "+CPIN: READY");
	/* when asked, +CPIN: is the answer */
	assert_int_equal(mfw_at_cmd(r.at, "AT+CPIN?", 0, &rsp), 0);
	assert_int_equal(rsp->n_lines, 1);
	assert_string_equal(rsp->lines[0], "+CPIN: READY");
	mfw_at_stats(r.at, &urcs, NULL, NULL);
	assert_int_equal(urcs, 3);
	rig_stop(&r);
}

static void test_errors(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;

	(void)state;
	add(&r, "AT+QFOO", "AT+QFOO\r\r\nERROR\r\n");
	add(&r, "AT+CPIN?", "\r\n+CME ERROR: 10\r\n");
	add(&r, "AT+CMGS=1", "\r\n+CMS ERROR: 500\r\n");
	add(&r, "AT+QFUPL=\"a\",10", "\r\nCONNECT\r\n");
	rig_start(&r);
	assert_int_equal(mfw_at_cmd(r.at, "AT+QFOO", 0, &rsp), MFW_E_NAK);
	assert_int_equal(rsp->final, MFW_AT_FINAL_ERROR);
	assert_int_equal(rsp->n_lines, 0);
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "'AT+QFOO' answered ERROR"));
	assert_int_equal(mfw_at_cmd(r.at, "AT+CPIN?", 0, &rsp), MFW_E_NAK);
	assert_int_equal(rsp->final, MFW_AT_FINAL_CME_ERROR);
	assert_int_equal(rsp->code, 10);
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "+CME ERROR: 10"));
	assert_int_equal(mfw_at_cmd(r.at, "AT+CMGS=1", 0, &rsp), MFW_E_NAK);
	assert_int_equal(rsp->final, MFW_AT_FINAL_CMS_ERROR);
	assert_int_equal(rsp->code, 500);
	/* CONNECT ends the command phase: the caller sends data next */
	assert_int_equal(mfw_at_cmd(r.at, "AT+QFUPL=\"a\",10", 0, &rsp), 0);
	assert_int_equal(rsp->final, MFW_AT_FINAL_CONNECT);
	rig_stop(&r);
}

static void test_timeout(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;
	int64_t start;

	(void)state;
	/* an answer without its final result, then silence */
	add(&r, "AT+COPS=?", "AT+COPS=?\r\r\n+COPS: (2,\"operator\")\r\n");
	rig_start(&r);
	start = mfw_now_ms();
	assert_int_equal(mfw_at_cmd(r.at, "AT+COPS=?", 300, &rsp), MFW_E_TIMEOUT);
	assert_true(mfw_now_ms() - start >= 300);
	assert_true(mfw_now_ms() - start < 3000);
	assert_int_equal(rsp->final, MFW_AT_FINAL_NONE);
	assert_int_equal(rsp->n_lines, 1);
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "'AT+COPS=?'"));
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "within 300 ms"));
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "+COPS: (2,\"operator\")"));
	rig_stop(&r);
}

static void test_long_line_and_bad_commands(void **state)
{
	static char reply[2048];
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;
	size_t cut;

	(void)state;
	memcpy(reply, "\r\n", 2);
	memset(reply + 2, 'x', 1500);
	strcpy(reply + 1502, "\r\n\r\nOK\r\n");
	add(&r, "AT+QLONG", reply);
	rig_start(&r);
	assert_int_equal(mfw_at_cmd(r.at, "AT+QLONG", 0, &rsp), 0);
	assert_int_equal(rsp->n_lines, 1);
	assert_int_equal(strlen(rsp->lines[0]), MFW_AT_LINE_MAX - 1);
	mfw_at_stats(r.at, NULL, NULL, &cut);
	assert_int_equal(cut, 1);
	/* refused before anything is sent: the fake would report a mismatch otherwise */
	assert_int_equal(mfw_at_cmd(r.at, "AT\r\nATD123", 0, &rsp), MFW_E_INVAL);
	assert_int_equal(mfw_at_cmd(r.at, "", 0, &rsp), MFW_E_INVAL);
	rig_stop(&r);
}

static void test_gone(void **state)
{
	struct rig r = { 0 };
	const struct mfw_at_resp *rsp;

	(void)state;
	add(&r, "AT", NULL);
	r.fake.hang_up = true;
	rig_start(&r);
	/* the fake leaves after its last step: the port goes away mid-command */
	assert_int_equal(mfw_at_cmd(r.at, "AT", 0, &rsp), MFW_E_NODEV);
	assert_non_null(strstr(mfw_ctx_detail(r.ctx), "went away"));
	rig_stop(&r);
}

static void test_identify(void **state)
{
	struct rig r = { 0 };
	struct mfw_at_ident id;

	(void)state;
	add(&r, "ATI", "ATI\r\r\nQuectel\r\nEG25\r\nRevision: EG25GGBR07A08M2G\r\n\r\nOK\r\n");
	/* an early answer without the sub-version, then the full one */
	add(&r, "AT+QGMR", "AT+QGMR\r\r\nEG25GGBR07A08M2G\r\n\r\nOK\r\n");
	add(&r, "AT+QGMR", "AT+QGMR\r\r\nEG25GGBR07A08M2G_01.003.01.003\r\n\r\nOK\r\n");
	add(&r, "AT+GSN", "AT+GSN\r\r\n+QIND: SMS DONE\r\n867962040000005\r\n\r\nOK\r\n");
	rig_start(&r);
	assert_int_equal(mfw_at_identify(r.at, &id), 0);
	assert_string_equal(id.manufacturer, "Quectel");
	assert_string_equal(id.model, "EG25");
	assert_string_equal(id.revision, "EG25GGBR07A08M2G");
	assert_string_equal(id.firmware, "EG25GGBR07A08M2G_01.003.01.003");
	assert_true(id.firmware_complete);
	assert_string_equal(id.imei, "867962040000005");
	assert_int_equal(r.fake.served, 4);
	rig_stop(&r);
}

static void test_identify_fallbacks(void **state)
{
	struct rig r = { 0 };
	struct mfw_at_ident id;

	(void)state;
	add(&r, "ATI", "\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n");
	add(&r, "AT+QGMR", "\r\nERROR\r\n");
	add(&r, "AT+QGMR", "\r\nERROR\r\n");
	add(&r, "AT+GSN", "\r\n+CME ERROR: 4\r\n");
	add(&r, "AT+CGSN", "\r\n+CGSN: \"867962040000005\"\r\n\r\nOK\r\n");
	rig_start(&r);
	assert_int_equal(mfw_at_identify(r.at, &id), 0);
	assert_string_equal(id.model, "BG96");
	assert_string_equal(id.firmware, "");
	assert_false(id.firmware_complete);
	assert_string_equal(id.imei, "867962040000005");
	rig_stop(&r);
}

static void test_is_urc(void **state)
{
	(void)state;
	assert_true(mfw_at_is_urc("RDY", NULL));
	assert_true(mfw_at_is_urc("POWERED DOWN", "ATI"));
	assert_true(mfw_at_is_urc("+QIND: \"FOTA\",\"END\",0", "AT+QFOTADL=\"x\""));
	assert_false(mfw_at_is_urc("+QFOTADL: 1", "AT+QFOTADL?"));
	assert_true(mfw_at_is_urc("+CREG: 1", "AT+CSQ"));
	assert_false(mfw_at_is_urc("+CREG: 0,1", "AT+CREG?"));
	assert_false(mfw_at_is_urc("+CPIN: READY", "at+cpin?"));
	assert_true(mfw_at_is_urc("+CPIN: READY", "AT+CPINX"));
	assert_false(mfw_at_is_urc("+CSQ: 20,99", "AT+CSQ"));
	assert_false(mfw_at_is_urc("Quectel", "ATI"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_on),
		cmocka_unit_test(test_echo_off_dribbled),
		cmocka_unit_test(test_urc_interleaved),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_long_line_and_bad_commands),
		cmocka_unit_test(test_gone),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_identify_fallbacks),
		cmocka_unit_test(test_is_urc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
