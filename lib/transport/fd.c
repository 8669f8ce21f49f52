/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fd transport: a non-blocking file descriptor driven by poll() against
 * the caller's deadline. Serves ttys (qcserial /dev/ttyUSBn, pty), plain
 * char devices that are not ttys (/dev/wwan0firehose0, /dev/mhi_EDL),
 * stream sockets and the emulator's pty master.
 */
#include "transport/internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* Bound the /proc walk that names the holder of a busy port: cheap, never a hang. */
#define HOLDER_SCAN_MAX_PIDS 4096

struct fd_transport {
	struct mfw_transport base;
	int fd;
	bool is_socket;
	bool is_fifo;
	bool is_tty;
	bool exclusive; /* TIOCEXCL set by us: undone on close */
	bool no_sendfile; /* sendfile() refused this source once: bounce buffer from then on */
};

/* errno values that mean the other side is gone rather than a failing call */
static bool errno_is_gone(int err)
{
	switch (err) {
	case EIO: /* tty hung up (USB unplug), pty whose other side closed */
	case ENXIO:
	case ENODEV:
	case EPIPE:
	case ECONNRESET:
	case ENOTCONN:
	case ESHUTDOWN:
		return true;
	}
	return false;
}

static int fail_errno(struct fd_transport *f, const char *what, int err)
{
	struct mfw_transport *t = &f->base;

	if (errno_is_gone(err))
		return mfw_fail(t->ctx, MFW_E_NODEV, "'%s' is gone (%s failed: %s)", t->name, what,
				strerror(err));
	return mfw_fail(t->ctx, MFW_E_IO, "%s on '%s' failed: %s", what, t->name, strerror(err));
}

/*
 * write() on a FIFO whose reader left raises SIGPIPE; a library must not
 * kill its host. Block it around the call and swallow a signal we caused.
 */
static ssize_t fifo_write(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static int fd_read(struct mfw_transport *t, void *buf, size_t cap, mfw_deadline_t deadline)
{
	struct fd_transport *f = (struct fd_transport *)t;

	if (cap == 0)
		return 0;
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	for (;;) {
		struct pollfd p = { .fd = f->fd, .events = POLLIN };
		ssize_t n;
		int r;

		r = poll(&p, 1, mfw_deadline_left(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return fail_errno(f, "poll", errno);
		}
		/* a read timeout is an ordinary event (log drain, probing): no detail */
		if (r == 0)
			return MFW_E_TIMEOUT;
		if (p.revents & POLLNVAL)
			return mfw_fail(t->ctx, MFW_E_IO, "'%s': descriptor is not open", t->name);
		/*
		 * POLLHUP may come with data still queued (peer wrote, then
		 * closed): read until the read itself says EOF or EIO.
		 */
		n = f->is_socket ? recv(f->fd, buf, cap, 0) : read(f->fd, buf, cap);
		if (n > 0)
			return (int)n;
		if (n == 0)
			return mfw_fail(t->ctx, MFW_E_NODEV, "'%s' closed by the other side", t->name);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* hang-up with nothing left to read: the peer is gone */
			if (p.revents & (POLLHUP | POLLERR))
				return mfw_fail(t->ctx, MFW_E_NODEV, "'%s' hung up", t->name);
			continue;
		}
		return fail_errno(f, "read", errno);
	}
}

/* Where fd_out() takes its bytes from: memory, or a file at an offset (sockets only). */
struct out_src {
	const unsigned char *mem;
	int file;
	uint64_t off;
};

/*
 * sendfile() from a file the kernel cannot splice (some FUSE and network
 * file systems say EINVAL): the same bytes through a small bounce buffer.
 */
static ssize_t send_file_bounce(int sock, int file, uint64_t off, size_t len)
{
	unsigned char buf[16384];
	ssize_t n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	n = pread(file, buf, len, (off_t)off);
	if (n <= 0)
		return n;
	return send(sock, buf, (size_t)n, MSG_NOSIGNAL);
}

static ssize_t out_once(struct fd_transport *f, const struct out_src *src, size_t done,
			size_t chunk)
{
	if (src->mem) {
		if (f->is_socket)
			return send(f->fd, src->mem + done, chunk, MSG_NOSIGNAL);
		if (f->is_fifo)
			return fifo_write(f->fd, src->mem + done, chunk);
		return write(f->fd, src->mem + done, chunk);
	}
	if (!f->no_sendfile) {
		off_t off = (off_t)(src->off + done);
		ssize_t n = sendfile(f->fd, src->file, &off, chunk);

		if (n >= 0 || (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP))
			return n;
		f->no_sendfile = true;
	}
	return send_file_bounce(f->fd, src->file, src->off + done, chunk);
}

/* Move len bytes from src before the deadline; *written counts what moved. */
static int fd_out(struct fd_transport *f, const struct out_src *src, size_t len,
		  mfw_deadline_t deadline, size_t *written)
{
	struct mfw_transport *t = &f->base;
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		struct pollfd pfd = { .fd = f->fd, .events = POLLOUT };
		size_t chunk = len - done;
		ssize_t n;
		int r;

		r = poll(&pfd, 1, mfw_deadline_left(deadline));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = fail_errno(f, "poll", errno);
			break;
		}
		if (r == 0) {
			ret = mfw_fail(t->ctx, MFW_E_TIMEOUT,
				       "'%s' stopped accepting data after %zu of %zu bytes", t->name,
				       done, len);
			break;
		}
		if (pfd.revents & POLLNVAL) {
			ret = mfw_fail(t->ctx, MFW_E_IO, "'%s': descriptor is not open", t->name);
			break;
		}
		/* nobody would read what we write: a hung-up tty or a closed pty side */
		if (pfd.revents & POLLHUP) {
			ret = mfw_fail(t->ctx, MFW_E_NODEV, "'%s' hung up after %zu of %zu bytes",
				       t->name, done, len);
			break;
		}
		if (chunk > SSIZE_MAX)
			chunk = SSIZE_MAX;
		n = out_once(f, src, done, chunk);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n == 0 && !src->mem)
			ret = mfw_fail(t->ctx, MFW_E_IO,
				       "the file being sent to '%s' ended %zu bytes early", t->name,
				       len - done);
		else
			ret = n == 0 ? mfw_fail(t->ctx, MFW_E_IO, "write to '%s' made no progress",
						t->name)
				     : fail_errno(f, src->mem ? "write" : "sendfile", errno);
		break;
	}
	*written = done;
	return ret;
}

