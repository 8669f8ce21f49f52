/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Client-side stream sockets: tcp:HOST:PORT (a USB bridge or the virtual
 * modem on another machine) and unix:PATH (a local virtual modem). After
 * connect the socket is an ordinary fd transport.
 */
#include "transport/internal.h"

/* bytes; the kernel doubles it (socket(7)) */
#define MFW_TCP_SNDBUF (256 * 1024)

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How often a unix connect is retried while the server's backlog is full. */
#define UNIX_BACKLOG_RETRY_MS 10

int mfw_tr_split_host_port(const char *hp, char *host, size_t host_len, char *port,
			   size_t port_len)
{
	const char *colon, *h = hp;
	size_t hl;

	if (hp[0] == '[') {
		const char *close = strchr(hp, ']');

		if (!close || close[1] != ':')
			return MFW_E_INVAL;
		h = hp + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon)
			return MFW_E_INVAL;
		hl = (size_t)(colon - hp);
	}
	if (hl == 0 || hl >= host_len || !colon[1] || strlen(colon + 1) >= port_len)
		return MFW_E_INVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	strcpy(port, colon + 1);
	return 0;
}

/*
 * getaddrinfo() has no timeout. Numeric hosts are resolved inline (they
 * never block); names are looked up in a detached thread we stop waiting
 * for at the deadline. The job is reference-counted so that whichever of
 * the two sides finishes last frees it.
 */
struct resolve_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int refs;
	bool done;
	int rc;
	char host[256];
	char port[32];
	struct addrinfo hints;
	struct addrinfo *res;
};

static void job_put(struct resolve_job *job)
{
	bool last;

	pthread_mutex_lock(&job->lock);
	last = --job->refs == 0;
	pthread_mutex_unlock(&job->lock);
	if (!last)
		return;
	if (job->res)
		freeaddrinfo(job->res);
	pthread_cond_destroy(&job->cond);
	pthread_mutex_destroy(&job->lock);
	free(job);
}

static void *resolve_thread(void *arg)
{
	struct resolve_job *job = arg;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(job->host, job->port, &job->hints, &res);

	pthread_mutex_lock(&job->lock);
	job->rc = rc;
	job->res = res;
	job->done = true;
	pthread_cond_broadcast(&job->cond);
	pthread_mutex_unlock(&job->lock);
	job_put(job);
	return NULL;
}

static int resolve_failed(struct mfw_ctx *ctx, const char *host, const char *port, int rc)
{
	return mfw_fail(ctx, MFW_E_NODEV, "cannot resolve '%s' port '%s': %s", host ? host : "*",
			port, gai_strerror(rc));
}

int mfw_tr_resolve(struct mfw_ctx *ctx, const char *host, const char *port, bool passive,
		   mfw_deadline_t deadline, struct addrinfo **ret)
{
	struct addrinfo hints = { 0 };
	struct resolve_job *job;
	pthread_attr_t attr;
	pthread_t thread;
	int rc, r = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = (passive ? AI_PASSIVE : 0) | AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, ret);
	if (rc == 0)
		return 0;
	if (rc != EAI_NONAME || !host)
		return resolve_failed(ctx, host, port, rc);

	job = calloc(1, sizeof(*job));
	if (!job)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory to resolve '%s'", host);
	if (strlen(host) >= sizeof(job->host) || strlen(port) >= sizeof(job->port)) {
		free(job);
		return mfw_fail(ctx, MFW_E_INVAL, "host name '%s' is too long", host);
	}
	strcpy(job->host, host);
	strcpy(job->port, port);
	job->hints = hints;
	job->hints.ai_flags &= ~(AI_NUMERICHOST | AI_NUMERICSERV);
	job->refs = 2;
	if (pthread_mutex_init(&job->lock, NULL)) {
		free(job);
		return mfw_fail(ctx, MFW_E_NOMEM, "cannot start resolving '%s'", host);
	}
	if (mfw_tr_cond_init(&job->cond) < 0) {
		pthread_mutex_destroy(&job->lock);
		free(job);
		return mfw_fail(ctx, MFW_E_NOMEM, "cannot start resolving '%s'", host);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&thread, &attr, resolve_thread, job)) {
		pthread_attr_destroy(&attr);
		job->refs = 1;
		job_put(job);
		return mfw_fail(ctx, MFW_E_NOMEM, "cannot start resolving '%s'", host);
	}
	pthread_attr_destroy(&attr);

	pthread_mutex_lock(&job->lock);
	while (!job->done && r == 0)
		r = mfw_tr_cond_wait(&job->cond, &job->lock, deadline);
	if (job->done) {
		rc = job->rc;
		*ret = job->res;
		job->res = NULL;
		r = 0;
	}
	pthread_mutex_unlock(&job->lock);
	job_put(job);
	if (r < 0)
		return mfw_fail(ctx, MFW_E_TIMEOUT, "resolving '%s' did not finish in time", host);
	if (rc)
		return resolve_failed(ctx, host, port, rc);
	return 0;
}

