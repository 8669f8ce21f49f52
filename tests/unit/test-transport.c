/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "transport/transport.h"

/* Generous: only reached when something is broken; never asserted as a time. */
#define T_LONG_MS 5000
#define T_SHORT_MS 50

struct fixture {
	struct mfw_ctx *ctx;
	char dir[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mfw_ctx_new(&f->ctx) < 0)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/mfw-test-transport-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	mfw_ctx_free(f->ctx);
	free(f);
	return 0;
}

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed + (i >> 8));
}

/* Send buf one way and check it arrives unchanged. */
static void exchange(struct mfw_transport *from, struct mfw_transport *to, const void *buf,
		     size_t len)
{
	unsigned char *got = malloc(len);
	size_t w = 0;

	assert_non_null(got);
	assert_int_equal(mfw_transport_write(from, buf, len, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(w, len);
	assert_int_equal(mfw_transport_read_full(to, got, len, mfw_deadline_in(T_LONG_MS)), 0);
	assert_memory_equal(got, buf, len);
	free(got);
}

static void exchange_both(struct mfw_transport *a, struct mfw_transport *b)
{
	unsigned char buf[256];

	for (int i = 0; i < 256; i++)
		buf[i] = (unsigned char)i;
	exchange(a, b, buf, sizeof(buf));
	exchange(b, a, buf, sizeof(buf));
}

/* ---- ZLP rules ---- */

static void test_zlp_rules(void **state)
{
	static const struct {
		size_t len, mps;
		bool aware, want;
	} out[] = {
		{ 0, 512, true, false },    { 511, 512, true, false },  { 512, 512, true, true },
		{ 1024, 512, true, true },  { 1025, 512, true, false }, { 512, 512, false, false },
		{ 1024, 512, false, false }, { 512, 0, true, false },   { 0, 0, true, false },
		{ 2048, 1024, true, true }, { 1536, 1024, true, false },
	};
	(void)state;
	for (size_t i = 0; i < MFW_ARRAY_SIZE(out); i++)
		assert_int_equal(mfw_zlp_needed_out(out[i].len, out[i].mps, out[i].aware),
				 out[i].want);
	/* IN: only a read that filled the buffer exactly with whole packets */
	assert_true(mfw_zlp_expected_in(512, 512, 512));
	assert_true(mfw_zlp_expected_in(4096, 4096, 512));
	assert_false(mfw_zlp_expected_in(512, 4096, 512));
	assert_false(mfw_zlp_expected_in(511, 511, 512));
	assert_false(mfw_zlp_expected_in(0, 512, 512));
	assert_false(mfw_zlp_expected_in(512, 512, 0));
	assert_false(mfw_zlp_expected_in(1025, 1025, 512));
}

/* ---- pair ---- */

static void test_pair_both_directions(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;

	assert_int_equal(mfw_transport_pair(f->ctx, 0, &a, &b), 0);
	assert_string_equal(a->ops->kind, "pair");
	exchange_both(a, b);
	assert_int_equal(a->bytes_out, 256);
	assert_int_equal(a->bytes_in, 256);
	assert_int_equal(b->bytes_out, 256);
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_pair_backpressure(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	unsigned char buf[40], got[40];
	size_t w = 99;

	fill_pattern(buf, sizeof(buf), 1);
	assert_int_equal(mfw_transport_pair(f->ctx, 16, &a, &b), 0);
	/* only the capacity fits: the write times out and says how much moved */
	assert_int_equal(mfw_transport_write(a, buf, sizeof(buf), mfw_deadline_in(T_SHORT_MS), &w),
			 MFW_E_TIMEOUT);
	assert_int_equal(w, 16);
	assert_int_equal(a->bytes_out, 16);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "after 16 of 40 bytes"));
	/* a read takes at most what is there */
	assert_int_equal(mfw_transport_read(b, got, sizeof(got), mfw_deadline_in(T_LONG_MS)), 16);
	assert_memory_equal(got, buf, 16);
	/* the rest fits now, in two steps around the ring's end */
	assert_int_equal(mfw_transport_write(a, buf + 16, 10, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(mfw_transport_read_full(b, got + 16, 10, mfw_deadline_in(T_LONG_MS)), 0);
	assert_int_equal(mfw_transport_write(a, buf + 26, 14, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(mfw_transport_read_full(b, got + 26, 14, mfw_deadline_in(T_LONG_MS)), 0);
	assert_memory_equal(got, buf, sizeof(buf));
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_pair_timeout(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	unsigned char c;

	assert_int_equal(mfw_transport_pair(f->ctx, 0, &a, &b), 0);
	assert_int_equal(mfw_transport_read(b, &c, 1, mfw_deadline_in(T_SHORT_MS)), MFW_E_TIMEOUT);
	/* a deadline already passed still returns data that is there */
	assert_int_equal(mfw_transport_write(a, "x", 1, mfw_deadline_in(T_LONG_MS), NULL), 0);
	assert_int_equal(mfw_transport_read(b, &c, 1, mfw_deadline_in(0)), 1);
	assert_int_equal(c, 'x');
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_pair_close_drains(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	unsigned char got[8];
	size_t w = 99;

	assert_int_equal(mfw_transport_pair(f->ctx, 0, &a, &b), 0);
	assert_int_equal(mfw_transport_write(a, "hello", 5, mfw_deadline_in(T_LONG_MS), NULL), 0);
	mfw_transport_close(a);
	assert_int_equal(mfw_transport_read(b, got, sizeof(got), mfw_deadline_in(T_LONG_MS)), 5);
	assert_memory_equal(got, "hello", 5);
	assert_int_equal(mfw_transport_read(b, got, sizeof(got), mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	assert_int_equal(mfw_transport_write(b, "x", 1, mfw_deadline_in(T_LONG_MS), &w),
			 MFW_E_NODEV);
	assert_int_equal(w, 0);
	mfw_transport_close(b);
}

struct stream_job {
	struct mfw_transport *t;
	const unsigned char *buf;
	size_t len;
	int result;
};

static void *writer_thread(void *arg)
{
	struct stream_job *j = arg;
	size_t off = 0;

	/* odd chunk sizes so writes straddle the ring's end */
	while (off < j->len && j->result == 0) {
		size_t n = j->len - off < 777 ? j->len - off : 777;
		size_t w = 0;

		j->result = mfw_transport_write(j->t, j->buf + off, n, mfw_deadline_in(T_LONG_MS), &w);
		off += w;
	}
	mfw_transport_close(j->t);
	return NULL;
}

static void test_pair_threads(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	struct mfw_ctx *wctx;
	struct stream_job job;
	size_t len = 1 << 20, got = 0;
	unsigned char *src = malloc(len), *dst = malloc(len);
	pthread_t th;
	int r;

	assert_non_null(src);
	assert_non_null(dst);
	fill_pattern(src, len, 7);
	assert_int_equal(mfw_ctx_new(&wctx), 0);
	assert_int_equal(mfw_transport_pair(f->ctx, 4096, &a, &b), 0);
	/* each thread owns its end and a context of its own */
	mfw_transport_set_ctx(a, wctx);
	job = (struct stream_job){ .t = a, .buf = src, .len = len };
	assert_int_equal(pthread_create(&th, NULL, writer_thread, &job), 0);
	for (;;) {
		r = mfw_transport_read(b, dst + got, len - got < 1000 ? len - got : 1000,
				       mfw_deadline_in(T_LONG_MS));
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got == len)
			break;
	}
	assert_int_equal(got, len);
	/* the writer closed its end after the last byte */
	unsigned char c;
	assert_int_equal(mfw_transport_read(b, &c, 1, mfw_deadline_in(T_LONG_MS)), MFW_E_NODEV);
	pthread_join(th, NULL);
	assert_int_equal(job.result, 0);
	assert_memory_equal(dst, src, len);
	mfw_transport_close(b);
	mfw_ctx_free(wctx);
	free(src);
	free(dst);
}

/* ---- fd over a socketpair ---- */

static void test_fd_socketpair(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	size_t big = 16 << 20, w = 0;
	unsigned char *buf = calloc(1, big), c;
	int sv[2];

	assert_non_null(buf);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(mfw_transport_from_fd(f->ctx, sv[0], "sp0", &a), 0);
	assert_int_equal(mfw_transport_from_fd(f->ctx, sv[1], "sp1", &b), 0);
	assert_string_equal(a->ops->kind, "unix");
	/* from_fd made the descriptor non-blocking */
	assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
	exchange_both(a, b);
	assert_int_equal(mfw_transport_read(a, &c, 1, mfw_deadline_in(T_SHORT_MS)), MFW_E_TIMEOUT);
	/* nobody reads: the socket buffer fills, the write times out with a count */
	assert_int_equal(mfw_transport_write(a, buf, big, mfw_deadline_in(T_SHORT_MS), &w),
			 MFW_E_TIMEOUT);
	assert_true(w > 0 && w < big);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "stopped accepting data after"));
	/* peer gone: queued data still drains, then NODEV; writes fail with NODEV, no SIGPIPE */
	mfw_transport_close(a);
	size_t drained = 0;
	int r;
	while ((r = mfw_transport_read(b, buf, big, mfw_deadline_in(T_LONG_MS))) > 0)
		drained += (size_t)r;
	assert_int_equal(r, MFW_E_NODEV);
	assert_int_equal(drained, w);
	assert_int_equal(mfw_transport_write(b, "x", 1, mfw_deadline_in(T_LONG_MS), &w),
			 MFW_E_NODEV);
	mfw_transport_close(b);
	free(buf);
}

/*
 * sendfile() as the transport sees it (the test links with
 * -Wl,--wrap=sendfile and --wrap=sendfile64, the name the call has when
 * off_t is 64 bits on a 32-bit ABI or under _FILE_OFFSET_BITS=64): the real
 * call, or a refusal with sendfile_errno.
 */
ssize_t __real_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t __wrap_sendfile(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t __real_sendfile64(int out_fd, int in_fd, off_t *offset, size_t count);
ssize_t __wrap_sendfile64(int out_fd, int in_fd, off_t *offset, size_t count);
static int sendfile_errno;
static unsigned sendfile_calls;

static bool sendfile_refused(void)
{
	sendfile_calls++;
	if (!sendfile_errno)
		return false;
	errno = sendfile_errno;
	return true;
}

ssize_t __wrap_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return sendfile_refused() ? -1 : __real_sendfile(out_fd, in_fd, offset, count);
}

ssize_t __wrap_sendfile64(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return sendfile_refused() ? -1 : __real_sendfile64(out_fd, in_fd, offset, count);
}

/* a file of fsize patterned bytes in the fixture's directory, open read-write; *data gets a copy */
static int patterned_file(const struct fixture *f, const char *name, size_t fsize, unsigned char **data)
{
	char path[128];
	int fd;

	*data = malloc(fsize);
	assert_non_null(*data);
	fill_pattern(*data, fsize, 7);
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, *data, fsize), (ssize_t)fsize);
	return fd;
}

/* two fd transports over a Unix socket pair: "sp0" and "sp1" */
static void socket_transports(const struct fixture *f, struct mfw_transport **a, struct mfw_transport **b)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(mfw_transport_from_fd(f->ctx, sv[0], "sp0", a), 0);
	assert_int_equal(mfw_transport_from_fd(f->ctx, sv[1], "sp1", b), 0);
}

/*
 * A range that runs 3000 bytes past the end of the file: the 1000 bytes
 * there arrive, the send fails naming the shortfall.
 */
static void send_past_end(const struct fixture *f, struct mfw_transport *a, struct mfw_transport *b, int fd,
			  const unsigned char *data, size_t fsize, unsigned char *back)
{
	size_t w = 0;

	assert_int_equal(mfw_transport_send_file(a, fd, fsize - 1000, 4000, mfw_deadline_in(T_LONG_MS), &w),
			 MFW_E_IO);
	assert_int_equal(w, 1000);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "ended 3000 bytes early"));
	assert_int_equal(mfw_transport_read_full(b, back, 1000, mfw_deadline_in(T_LONG_MS)), 0);
	assert_memory_equal(back, data + fsize - 1000, 1000);
}

/*
 * send_file on a socket: the exact bytes of a file range arrive; a range
 * past the file's end fails naming it, with the count of what did move; a
 * peer that stops reading times out with a partial count.
 */
static void test_fd_send_file(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *a, *b;
	size_t fsize = 8 << 20, w = 0, got = 0;
	unsigned char *data, *back = malloc(fsize);
	int fd = patterned_file(f, "file", fsize, &data), r;

	assert_non_null(back);
	socket_transports(f, &a, &b);
	assert_true(mfw_transport_can_send_file(a));

	/* a range from the middle, small enough for the socket buffer */
	assert_int_equal(mfw_transport_send_file(a, fd, 12345, 50000, mfw_deadline_in(T_LONG_MS),
						 &w), 0);
	assert_int_equal(w, 50000);
	assert_int_equal(a->bytes_out, 50000);
	assert_int_equal(mfw_transport_read_full(b, back, 50000, mfw_deadline_in(T_LONG_MS)), 0);
	assert_memory_equal(back, data + 12345, 50000);

	send_past_end(f, a, b, fd, data, fsize, back);

	/* nobody reads: the socket buffer fills, the send times out with a count */
	r = mfw_transport_send_file(a, fd, 0, fsize, mfw_deadline_in(T_SHORT_MS), &w);
	assert_int_equal(r, MFW_E_TIMEOUT);
	assert_true(w > 0 && w < fsize);
	while (got < w) {
		r = mfw_transport_read(b, back + got, w - got, mfw_deadline_in(T_LONG_MS));
		assert_true(r > 0);
		got += (size_t)r;
	}
	assert_memory_equal(back, data, w);

	/* ttys and the in-process pair cannot: callers write instead */
	struct mfw_transport *p, *q;
	assert_int_equal(mfw_transport_pair(f->ctx, 4096, &p, &q), 0);
	assert_false(mfw_transport_can_send_file(p));
	mfw_transport_close(p);
	mfw_transport_close(q);
	mfw_transport_close(a);
	mfw_transport_close(b);
	close(fd);
	free(data);
	free(back);
}

/*
 * A file the kernel cannot splice (sendfile says EINVAL, ENOSYS or
 * EOPNOTSUPP): the same bytes through the bounce buffer, sendfile not
 * asked again on that transport, a short file still named; any other
 * errno fails the send and names sendfile.
 */
static void test_fd_send_file_bounce(void **state)
{
	static const int refusals[] = { EINVAL, ENOSYS, EOPNOTSUPP };
	struct fixture *f = *state;
	size_t fsize = 300000, len = 50000, w = 0;
	unsigned char *data, *back = malloc(fsize);
	struct mfw_transport *a, *b;
	int fd = patterned_file(f, "bounce", fsize, &data), r;

	assert_non_null(back);
	for (size_t k = 0; k < sizeof(refusals) / sizeof(refusals[0]); k++) {
		socket_transports(f, &a, &b);
		sendfile_errno = refusals[k];
		sendfile_calls = 0;

		/* more than one bounce buffer's worth, from an odd offset */
		assert_int_equal(mfw_transport_send_file(a, fd, 777, len, mfw_deadline_in(T_LONG_MS), &w), 0);
		assert_int_equal(w, len);
		assert_int_equal(a->bytes_out, len);
		assert_int_equal(mfw_transport_read_full(b, back, len, mfw_deadline_in(T_LONG_MS)), 0);
		assert_memory_equal(back, data + 777, len);
		assert_int_equal(sendfile_calls, 1);

		/* the transport remembers: the next range goes straight to the bounce buffer */
		sendfile_errno = 0;
		assert_int_equal(mfw_transport_send_file(a, fd, 123456, len, mfw_deadline_in(T_LONG_MS), &w), 0);
		assert_int_equal(mfw_transport_read_full(b, back, len, mfw_deadline_in(T_LONG_MS)), 0);
		assert_memory_equal(back, data + 123456, len);
		assert_int_equal(sendfile_calls, 1);

		send_past_end(f, a, b, fd, data, fsize, back);
		mfw_transport_close(a);
		mfw_transport_close(b);
	}

	/* a real failure is not a refusal: nothing moves, the error names sendfile */
	socket_transports(f, &a, &b);
	sendfile_errno = ENOMEM;
	sendfile_calls = 0;
	r = mfw_transport_send_file(a, fd, 0, len, mfw_deadline_in(T_LONG_MS), &w);
	assert_int_equal(r, MFW_E_IO);
	assert_int_equal(w, 0);
	assert_int_equal(sendfile_calls, 1);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "sendfile on 'sp0' failed"));
	sendfile_errno = 0;
	mfw_transport_close(a);
	mfw_transport_close(b);
	close(fd);
	free(data);
	free(back);
}

