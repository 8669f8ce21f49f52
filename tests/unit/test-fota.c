/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA over AT (lib/quectel/fota.c): the pure parts (the AT+QFUPL
 * checksum, +QIND: "FOTA" URCs, +QFUPL/+QFLDS answers, the code table),
 * then mfw_fota_send() against a small scripted module on a TCP port that
 * misreports the checksum, sends malformed URCs, or drops the port.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modemfw/dfota.h>
#include "core/core.h"
#include "quectel/fota.h"
#include "transport/transport.h"

static void test_checksum(void **state)
{
	const uint8_t a[] = { 0x12, 0x34, 0x56, 0x78 };
	const uint8_t odd[] = { 0x12, 0x34, 0xab };
	uint8_t big[3000];
	uint16_t whole, part;

	(void)state;
	assert_int_equal(mfw_fota_checksum(0, NULL, 0), 0);
	/* big-endian words XORed: 0x1234 ^ 0x5678 */
	assert_int_equal(mfw_fota_checksum(0, a, 4), 0x1234 ^ 0x5678);
	/* an odd last byte is a high byte */
	assert_int_equal(mfw_fota_checksum(0, odd, 3), 0x1234 ^ 0xab00);
	/* a word XORed twice cancels */
	assert_int_equal(mfw_fota_checksum(mfw_fota_checksum(0, a, 2), a, 2), 0);
	/* streaming in even chunks equals one call */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	whole = mfw_fota_checksum(0, big, 2999);
	part = mfw_fota_checksum(0, big, 1024);
	part = mfw_fota_checksum(part, big + 1024, 1024);
	part = mfw_fota_checksum(part, big + 2048, 951);
	assert_int_equal(whole, part);
}

static void test_urc_parse(void **state)
{
	struct mfw_fota_urc u;

	(void)state;
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"START\"", &u), 1);
	assert_int_equal(u.kind, MFW_FOTA_URC_START);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"UPDATING\",57", &u), 1);
	assert_int_equal(u.kind, MFW_FOTA_URC_UPDATING);
	assert_int_equal(u.value, 57);
	assert_int_equal(mfw_fota_urc_parse("+QIND:\"FOTA\",\"UPDATING\",9%", &u), 1);
	assert_int_equal(u.value, 9);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"END\",505", &u), 1);
	assert_int_equal(u.kind, MFW_FOTA_URC_END);
	assert_int_equal(u.value, 505);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"HTTPEND\",701", &u), 1);
	assert_int_equal(u.kind, MFW_FOTA_URC_HTTPEND);
	assert_int_equal(u.value, 701);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"FTPSTART\"", &u), 1);
	assert_int_equal(u.kind, MFW_FOTA_URC_FTPSTART);
	/* not FOTA URCs */
	assert_int_equal(mfw_fota_urc_parse("RDY", &u), 0);
	assert_int_equal(mfw_fota_urc_parse("+QIND: SMS DONE", &u), 0);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"csq\",20,99", &u), 0);
	/* malformed FOTA URCs */
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"UPDATING\"", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"UPDATING\",abc", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"UPDATING\",101", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"END\",", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"END\",5x", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"START\",1", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"BOGUS\"", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\",\"UPDA", &u), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_urc_parse("+QIND: \"FOTA\"", &u), MFW_E_FORMAT);
}

static void test_answers(void **state)
{
	uint64_t a, b;
	uint16_t sum;

	(void)state;
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: 167434,298a", &a, &sum), 0);
	assert_int_equal(a, 167434);
	assert_int_equal(sum, 0x298a);
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: 10,613E", &a, &sum), 0);
	assert_int_equal(sum, 0x613e);
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: 10,10000", &a, &sum), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: 10", &a, &sum), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: ,12", &a, &sum), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_parse_qfupl("+QFUPL: 10,zz", &a, &sum), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_parse_qflds("+QFLDS: 1000,2000", &a, &b), 0);
	assert_int_equal(a, 1000);
	assert_int_equal(b, 2000);
	assert_int_equal(mfw_fota_parse_qflds("+QFLDS: 3000,2000", &a, &b), MFW_E_FORMAT);
	assert_int_equal(mfw_fota_parse_qflds("+QFLDS: 1000", &a, &b), MFW_E_FORMAT);
}

