/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem as a USB device: the "usb-host" side of the usbredir
 * protocol (libusbredirparser), connected to QEMU's usb-redir chardev, so
 * a guest kernel enumerates a real 05c6:9008 EDL device and binds qcserial,
 * libusb or qdl to it (docs/usb-rig.md, reference usb-test-rig.md section 2).
 * In normal mode it is an EC25 (2c7c:0125) with the DIAG, NMEA, AT, modem
 * and QMI interfaces of quectel-at-usb.md section 3; the switch to EDL
 * re-enumerates it with the other descriptors on the same connection.
 *
 * Two threads. The I/O thread owns the socket and the parser: it answers
 * control requests (descriptors, status, configuration) itself and keeps
 * the bulk endpoints' queues. The device loop (run_session in emu.c) sees
 * a struct mfw_transport whose reads take host->device bytes and whose
 * writes queue device->host transfers.
 *
 * USB flow control is modelled with the requests themselves: a bulk OUT
 * is answered only once the device has read all its bytes, and a bulk IN
 * stays parked until the device has written something. So a device that
 * stops reading is a device that NAKs, and host timeouts work as on a
 * real bus.
 */
#include "emu-internal.h"

#include <usbredirparser.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EDL_VID 0x05c6
#define EDL_PID 0x9008
#define EC25_VID 0x2c7c
#define EC25_PID 0x0125
#define EDL_MPS 512
#define EP0_MPS 64
/* interfaces of the largest composition (EC25: DIAG, NMEA, AT, modem, QMI) */
#define UR_MAX_IFACES 5
/* QMI's notification endpoint (nobody in the rig uses it) */
#define EP_QMI_INT 0x86

/* QEMU is started first but may take a moment to listen (usb-test-rig.md 3.9). */
#define UR_CONNECT_MS 30000
/* How often the I/O thread looks at the stop flags when the line is quiet. */
#define UR_POLL_MS 100
/*
 * Off the bus between an unplug and the next plug: the guest's hub driver
 * has to see the port go empty, or it takes the new device for the old
 * one (the reference paused 200 ms).
 */
#define UR_REPLUG_GAP_MS 250
/*
 * Device->host bytes queued before a device write waits: a few Firehose
 * read chunks, so a host that stops reading is felt as backpressure.
 */
#define UR_IN_QUEUE_MAX (4u << 20)
/*
 * The first data of a plugged device goes out this long after the host's
 * first IN request. A tty host (qcserial, option) starts its reads at
 * open(), before it has set raw termios; data in that window goes through
 * the line discipline with ECHO on and back to the device (a Sahara HELLO
 * came back as "^A^@..."). Under TCG the window is tens of milliseconds;
 * a real boot ROM, too, takes a moment before its HELLO.
 */
#define UR_FIRST_IN_MS 300
/* How long a device that goes off the bus waits for the host to read its last words. */
#define UR_DRAIN_MS 1000
/* From the host reading that answer to the device leaving the bus (a reset takes a moment). */
#define UR_RESET_MS 200

/* Standard requests (USB 2.0 chapter 9). */
#define REQ_GET_STATUS 0x00
#define REQ_CLEAR_FEATURE 0x01
#define REQ_SET_FEATURE 0x03
#define REQ_GET_DESCRIPTOR 0x06
#define DT_DEVICE 1
#define DT_CONFIG 2
#define DT_STRING 3
#define DT_QUALIFIER 6

/* Host->device data of one bulk OUT request, answered once fully read. */
struct ur_out {
	struct ur_out *next;
	uint64_t id;
	uint8_t *data;  /* owned; freed with usbredirparser_free_packet_data */
	size_t len;
	size_t off;     /* bytes the device has read */
	uint8_t status; /* of the answer: success, or stall (the halt fault) */
	struct usb_redir_bulk_packet_header hdr;
};

/* Device->host transfer, cut to the host's IN requests. */
struct ur_msg {
	struct ur_msg *next;
	size_t len;
	size_t off;
	bool zlp_owed;  /* ended exactly at a request's end on a packet multiple */
	uint8_t data[];
};

/* A parked bulk IN request. */
struct ur_in {
	struct ur_in *next;
	uint64_t id;
	uint32_t len;
	struct usb_redir_bulk_packet_header hdr;
};

/* One interface's bulk pair (interface i uses IN 0x81+i and OUT 0x01+i). */
struct ur_pipe {
	struct ur_out *out_head, **out_tail;
	/* read by the device, reply owed; in order: QEMU completes an endpoint's packets in order */
	struct ur_out *out_done, **out_done_tail;
	struct ur_msg *in_head, **in_tail;
	size_t in_queued;
	struct ur_in *park_head, **park_tail;
	bool started;               /* the host has asked for data since the plug */
	bool halted;                /* OUT endpoint halted (the "halt" fault) until CLEAR_FEATURE */
	mfw_deadline_t hold_until;  /* no data before this (UR_FIRST_IN_MS) */
};

/* One personality: what the device says it is. */
struct ur_desc {
	uint16_t vid, pid, bcd;
	const char *manufacturer;
	int n;                      /* interfaces */
	uint8_t cls[UR_MAX_IFACES][3];
	bool qmi_int[UR_MAX_IFACES]; /* a third (interrupt) endpoint: QMI */
};

static const struct ur_desc desc_edl = {
	.vid = EDL_VID, .pid = EDL_PID, .bcd = 0x0000,
	.manufacturer = "Qualcomm CDMA Technologies MSM",
	.n = 1,
	.cls = { { 0xff, 0xff, 0xff } },
};

