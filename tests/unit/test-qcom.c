/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Host state machines (lib/qcom) against scripted devices: each scenario
 * runs a small fake device in a thread on the other end of a transport
 * pair and checks what the host sent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "proto/firehose.h"
#include "proto/sahara.h"
#include "qcom/edl.h"
#include "qcom/firehose.h"
#include "transport/transport.h"

struct scenario {
	struct mfw_transport *dev;
	int (*fn)(struct scenario *sc);
	int result;        /* device-side verdict: 0 = host behaved */
	uint8_t image[300];
	int mode;          /* scenario variant */
	char seen[4096];   /* what the device received (XML), for asserts */
};

static void *dev_thread(void *arg)
{
	struct scenario *sc = arg;
	sc->result = sc->fn(sc);
	return NULL;
}

static int dev_send(struct scenario *sc, const struct mfw_sahara_pkt *p)
{
	uint8_t buf[64];
	int n = mfw_sahara_build(p, buf, sizeof(buf));
	return n < 0 ? n : mfw_transport_write(sc->dev, buf, (size_t)n, mfw_deadline_in(2000), NULL);
}

static int dev_recv(struct scenario *sc, struct mfw_sahara_pkt *p)
{
	uint8_t buf[64];
	size_t have = 0;
	for (;;) {
		int r = mfw_sahara_parse(buf, have, p);
		if (r > 0)
			return 0;
		if (r < 0)
			return r;
		r = mfw_transport_read(sc->dev, buf + have, 1, mfw_deadline_in(10000));
		if (r < 0)
			return r;
		have += (size_t)r;
	}
}

/* serve the image with out-of-order READ_DATA_64 requests, then END/DONE */
static int dev_pbl_transfer(struct scenario *sc, uint32_t eoi_status)
{
	static const uint64_t req[][2] = { { 0, 52 }, { 200, 100 }, { 52, 148 } };
	struct mfw_sahara_pkt p;
	uint8_t got[300];
	for (size_t i = 0; i < 3; i++) {
		memset(&p, 0, sizeof(p));
		p.cmd = MFW_SAHARA_READ_DATA_64;
		p.u.read.image_id = 13;
		p.u.read.offset = req[i][0];
		p.u.read.length = req[i][1];
		if (sc->mode == 2 && i == 1)
			p.u.read.length = 5000; /* beyond the image */
		if (dev_send(sc, &p) < 0)
			return -1;
		if (sc->mode == 2 && i == 1)
			return 0; /* host must refuse */
		if (mfw_transport_read_full(sc->dev, got + req[i][0], (size_t)req[i][1],
					    mfw_deadline_in(3000)) < 0)
			return -2;
	}
	if (memcmp(got, sc->image, sizeof(got)))
		return -3;
	memset(&p, 0, sizeof(p));
	p.cmd = MFW_SAHARA_END_OF_IMAGE;
	p.u.eoi.image_id = 13;
	p.u.eoi.status = eoi_status;
	if (dev_send(sc, &p) < 0)
		return -4;
	if (eoi_status)
		return 0;
	if (dev_recv(sc, &p) < 0 || p.cmd != MFW_SAHARA_DONE)
		return -5;
	memset(&p, 0, sizeof(p));
	p.cmd = MFW_SAHARA_DONE_RESP;
	p.u.done_resp.status = MFW_SAHARA_DONE_COMPLETE;
	return dev_send(sc, &p) < 0 ? -6 : 0;
}

static int dev_fresh(struct scenario *sc)
{
	struct mfw_sahara_pkt p = { .cmd = MFW_SAHARA_HELLO };
	p.u.hello.version = 2;
	p.u.hello.version_compat = 1;
	p.u.hello.max_len_or_status = 1024;
	if (dev_send(sc, &p) < 0)
		return -10;
	if (dev_recv(sc, &p) < 0 || p.cmd != MFW_SAHARA_HELLO_RESP || p.u.hello.mode != 0 ||
	    p.u.hello.version != 2)
		return -11;
	return dev_pbl_transfer(sc, sc->mode == 1 ? 0x14 : 0);
}

/* past HELLO: silent until the host sends an unsolicited HELLO_RESP */
static int dev_past_hello(struct scenario *sc)
{
	struct mfw_sahara_pkt p;
	if (dev_recv(sc, &p) < 0 || p.cmd != MFW_SAHARA_HELLO_RESP)
		return -20;
	return dev_pbl_transfer(sc, 0);
}

struct host_result {
	int connect;
	int load;
	bool firehose_running;
};