/* ---- sockets through listeners ---- */

static void test_tcp_loopback(void **state)
{
	struct fixture *f = *state;
	struct mfw_listener *l;
	struct mfw_transport *client, *server;
	char spec[64];
	int port;

	assert_int_equal(mfw_listener_open(f->ctx, "tcp:127.0.0.1:0", &l), 0);
	port = mfw_listener_port(l);
	assert_true(port > 0);
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", port);
	assert_string_equal(mfw_listener_name(l), spec);
	/* no client yet */
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_SHORT_MS), &server),
			 MFW_E_TIMEOUT);
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), 0);
	assert_string_equal(client->ops->kind, "tcp");
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
	assert_string_equal(server->ops->kind, "tcp");
	exchange_both(client, server);
	mfw_transport_close(client);
	unsigned char c;
	assert_int_equal(mfw_transport_read(server, &c, 1, mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	mfw_transport_close(server);

	/* a name goes through the resolver */
	snprintf(spec, sizeof(spec), "tcp:localhost:%d", port);
	if (mfw_transport_open(f->ctx, spec, &client) == 0) {
		assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
		exchange_both(client, server);
		mfw_transport_close(client);
		mfw_transport_close(server);
	} else {
		/* localhost may resolve to ::1 only where we listen on v4: must still be a clean error */
		assert_string_not_equal(mfw_ctx_detail(f->ctx), "");
	}
	mfw_listener_close(l);

	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", port);
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), MFW_E_NODEV);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "nothing is listening"));
	assert_int_equal(mfw_transport_open(f->ctx, "tcp:nocolon", &client), MFW_E_INVAL);

	/* all addresses */
	assert_int_equal(mfw_listener_open(f->ctx, "tcp:*:0", &l), 0);
	snprintf(spec, sizeof(spec), "tcp:127.0.0.1:%d", mfw_listener_port(l));
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), 0);
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
	exchange_both(client, server);
	mfw_transport_close(client);
	mfw_transport_close(server);
	mfw_listener_close(l);
}