static void test_codes(void **state)
{
	bool v;

	(void)state;
	assert_string_equal(mfw_fota_code_text(0, &v), "the update succeeded");
	assert_true(v);
	assert_non_null(strstr(mfw_fota_code_text(505, &v), "another firmware version"));
	assert_true(v);
	assert_non_null(strstr(mfw_fota_code_text(510, &v), "does not match"));
	assert_non_null(strstr(mfw_fota_code_text(511, &v), "space"));
	assert_non_null(strstr(mfw_fota_code_text(601, &v), "FTP"));
	assert_non_null(strstr(mfw_fota_code_text(701, &v), "HTTP"));
	assert_non_null(strstr(mfw_fota_code_text(544, &v), "upgrade failed"));
	assert_non_null(strstr(mfw_fota_code_text(521, &v), "retry limit"));
	/* the meanings no public source confirms are marked */
	for (int c = 501; c <= 509; c++) {
		mfw_fota_code_text(c, &v);
		assert_int_equal(v, !(c == 501 || c == 503 || (c >= 506 && c <= 509)));
	}
	assert_string_equal(mfw_fota_code_text(999, &v), "unknown result code");
	assert_false(v);
}

/* ---- a scripted module on a TCP port ---- */

struct fake {
	struct mfw_ctx *ctx;
	struct mfw_listener *l;
	pthread_t thread;
	atomic_bool stop;
	uint16_t sum_xor;            /* reported checksum ^= this */
	int64_t size_delta;          /* reported size += this */
	const char *const *urcs;     /* after AT+QFOTADL's OK, then the port drops */
	bool drop_after_urcs;
	bool updated;                /* AT+QGMR reports the new version */
	unsigned connections;
	uint64_t received;
};

static int fake_write(struct mfw_transport *t, const char *s)
{
	return mfw_transport_write(t, s, strlen(s), mfw_deadline_in(2000), NULL);
}

/* Serve one connection; returns when the host leaves or the script drops the port. */
static void fake_session(struct fake *f, struct mfw_transport *t)
{
	char line[512];
	size_t len = 0;

	for (;;) {
		char c;
		int r = mfw_transport_read(t, &c, 1, mfw_deadline_in(100));

		if (atomic_load(&f->stop))
			return;
		if (r == MFW_E_TIMEOUT || r == 0)
			continue;
		if (r < 0)
			return;
		if (c == '\n')
			continue;
		if (c != '\r') {
			if (len + 1 < sizeof(line))
				line[len++] = c;
			continue;
		}
		line[len] = 0;
		len = 0;
		if (!strcmp(line, "AT") || !strcmp(line, "AT+CMEE=1")) {
			fake_write(t, "\r\nOK\r\n");
		} else if (!strcmp(line, "ATI")) {
			fake_write(t, "\r\nQuectel\r\nEC25\r\nRevision: EC25FAKE\r\n\r\nOK\r\n");
		} else if (!strcmp(line, "AT+QGMR")) {
			fake_write(t, f->updated ? "\r\nEC25FAKE_01.002\r\n\r\nOK\r\n" :
						   "\r\nEC25FAKE_01.001\r\n\r\nOK\r\n");
		} else if (!strcmp(line, "AT+QFLDS=\"UFS\"")) {
			fake_write(t, "\r\n+QFLDS: 1000000,2000000\r\n\r\nOK\r\n");
		} else if (!strncmp(line, "AT+QFDEL=", 9)) {
			fake_write(t, "\r\n+CME ERROR: 405\r\n");
		} else if (!strncmp(line, "AT+QFUPL=", 9)) {
			unsigned long long size = strtoull(strchr(line, ',') + 1, NULL, 10);
			uint8_t buf[1024];
			uint16_t sum = 0;
			uint64_t got = 0;
			char out[128];

			fake_write(t, "\r\nCONNECT\r\n");
			while (got < size) {
				size_t cap = sizeof(buf) - got % sizeof(buf);
				int n;

				if (size - got < cap)
					cap = (size_t)(size - got);
				n = mfw_transport_read(t, buf, cap, mfw_deadline_in(5000));
				if (n <= 0)
					return;
				for (int i = 0; i < n; i++)
					sum ^= ((got + (uint64_t)i) & 1) ? buf[i] : (uint16_t)(buf[i] << 8);
				got += (uint64_t)n;
				if (got % 1024 == 0)
					fake_write(t, "A");
			}
			f->received = got;
			snprintf(out, sizeof(out), "\r\n+QFUPL: %llu,%x\r\n\r\nOK\r\n",
				 (unsigned long long)((int64_t)size + f->size_delta),
				 (unsigned)(sum ^ f->sum_xor));
			fake_write(t, out);
		} else if (!strncmp(line, "AT+QFOTADL=", 11)) {
			fake_write(t, "\r\nOK\r\n");
			for (size_t i = 0; f->urcs && f->urcs[i]; i++) {
				snprintf(line, sizeof(line), "\r\n%s\r\n", f->urcs[i]);
				fake_write(t, line);
			}
			f->updated = true;
			if (f->drop_after_urcs)
				return;
		} else {
			fake_write(t, "\r\nERROR\r\n");
		}
	}
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct mfw_transport *t;

		if (mfw_listener_accept(f->l, mfw_deadline_in(100), &t) < 0)
			continue;
		f->connections++;
		fake_session(f, t);
		mfw_transport_close(t);
	}
	return NULL;
}