static void run_sahara(struct scenario *sc, struct host_result *hr)
{
	struct mfw_transport *host, *dev;
	struct mfw_ctx *ctx;
	struct mfw_edl edl;
	pthread_t th;

	for (size_t i = 0; i < sizeof(sc->image); i++)
		sc->image[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_transport_pair(ctx, 1 << 16, &host, &dev), 0);
	sc->dev = dev;
	assert_int_equal(pthread_create(&th, NULL, dev_thread, sc), 0);
	mfw_edl_init(&edl, ctx, host);
	hr->connect = mfw_edl_connect(&edl);
	hr->firehose_running = edl.firehose_running;
	hr->load = hr->connect < 0 ? hr->connect
				   : mfw_edl_load_programmer(&edl, sc->image, sizeof(sc->image), "prog.mbn");
	if (hr->load < 0)
		printf("host detail: %s\n", mfw_ctx_detail(ctx));
	mfw_transport_close(host);
	pthread_join(th, NULL);
	mfw_transport_close(dev);
	mfw_ctx_free(ctx);
}

static void test_sahara_fresh_out_of_order(void **state)
{
	struct scenario sc = { .fn = dev_fresh };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.connect, 0);
	assert_int_equal(hr.load, 0);
	assert_int_equal(sc.result, 0);
}

static void test_sahara_refused_programmer(void **state)
{
	struct scenario sc = { .fn = dev_fresh, .mode = 1 };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.load, MFW_E_NAK);
	assert_int_equal(sc.result, 0);
}

static void test_sahara_out_of_range_request(void **state)
{
	struct scenario sc = { .fn = dev_fresh, .mode = 2 };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.load, MFW_E_MISMATCH);
}

static void test_sahara_past_hello(void **state)
{
	struct scenario sc = { .fn = dev_past_hello };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.connect, 0);
	assert_int_equal(hr.load, 0);
	assert_int_equal(sc.result, 0);
}

/* a programmer already runs: binary input gets an XML answer */
static int dev_firehose_running(struct scenario *sc)
{
	char buf[512];
	uint8_t in[256];
	int n;
	if (mfw_transport_read(sc->dev, in, sizeof(in), mfw_deadline_in(5000)) <= 0)
		return -30;
	n = mfw_fh_build_log(buf, sizeof(buf), "ERROR: XML not formed correctly");
	if (n < 0 || mfw_transport_write(sc->dev, buf, (size_t)n, mfw_deadline_in(1000), NULL) < 0)
		return -31;
	/* the host may already have hung up after the log: a failed write is fine here */
	n = mfw_fh_build_response(buf, sizeof(buf), false, -1, NULL, 0);
	if (n > 0)
		mfw_transport_write(sc->dev, buf, (size_t)n, mfw_deadline_in(1000), NULL);
	return 0;
}

static void test_sahara_firehose_already_running(void **state)
{
	struct scenario sc = { .fn = dev_firehose_running };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.connect, 0);
	assert_true(hr.firehose_running);
	assert_int_equal(hr.load, 0);
	assert_int_equal(sc.result, 0);
}

/* silent device: bounded failure with advice, never a hang */
static int dev_dead(struct scenario *sc)
{
	uint8_t in[256];
	while (mfw_transport_read(sc->dev, in, sizeof(in), mfw_deadline_in(10000)) > 0)
		;
	return 0;
}

static void test_sahara_dead_device(void **state)
{
	struct scenario sc = { .fn = dev_dead };
	struct host_result hr;
	(void)state;
	run_sahara(&sc, &hr);
	assert_int_equal(hr.connect, MFW_E_TIMEOUT);
}

/* ---- Firehose ---- */
static int fh_recv_cmd(struct scenario *sc, struct mfw_fh_splitter *sp, struct mfw_fh_msg *msg)
{
	for (;;) {
		const char *doc;
		size_t len;
		uint8_t buf[4096];
		int r = mfw_fh_splitter_next(sp, &doc, &len);
		if (r == 1) {
			size_t l = strlen(sc->seen);
			snprintf(sc->seen + l, sizeof(sc->seen) - l, "%.*s\n", (int)len, doc);
			return mfw_fh_parse(NULL, doc, len, msg);
		}
		r = mfw_transport_read(sc->dev, buf, sizeof(buf), mfw_deadline_in(3000));
		if (r < 0)
			return r;
		mfw_fh_splitter_push(sp, buf, (size_t)r);
	}
}

static int fh_send_resp(struct scenario *sc, bool ack, int raw, const struct mfw_fh_attr *a, size_t n)
{
	char buf[1024];
	int len = mfw_fh_build_response(buf, sizeof(buf), ack, raw, a, n);
	return len < 0 ? len : mfw_transport_write(sc->dev, buf, (size_t)len, mfw_deadline_in(1000), NULL);
}

