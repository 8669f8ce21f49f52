/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_LIB_TRANSPORT_H
#define MFW_LIB_TRANSPORT_H

/*
 * struct mfw_transport: one byte pipe to a device (or, for the virtual
 * modem, to a host). Implementations: usb (libusb bulk pair), fd (tty with
 * raw termios, or a plain char device / socket), tcp and unix (fd after
 * connect), pair (in-process, two ring buffers), and wrappers (fault).
 *
 * Every call takes an absolute deadline (mfw_deadline_t). Nothing blocks
 * past it.
 */
#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_transport;

struct mfw_transport_ops {
	const char *kind; /* "usb", "tty", "chardev", "tcp", "unix", "pair", "fault" */
	/*
	 * Read up to cap bytes. Returns the number read (> 0) as soon as any
	 * bytes are available, MFW_E_TIMEOUT when the deadline passes with
	 * nothing read, MFW_E_NODEV when the peer is gone (EOF, unplug),
	 * MFW_E_IO otherwise. On packet transports (usb) one call reads at most
	 * one transfer; a short transfer ends it.
	 */
	int (*read)(struct mfw_transport *t, void *buf, size_t cap, mfw_deadline_t deadline);
	/*
	 * Write all len bytes as one logical transfer (usb adds a ZLP when
	 * the rules say so). Returns 0 or a negative error; *written is
	 * always set to the bytes that did move, also on timeout, so a
	 * stall can be reported with an exact byte count.
	 */
	int (*write)(struct mfw_transport *t, const void *buf, size_t len,
		     mfw_deadline_t deadline, size_t *written);
	/*
	 * Optional (NULL when the kind cannot): write bytes [off, off + len)
	 * of the regular file fd as one transfer, like write. Stream sockets
	 * do it with sendfile(), so the bytes go from the page cache to the
	 * socket without passing through user space. *written as for write.
	 */
	int (*send_file)(struct mfw_transport *t, int fd, uint64_t off, size_t len,
			 mfw_deadline_t deadline, size_t *written);
	void (*close)(struct mfw_transport *t);
};

struct mfw_transport {
	const struct mfw_transport_ops *ops;
	struct mfw_ctx *ctx;
	/* Human name for messages: "/dev/ttyUSB0", "usb 1-2 (05c6:9008)", "tcp:127.0.0.1:9008". */
	char name[128];
	/* usb: wMaxPacketSize of the bulk OUT endpoint; 0 on byte streams. */
	size_t max_packet;
	/* Counters: bytes moved in each direction since open. */
	uint64_t bytes_in;
	uint64_t bytes_out;
};

static inline int mfw_transport_read(struct mfw_transport *t, void *buf, size_t cap,
				     mfw_deadline_t deadline)
{
	int r = t->ops->read(t, buf, cap, deadline);
	if (r > 0)
		t->bytes_in += (uint64_t)r;
	return r;
}

static inline int mfw_transport_write(struct mfw_transport *t, const void *buf, size_t len,
				      mfw_deadline_t deadline, size_t *written)
{
	size_t w = 0;
	int r = t->ops->write(t, buf, len, deadline, &w);
	t->bytes_out += w;
	if (written)
		*written = w;
	return r;
}

void mfw_transport_close(struct mfw_transport *t);

static inline bool mfw_transport_can_send_file(const struct mfw_transport *t)
{
	return t->ops->send_file != NULL;
}

/* Only when mfw_transport_can_send_file(t). */
static inline int mfw_transport_send_file(struct mfw_transport *t, int fd, uint64_t off,
					  size_t len, mfw_deadline_t deadline, size_t *written)
{
	size_t w = 0;
	int r = t->ops->send_file(t, fd, off, len, deadline, &w);
	t->bytes_out += w;
	if (written)
		*written = w;
	return r;
}

/* Read exactly len bytes (loops over short reads) before the deadline. */
int mfw_transport_read_full(struct mfw_transport *t, void *buf, size_t len,
			    mfw_deadline_t deadline);

/*
 * Open by port spec:
 *   tcp:HOST:PORT, unix:PATH    stream socket (client side)
 *   /dev/..., /ABSOLUTE/PATH    tty (raw termios) or char device (plain I/O);
 *                               any absolute path, so an emulator's pty link works
 *   usb, usb:BUS-PORTS          libusb, first 05c6:9008 EDL interface (or that path)
 * "emu" and "auto" are resolved above this layer (ops/, cli/).
 */
int mfw_transport_open(struct mfw_ctx *ctx, const char *spec, struct mfw_transport **ret);

/* Wrap an already open fd (socket, pty master, tty, char device); takes ownership. */
int mfw_transport_from_fd(struct mfw_ctx *ctx, int fd, const char *name,
			  struct mfw_transport **ret);

/*
 * In-process pair: bytes written to *a are read from *b and vice versa.
 * Thread-safe (one thread per end). Closing one end makes the other end's
 * reads return MFW_E_NODEV once drained.
 */