/* Wait for a non-blocking connect to finish; returns 0 or an errno value (ETIMEDOUT). */
static int connect_wait(int fd, mfw_deadline_t deadline)
{
	socklen_t sl = sizeof(int);
	int err = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int r = poll(&p, 1, mfw_deadline_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return ETIMEDOUT;
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		return errno;
	return err;
}

static int connect_failed(struct mfw_ctx *ctx, const char *spec, int err)
{
	switch (err) {
	case ETIMEDOUT:
		return mfw_fail(ctx, MFW_E_TIMEOUT, "connecting to '%s' timed out", spec);
	case ECONNREFUSED:
		return mfw_fail(ctx, MFW_E_NODEV, "nothing is listening at '%s' (connection refused)",
				spec);
	case ENOENT:
		return mfw_fail(ctx, MFW_E_NODEV, "no socket at '%s'", spec);
	case ENETUNREACH:
	case EHOSTUNREACH:
	case EADDRNOTAVAIL:
		return mfw_fail(ctx, MFW_E_NODEV, "cannot reach '%s': %s", spec, strerror(err));
	case EACCES:
	case EPERM:
		return mfw_fail(ctx, MFW_E_IO, "no permission to connect to '%s'", spec);
	}
	return mfw_fail(ctx, MFW_E_IO, "connecting to '%s' failed: %s", spec, strerror(err));
}

static int connect_tcp(struct mfw_ctx *ctx, const char *spec, mfw_deadline_t deadline,
		       struct mfw_transport **ret)
{
	char host[256], port[32];
	struct addrinfo *res, *ai;
	int fd = -1, err = ECONNREFUSED, one = 1, r;

	if (mfw_tr_split_host_port(spec + 4, host, sizeof(host), port, sizeof(port)) < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "'%s' is not tcp:HOST:PORT", spec);
	r = mfw_tr_resolve(ctx, host, port, false, deadline, &res);
	if (r < 0)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
			err = errno == EINPROGRESS ? connect_wait(fd, deadline) : errno;
		else
			err = 0;
		if (!err)
			break;
		close(fd);
		fd = -1;
		if (err == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return connect_failed(ctx, spec, err);
	/*
	 * A USB pipe buffers a few transfers; loopback TCP buffers tens of MiB.
	 * Keep the send buffer near a USB pipe's so that a device that stops
	 * reading blocks our writes within about a MiB, where the stall
	 * watchdog sees it, instead of after the whole partition.
	 */
	{
		int sndbuf = MFW_TCP_SNDBUF;
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
			mfw_dbg(ctx, "SO_SNDBUF on '%s' failed (%s), ignoring", spec, strerror(errno));
	}
	/* Sahara and Firehose are request/response: Nagle would add 40 ms per command */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		mfw_dbg(ctx, "TCP_NODELAY on '%s' failed (%s), ignoring", spec, strerror(errno));
	return mfw_transport_from_fd(ctx, fd, spec, ret);
}

static int connect_unix(struct mfw_ctx *ctx, const char *spec, mfw_deadline_t deadline,
			struct mfw_transport **ret)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = spec + 5;
	int fd, err;

	if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
		return mfw_fail(ctx, MFW_E_INVAL, "'%s': socket path empty or longer than %zu bytes",
				spec, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create a socket for '%s': %s", spec,
				strerror(errno));
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			err = 0;
			break;
		}
		err = errno;
		if (err == EINPROGRESS) {
			err = connect_wait(fd, deadline);
			break;
		}
		/* a full backlog refuses non-blocking connects with EAGAIN: retry */
		if (err != EAGAIN && err != EINTR)
			break;
		if (mfw_deadline_passed(deadline)) {
			err = ETIMEDOUT;
			break;
		}
		poll(NULL, 0, UNIX_BACKLOG_RETRY_MS < mfw_deadline_left(deadline) ?
				      UNIX_BACKLOG_RETRY_MS : mfw_deadline_left(deadline));
	}
	if (err) {
		close(fd);
		return connect_failed(ctx, spec, err);
	}
	return mfw_transport_from_fd(ctx, fd, spec, ret);
}

int mfw_tr_connect(struct mfw_ctx *ctx, const char *spec, mfw_deadline_t deadline,
		   struct mfw_transport **ret)
{
	if (!strncmp(spec, "tcp:", 4))
		return connect_tcp(ctx, spec, deadline, ret);
	if (!strncmp(spec, "unix:", 5))
		return connect_unix(ctx, spec, deadline, ret);
	return mfw_fail(ctx, MFW_E_INVAL, "'%s' is not a socket spec (tcp:HOST:PORT or unix:PATH)",
			spec);
}
