/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Server side, for the virtual modem: listen on tcp:HOST:PORT, unix:PATH
 * or pty:LINK and hand each connected peer over as a transport.
 *
 * pty: the emulator owns the master; LINK is a symlink to the slave that
 * host tools (ours, qdl, edl) open like a /dev/ttyUSBn. The slave is made
 * raw before anyone opens it, since qdl sets no line settings at all.
 */
#include "transport/internal.h"

#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

/*
 * A pty master cannot wait for "slave opened" (poll reports POLLHUP while
 * no slave is open and has no event for its clearing), so accept re-polls
 * at this interval. 20 ms is invisible next to a 2 s tty settle time.
 */
#define PTY_PEER_POLL_MS 20
#define LISTEN_BACKLOG 4

enum listener_kind { LISTEN_TCP, LISTEN_UNIX, LISTEN_PTY };

struct mfw_listener {
	struct mfw_ctx *ctx;
	enum listener_kind kind;
	int fd; /* listening socket or pty master */
	int port;
	char path[PATH_MAX]; /* unix socket path or pty link */
	char slave[64];      /* pty slave node */
	char name[PATH_MAX + 16];
};

static int listener_new(struct mfw_ctx *ctx, enum listener_kind kind, struct mfw_listener **ret)
{
	struct mfw_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for a listener");
	l->ctx = ctx;
	l->kind = kind;
	l->fd = -1;
	*ret = l;
	return 0;
}

static int listen_tcp(struct mfw_listener *l, const char *spec)
{
	struct mfw_ctx *ctx = l->ctx;
	char host[256], port[32];
	struct addrinfo *res, *ai;
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	int one = 1, err = EADDRNOTAVAIL, r;

	if (mfw_tr_split_host_port(spec + 4, host, sizeof(host), port, sizeof(port)) < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "'%s' is not tcp:HOST:PORT", spec);
	/* "*" binds every local address, like a bridge that serves the whole network */
	r = mfw_tr_resolve(ctx, strcmp(host, "*") ? host : NULL, port, true,
			   mfw_deadline_in(MFW_TRANSPORT_OPEN_MS), &res);
	if (r < 0)
		return r;
	for (ai = res; ai; ai = ai->ai_next) {
		l->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (l->fd < 0) {
			err = errno;
			continue;
		}
		/* a restarted emulator must not wait out TIME_WAIT of the last session */
		setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* like a USB device, accept only a little data ahead (inherited by accepted sockets) */
		{
			int rcvbuf = 64 * 1024;
			setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		}
		if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(l->fd, LISTEN_BACKLOG) == 0)
			break;
		err = errno;
		close(l->fd);
		l->fd = -1;
	}
	freeaddrinfo(res);
	if (l->fd < 0) {
		if (err == EADDRINUSE)
			return mfw_fail(ctx, MFW_E_BUSY, "'%s' is already in use", spec);
		return mfw_fail(ctx, MFW_E_IO, "cannot listen on '%s': %s", spec, strerror(err));
	}
	if (getsockname(l->fd, (struct sockaddr *)&sa, &sl) == 0)
		l->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
							 : ((struct sockaddr_in *)&sa)->sin_port);
	snprintf(l->name, sizeof(l->name), "tcp:%s%s%s:%d", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", l->port);
	return 0;
}

/*
 * A socket file left by a crashed emulator refuses connections: replace
 * it. One that still answers belongs to a running emulator: leave it.
 */
static int unix_remove_stale(struct mfw_ctx *ctx, const char *spec,
			     const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return mfw_fail(ctx, MFW_E_EXIST, "'%s' exists and is not a socket", sa->sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create a socket for '%s': %s", spec,
				strerror(errno));
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		return mfw_fail(ctx, MFW_E_BUSY, "'%s' is served by another process", spec);
	}
	close(fd);
	mfw_dbg(ctx, "removing stale socket '%s'", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return mfw_fail(ctx, MFW_E_IO, "cannot remove stale socket '%s': %s", sa->sun_path,
				strerror(errno));
	return 0;
}