/* quectel-at-usb.md section 3, "older Quectel": DIAG, NMEA, AT, modem, QMI */
static const struct ur_desc desc_ec25 = {
	.vid = EC25_VID, .pid = EC25_PID, .bcd = 0x0318,
	.manufacturer = "Quectel",
	.n = 5,
	.cls = { { 0xff, 0xff, 0xff }, { 0xff, 0x00, 0x00 }, { 0xff, 0x00, 0x00 },
		 { 0xff, 0x00, 0x00 }, { 0xff, 0xff, 0xff } },
	.qmi_int = { false, false, false, false, true },
};

struct emu_usbredir {
	struct mfw_emu *emu;
	char name[96];
	int fd;
	int wake[2]; /* device thread -> I/O thread: queues changed */
	struct usbredirparser *parser;
	pthread_t io;
	bool io_running;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* everything below is under lock */
	bool stop;           /* owner is closing */
	bool gone;           /* socket closed or broken: QEMU went away */
	bool hello;          /* peer's caps known */
	bool want_plug;      /* accept() waits for a host */
	const struct ur_desc *want; /* ... as this device */
	const struct ur_desc *d;    /* what is plugged in (valid while plugged) */
	bool plugged;        /* device_connect sent */
	bool unplug;         /* send device_disconnect */
	uint8_t config;      /* active configuration, 0 = unconfigured */
	uint64_t session;    /* bumped on every unplug: old transports read NODEV */
	mfw_deadline_t plug_after;
	struct ur_pipe pipe[UR_MAX_IFACES];
	char product[64];
};

struct ur_transport {
	struct mfw_transport base;
	struct emu_usbredir *u;
	uint64_t session;
	int iface;
	bool port; /* a normal-mode interface: closing it does not unplug the device */
};

static int cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;
	int r;

	if (pthread_condattr_init(&a))
		return MFW_E_NOMEM;
	r = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	if (!r)
		r = pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
	return r ? MFW_E_NOMEM : 0;
}

/* 0 when woken, MFW_E_TIMEOUT once the deadline passed. */
static int cond_wait_until(struct emu_usbredir *u, mfw_deadline_t deadline)
{
	struct timespec ts;

	if (deadline == MFW_DEADLINE_NONE) {
		pthread_cond_wait(&u->cond, &u->lock);
		return 0;
	}
	if (mfw_deadline_passed(deadline))
		return MFW_E_TIMEOUT;
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	return pthread_cond_timedwait(&u->cond, &u->lock, &ts) == ETIMEDOUT ? MFW_E_TIMEOUT : 0;
}

static void wake_io(struct emu_usbredir *u)
{
	char c = 1;

	/* a full pipe already holds a wake-up */
	if (write(u->wake[1], &c, 1) < 0 && errno != EAGAIN)
		mfw_dbg(u->emu->ctx, "usbredir: wake-up lost: %s", strerror(errno));
}

/* ---- descriptors ---- */

static const uint8_t qualifier_desc[10] = {
	10, DT_QUALIFIER, 0x00, 0x02, 0x00, 0x00, 0x00, EP0_MPS, 1, 0,
};

static int device_desc(const struct ur_desc *d, uint8_t *b)
{
	const uint8_t v[18] = {
		18, DT_DEVICE, 0x00, 0x02,     /* USB 2.0 */
		0x00, 0x00, 0x00, EP0_MPS,     /* class per interface */
		d->vid & 0xff, d->vid >> 8, d->pid & 0xff, d->pid >> 8,
		d->bcd & 0xff, d->bcd >> 8,
		1, 2, 0,                       /* manufacturer, product; EDL's serial is in the product */
		1,                             /* one configuration */
	};

	memcpy(b, v, sizeof(v));
	return sizeof(v);
}

static uint8_t *put_ep(uint8_t *b, uint8_t addr, uint8_t type, uint16_t mps, uint8_t interval)
{
	const uint8_t v[7] = { 7, 5, addr, type, mps & 0xff, mps >> 8, interval };

	memcpy(b, v, sizeof(v));
	return b + sizeof(v);
}

/* Configuration 1 with every interface; cap >= 9 + 30 * UR_MAX_IFACES. */
static int config_desc(const struct ur_desc *d, uint8_t *b)
{
	uint8_t *p = b + 9;
	int len;

	for (int i = 0; i < d->n; i++) {
		const uint8_t itf[9] = {
			9, 4, (uint8_t)i, 0, d->qmi_int[i] ? 3 : 2,
			d->cls[i][0], d->cls[i][1], d->cls[i][2], 0,
		};

		memcpy(p, itf, sizeof(itf));
		p += sizeof(itf);
		p = put_ep(p, (uint8_t)(0x81 + i), 0x02, EDL_MPS, 0);
		p = put_ep(p, (uint8_t)(0x01 + i), 0x02, EDL_MPS, 0);
		if (d->qmi_int[i])
			p = put_ep(p, EP_QMI_INT, 0x03, 8, 9);
	}
	len = (int)(p - b);
	{
		const uint8_t cfg[9] = {
			9, DT_CONFIG, len & 0xff, len >> 8, (uint8_t)d->n, 1, 0,
			0x80, 250, /* bus powered, 500 mA */
		};
		memcpy(b, cfg, sizeof(cfg));
	}
	return len;
}


/* String descriptor: UTF-16LE of an ASCII string. */
static int string_desc(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s);

	if (2 + 2 * n > cap || 2 + 2 * n > 255)
		return -1;
	out[0] = (uint8_t)(2 + 2 * n);
	out[1] = DT_STRING;
	for (size_t i = 0; i < n; i++) {
		out[2 + 2 * i] = (uint8_t)s[i];
		out[3 + 2 * i] = 0;
	}
	return (int)(2 + 2 * n);
}