static int fd_write(struct mfw_transport *t, const void *buf, size_t len,
		    mfw_deadline_t deadline, size_t *written)
{
	struct out_src src = { .mem = buf, .file = -1 };

	return fd_out((struct fd_transport *)t, &src, len, deadline, written);
}

static int fd_send_file(struct mfw_transport *t, int fd, uint64_t off, size_t len,
			mfw_deadline_t deadline, size_t *written)
{
	struct out_src src = { .file = fd, .off = off };

	return fd_out((struct fd_transport *)t, &src, len, deadline, written);
}

static void fd_close(struct mfw_transport *t)
{
	struct fd_transport *f = (struct fd_transport *)t;

	if (f->exclusive)
		ioctl(f->fd, TIOCNXCL);
	close(f->fd);
	free(f);
}

#define FD_OPS(k) { .kind = k, .read = fd_read, .write = fd_write, .close = fd_close }
/* sockets also send files themselves (sendfile) */
#define SOCKET_OPS(k) { .kind = k, .read = fd_read, .write = fd_write, .send_file = fd_send_file, \
			.close = fd_close }
static const struct mfw_transport_ops tty_ops = FD_OPS("tty");
static const struct mfw_transport_ops chardev_ops = FD_OPS("chardev");
static const struct mfw_transport_ops tcp_ops = SOCKET_OPS("tcp");
static const struct mfw_transport_ops unix_ops = SOCKET_OPS("unix");

int mfw_transport_from_fd(struct mfw_ctx *ctx, int fd, const char *name,
			  struct mfw_transport **ret)
{
	struct fd_transport *f;
	struct stat st;
	int flags;

	if (fd < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "no descriptor for '%s'", name ? name : "fd");
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fstat(fd, &st) < 0) {
		int err = errno;

		close(fd);
		return mfw_fail(ctx, MFW_E_INVAL, "'%s' is not an open descriptor: %s",
				name ? name : "fd", strerror(err));
	}
	/* every wait is a poll() with a deadline, so the descriptor itself must never block */
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		int err = errno;

		close(fd);
		return mfw_fail(ctx, MFW_E_IO, "cannot make '%s' non-blocking: %s",
				name ? name : "fd", strerror(err));
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for transport '%s'", name ? name : "fd");
	}
	f->fd = fd;
	f->is_socket = S_ISSOCK(st.st_mode);
	f->is_fifo = S_ISFIFO(st.st_mode);
	f->is_tty = isatty(fd);
	if (f->is_socket) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);

		sa.ss_family = AF_UNSPEC;
		getsockname(fd, (struct sockaddr *)&sa, &sl);
		f->base.ops = sa.ss_family == AF_UNIX ? &unix_ops : &tcp_ops;
	} else {
		f->base.ops = f->is_tty ? &tty_ops : &chardev_ops;
	}
	f->base.ctx = ctx;
	snprintf(f->base.name, sizeof(f->base.name), "%s", name ? name : "fd");
	*ret = &f->base;
	return 0;
}

/*
 * Name who holds a device node, if /proc tells cheaply: compare the device
 * number behind every /proc/PID/fd/N with ours. Best effort, bounded.
 */