static int listen_unix(struct mfw_listener *l, const char *spec)
{
	struct mfw_ctx *ctx = l->ctx;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = spec + 5;
	int r;

	if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
		return mfw_fail(ctx, MFW_E_INVAL, "'%s': socket path empty or longer than %zu bytes",
				spec, sizeof(sa.sun_path) - 1);
	strcpy(sa.sun_path, path);
	r = unix_remove_stale(ctx, spec, &sa);
	if (r < 0)
		return r;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create a socket for '%s': %s", spec,
				strerror(errno));
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = mfw_fail(ctx, errno == EADDRINUSE ? MFW_E_BUSY : MFW_E_IO,
			     "cannot bind '%s': %s", spec, strerror(errno));
		goto out_close;
	}
	if (listen(l->fd, LISTEN_BACKLOG) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot listen on '%s': %s", spec, strerror(errno));
		goto out_unlink;
	}
	snprintf(l->path, sizeof(l->path), "%s", path);
	snprintf(l->name, sizeof(l->name), "%s", spec);
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(l->fd);
	l->fd = -1;
	return r;
}

/*
 * Raw line settings on the slave side, applied through a short-lived open
 * of the slave. Closing it again is deliberate: the master then reports
 * POLLHUP until a client opens the slave, which is how accept notices a
 * client. The settings live with the pty pair, so they outlast the close.
 */
static int pty_make_raw(struct mfw_ctx *ctx, const char *slave)
{
	struct termios tio;
	int fd, r = 0;

	fd = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot open pty '%s': %s", slave, strerror(errno));
	if (tcgetattr(fd, &tio) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot read the line settings of '%s': %s", slave,
			     strerror(errno));
		goto out_close;
	}
	cfmakeraw(&tio);
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	tio.c_cflag &= ~(tcflag_t)CRTSCTS;
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1; /* blocking clients (qdl) expect read() to wait for data */
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		r = mfw_fail(ctx, MFW_E_IO, "cannot set '%s' to raw mode: %s", slave,
			     strerror(errno));
out_close:
	close(fd);
	return r;
}