static void send_ep_info(struct emu_usbredir *u)
{
	struct usb_redir_ep_info_header ep;

	memset(&ep, 0, sizeof(ep));
	memset(ep.type, usb_redir_type_invalid, sizeof(ep.type));
	/* slots 0-15 are OUT endpoints, 16-31 IN */
	ep.type[0] = ep.type[16] = usb_redir_type_control;
	ep.max_packet_size[0] = ep.max_packet_size[16] = EP0_MPS;
	for (int i = 0; u->config && i < u->d->n; i++) {
		ep.type[1 + i] = ep.type[17 + i] = usb_redir_type_bulk;
		ep.max_packet_size[1 + i] = ep.max_packet_size[17 + i] = EDL_MPS;
		ep.interface[1 + i] = ep.interface[17 + i] = (uint8_t)i;
		if (u->d->qmi_int[i]) {
			ep.type[16 + (EP_QMI_INT & 0x0f)] = usb_redir_type_interrupt;
			ep.max_packet_size[16 + (EP_QMI_INT & 0x0f)] = 8;
			ep.interval[16 + (EP_QMI_INT & 0x0f)] = 9;
			ep.interface[16 + (EP_QMI_INT & 0x0f)] = (uint8_t)i;
		}
	}
	usbredirparser_send_ep_info(u->parser, &ep);
}

static void send_interface_info(struct emu_usbredir *u)
{
	struct usb_redir_interface_info_header itf;

	memset(&itf, 0, sizeof(itf));
	itf.interface_count = (uint32_t)u->d->n;
	for (int i = 0; i < u->d->n; i++) {
		itf.interface[i] = (uint8_t)i;
		itf.interface_class[i] = u->d->cls[i][0];
		itf.interface_subclass[i] = u->d->cls[i][1];
		itf.interface_protocol[i] = u->d->cls[i][2];
	}
	usbredirparser_send_interface_info(u->parser, &itf);
}

static void pipes_init(struct emu_usbredir *u)
{
	for (int i = 0; i < UR_MAX_IFACES; i++) {
		struct ur_pipe *q = &u->pipe[i];

		q->out_tail = &q->out_head;
		q->out_done_tail = &q->out_done;
		q->in_tail = &q->in_head;
		q->park_tail = &q->park_head;
	}
}

/* The pipe an endpoint belongs to in the plugged personality, or NULL. */
static struct ur_pipe *pipe_of(struct emu_usbredir *u, uint8_t ep)
{
	int i = (ep & 0x0f) - 1;

	if (!u->plugged || !u->config || i < 0 || i >= u->d->n)
		return NULL;
	return &u->pipe[i];
}

/* ---- queues (under lock) ---- */

/*
 * Unplug: pending requests die with the device. Answers owed for OUT data
 * the device already read (all) are still sent unless the whole thing is
 * going away, so the host's last write completes before the disconnect.
 */
static void drop_queues(struct emu_usbredir *u, bool all)
{
	for (int i = 0; i < UR_MAX_IFACES; i++) {
		struct ur_pipe *q = &u->pipe[i];

		while (q->out_head) {
			struct ur_out *o = q->out_head;
			q->out_head = o->next;
			usbredirparser_free_packet_data(u->parser, o->data);
			free(o);
		}
		q->out_tail = &q->out_head;
		while (all && q->out_done) {
			struct ur_out *o = q->out_done;
			q->out_done = o->next;
			if (!q->out_done)
				q->out_done_tail = &q->out_done;
			usbredirparser_free_packet_data(u->parser, o->data);
			free(o);
		}
		while (q->in_head) {
			struct ur_msg *m = q->in_head;
			q->in_head = m->next;
			free(m);
		}
		q->in_tail = &q->in_head;
		q->in_queued = 0;
		while (q->park_head) {
			struct ur_in *p = q->park_head;
			q->park_head = p->next;
			free(p);
		}
		q->park_tail = &q->park_head;
	}
}

/* Under lock: device->host data not yet taken by the host, on any interface. */
static bool in_pending(const struct emu_usbredir *u)
{
	for (int i = 0; i < UR_MAX_IFACES; i++)
		if (u->pipe[i].in_head)
			return true;
	return false;
}

/*
 * Answer a bulk request. len is what the header reports: the bytes moved.
 * Only IN answers carry them; an OUT answer reports the count alone.
 */
static void reply_bulk(struct emu_usbredir *u, uint64_t id, struct usb_redir_bulk_packet_header *h,
		       uint8_t status, const uint8_t *data, uint32_t len)
{
	bool in = h->endpoint & 0x80;

	h->status = status;
	h->length = (uint16_t)(len & 0xffff);
	h->length_high = (uint16_t)(len >> 16);
	usbredirparser_send_bulk_packet(u->parser, id, h, in ? (uint8_t *)data : NULL,
					in ? (int)len : 0);
}

/* Match one pipe's queued device->host data with its parked IN requests; answer read OUTs. */
static bool pump_pipe(struct emu_usbredir *u, struct ur_pipe *q)
{
	bool freed = false;

	while (q->out_done) {
		struct ur_out *o = q->out_done;

		q->out_done = o->next;
		if (!q->out_done)
			q->out_done_tail = &q->out_done;
		reply_bulk(u, o->id, &o->hdr, o->status, NULL, (uint32_t)o->off);
		usbredirparser_free_packet_data(u->parser, o->data);
		free(o);
	}
	while (q->park_head && q->in_head && mfw_deadline_passed(q->hold_until)) {
		struct ur_in *p = q->park_head;
		struct ur_msg *m = q->in_head;
		size_t n = m->len - m->off;

		if (n > p->len)
			n = p->len;
		if (m->zlp_owed)
			n = 0;
		reply_bulk(u, p->id, &p->hdr, usb_redir_success, m->data + m->off, (uint32_t)n);
		if (!m->zlp_owed) {
			m->off += n;
			/*
			 * A transfer that ends exactly where the request ends, on
			 * a packet multiple, is not over for the host until a
			 * zero-length packet says so (sahara-firehose.md 6).
			 */
			if (m->off == m->len && n == p->len && m->len % EDL_MPS == 0 && m->len)
				m->zlp_owed = true;
		} else {
			m->zlp_owed = false;
		}
		q->park_head = p->next;
		if (!q->park_head)
			q->park_tail = &q->park_head;
		free(p);
		if (m->off == m->len && !m->zlp_owed) {
			q->in_queued -= m->len;
			q->in_head = m->next;
			if (!q->in_head)
				q->in_tail = &q->in_head;
			free(m);
			freed = true;
		}
	}
	return freed;
}