int mfw_transport_pair(struct mfw_ctx *ctx, size_t capacity,
		       struct mfw_transport **a, struct mfw_transport **b);

/* Hand an end to another thread's context (pair ends used by two threads). */
void mfw_transport_set_ctx(struct mfw_transport *t, struct mfw_ctx *ctx);

/*
 * usb only (no-op on other kinds): whether a ZLP ends host->device
 * transfers that are a multiple of wMaxPacketSize. Default true; false for
 * devices with a no-ZLP quirk (sahara-firehose.md section 6).
 */
void mfw_transport_usb_set_zlp(struct mfw_transport *t, bool zlp_aware);

/*
 * usb spec parsing: "usb" (first EDL device) or "usb:BUS-PORT[.PORT...]"
 * (sysfs-style path, e.g. usb:1-2.3). *bus = 0 and *n_ports = 0 for "usb".
 * Pure; returns MFW_E_INVAL for anything else.
 */
#define MFW_USB_MAX_PORTS 7
int mfw_usb_parse_spec(const char *spec, uint8_t *bus, uint8_t ports[MFW_USB_MAX_PORTS],
		       int *n_ports);

/*
 * Server side, for the virtual modem. spec:
 *   tcp:HOST:PORT   listening socket (SO_REUSEADDR; port 0 picks a free port;
 *                   HOST * binds all local addresses)
 *   unix:PATH       listening socket; a stale socket file is replaced (the
 *                   probe that tells stale from live is, on a live socket,
 *                   a connection that closes at once: the server sees NODEV)
 *   pty:LINK        a raw pty; LINK becomes a symlink to its slave (removed on close)
 */
struct mfw_listener;
int mfw_listener_open(struct mfw_ctx *ctx, const char *spec, struct mfw_listener **ret);
/*
 * Wait for the next peer before the deadline: MFW_E_TIMEOUT when none came
 * (no detail set: this is the emulator's idle loop). For pty the peer is
 * whoever opens the slave; the returned transport reads MFW_E_NODEV once it
 * closed the slave, after which accept waits for the next opener.
 */
int mfw_listener_accept(struct mfw_listener *l, mfw_deadline_t deadline,
			struct mfw_transport **ret);
/* pty: wait until the slave is open (0) or the deadline passes; 0 at once for sockets. */
int mfw_listener_wait_peer(struct mfw_listener *l, mfw_deadline_t deadline);
/* tcp: the bound port (useful after port 0); 0 for other kinds. */
int mfw_listener_port(const struct mfw_listener *l);
/* "tcp:127.0.0.1:40321", "unix:/run/x.sock", or the pty slave "/dev/pts/5". */
const char *mfw_listener_name(const struct mfw_listener *l);
/* pty: the slave node; NULL for sockets. */
const char *mfw_listener_slave(const struct mfw_listener *l);
void mfw_listener_close(struct mfw_listener *l);

/*
 * Fault injection for tests (a wrapper; takes ownership of inner, also on
 * failure). Offsets count bytes in one direction since the wrap, from 0;
 * MFW_FAULT_OFF disables a fault.
 */
#define MFW_FAULT_OFF UINT64_MAX
struct mfw_fault_spec {
	uint64_t stall_out_at;   /* writes pass bytes before this offset, then time out at their deadline */
	uint64_t drop_in_at;     /* this byte of the read stream vanishes */
	uint64_t corrupt_in_at;  /* this byte of the read stream is XORed with corrupt_mask */
	uint64_t drop_out_at;    /* same for the write stream (counted as written) */
	uint64_t corrupt_out_at;
	uint64_t disconnect_at;  /* after this many bytes (reads + writes) everything is MFW_E_NODEV */
	uint32_t read_delay_ms;  /* every read first waits this long (never past its deadline) */
	uint8_t corrupt_mask;    /* 0 means 0xff */
};
void mfw_fault_spec_init(struct mfw_fault_spec *s);
/* One fault of a kind and at an offset below limit, both drawn from seed: a seed names a case. */
void mfw_fault_spec_random(struct mfw_fault_spec *s, uint32_t seed, uint64_t limit);
int mfw_transport_fault(struct mfw_ctx *ctx, struct mfw_transport *inner,
			const struct mfw_fault_spec *spec, struct mfw_transport **ret);

/*
 * ZLP rule, host->device: after a transfer whose length is a non-zero
 * multiple of max_packet, a zero-length packet ends it (unless the host
 * is not ZLP-aware). Pure, unit-tested.
 */
bool mfw_zlp_needed_out(size_t len, size_t max_packet, bool zlp_aware);
/*
 * Device->host: a read that filled the buffer exactly with a multiple of
 * max_packet may be followed by an explicit ZLP that must be consumed.
 */
bool mfw_zlp_expected_in(size_t got, size_t requested, size_t max_packet);

#endif