static void fake_start(struct fake *f, char *spec, size_t cap)
{
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
	assert_int_equal(mfw_listener_open(f->ctx, "tcp:127.0.0.1:0", &f->l), 0);
	snprintf(spec, cap, "%s", mfw_listener_name(f->l));
	atomic_init(&f->stop, false);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	mfw_listener_close(f->l);
	mfw_ctx_free(f->ctx);
}

/* A package of n pseudo-random bytes in a temporary file. */
static void make_package(char *path, size_t cap, size_t n)
{
	FILE *fp;
	int fd;

	snprintf(path, cap, "/tmp/test-fota-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "wb");
	assert_non_null(fp);
	for (size_t i = 0; i < n; i++)
		fputc((int)((i * 131 + 17) % 251), fp);
	fclose(fp);
}

/* FOTA_TEST_LOG=1 shows the library's debug records (diagnosing a failure). */
static void log_fn(void *user, enum mfw_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	fprintf(stderr, "log: %s\n", msg);
}

static int run_send(const char *spec, const char *pkg, struct mfw_fota_send_result *res,
		    char *detail, size_t cap)
{
	struct mfw_fota_send_opts o = { .port = spec };
	struct mfw_ctx *ctx;
	int r;

	assert_int_equal(mfw_ctx_new(&ctx), 0);
	if (getenv("FOTA_TEST_LOG")) {
		mfw_ctx_set_log(ctx, log_fn, NULL);
		mfw_ctx_set_log_level(ctx, MFW_LOG_DEBUG);
	}
	r = mfw_fota_send(ctx, pkg, &o, res);
	snprintf(detail, cap, "%s", mfw_ctx_detail(ctx));
	mfw_ctx_free(ctx);
	return r;
}

static const char *const urcs_ok[] = {
	"+QIND: \"FOTA\",\"START\"",
	"+QIND: \"FOTA\",\"UPDATING\",abc",      /* malformed: tolerated */
	"+QIND: \"FOTA\",\"UPDATING\",50",
	"+QIND: \"FOTA\",\"BOGUS\"",             /* malformed: tolerated */
	"+QIND: \"FOTA\",\"UPDATING\",100",
	"+QIND: \"FOTA\",\"END\",0",
	NULL,
};

static void test_send_ok(void **state)
{
	struct fake f = { .urcs = urcs_ok, .drop_after_urcs = true };
	struct mfw_fota_send_result res;
	char spec[128], pkg[64], detail[600];
	int r;

	(void)state;
	make_package(pkg, sizeof(pkg), 5 * 1024 + 3); /* five acknowledged blocks and a tail */
	fake_start(&f, spec, sizeof(spec));
	r = run_send(spec, pkg, &res, detail, sizeof(detail));
	fake_stop(&f);
	unlink(pkg);
	if (r < 0)
		fail_msg("send failed: %s", detail);
	assert_int_equal(res.code, 0);
	assert_int_equal(res.size, 5 * 1024 + 3);
	assert_int_equal(f.received, 5 * 1024 + 3);
	assert_int_equal(res.malformed, 2);
	assert_int_equal(res.last_pct, 100);
	assert_true(res.reconnects >= 1);
	assert_string_equal(res.firmware_before, "EC25FAKE_01.001");
	assert_string_equal(res.firmware_after, "EC25FAKE_01.002");
}

static void test_send_bad_checksum(void **state)
{
	struct fake f = { .sum_xor = 0x0101 };
	struct mfw_fota_send_result res;
	char spec[128], pkg[64], detail[600];
	int r;

	(void)state;
	make_package(pkg, sizeof(pkg), 2048);
	fake_start(&f, spec, sizeof(spec));
	r = run_send(spec, pkg, &res, detail, sizeof(detail));
	fake_stop(&f);
	unlink(pkg);
	assert_int_equal(r, MFW_E_VERIFY);
	/* both values named */
	assert_non_null(strstr(detail, "checksum"));
	assert_non_null(strstr(detail, "2048 bytes"));
	assert_int_equal(res.code, -1);
}

static void test_send_bad_size(void **state)
{
	struct fake f = { .size_delta = -1 };
	struct mfw_fota_send_result res;
	char spec[128], pkg[64], detail[600];
	int r;

	(void)state;
	make_package(pkg, sizeof(pkg), 1500);
	fake_start(&f, spec, sizeof(spec));
	r = run_send(spec, pkg, &res, detail, sizeof(detail));
	fake_stop(&f);
	unlink(pkg);
	assert_int_equal(r, MFW_E_VERIFY);
	assert_non_null(strstr(detail, "sent 1500 bytes"));
	assert_non_null(strstr(detail, "module has 1499 bytes"));
}

static const char *const urcs_garbage[] = {
	"+QIND: \"FOTA\",\"START\"",
	"+QIND: \"FOTA\",\"UPDATING\",x",
	"+QIND: \"FOTA\",\"UPDATING\",y",
	"+QIND: \"FOTA\",\"UPDATING\",z",
	NULL,
};

static void test_send_too_many_malformed(void **state)
{
	struct fake f = { .urcs = urcs_garbage };
	struct mfw_fota_send_result res;
	char spec[128], pkg[64], detail[600];
	int r;

	(void)state;
	make_package(pkg, sizeof(pkg), 100);
	fake_start(&f, spec, sizeof(spec));
	r = run_send(spec, pkg, &res, detail, sizeof(detail));
	fake_stop(&f);
	unlink(pkg);
	assert_int_equal(r, MFW_E_PROTO);
	assert_int_equal(res.malformed, 3);
	assert_non_null(strstr(detail, "malformed"));
}

static const char *const urcs_505[] = {
	"+QIND: \"FOTA\",\"START\"",
	"+QIND: \"FOTA\",\"END\",505",
	NULL,
};

static void test_send_end_code(void **state)
{
	struct fake f = { .urcs = urcs_505, .drop_after_urcs = true };
	struct mfw_fota_send_result res;
	char spec[128], pkg[64], detail[600];
	int r;

	(void)state;
	make_package(pkg, sizeof(pkg), 1024);
	fake_start(&f, spec, sizeof(spec));
	r = run_send(spec, pkg, &res, detail, sizeof(detail));
	fake_stop(&f);
	unlink(pkg);
	if (r < 0)
		fail_msg("send failed: %s", detail);
	assert_int_equal(res.code, 505);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum),
		cmocka_unit_test(test_urc_parse),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_send_ok),
		cmocka_unit_test(test_send_bad_checksum),
		cmocka_unit_test(test_send_bad_size),
		cmocka_unit_test(test_send_too_many_malformed),
		cmocka_unit_test(test_send_end_code),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