static void pump(struct emu_usbredir *u)
{
	bool freed = false;

	for (int i = 0; i < UR_MAX_IFACES; i++)
		freed |= pump_pipe(u, &u->pipe[i]);
	if (freed)
		pthread_cond_broadcast(&u->cond);
	if (u->unplug) {
		u->unplug = false;
		if (u->plugged) {
			usbredirparser_send_device_disconnect(u->parser);
			u->plugged = false;
			u->plug_after = mfw_deadline_in(UR_REPLUG_GAP_MS);
			mfw_dbg(u->emu->ctx, "usbredir: unplugged");
		}
	}
	if (u->want_plug && u->hello && !u->plugged && !u->gone &&
	    mfw_deadline_passed(u->plug_after)) {
		struct usb_redir_device_connect_header c = {
			.speed = usb_redir_speed_high,
			.vendor_id = u->want->vid,
			.product_id = u->want->pid,
			.device_version_bcd = u->want->bcd,
		};

		u->config = 0;
		u->d = u->want;
		for (int i = 0; i < UR_MAX_IFACES; i++)
			u->pipe[i].started = u->pipe[i].halted = false;
		send_ep_info(u);
		send_interface_info(u);
		usbredirparser_send_device_connect(u->parser, &c);
		u->plugged = true;
		mfw_dbg(u->emu->ctx, "usbredir: plugged in as %04x:%04x", u->d->vid, u->d->pid);
	}
}

/* ---- parser callbacks (I/O thread) ---- */

static void cb_log(void *priv, int level, const char *msg)
{
	struct emu_usbredir *u = priv;

	if (level <= usbredirparser_warning)
		mfw_dbg(u->emu->ctx, "usbredir: %s", msg);
}

static int cb_read(void *priv, uint8_t *data, int count)
{
	struct emu_usbredir *u = priv;
	ssize_t n = recv(u->fd, data, (size_t)count, 0);

	if (n > 0)
		return (int)n;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	return -1; /* EOF or error: QEMU is gone */
}