/* configure: NAK with 8192 first, then ACK; then a program that stalls mid-way */
static int dev_fh_negotiate(struct scenario *sc)
{
	struct mfw_fh_splitter sp;
	struct mfw_fh_msg msg;
	struct mfw_fh_attr nak[] = { { "MemoryName", "NAND" }, { "MaxPayloadSizeToTargetInBytes", "8192" } };
	struct mfw_fh_attr ack[] = { { "MaxPayloadSizeToTargetInBytes", "8192" },
				     { "MaxPayloadSizeToTargetInBytesSupported", "8192" } };
	uint8_t sink[8192];
	int rc = 0;

	mfw_fh_splitter_init(&sp);
	if (fh_recv_cmd(sc, &sp, &msg) < 0)
		rc = -40;
	else
		mfw_fh_msg_free(&msg);
	if (!rc && fh_send_resp(sc, false, -1, nak, 2) < 0)
		rc = -41;
	if (!rc && fh_recv_cmd(sc, &sp, &msg) < 0)
		rc = -42;
	if (!rc) {
		const char *v = mfw_fh_attr_get(&msg.elems[0], "MaxPayloadSizeToTargetInBytes");
		if (!v || strcmp(v, "8192"))
			rc = -43;
		mfw_fh_msg_free(&msg);
	}
	if (!rc && fh_send_resp(sc, true, -1, ack, 2) < 0)
		rc = -44;
	/* program: ACK raw mode, read 3 chunks, then stop reading (stall) */
	if (!rc && fh_recv_cmd(sc, &sp, &msg) < 0)
		rc = -45;
	else if (!rc)
		mfw_fh_msg_free(&msg);
	if (!rc && fh_send_resp(sc, true, 1, NULL, 0) < 0)
		rc = -46;
	for (int i = 0; !rc && i < 3; i++)
		if (mfw_transport_read_full(sc->dev, sink, sizeof(sink), mfw_deadline_in(3000)) < 0)
			rc = -47;
	/* stall: read nothing until the host gives up and closes */
	while (!rc && mfw_transport_read(sc->dev, sink, 1, mfw_deadline_in(100)) == MFW_E_TIMEOUT &&
	       sc->mode++ < 100)
		;
	mfw_fh_splitter_free(&sp);
	return rc;
}

static int fill_pattern(void *user, uint8_t *buf, size_t len)
{
	(void)user;
	memset(buf, 0x5A, len);
	return 0;
}

static void test_firehose_negotiation_and_stall(void **state)
{
	struct scenario sc = { .fn = dev_fh_negotiate };
	struct mfw_transport *host, *dev;
	struct mfw_fh_session s;
	struct mfw_ctx *ctx;
	struct mfw_fh_attr prog[] = { { "SECTOR_SIZE_IN_BYTES", "4096" },
				      { "num_partition_sectors", "256" },
				      { "physical_partition_number", "0" },
				      { "start_sector", "21824" },
				      { "label", "modem" } };
	pthread_t th;
	int r;
	(void)state;

	assert_int_equal(mfw_ctx_new(&ctx), 0);
	/* a small pipe so that a device that stops reading blocks the host quickly */
	assert_int_equal(mfw_transport_pair(ctx, 16384, &host, &dev), 0);
	sc.dev = dev;
	assert_int_equal(pthread_create(&th, NULL, dev_thread, &sc), 0);
	assert_int_equal(mfw_fh_session_init(&s, ctx, host, NULL, 0), 0);
	assert_int_equal(mfw_fh_configure(&s, "nand", 1 << 20), 0);
	assert_int_equal(s.max_payload, 8192);
	s.stall_ms = 300;
	r = mfw_fh_program(&s, prog, 5, 256 * 4096, fill_pattern, NULL, "modem");
	assert_int_equal(r, MFW_E_TIMEOUT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "stopped accepting data at 'modem'"));
	assert_non_null(strstr(mfw_ctx_detail(ctx), "without progress"));
	/* the attributes went out verbatim and in order */
	assert_non_null(strstr(sc.seen, "<program SECTOR_SIZE_IN_BYTES=\"4096\" num_partition_sectors=\"256\" "
				       "physical_partition_number=\"0\" start_sector=\"21824\" label=\"modem\""));
	mfw_fh_session_free(&s);
	mfw_transport_close(host);
	pthread_join(th, NULL);
	assert_int_equal(sc.result, 0);
	mfw_transport_close(dev);
	mfw_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sahara_fresh_out_of_order),
		cmocka_unit_test(test_sahara_refused_programmer),
		cmocka_unit_test(test_sahara_out_of_range_request),
		cmocka_unit_test(test_sahara_past_hello),
		cmocka_unit_test(test_sahara_firehose_already_running),
		cmocka_unit_test(test_sahara_dead_device),
		cmocka_unit_test(test_firehose_negotiation_and_stall),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