static void test_unix_socket(void **state)
{
	struct fixture *f = *state;
	struct mfw_listener *l, *l2;
	struct mfw_transport *client, *server;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char spec[128];
	struct stat st;
	int fd;

	/* a stale socket file, as a crashed emulator leaves it */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/emu.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	snprintf(spec, sizeof(spec), "unix:%s", sa.sun_path);
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), MFW_E_NODEV);

	assert_int_equal(mfw_listener_open(f->ctx, spec, &l), 0);
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), 0);
	assert_string_equal(client->ops->kind, "unix");
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
	exchange_both(client, server);
	mfw_transport_close(server);
	unsigned char c;
	assert_int_equal(mfw_transport_read(client, &c, 1, mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	mfw_transport_close(client);

	/* a live socket is not taken over; its probe shows up as a peer that left at once */
	assert_int_equal(mfw_listener_open(f->ctx, spec, &l2), MFW_E_BUSY);
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
	assert_int_equal(mfw_transport_read(server, &c, 1, mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	mfw_transport_close(server);
	mfw_listener_close(l);
	assert_int_equal(stat(sa.sun_path, &st), -1);

	snprintf(spec, sizeof(spec), "unix:%s/none.sock", f->dir);
	assert_int_equal(mfw_transport_open(f->ctx, spec, &client), MFW_E_NODEV);
}

/* ---- pty listener and ttys ---- */

static int read_fd_full(int fd, unsigned char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, T_LONG_MS) != 1)
			return -1;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static void test_pty_listener(void **state)
{
	struct fixture *f = *state;
	struct mfw_listener *l;
	struct mfw_transport *server;
	char link[128], spec[160], target[64];
	unsigned char all[256], got[256];
	struct termios tio;
	struct stat st;
	ssize_t n;
	int cfd;

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	snprintf(link, sizeof(link), "%s/ttyEMU", f->dir);
	/* a stale link from an earlier run is replaced */
	assert_int_equal(symlink("/dev/pts/nonexistent", link), 0);
	snprintf(spec, sizeof(spec), "pty:%s", link);
	assert_int_equal(mfw_listener_open(f->ctx, spec, &l), 0);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = '\0';
	assert_string_equal(target, mfw_listener_slave(l));

	/* nobody opened the slave yet */
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_SHORT_MS), &server),
			 MFW_E_TIMEOUT);

	for (int round = 0; round < 2; round++) {
		/* a client like qdl: plain open, no line settings of its own */
		cfd = open(link, O_RDWR | O_NOCTTY);
		assert_true(cfd >= 0);
		assert_int_equal(tcgetattr(cfd, &tio), 0);
		assert_int_equal(tio.c_lflag & (ICANON | ECHO | ISIG | IEXTEN), 0);
		assert_int_equal(tio.c_iflag & (ICRNL | INLCR | IGNCR | IXON | ISTRIP), 0);
		assert_int_equal(tio.c_oflag & OPOST, 0);
		assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
		assert_string_equal(server->ops->kind, "tty");

		/* client -> emulator: every byte value, ^C, CR and DEL included */
		assert_int_equal(write(cfd, all, sizeof(all)), (ssize_t)sizeof(all));
		assert_int_equal(mfw_transport_read_full(server, got, sizeof(got),
							 mfw_deadline_in(T_LONG_MS)),
				 0);
		assert_memory_equal(got, all, sizeof(all));
		/* emulator -> client */
		assert_int_equal(mfw_transport_write(server, all, sizeof(all),
						     mfw_deadline_in(T_LONG_MS), NULL),
				 0);
		assert_int_equal(read_fd_full(cfd, got, sizeof(got)), 0);
		assert_memory_equal(got, all, sizeof(all));
		/* no echo came back to the emulator */
		assert_int_equal(mfw_transport_read(server, got, 1, mfw_deadline_in(T_SHORT_MS)),
				 MFW_E_TIMEOUT);

		/* the client leaves: the session sees NODEV; the next round is a new client */
		close(cfd);
		assert_int_equal(mfw_transport_read(server, got, 1, mfw_deadline_in(T_LONG_MS)),
				 MFW_E_NODEV);
		mfw_transport_close(server);
	}
	mfw_listener_close(l);
	assert_int_equal(lstat(link, &st), -1);

	/* a real file in the way is not replaced */
	cfd = open(link, O_CREAT | O_WRONLY, 0600);
	assert_true(cfd >= 0);
	close(cfd);
	assert_int_equal(mfw_listener_open(f->ctx, spec, &l), MFW_E_EXIST);
}