static int cb_write(void *priv, uint8_t *data, int count)
{
	struct emu_usbredir *u = priv;
	ssize_t n = send(u->fd, data, (size_t)count, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return -1;
}

static void cb_hello(void *priv, struct usb_redir_hello_header *h)
{
	struct emu_usbredir *u = priv;

	pthread_mutex_lock(&u->lock);
	u->hello = true;
	mfw_dbg(u->emu->ctx, "usbredir: peer '%.64s'", h->version);
	pump(u);
	pthread_mutex_unlock(&u->lock);
}

static void cb_reset(void *priv)
{
	/* a bus reset: the guest enumerates again; the device keeps its state */
	(void)priv;
}

static void cb_set_configuration(void *priv, uint64_t id,
				 struct usb_redir_set_configuration_header *h)
{
	struct emu_usbredir *u = priv;
	struct usb_redir_configuration_status_header st = { .status = usb_redir_success };

	pthread_mutex_lock(&u->lock);
	if (h->configuration > 1) {
		st.status = usb_redir_stall;
	} else {
		u->config = h->configuration;
		/* the new endpoints must be known before the status (protocol text) */
		send_ep_info(u);
		send_interface_info(u);
		pthread_cond_broadcast(&u->cond);
	}
	st.configuration = u->config;
	usbredirparser_send_configuration_status(u->parser, id, &st);
	pthread_mutex_unlock(&u->lock);
}

static void cb_get_configuration(void *priv, uint64_t id)
{
	struct emu_usbredir *u = priv;
	struct usb_redir_configuration_status_header st = { .status = usb_redir_success };

	pthread_mutex_lock(&u->lock);
	st.configuration = u->config;
	usbredirparser_send_configuration_status(u->parser, id, &st);
	pthread_mutex_unlock(&u->lock);
}

static void cb_set_alt_setting(void *priv, uint64_t id, struct usb_redir_set_alt_setting_header *h)
{
	struct emu_usbredir *u = priv;
	struct usb_redir_alt_setting_status_header st = {
		.status = usb_redir_success, .interface = h->interface, .alt = h->alt,
	};

	if (!u->plugged || h->interface >= u->d->n || h->alt != 0) {
		st.status = usb_redir_stall;
	} else {
		send_ep_info(u);
		send_interface_info(u);
	}
	usbredirparser_send_alt_setting_status(u->parser, id, &st);
}

static void cb_get_alt_setting(void *priv, uint64_t id, struct usb_redir_get_alt_setting_header *h)
{
	struct emu_usbredir *u = priv;
	struct usb_redir_alt_setting_status_header st = {
		.status = u->plugged && h->interface < u->d->n ? usb_redir_success : usb_redir_stall,
		.interface = h->interface,
	};

	usbredirparser_send_alt_setting_status(u->parser, id, &st);
}

/* Answer a descriptor request into buf; length or -1 (stall). */
static int get_descriptor(struct emu_usbredir *u, uint16_t value, uint8_t *buf, size_t cap)
{
	uint8_t type = value >> 8, index = value & 0xff;

	if (!u->plugged)
		return -1;
	switch (type) {
	case DT_DEVICE:
		return device_desc(u->d, buf);
	case DT_CONFIG:
		if (index)
			return -1;
		return config_desc(u->d, buf);
	case DT_QUALIFIER:
		memcpy(buf, qualifier_desc, sizeof(qualifier_desc));
		return sizeof(qualifier_desc);
	case DT_STRING:
		switch (index) {
		case 0:
			/* the language table: English (US) */
			buf[0] = 4;
			buf[1] = DT_STRING;
			buf[2] = 0x09;
			buf[3] = 0x04;
			return 4;
		case 1:
			return string_desc(u->d->manufacturer, buf, cap);
		case 2:
			return string_desc(u->d == &desc_edl ? u->product : "EC25", buf, cap);
		}
		return -1;
	}
	return -1; /* BOS, OTG, ...: a USB 2.0 device stalls them */
}

static bool endpoint_halted(struct emu_usbredir *u, uint8_t ep)
{
	struct ur_pipe *q;
	bool halted;

	pthread_mutex_lock(&u->lock);
	q = pipe_of(u, ep);
	halted = q && !(ep & 0x80) && q->halted;
	pthread_mutex_unlock(&u->lock);
	return halted;
}

static void set_halt(struct emu_usbredir *u, uint8_t ep, bool on)
{
	struct ur_pipe *q;

	pthread_mutex_lock(&u->lock);
	q = pipe_of(u, ep);
	if (q && !(ep & 0x80)) {
		q->halted = on;
		mfw_dbg(u->emu->ctx, "usbredir: endpoint 0x%02x %s", ep, on ? "halted" : "halt cleared");
	}
	pthread_mutex_unlock(&u->lock);
}

static void cb_control(void *priv, uint64_t id, struct usb_redir_control_packet_header *h,
		       uint8_t *data, int data_len)
{
	struct emu_usbredir *u = priv;
	uint8_t buf[256];
	int n = -1;
	bool in = h->requesttype & 0x80;

	if ((h->requesttype & 0x60) == 0) { /* standard */
		switch (h->request) {
		case REQ_GET_DESCRIPTOR:
			if (in)
				n = get_descriptor(u, h->value, buf, sizeof(buf));
			break;
		case REQ_GET_STATUS:
			if (in) {
				/* device: self-powered 0, remote wakeup 0; endpoint: halt bit */
				buf[0] = buf[1] = 0;
				if ((h->requesttype & 0x1f) == 2)
					buf[0] = endpoint_halted(u, (uint8_t)h->index);
				n = 2;
			}
			break;
		case REQ_CLEAR_FEATURE:
		case REQ_SET_FEATURE:
			/* ENDPOINT_HALT (feature 0 to an endpoint) arrives here for libusb_clear_halt */
			if (!in && (h->requesttype & 0x1f) == 2 && h->value == 0)
				set_halt(u, (uint8_t)h->index, h->request == REQ_SET_FEATURE);
			if (!in)
				n = 0;
			break;
		default:
			if (!in)
				n = 0;
			break;
		}
	} else if (!in) {
		/* class/vendor OUT requests (e.g. CDC SET_CONTROL_LINE_STATE): accepted */
		n = 0;
	}
	if (n < 0) {
		h->status = usb_redir_stall;
		h->length = 0;
		usbredirparser_send_control_packet(u->parser, id, h, NULL, 0);
	} else if (in) {
		if ((size_t)n > h->length)
			n = h->length;
		h->status = usb_redir_success;
		h->length = (uint16_t)n;
		usbredirparser_send_control_packet(u->parser, id, h, buf, n);
	} else {
		h->status = usb_redir_success;
		usbredirparser_send_control_packet(u->parser, id, h, NULL, 0);
	}
	if (data)
		usbredirparser_free_packet_data(u->parser, data);
	(void)data_len;
}

static void cb_bulk(void *priv, uint64_t id, struct usb_redir_bulk_packet_header *h, uint8_t *data,
		    int data_len)
{
	struct emu_usbredir *u = priv;
	uint32_t len = h->length | ((uint32_t)h->length_high << 16);

	struct ur_pipe *q;

	pthread_mutex_lock(&u->lock);
	q = pipe_of(u, h->endpoint);
	if (q && (h->endpoint & 0x80)) {
		struct ur_in *p = calloc(1, sizeof(*p));

		if (!q->started) {
			q->started = true;
			q->hold_until = mfw_deadline_in(UR_FIRST_IN_MS);
		}
		if (!p) {
			reply_bulk(u, id, h, usb_redir_ioerror, NULL, 0);
		} else {
			p->id = id;
			p->len = len;
			p->hdr = *h;
			*q->park_tail = p;
			q->park_tail = &p->next;
		}
	} else if (q && q->halted) {
		/* a halted endpoint STALLs every transfer until the host clears it */
		reply_bulk(u, id, h, usb_redir_stall, NULL, 0);
	} else if (q) {
		struct ur_out *o = calloc(1, sizeof(*o));

		if (!o) {
			reply_bulk(u, id, h, usb_redir_ioerror, NULL, 0);
			usbredirparser_free_packet_data(u->parser, data);
		} else {
			o->id = id;
			o->data = data;
			o->len = data_len > 0 ? (size_t)data_len : 0;
			o->status = usb_redir_success;
			o->hdr = *h;
			data = NULL;
			*q->out_tail = o;
			q->out_tail = &o->next;
			pthread_cond_broadcast(&u->cond);
		}
	} else {
		reply_bulk(u, id, h, usb_redir_stall, NULL, 0);
	}
	if (data)
		usbredirparser_free_packet_data(u->parser, data);
	pump(u);
	pthread_mutex_unlock(&u->lock);
}

/* Under lock: answer and forget request id if q holds it. */
static bool cancel_in_pipe(struct emu_usbredir *u, struct ur_pipe *q, uint64_t id)
{
	struct ur_in **pp;
	struct ur_out **op;

	for (pp = &q->park_head; *pp; pp = &(*pp)->next) {
		struct ur_in *p = *pp;

		if (p->id != id)
			continue;
		*pp = p->next;
		if (q->park_tail == &p->next)
			q->park_tail = pp;
		reply_bulk(u, id, &p->hdr, usb_redir_cancelled, NULL, 0);
		free(p);
		return true;
	}
	/*
	 * An OUT the device has not finished reading (a host write timing
	 * out against a stalled device): the rest of its data never made it
	 * onto the bus.
	 */
	for (op = &q->out_head; *op; op = &(*op)->next) {
		struct ur_out *o = *op;

		if (o->id != id)
			continue;
		*op = o->next;
		if (q->out_tail == &o->next)
			q->out_tail = op;
		reply_bulk(u, id, &o->hdr, usb_redir_cancelled, NULL, (uint32_t)o->off);
		usbredirparser_free_packet_data(u->parser, o->data);
		free(o);
		return true;
	}
	return false;
}

static void cb_cancel(void *priv, uint64_t id)
{
	struct emu_usbredir *u = priv;

	pthread_mutex_lock(&u->lock);
	/* an id not found was answered already: nothing to do */
	for (int i = 0; i < UR_MAX_IFACES; i++)
		if (cancel_in_pipe(u, &u->pipe[i], id))
			break;
	pthread_mutex_unlock(&u->lock);
}

/* ---- I/O thread ---- */

static void *io_thread(void *arg)
{
	struct emu_usbredir *u = arg;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = u->fd, .events = POLLIN },
			{ .fd = u->wake[0], .events = POLLIN },
		};
		int r;

		pthread_mutex_lock(&u->lock);
		if (u->stop || u->gone) {
			pthread_mutex_unlock(&u->lock);
			break;
		}
		pump(u);
		pthread_mutex_unlock(&u->lock);
		/* only this thread touches the parser's output queue */
		while (usbredirparser_has_data_to_write(u->parser)) {
			if (usbredirparser_do_write(u->parser) < 0)
				goto out_gone;
			if (usbredirparser_has_data_to_write(u->parser)) {
				pfd[0].events |= POLLOUT;
				break;
			}
		}
		r = poll(pfd, 2, UR_POLL_MS);
		if (r < 0 && errno != EINTR)
			goto out_gone;
		if (r <= 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			char drain[64];
			while (read(u->wake[0], drain, sizeof(drain)) > 0)
				;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (usbredirparser_do_read(u->parser) < 0)
				goto out_gone;
		}
	}
	return NULL;