static bool find_holder(dev_t rdev, pid_t *pid, char *comm, size_t comm_len)
{
	DIR *proc = opendir("/proc");
	struct dirent *de;
	int scanned = 0;
	bool found = false;

	if (!proc)
		return false;
	while (!found && (de = readdir(proc)) && scanned < HOLDER_SCAN_MAX_PIDS) {
		char path[64];
		struct dirent *fde;
		DIR *fds;
		char *end;
		long n = strtol(de->d_name, &end, 10);

		if (*end || n <= 0)
			continue;
		scanned++;
		snprintf(path, sizeof(path), "/proc/%ld/fd", n);
		fds = opendir(path);
		if (!fds)
			continue;
		while ((fde = readdir(fds))) {
			char fdpath[64 + sizeof(fde->d_name)];
			struct stat st;

			if (fde->d_name[0] == '.')
				continue;
			snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd/%s", n, fde->d_name);
			if (stat(fdpath, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == rdev) {
				found = true;
				break;
			}
		}
		closedir(fds);
		if (found) {
			FILE *cf;

			*pid = (pid_t)n;
			comm[0] = '\0';
			snprintf(path, sizeof(path), "/proc/%ld/comm", n);
			cf = fopen(path, "re");
			if (cf) {
				if (fgets(comm, (int)comm_len, cf))
					comm[strcspn(comm, "\n")] = '\0';
				fclose(cf);
			}
		}
	}
	closedir(proc);
	return found;
}

static int fail_busy(struct mfw_ctx *ctx, const char *path, const struct stat *st)
{
	char comm[64];
	pid_t pid;

	if (st && S_ISCHR(st->st_mode) && find_holder(st->st_rdev, &pid, comm, sizeof(comm)))
		return mfw_fail(ctx, MFW_E_BUSY, "'%s' is held by another process (pid %ld%s%s)",
				path, (long)pid, comm[0] ? ", " : "", comm);
	return mfw_fail(ctx, MFW_E_BUSY, "'%s' is held by another process", path);
}

/*
 * Raw 8-bit link: no echo, no line editing, no CR/LF mapping, no signals
 * from ^C, no software or hardware flow control; reads never wait in the
 * driver (VMIN = VTIME = 0), poll() does the waiting. The speed is nominal
 * on USB serial but some drivers reject B0.
 */
static int set_raw(struct mfw_ctx *ctx, int fd, const char *path)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot read the line settings of '%s': %s", path,
				strerror(errno));
	cfmakeraw(&tio);
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	tio.c_cflag &= ~(tcflag_t)CRTSCTS;
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot set '%s' to raw mode: %s", path,
				strerror(errno));
	return 0;
}

int mfw_tr_open_dev(struct mfw_ctx *ctx, const char *path, struct mfw_transport **ret)
{
	struct fd_transport *f;
	struct mfw_transport *t;
	struct stat st;
	bool tty, exclusive = false;
	int fd, r;

	/*
	 * Opened once, configured on this descriptor and kept: a separate
	 * open/close (stty style) lets the driver flush a HELLO that already
	 * arrived. No tcflush() for the same reason.
	 */
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		switch (err) {
		case ENOENT:
		case ENXIO:
		case ENODEV:
			return mfw_fail(ctx, MFW_E_NODEV,
					"'%s' does not exist (module unplugged or in another mode?)",
					path);
		case EACCES:
		case EPERM:
			return mfw_fail(ctx, MFW_E_IO,
					"no permission to open '%s' (run as a member of its group, e.g. dialout, or add a udev rule)",
					path);
		case EBUSY:
			return fail_busy(ctx, path, stat(path, &st) == 0 ? &st : NULL);
		}
		return mfw_fail(ctx, MFW_E_IO, "cannot open '%s': %s", path, strerror(err));
	}
	if (fstat(fd, &st) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot stat '%s': %s", path, strerror(errno));
		goto out_close;
	}
	/*
	 * flock() works for root too (TIOCEXCL does not stop root) and is
	 * what other serial tools take; a second flasher on the same port
	 * would interleave packets.
	 */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			close(fd);
			return fail_busy(ctx, path, &st);
		}
		mfw_dbg(ctx, "cannot lock '%s' (%s), ignoring", path, strerror(errno));
	}
	tty = isatty(fd);
	if (tty) {
		if (ioctl(fd, TIOCEXCL) == 0)
			exclusive = true;
		else
			mfw_dbg(ctx, "cannot make '%s' exclusive (%s), ignoring", path,
				strerror(errno));
		r = set_raw(ctx, fd, path);
		if (r < 0)
			goto out_unexclusive;
	} else {
		mfw_dbg(ctx, "'%s' is not a tty: plain read/write, no line settings", path);
	}
	r = mfw_transport_from_fd(ctx, fd, path, &t);
	if (r < 0)
		return r; /* from_fd closed the descriptor */
	f = (struct fd_transport *)t;
	f->exclusive = exclusive;
	*ret = t;
	return 0;

out_unexclusive:
	if (exclusive)
		ioctl(fd, TIOCNXCL);
out_close:
	close(fd);
	return r;
}