static void test_tty_open_and_busy(void **state)
{
	struct fixture *f = *state;
	struct mfw_listener *l;
	struct mfw_transport *server, *client, *second;
	char link[128], spec[160];
	struct termios tio;

	snprintf(link, sizeof(link), "%s/ttyEMU", f->dir);
	snprintf(spec, sizeof(spec), "pty:%s", link);
	assert_int_equal(mfw_listener_open(f->ctx, spec, &l), 0);
	assert_int_equal(mfw_transport_open(f->ctx, mfw_listener_slave(l), &client), 0);
	assert_string_equal(client->ops->kind, "tty");
	assert_string_equal(client->name, mfw_listener_slave(l));
	assert_int_equal(mfw_listener_accept(l, mfw_deadline_in(T_LONG_MS), &server), 0);
	exchange_both(client, server);

	/* the link works as a port spec too, but the port is taken */
	mfw_ctx_clear_detail(f->ctx);
	assert_int_equal(mfw_transport_open(f->ctx, link, &second), MFW_E_BUSY);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "is held by another process"));
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "pid"));
	assert_int_equal(mfw_transport_open(f->ctx, mfw_listener_slave(l), &second), MFW_E_BUSY);

	/* our own settings: raw, no flow control, reads never wait in the driver */
	int fd = open(mfw_listener_slave(l), O_RDWR | O_NOCTTY | O_NONBLOCK);
	assert_true(fd >= 0);
	assert_int_equal(tcgetattr(fd, &tio), 0);
	assert_int_equal(tio.c_cc[VMIN], 0);
	assert_int_equal(tio.c_cflag & CRTSCTS, 0);
	assert_int_equal(tio.c_iflag & (IXON | IXOFF), 0);
	assert_true(tio.c_cflag & CLOCAL);
	close(fd);

	mfw_transport_close(client);
	/* released: it opens again */
	assert_int_equal(mfw_transport_open(f->ctx, link, &client), 0);
	/* the device side goes away (unplug): reads and writes say NODEV, nothing hangs */
	mfw_transport_close(server);
	mfw_listener_close(l);
	unsigned char c;
	assert_int_equal(mfw_transport_read(client, &c, 1, mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	assert_int_equal(mfw_transport_write(client, "x", 1, mfw_deadline_in(T_LONG_MS), NULL),
			 MFW_E_NODEV);
	mfw_transport_close(client);
}

static void test_chardev_and_specs(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *t;
	unsigned char c;
	size_t w;

	/* not a tty: plain I/O; /dev/null reads EOF, which means the peer is gone */
	assert_int_equal(mfw_transport_open(f->ctx, "/dev/null", &t), 0);
	assert_string_equal(t->ops->kind, "chardev");
	assert_int_equal(mfw_transport_write(t, "abc", 3, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(w, 3);
	assert_int_equal(mfw_transport_read(t, &c, 1, mfw_deadline_in(T_LONG_MS)), MFW_E_NODEV);
	mfw_transport_close(t);

	assert_int_equal(mfw_transport_open(f->ctx, "/dev/ttyMFWNONE9", &t), MFW_E_NODEV);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "'/dev/ttyMFWNONE9'"));
	assert_int_equal(mfw_transport_open(f->ctx, "COM3", &t), MFW_E_INVAL);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "tcp:HOST:PORT"));
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "usb:BUS-PORT"));
	assert_int_equal(mfw_transport_open(f->ctx, "", &t), MFW_E_INVAL);
	assert_int_equal(mfw_transport_from_fd(f->ctx, -1, "x", &t), MFW_E_INVAL);

	struct mfw_listener *l;
	assert_int_equal(mfw_listener_open(f->ctx, "serial:x", &l), MFW_E_INVAL);
}