/* Point link at the slave, replacing a link left by an earlier run. */
static int pty_link(struct mfw_ctx *ctx, const char *link, const char *slave)
{
	struct stat st;

	if (lstat(link, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return mfw_fail(ctx, MFW_E_EXIST,
					"'%s' exists and is not a symlink: not replacing it", link);
		if (unlink(link) < 0)
			return mfw_fail(ctx, MFW_E_IO, "cannot remove old link '%s': %s", link,
					strerror(errno));
		mfw_dbg(ctx, "replaced stale link '%s'", link);
	}
	if (symlink(slave, link) < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create link '%s' -> '%s': %s", link, slave,
				strerror(errno));
	return 0;
}

static int listen_pty(struct mfw_listener *l, const char *spec)
{
	struct mfw_ctx *ctx = l->ctx;
	const char *link = spec + 4;
	int r;

	if (!link[0] || strlen(link) >= sizeof(l->path))
		return mfw_fail(ctx, MFW_E_INVAL, "'%s': link path empty or too long", spec);
	l->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (l->fd < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot create a pty: %s", strerror(errno));
	if (grantpt(l->fd) < 0 || unlockpt(l->fd) < 0 ||
	    ptsname_r(l->fd, l->slave, sizeof(l->slave)) != 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot set up the pty: %s", strerror(errno));
		goto out_close;
	}
	r = pty_make_raw(ctx, l->slave);
	if (r < 0)
		goto out_close;
	r = pty_link(ctx, link, l->slave);
	if (r < 0)
		goto out_close;
	snprintf(l->path, sizeof(l->path), "%s", link);
	snprintf(l->name, sizeof(l->name), "%s", l->slave);
	mfw_dbg(ctx, "pty '%s' linked as '%s'", l->slave, link);
	return 0;

out_close:
	close(l->fd);
	l->fd = -1;
	return r;
}

int mfw_listener_open(struct mfw_ctx *ctx, const char *spec, struct mfw_listener **ret)
{
	struct mfw_listener *l = NULL;
	enum listener_kind kind;
	int r = MFW_E_INVAL;

	if (!strncmp(spec, "tcp:", 4))
		kind = LISTEN_TCP;
	else if (!strncmp(spec, "unix:", 5))
		kind = LISTEN_UNIX;
	else if (!strncmp(spec, "pty:", 4))
		kind = LISTEN_PTY;
	else
		return mfw_fail(ctx, MFW_E_INVAL,
				"cannot listen on '%s': use tcp:HOST:PORT, unix:PATH or pty:LINK",
				spec);
	r = listener_new(ctx, kind, &l);
	if (r < 0)
		return r;
	switch (kind) {
	case LISTEN_TCP:
		r = listen_tcp(l, spec);
		break;
	case LISTEN_UNIX:
		r = listen_unix(l, spec);
		break;
	case LISTEN_PTY:
		r = listen_pty(l, spec);
		break;
	}
	if (r < 0) {
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

int mfw_listener_port(const struct mfw_listener *l)
{
	return l->kind == LISTEN_TCP ? l->port : 0;
}

const char *mfw_listener_name(const struct mfw_listener *l)
{
	return l->name;
}

const char *mfw_listener_slave(const struct mfw_listener *l)
{
	return l->kind == LISTEN_PTY ? l->slave : NULL;
}

static bool pty_peer_present(int master)
{
	struct pollfd p = { .fd = master, .events = POLLIN };

	if (poll(&p, 1, 0) < 0)
		return false;
	/* data queued means someone opened the slave and wrote, even if already gone */
	return !(p.revents & POLLHUP) || (p.revents & POLLIN);
}

int mfw_listener_wait_peer(struct mfw_listener *l, mfw_deadline_t deadline)
{
	if (l->kind != LISTEN_PTY)
		return 0;
	while (!pty_peer_present(l->fd)) {
		int left = mfw_deadline_left(deadline);

		if (left == 0)
			return MFW_E_TIMEOUT;
		poll(NULL, 0, left < PTY_PEER_POLL_MS ? left : PTY_PEER_POLL_MS);
	}
	return 0;
}

static int accept_pty(struct mfw_listener *l, mfw_deadline_t deadline, struct mfw_transport **ret)
{
	int fd, r;

	/* bytes a previous client wrote and nobody read belong to a finished session */
	if (!pty_peer_present(l->fd))
		tcflush(l->fd, TCIFLUSH);
	r = mfw_listener_wait_peer(l, deadline);
	if (r < 0)
		return r;
	/*
	 * The session gets its own descriptor: closing it when the client
	 * leaves must not destroy the pty and its link.
	 */
	fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return mfw_fail(l->ctx, MFW_E_IO, "cannot duplicate the pty master: %s",
				strerror(errno));
	return mfw_transport_from_fd(l->ctx, fd, l->slave, ret);
}

static int accept_socket(struct mfw_listener *l, mfw_deadline_t deadline,
			 struct mfw_transport **ret)
{
	struct sockaddr_storage sa;
	char name[sizeof(l->name) + NI_MAXHOST + NI_MAXSERV + 16], host[NI_MAXHOST], serv[NI_MAXSERV];
	int fd, one = 1;

	for (;;) {
		struct pollfd p = { .fd = l->fd, .events = POLLIN };
		socklen_t sl = sizeof(sa);
		int r = poll(&p, 1, mfw_deadline_left(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mfw_fail(l->ctx, MFW_E_IO, "waiting on '%s' failed: %s", l->name,
					strerror(errno));
		if (r == 0)
			return MFW_E_TIMEOUT;
		fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		/* the client gave up between poll and accept: keep waiting */
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED ||
		    errno == EINTR)
			continue;
		return mfw_fail(l->ctx, MFW_E_IO, "accept on '%s' failed: %s", l->name,
				strerror(errno));
	}
	if (l->kind == LISTEN_TCP) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (getnameinfo((struct sockaddr *)&sa, sizeof(sa), host, sizeof(host), serv,
				sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
			snprintf(name, sizeof(name), "tcp:%s%s%s:%s", strchr(host, ':') ? "[" : "",
				 host, strchr(host, ':') ? "]" : "", serv);
		else
			snprintf(name, sizeof(name), "%s peer", l->name);
		return mfw_transport_from_fd(l->ctx, fd, name, ret);
	}
	return mfw_transport_from_fd(l->ctx, fd, l->name, ret);
}

int mfw_listener_accept(struct mfw_listener *l, mfw_deadline_t deadline,
			struct mfw_transport **ret)
{
	if (l->kind == LISTEN_PTY)
		return accept_pty(l, deadline, ret);
	return accept_socket(l, deadline, ret);
}

void mfw_listener_close(struct mfw_listener *l)
{
	char target[sizeof(l->slave)];
	ssize_t n;

	if (!l)
		return;
	if (l->fd >= 0)
		close(l->fd);
	if (l->kind == LISTEN_UNIX && l->path[0])
		unlink(l->path);
	if (l->kind == LISTEN_PTY && l->path[0]) {
		/* only our own link: another emulator may have taken the name since */
		n = readlink(l->path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (!strcmp(target, l->slave))
				unlink(l->path);
		}
	}
	free(l);
}