out_gone:
	pthread_mutex_lock(&u->lock);
	u->gone = true;
	u->plugged = false;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	mfw_dbg(u->emu->ctx, "usbredir: connection to QEMU closed");
	return NULL;
}

/* Connect to QEMU's chardev: PATH (unix) or HOST:PORT (tcp), retrying until it listens. */
static int connect_peer(struct emu_usbredir *u, const char *where)
{
	struct mfw_ctx *ctx = u->emu->ctx;
	mfw_deadline_t deadline = mfw_deadline_in(UR_CONNECT_MS);
	const char *colon = strrchr(where, ':');
	bool tcp = where[0] != '/' && colon;
	int last = 0;

	for (;;) {
		int fd = -1;

		if (tcp) {
			char host[128], port[16];
			struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
			size_t hl = (size_t)(colon - where);

			if (hl >= sizeof(host) || strlen(colon + 1) >= sizeof(port))
				return mfw_fail(ctx, MFW_E_INVAL, "'%s' is not HOST:PORT", where);
			memcpy(host, where, hl);
			host[hl] = '\0';
			strcpy(port, colon + 1);
			hints.ai_flags = AI_NUMERICSERV;
			if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
				return mfw_fail(ctx, MFW_E_INVAL, "cannot resolve '%s'", where);
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
				last = errno;
				close(fd);
				fd = -1;
			}
			freeaddrinfo(ai);
		} else {
			struct sockaddr_un sa = { .sun_family = AF_UNIX };

			if (strlen(where) >= sizeof(sa.sun_path))
				return mfw_fail(ctx, MFW_E_INVAL, "socket path '%s' is too long", where);
			strcpy(sa.sun_path, where);
			fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				last = errno;
				close(fd);
				fd = -1;
			}
		}
		if (fd >= 0) {
			int fl = fcntl(fd, F_GETFL);
			fcntl(fd, F_SETFL, fl | O_NONBLOCK);
			u->fd = fd;
			return 0;
		}
		if (mfw_cancelled(ctx))
			return MFW_E_CANCELLED;
		if (mfw_deadline_passed(deadline))
			return mfw_fail(ctx, MFW_E_TIMEOUT,
					"QEMU's usb-redir socket '%s' did not accept within %d s: %s",
					where, UR_CONNECT_MS / 1000, strerror(last));
		{
			struct timespec ts = { .tv_nsec = UR_POLL_MS * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
}

int emu_usbredir_open(struct mfw_emu *emu, const char *spec, struct emu_usbredir **ret)
{
	struct emu_usbredir *u;
	uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };
	int r;

	if (strncmp(spec, "usbredir:", 9) || !spec[9])
		return mfw_fail(emu->ctx, MFW_E_INVAL,
				"'%s' is not usbredir:PATH or usbredir:HOST:PORT", spec);
	u = calloc(1, sizeof(*u));
	if (!u)
		return mfw_fail(emu->ctx, MFW_E_NOMEM, "no memory for the usbredir device");
	u->emu = emu;
	u->fd = -1;
	pipes_init(u);
	u->want = &desc_edl;
	u->d = &desc_edl;
	u->plug_after = mfw_deadline_in(0);
	snprintf(u->name, sizeof(u->name), "%s", spec);
	/* qdl --serial matches the _SN: part of the product string (sahara-firehose.md 1) */
	snprintf(u->product, sizeof(u->product), "QUSB__BULK_SN:%08X", emu->cfg.serial);
	if (pthread_mutex_init(&u->lock, NULL)) {
		r = mfw_fail(emu->ctx, MFW_E_NOMEM, "no memory for the usbredir device");
		goto out_free;
	}
	r = cond_init_mono(&u->cond);
	if (r < 0)
		goto out_destroy_lock;
	if (pipe2(u->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		r = mfw_fail(emu->ctx, MFW_E_IO, "cannot create a pipe: %s", strerror(errno));
		goto out_destroy_cond;
	}
	r = connect_peer(u, spec + 9);
	if (r < 0)
		goto out_close_pipe;
	u->parser = usbredirparser_create();
	if (!u->parser) {
		r = mfw_fail(emu->ctx, MFW_E_NOMEM, "no memory for the usbredir parser");
		goto out_close_fd;
	}
	u->parser->priv = u;
	u->parser->log_func = cb_log;
	u->parser->read_func = cb_read;
	u->parser->write_func = cb_write;
	u->parser->hello_func = cb_hello;
	u->parser->reset_func = cb_reset;
	u->parser->set_configuration_func = cb_set_configuration;
	u->parser->get_configuration_func = cb_get_configuration;
	u->parser->set_alt_setting_func = cb_set_alt_setting;
	u->parser->get_alt_setting_func = cb_get_alt_setting;
	u->parser->control_packet_func = cb_control;
	u->parser->bulk_packet_func = cb_bulk;
	u->parser->cancel_data_packet_func = cb_cancel;
	/* QEMU refuses a device on xHCI without the last three (usb-test-rig.md 2.1) */
	usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
	usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
	usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
	usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
	usbredirparser_init(u->parser, "modemfw virtual modem", caps, USB_REDIR_CAPS_SIZE,
			    usbredirparser_fl_usb_host);
	if (pthread_create(&u->io, NULL, io_thread, u)) {
		r = mfw_fail(emu->ctx, MFW_E_NOMEM, "cannot start the usbredir thread");
		goto out_destroy_parser;
	}
	u->io_running = true;
	*ret = u;
	return 0;

out_destroy_parser:
	usbredirparser_destroy(u->parser);
out_close_fd:
	close(u->fd);
out_close_pipe:
	close(u->wake[0]);
	close(u->wake[1]);
out_destroy_cond:
	pthread_cond_destroy(&u->cond);
out_destroy_lock:
	pthread_mutex_destroy(&u->lock);
out_free:
	free(u);
	return r;
}

const char *emu_usbredir_name(const struct emu_usbredir *u)
{
	return u->name;
}

void emu_usbredir_close(struct emu_usbredir *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_mutex_unlock(&u->lock);
	wake_io(u);
	if (u->io_running)
		pthread_join(u->io, NULL);
	/* pulled out of the port as the tool exits: flush a last disconnect */
	if (!u->gone && u->plugged) {
		mfw_deadline_t d = mfw_deadline_in(1000);

		usbredirparser_send_device_disconnect(u->parser);
		while (usbredirparser_has_data_to_write(u->parser) && !mfw_deadline_passed(d)) {
			struct pollfd pfd = { .fd = u->fd, .events = POLLOUT };

			if (usbredirparser_do_write(u->parser) < 0)
				break;
			poll(&pfd, 1, 50);
		}
	}
	drop_queues(u, true);
	usbredirparser_destroy(u->parser);
	close(u->fd);
	close(u->wake[0]);
	close(u->wake[1]);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* ---- the device loop's transport ---- */

/* Under lock: o was read to its end; its answer goes out in arrival order. */
static void out_done(struct ur_pipe *q, struct ur_out *o)
{
	o->next = NULL;
	*q->out_done_tail = o;
	q->out_done_tail = &o->next;
}

static const struct mfw_transport_ops ur_ops;

/* Under lock: this transport's device is still on the bus. */
static bool attached(const struct ur_transport *t)
{
	const struct emu_usbredir *u = t->u;

	return !u->gone && !u->stop && u->plugged && u->session == t->session;
}

static int ur_read(struct mfw_transport *base, void *buf, size_t cap, mfw_deadline_t deadline)
{
	struct ur_transport *t = (struct ur_transport *)base;
	struct emu_usbredir *u = t->u;
	struct ur_pipe *q = &u->pipe[t->iface];
	int r;

	pthread_mutex_lock(&u->lock);
	for (;;) {
		struct ur_out *o;

		if (!attached(t)) {
			r = MFW_E_NODEV;
			break;
		}
		/* zero-length OUTs are ZLPs ending a host transfer: no bytes for the device */
		while ((o = q->out_head) && o->off == o->len) {
			q->out_head = o->next;
			if (!q->out_head)
				q->out_tail = &q->out_head;
			out_done(q, o);
			wake_io(u);
		}
		if (o && cap) {
			size_t n = o->len - o->off;

			if (n > cap)
				n = cap;
			memcpy(buf, o->data + o->off, n);
			o->off += n;
			if (o->off == o->len) {
				/* all read: the host's transfer completes now, not earlier */
				q->out_head = o->next;
				if (!q->out_head)
					q->out_tail = &q->out_head;
				out_done(q, o);
				wake_io(u);
			}
			r = (int)n;
			break;
		}
		r = cond_wait_until(u, deadline);
		if (r < 0)
			break;
	}
	pthread_mutex_unlock(&u->lock);
	return r;
}

static int ur_write(struct mfw_transport *base, const void *buf, size_t len,
		    mfw_deadline_t deadline, size_t *written)
{
	struct ur_transport *t = (struct ur_transport *)base;
	struct emu_usbredir *u = t->u;
	struct ur_pipe *q = &u->pipe[t->iface];
	struct ur_msg *m;
	int r = 0;

	*written = 0;
	pthread_mutex_lock(&u->lock);
	for (;;) {
		if (!attached(t)) {
			r = MFW_E_NODEV;
			goto out_unlock;
		}
		/* backpressure: a host that does not read makes the device wait */
		if (q->in_queued < UR_IN_QUEUE_MAX)
			break;
		r = cond_wait_until(u, deadline);
		if (r < 0)
			goto out_unlock;
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		r = MFW_E_NOMEM;
		goto out_unlock;
	}
	m->next = NULL;
	m->len = len;
	m->off = 0;
	m->zlp_owed = false;
	memcpy(m->data, buf, len);
	*q->in_tail = m;
	q->in_tail = &m->next;
	q->in_queued += len;
	*written = len;
	wake_io(u);
out_unlock:
	pthread_mutex_unlock(&u->lock);
	return r;
}

/*
 * Under lock: the device leaves the bus (reset, fault, stop, mode switch).
 * A module answers <power> or the DIAG switch and resets a moment later:
 * the host may read what was said first.
 */
static void unplug_locked(struct emu_usbredir *u, uint64_t session)
{
	mfw_deadline_t drain = mfw_deadline_in(UR_DRAIN_MS);

	wake_io(u);
	while (in_pending(u) && u->plugged && u->session == session &&
	       cond_wait_until(u, drain) == 0)
		;
	/*
	 * ... and only then resets: a tty host (qcserial) has the answer in
	 * the kernel's buffer now, and a hang-up this instant would flush it
	 * before the tool reads it.
	 */
	drain = mfw_deadline_in(UR_RESET_MS);
	while (u->plugged && u->session == session && cond_wait_until(u, drain) == 0)
		;
	if (u->session != session)
		return;
	u->session++;
	u->want_plug = false;
	u->unplug = true;
	u->config = 0;
	drop_queues(u, false);
	wake_io(u);
	pthread_cond_broadcast(&u->cond);
}

static void ur_close(struct mfw_transport *base)
{
	struct ur_transport *t = (struct ur_transport *)base;
	struct emu_usbredir *u = t->u;

	pthread_mutex_lock(&u->lock);
	/* an EDL session is the device; a normal-mode port is one of its interfaces */
	if (!t->port)
		unplug_locked(u, t->session);
	pthread_mutex_unlock(&u->lock);
	free(t);
}

static const struct mfw_transport_ops ur_ops = {
	.kind = "usbredir",
	.read = ur_read,
	.write = ur_write,
	.close = ur_close,
};

/* Plug in as d (unless it already is) and wait for the host to configure it. */
static int plug_and_wait(struct emu_usbredir *u, const struct ur_desc *d, int iface,
			 mfw_deadline_t deadline, struct mfw_transport **ret)
{
	struct ur_transport *t;
	int r = 0;

	pthread_mutex_lock(&u->lock);
	if (!u->want_plug || u->want != d) {
		u->want_plug = true;
		u->want = d;
		wake_io(u);
	}
	/* a host is there once it has set configuration 1, as real EDL sends HELLO then */
	while (!u->gone && !(u->plugged && u->d == d && u->config == 1)) {
		r = cond_wait_until(u, deadline);
		if (r < 0)
			break;
	}
	if (u->gone)
		r = mfw_fail(u->emu->ctx, MFW_E_NODEV, "QEMU closed the usb-redir connection '%s'",
			     u->name);
	if (r < 0) {
		pthread_mutex_unlock(&u->lock);
		return r;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		pthread_mutex_unlock(&u->lock);
		return mfw_fail(u->emu->ctx, MFW_E_NOMEM, "no memory for a usbredir transport");
	}
	t->base.ops = &ur_ops;
	t->base.ctx = u->emu->ctx;
	t->base.max_packet = EDL_MPS;
	snprintf(t->base.name, sizeof(t->base.name), "%s (%04x:%04x if%d)", u->name, d->vid,
		 d->pid, iface);
	t->u = u;
	t->session = u->session;
	t->iface = iface;
	t->port = d != &desc_edl;
	pthread_mutex_unlock(&u->lock);
	*ret = &t->base;
	return 0;
}

int emu_usbredir_halt(struct mfw_transport *base)
{
	struct ur_transport *t = (struct ur_transport *)base;
	struct emu_usbredir *u;
	struct ur_pipe *q;

	if (base->ops != &ur_ops)
		return MFW_E_UNSUPPORTED;
	u = t->u;
	pthread_mutex_lock(&u->lock);
	q = &u->pipe[t->iface];
	q->halted = true;
	/* the transfer being read ends in a STALL: its unread rest never arrives */
	if (q->out_head && attached(t)) {
		struct ur_out *o = q->out_head;

		q->out_head = o->next;
		if (!q->out_head)
			q->out_tail = &q->out_head;
		/* answered by the I/O thread: only it touches the parser */
		o->status = usb_redir_stall;
		out_done(q, o);
	}
	mfw_dbg(u->emu->ctx, "usbredir: fault: OUT endpoint 0x%02x halted", 0x01 + t->iface);
	wake_io(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

int emu_usbredir_accept(struct emu_usbredir *u, mfw_deadline_t deadline,
			struct mfw_transport **ret)
{
	return plug_and_wait(u, &desc_edl, 0, deadline, ret);
}

int emu_usbredir_port(struct emu_usbredir *u, int iface, mfw_deadline_t deadline,
		      struct mfw_transport **ret)
{
	if (iface < 0 || iface >= desc_ec25.n)
		return MFW_E_INVAL;
	return plug_and_wait(u, &desc_ec25, iface, deadline, ret);
}

void emu_usbredir_unplug(struct emu_usbredir *u)
{
	pthread_mutex_lock(&u->lock);
	if (u->plugged || u->want_plug)
		unplug_locked(u, u->session);
	pthread_mutex_unlock(&u->lock);
}