/* ---- usb ---- */

static void test_usb_spec(void **state)
{
	static const char *bad[] = {
		"usb:",      "usb:1",      "usb:1-",    "usb:0-1",      "usb:1-0",
		"usb:1-2.",  "usb:1-2..3", "usb:256-1", "usb:1-256",    "usb:a-1",
		"usb:1-2x",  "usbx",       "usb:-1",    "usb:1-1.1.1.1.1.1.1.1",
	};
	uint8_t bus = 99, ports[MFW_USB_MAX_PORTS];
	int n = 99;
	(void)state;

	assert_int_equal(mfw_usb_parse_spec("usb", &bus, ports, &n), 0);
	assert_int_equal(bus, 0);
	assert_int_equal(n, 0);
	assert_int_equal(mfw_usb_parse_spec("usb:1-2.3", &bus, ports, &n), 0);
	assert_int_equal(bus, 1);
	assert_int_equal(n, 2);
	assert_int_equal(ports[0], 2);
	assert_int_equal(ports[1], 3);
	assert_int_equal(mfw_usb_parse_spec("usb:12-4", &bus, ports, &n), 0);
	assert_int_equal(bus, 12);
	assert_int_equal(n, 1);
	assert_int_equal(ports[0], 4);
	assert_int_equal(mfw_usb_parse_spec("usb:3-1.1.1.1.1.1.7", &bus, ports, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(ports[6], 7);
	for (size_t i = 0; i < MFW_ARRAY_SIZE(bad); i++) {
		if (mfw_usb_parse_spec(bad[i], &bus, ports, &n) != MFW_E_INVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

static void test_usb_no_device(void **state)
{
	struct fixture *f = *state;
	struct mfw_transport *t = NULL;
	const char *d;

	/* no 05c6:9008 here (or no USB at all): a sentence that says what to do */
	assert_int_equal(mfw_transport_open(f->ctx, "usb", &t), MFW_E_NODEV);
	d = mfw_ctx_detail(f->ctx);
	assert_non_null(strstr(d, "05c6:9008"));
	assert_non_null(strstr(d, "lsusb"));
	assert_non_null(strstr(d, "EDL"));
	assert_int_equal(mfw_transport_open(f->ctx, "usb:9-9.9", &t), MFW_E_NODEV);
	d = mfw_ctx_detail(f->ctx);
	assert_non_null(strstr(d, "usb 9-9.9"));
	assert_non_null(strstr(d, "lsusb"));
	assert_int_equal(mfw_transport_open(f->ctx, "usb:1-x", &t), MFW_E_INVAL);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "usb:BUS-PORT"));
	assert_null(t);
	/* the setter ignores other kinds */
	struct mfw_transport *a, *b;
	assert_int_equal(mfw_transport_pair(f->ctx, 0, &a, &b), 0);
	mfw_transport_usb_set_zlp(a, false);
	mfw_transport_close(a);
	mfw_transport_close(b);
}

/* ---- fault wrapper ---- */

static void fault_pair(struct fixture *f, const struct mfw_fault_spec *spec, bool wrap_a,
		       struct mfw_transport **a, struct mfw_transport **b)
{
	struct mfw_transport *x, *y;

	assert_int_equal(mfw_transport_pair(f->ctx, 1024, &x, &y), 0);
	if (wrap_a)
		assert_int_equal(mfw_transport_fault(f->ctx, x, spec, &x), 0);
	else
		assert_int_equal(mfw_transport_fault(f->ctx, y, spec, &y), 0);
	*a = x;
	*b = y;
}

static void test_fault_stall(void **state)
{
	struct fixture *f = *state;
	struct mfw_fault_spec spec;
	struct mfw_transport *a, *b;
	unsigned char buf[30], got[30];
	size_t w = 99;

	fill_pattern(buf, sizeof(buf), 3);
	mfw_fault_spec_init(&spec);
	spec.stall_out_at = 10;
	fault_pair(f, &spec, true, &a, &b);
	assert_string_equal(a->ops->kind, "fault");
	assert_string_equal(a->name, "pair:a");
	assert_int_equal(mfw_transport_write(a, buf, 4, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(mfw_transport_write(a, buf + 4, 26, mfw_deadline_in(T_SHORT_MS), &w),
			 MFW_E_TIMEOUT);
	assert_int_equal(w, 6);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "after 6 of 26 bytes"));
	assert_int_equal(mfw_transport_write(a, buf, 1, mfw_deadline_in(T_SHORT_MS), &w),
			 MFW_E_TIMEOUT);
	assert_int_equal(w, 0);
	assert_int_equal(a->bytes_out, 10);
	assert_int_equal(mfw_transport_read(b, got, sizeof(got), mfw_deadline_in(T_LONG_MS)), 10);
	assert_memory_equal(got, buf, 10);
	/* reads are not affected */
	exchange(b, a, buf, sizeof(buf));
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_fault_drop_corrupt(void **state)
{
	struct fixture *f = *state;
	struct mfw_fault_spec spec;
	struct mfw_transport *a, *b;
	unsigned char got[16];
	size_t w = 0;

	/* read side: drop byte 2, flip bit 0 of byte 4 */
	mfw_fault_spec_init(&spec);
	spec.drop_in_at = 2;
	spec.corrupt_in_at = 4;
	spec.corrupt_mask = 0x01;
	fault_pair(f, &spec, false, &a, &b);
	assert_int_equal(mfw_transport_write(a, "abcdefgh", 8, mfw_deadline_in(T_LONG_MS), NULL), 0);
	assert_int_equal(mfw_transport_read(b, got, sizeof(got), mfw_deadline_in(T_LONG_MS)), 7);
	assert_memory_equal(got, "abddfgh", 7);
	mfw_transport_close(a);
	mfw_transport_close(b);

	/* a read whose only byte is dropped keeps reading */
	mfw_fault_spec_init(&spec);
	spec.drop_in_at = 0;
	fault_pair(f, &spec, false, &a, &b);
	assert_int_equal(mfw_transport_write(a, "xy", 2, mfw_deadline_in(T_LONG_MS), NULL), 0);
	assert_int_equal(mfw_transport_read(b, got, 1, mfw_deadline_in(T_LONG_MS)), 1);
	assert_int_equal(got[0], 'y');
	mfw_transport_close(a);
	mfw_transport_close(b);

	/* write side, across two writes: byte 5 dropped, byte 1 inverted */
	mfw_fault_spec_init(&spec);
	spec.drop_out_at = 5;
	spec.corrupt_out_at = 1;
	fault_pair(f, &spec, true, &a, &b);
	assert_int_equal(mfw_transport_write(a, "abc", 3, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(w, 3);
	assert_int_equal(mfw_transport_write(a, "defgh", 5, mfw_deadline_in(T_LONG_MS), &w), 0);
	assert_int_equal(w, 5);
	assert_int_equal(mfw_transport_read_full(b, got, 7, mfw_deadline_in(T_LONG_MS)), 0);
	assert_int_equal(got[1], (unsigned char)('b' ^ 0xff));
	got[1] = 'b';
	assert_memory_equal(got, "abcdegh", 7);
	assert_int_equal(mfw_transport_read(b, got, 1, mfw_deadline_in(T_SHORT_MS)), MFW_E_TIMEOUT);
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_fault_disconnect_delay(void **state)
{
	struct fixture *f = *state;
	struct mfw_fault_spec spec;
	struct mfw_transport *a, *b;
	unsigned char got[16];
	size_t w = 0;

	/* 8 bytes in both directions together, then the link is gone */
	mfw_fault_spec_init(&spec);
	spec.disconnect_at = 8;
	spec.read_delay_ms = 5;
	fault_pair(f, &spec, true, &a, &b);
	assert_int_equal(mfw_transport_write(b, "12", 2, mfw_deadline_in(T_LONG_MS), NULL), 0);
	assert_int_equal(mfw_transport_read(a, got, sizeof(got), mfw_deadline_in(T_LONG_MS)), 2);
	assert_int_equal(mfw_transport_write(a, "abcdefgh", 8, mfw_deadline_in(T_LONG_MS), &w),
			 MFW_E_NODEV);
	assert_int_equal(w, 6);
	assert_non_null(strstr(mfw_ctx_detail(f->ctx), "disconnected"));
	assert_int_equal(mfw_transport_read(a, got, sizeof(got), mfw_deadline_in(T_LONG_MS)),
			 MFW_E_NODEV);
	assert_int_equal(mfw_transport_write(a, "x", 1, mfw_deadline_in(T_LONG_MS), &w),
			 MFW_E_NODEV);
	assert_int_equal(w, 0);
	assert_int_equal(mfw_transport_read_full(b, got, 6, mfw_deadline_in(T_LONG_MS)), 0);
	assert_memory_equal(got, "abcdef", 6);
	mfw_transport_close(a);
	mfw_transport_close(b);

	/* a delayed read whose deadline already passed still returns what is there */
	mfw_fault_spec_init(&spec);
	spec.read_delay_ms = 10000;
	fault_pair(f, &spec, true, &a, &b);
	assert_int_equal(mfw_transport_write(b, "z", 1, mfw_deadline_in(T_LONG_MS), NULL), 0);
	assert_int_equal(mfw_transport_read(a, got, 1, mfw_deadline_in(0)), 1);
	assert_int_equal(got[0], 'z');
	mfw_transport_close(a);
	mfw_transport_close(b);
}

static void test_fault_random(void **state)
{
	struct mfw_fault_spec s1, s2;
	unsigned kinds = 0;
	(void)state;

	mfw_fault_spec_random(&s1, 42, 1000);
	mfw_fault_spec_random(&s2, 42, 1000);
	assert_memory_equal(&s1, &s2, sizeof(s1));
	for (uint32_t seed = 1; seed <= 200; seed++) {
		const uint64_t *at[] = { &s1.stall_out_at, &s1.drop_in_at, &s1.corrupt_in_at,
					 &s1.drop_out_at, &s1.corrupt_out_at, &s1.disconnect_at };
		int set = 0;

		mfw_fault_spec_random(&s1, seed, 1000);
		for (unsigned k = 0; k < MFW_ARRAY_SIZE(at); k++) {
			if (*at[k] == MFW_FAULT_OFF)
				continue;
			assert_true(*at[k] < 1000);
			kinds |= 1u << k;
			set++;
		}
		assert_int_equal(set, 1);
		assert_int_equal(__builtin_popcount(s1.corrupt_mask), 1);
	}
	assert_int_equal(kinds, 0x3f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zlp_rules),
		cmocka_unit_test_setup_teardown(test_pair_both_directions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_close_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_socketpair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_send_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fd_send_file_bounce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pty_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tty_open_and_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chardev_and_specs, setup, teardown),
		cmocka_unit_test(test_usb_spec),
		cmocka_unit_test_setup_teardown(test_usb_no_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_drop_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_disconnect_delay, setup, teardown),
		cmocka_unit_test(test_fault_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
