/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libusb transport for a Qualcomm EDL device (05c6:9008): the bulk IN/OUT
 * pair of the vendor interface ff/ff/{ff,10,11,13}.
 *
 * Every transfer gets a timeout computed from the caller's deadline, and
 * bytes moved before a timeout are counted (QFirehose blocked forever in
 * a bulk write; qdl lost the count of a partial transfer). Host->device
 * transfers end with a ZLP when their length is a multiple of
 * wMaxPacketSize, since some programmers wait for it (sahara-firehose.md 6).
 */
#include "transport/internal.h"

#include <libusb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EDL_VID 0x05c6
#define EDL_PID 0x9008
/* qdl's out-chunk: large enough for full bus speed, small enough to bound one URB */
#define USB_OUT_CHUNK (1024 * 1024)

struct usb_transport {
	struct mfw_transport base;
	libusb_context *usb;
	libusb_device_handle *h;
	int iface;
	uint8_t ep_in;
	uint8_t ep_out;
	size_t mps_in;
	bool zlp_aware;
	bool detached; /* we detached a kernel driver: reattach on close */
	/*
	 * Reads smaller than a packet go through this buffer (a bulk read
	 * shorter than wMaxPacketSize can overflow): one packet.
	 */
	unsigned char *bounce;
	size_t pend_off;
	size_t pend_len;
};

static const struct mfw_transport_ops usb_ops;

int mfw_usb_parse_spec(const char *spec, uint8_t *bus, uint8_t ports[MFW_USB_MAX_PORTS],
		       int *n_ports)
{
	const char *p;
	char *end;
	unsigned long v;
	int n = 0;

	if (!strcmp(spec, "usb")) {
		*bus = 0;
		*n_ports = 0;
		return 0;
	}
	if (strncmp(spec, "usb:", 4))
		return MFW_E_INVAL;
	p = spec + 4;
	if (*p < '0' || *p > '9')
		return MFW_E_INVAL;
	v = strtoul(p, &end, 10);
	if (v == 0 || v > 255 || *end != '-')
		return MFW_E_INVAL;
	*bus = (uint8_t)v;
	p = end + 1;
	for (;;) {
		if (*p < '0' || *p > '9' || n == MFW_USB_MAX_PORTS)
			return MFW_E_INVAL;
		v = strtoul(p, &end, 10);
		if (v == 0 || v > 255)
			return MFW_E_INVAL;
		ports[n++] = (uint8_t)v;
		if (*end == '\0')
			break;
		if (*end != '.')
			return MFW_E_INVAL;
		p = end + 1;
	}
	*n_ports = n;
	return 0;
}

static void format_path(char *buf, size_t len, uint8_t bus, const uint8_t *ports, int n)
{
	int off = snprintf(buf, len, "%u", bus);

	for (int i = 0; i < n && off > 0 && (size_t)off < len; i++)
		off += snprintf(buf + off, len - (size_t)off, "%c%u", i ? '.' : '-', ports[i]);
}

static bool edl_protocol(uint8_t proto)
{
	return proto == 0xff || proto == 0x10 || proto == 0x11 || proto == 0x13;
}

struct edl_match {
	int iface;
	uint8_t ep_in, ep_out;
	size_t mps_in, mps_out;
	uint8_t config;
};

/* Find the vendor interface with one bulk IN and one bulk OUT endpoint. */
static bool find_edl_interface(libusb_device *dev, struct edl_match *m)
{
	struct libusb_config_descriptor *cfg;
	bool found = false;

	if (libusb_get_active_config_descriptor(dev, &cfg) < 0 &&
	    libusb_get_config_descriptor(dev, 0, &cfg) < 0)
		return false;
	for (int i = 0; i < cfg->bNumInterfaces && !found; i++) {
		const struct libusb_interface *itf = &cfg->interface[i];

		for (int a = 0; a < itf->num_altsetting && !found; a++) {
			const struct libusb_interface_descriptor *d = &itf->altsetting[a];

			if (d->bInterfaceClass != 0xff || d->bInterfaceSubClass != 0xff ||
			    !edl_protocol(d->bInterfaceProtocol))
				continue;
			m->ep_in = m->ep_out = 0;
			for (int e = 0; e < d->bNumEndpoints; e++) {
				const struct libusb_endpoint_descriptor *ep = &d->endpoint[e];

				if ((ep->bmAttributes & 0x3) != LIBUSB_TRANSFER_TYPE_BULK)
					continue;
				if (ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) {
					m->ep_in = ep->bEndpointAddress;
					m->mps_in = ep->wMaxPacketSize & 0x7ff;
				} else {
					m->ep_out = ep->bEndpointAddress;
					m->mps_out = ep->wMaxPacketSize & 0x7ff;
				}
			}
			if (m->ep_in && m->ep_out && m->mps_in && m->mps_out) {
				m->iface = d->bInterfaceNumber;
				m->config = cfg->bConfigurationValue;
				found = true;
			}
		}
	}
	libusb_free_config_descriptor(cfg);
	return found;
}

static bool path_matches(libusb_device *dev, uint8_t bus, const uint8_t *ports, int n)
{
	uint8_t have[MFW_USB_MAX_PORTS];
	int got;

	if (libusb_get_bus_number(dev) != bus)
		return false;
	got = libusb_get_port_numbers(dev, have, (int)sizeof(have));
	return got == n && !memcmp(have, ports, (size_t)n);
}

/* The kernel driver's name from sysfs ("qcserial"), for the notice. */
static void driver_name(const char *path, uint8_t config, int iface, char *buf, size_t len)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *base;

	snprintf(link, sizeof(link), "/sys/bus/usb/devices/%s:%u.%d/driver", path, config, iface);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0) {
		snprintf(buf, len, "kernel driver");
		return;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		snprintf(buf, len, "kernel driver");
	else
		strcpy(buf, base);
}

static int no_device(struct mfw_ctx *ctx, const char *path, const char *why)
{
	if (path[0])
		return mfw_fail(ctx, MFW_E_NODEV,
				"no Qualcomm EDL interface at usb %s%s%s: check `lsusb -t` for the path and that the module is in EDL mode (05c6:9008)",
				path, why ? ": " : "", why ? why : "");
	return mfw_fail(ctx, MFW_E_NODEV,
			"no Qualcomm EDL device (05c6:9008) found%s%s: check `lsusb` and put the module in EDL mode (e.g. `modemfw edl`)",
			why ? ": " : "", why ? why : "");
}

/* libusb takes 0 as "wait forever": the shortest real wait is 1 ms. */
static unsigned int transfer_timeout(mfw_deadline_t deadline)
{
	int left = mfw_deadline_left(deadline);

	return left < 1 ? 1u : (unsigned int)left;
}

static int usb_error(struct usb_transport *u, int err, uint8_t ep, const char *what)
{
	struct mfw_transport *t = &u->base;

	switch (err) {
	case LIBUSB_ERROR_NO_DEVICE:
		return mfw_fail(t->ctx, MFW_E_NODEV,
				"'%s' is gone (unplugged or re-enumerated) during %s", t->name, what);
	case LIBUSB_ERROR_TIMEOUT:
		return MFW_E_TIMEOUT;
	case LIBUSB_ERROR_PIPE:
		/* clear once so a retry by the caller starts on a clean endpoint */
		libusb_clear_halt(u->h, ep);
		return mfw_fail(t->ctx, MFW_E_IO,
				"'%s': endpoint 0x%02x stalled during %s (halt cleared)", t->name, ep,
				what);
	}
	return mfw_fail(t->ctx, MFW_E_IO, "%s on '%s' failed: %s", what, t->name,
			libusb_strerror(err));
}

static int take_pending(struct usb_transport *u, void *buf, size_t cap)
{
	size_t n = u->pend_len < cap ? u->pend_len : cap;

	memcpy(buf, u->bounce + u->pend_off, n);
	u->pend_off += n;
	u->pend_len -= n;
	return (int)n;
}

static int usb_read(struct mfw_transport *t, void *buf, size_t cap, mfw_deadline_t deadline)
{
	struct usb_transport *u = (struct usb_transport *)t;

	if (cap == 0)
		return 0;
	if (u->pend_len)
		return take_pending(u, buf, cap);
	for (;;) {
		bool via_bounce = cap < u->mps_in;
		size_t len = via_bounce ? u->mps_in : cap - cap % u->mps_in;
		unsigned char *dst = via_bounce ? u->bounce : buf;
		int actual = 0, r;

		if (len > INT_MAX - INT_MAX % u->mps_in)
			len = INT_MAX - INT_MAX % u->mps_in;
		r = libusb_bulk_transfer(u->h, u->ep_in, dst, (int)len, &actual,
					 transfer_timeout(deadline));
		if (actual > 0) {
			if (via_bounce) {
				u->pend_off = 0;
				u->pend_len = (size_t)actual;
			}
			/*
			 * A read that filled the buffer on a packet multiple may
			 * be followed by a ZLP (sahara-firehose.md 6). It is not
			 * probed for here: the next read sees it as an empty
			 * transfer and skips it. A probe with a short timeout
			 * cost its timeout whenever the device paused, and its
			 * cancellation could lose data already in flight.
			 */
			if (via_bounce)
				return take_pending(u, buf, cap);
			return actual;
		}
		if (r < 0)
			return usb_error(u, r, u->ep_in, "read");
		/* an empty transfer is a late ZLP: not data, keep waiting */
		if (mfw_deadline_passed(deadline))
			return MFW_E_TIMEOUT;
	}
}

static int usb_write(struct mfw_transport *t, const void *buf, size_t len,
		     mfw_deadline_t deadline, size_t *written)
{
	struct usb_transport *u = (struct usb_transport *)t;
	unsigned char *p = (unsigned char *)buf; /* libusb's prototype is not const */
	size_t done = 0;
	bool zlp;
	int r = 0;

	while (done < len) {
		size_t chunk = len - done < USB_OUT_CHUNK ? len - done : USB_OUT_CHUNK;
		int actual = 0;

		r = libusb_bulk_transfer(u->h, u->ep_out, p + done, (int)chunk, &actual,
					 transfer_timeout(deadline));
		/* bytes moved before a timeout or error did reach the device */
		if (actual > 0)
			done += (size_t)actual;
		if (r < 0)
			break;
		if (mfw_deadline_passed(deadline) && done < len) {
			r = LIBUSB_ERROR_TIMEOUT;
			break;
		}
	}
	zlp = r == 0 && mfw_zlp_needed_out(len, t->max_packet, u->zlp_aware);
	if (zlp) {
		unsigned char none = 0;
		int actual = 0;

		r = libusb_bulk_transfer(u->h, u->ep_out, &none, 0, &actual,
					 transfer_timeout(deadline));
	}
	*written = done;
	if (r == LIBUSB_ERROR_TIMEOUT)
		return mfw_fail(t->ctx, MFW_E_TIMEOUT,
				"'%s' stopped accepting data after %zu of %zu bytes%s", t->name, done,
				len, zlp ? " (at the closing ZLP)" : "");
	if (r < 0)
		return usb_error(u, r, u->ep_out, "write");
	return 0;
}

static void usb_close(struct mfw_transport *t)
{
	struct usb_transport *u = (struct usb_transport *)t;

	libusb_release_interface(u->h, u->iface);
	if (u->detached && libusb_attach_kernel_driver(u->h, u->iface) < 0)
		mfw_dbg(t->ctx, "cannot reattach the kernel driver to '%s', ignoring", t->name);
	libusb_close(u->h);
	libusb_exit(u->usb);
	free(u->bounce);
	free(u);
}

static const struct mfw_transport_ops usb_ops = {
	.kind = "usb",
	.read = usb_read,
	.write = usb_write,
	.close = usb_close,
};

void mfw_transport_usb_set_zlp(struct mfw_transport *t, bool zlp_aware)
{
	if (t && t->ops == &usb_ops)
		((struct usb_transport *)t)->zlp_aware = zlp_aware;
}

/* Pick the device: by path when given, else the first 05c6:9008 with an EDL interface. */
static libusb_device *find_device(libusb_device **list, uint8_t bus, const uint8_t *ports,
				  int n_ports, struct edl_match *m)
{
	for (size_t i = 0; list[i]; i++) {
		struct libusb_device_descriptor dd;

		if (n_ports) {
			if (!path_matches(list[i], bus, ports, n_ports))
				continue;
		} else {
			if (libusb_get_device_descriptor(list[i], &dd) < 0 ||
			    dd.idVendor != EDL_VID || dd.idProduct != EDL_PID)
				continue;
		}
		if (find_edl_interface(list[i], m))
			return list[i];
	}
	return NULL;
}

static int claim(struct usb_transport *u, const char *path, const struct edl_match *m)
{
	struct mfw_ctx *ctx = u->base.ctx;
	int r;

	if (libusb_kernel_driver_active(u->h, m->iface) == 1) {
		char drv[64];

		driver_name(path, m->config, m->iface, drv, sizeof(drv));
		r = libusb_detach_kernel_driver(u->h, m->iface);
		if (r < 0)
			return mfw_fail(ctx, r == LIBUSB_ERROR_ACCESS ? MFW_E_IO : MFW_E_BUSY,
					"cannot detach kernel driver '%s' from %s: %s", drv,
					u->base.name, libusb_strerror(r));
		u->detached = true;
		mfw_notice(ctx, "detached kernel driver '%s' from %s", drv, u->base.name);
	}
	r = libusb_claim_interface(u->h, m->iface);
	if (r == LIBUSB_ERROR_BUSY)
		return mfw_fail(ctx, MFW_E_BUSY, "'%s' is held by another process", u->base.name);
	if (r == LIBUSB_ERROR_NO_DEVICE)
		return mfw_fail(ctx, MFW_E_NODEV, "'%s' is gone", u->base.name);
	if (r < 0)
		return mfw_fail(ctx, MFW_E_IO, "cannot claim interface %d of '%s': %s", m->iface,
				u->base.name, libusb_strerror(r));
	return 0;
}

int mfw_tr_usb_open(struct mfw_ctx *ctx, const char *spec, struct mfw_transport **ret)
{
	struct usb_transport *u;
	struct edl_match m = { 0 };
	libusb_device **list;
	libusb_device *dev;
	struct libusb_device_descriptor dd;
	uint8_t bus, ports[MFW_USB_MAX_PORTS];
	char want[48] = "", path[48];
	int n_ports, r;
	ssize_t n;

	if (mfw_usb_parse_spec(spec, &bus, ports, &n_ports) < 0)
		return mfw_fail(ctx, MFW_E_INVAL,
				"'%s' is not a USB port: use usb or usb:BUS-PORT[.PORT...] as in `lsusb -t` (e.g. usb:1-2.3)",
				spec);
	if (n_ports)
		format_path(want, sizeof(want), bus, ports, n_ports);
	u = calloc(1, sizeof(*u));
	if (!u)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for a USB transport");
	u->base.ops = &usb_ops;
	u->base.ctx = ctx;
	u->zlp_aware = true;
	r = libusb_init(&u->usb);
	if (r < 0) {
		r = no_device(ctx, want, libusb_strerror(r));
		goto out_free;
	}
	n = libusb_get_device_list(u->usb, &list);
	if (n < 0) {
		r = no_device(ctx, want, libusb_strerror((int)n));
		goto out_exit;
	}
	dev = find_device(list, bus, ports, n_ports, &m);
	if (!dev) {
		r = no_device(ctx, want, NULL);
		goto out_free_list;
	}
	bus = libusb_get_bus_number(dev);
	n_ports = libusb_get_port_numbers(dev, ports, (int)sizeof(ports));
	format_path(path, sizeof(path), bus, ports, n_ports > 0 ? n_ports : 0);
	libusb_get_device_descriptor(dev, &dd);
	snprintf(u->base.name, sizeof(u->base.name), "usb %s (%04x:%04x)", path, dd.idVendor,
		 dd.idProduct);
	r = libusb_open(dev, &u->h);
	if (r < 0) {
		if (r == LIBUSB_ERROR_ACCESS)
			r = mfw_fail(ctx, MFW_E_IO,
				     "no permission to open '%s' (add a udev rule for 05c6:9008 or run as root)",
				     u->base.name);
		else if (r == LIBUSB_ERROR_NO_DEVICE)
			r = mfw_fail(ctx, MFW_E_NODEV, "'%s' is gone", u->base.name);
		else
			r = mfw_fail(ctx, MFW_E_IO, "cannot open '%s': %s", u->base.name,
				     libusb_strerror(r));
		goto out_free_list;
	}
	libusb_free_device_list(list, 1);
	list = NULL;
	r = claim(u, path, &m);
	if (r < 0)
		goto out_reattach;
	u->iface = m.iface;
	u->ep_in = m.ep_in;
	u->ep_out = m.ep_out;
	u->mps_in = m.mps_in;
	u->base.max_packet = m.mps_out;
	u->bounce = malloc(m.mps_in);
	if (!u->bounce) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "no memory for '%s'", u->base.name);
		goto out_release;
	}
	mfw_dbg(ctx, "opened '%s': interface %d, in 0x%02x/%zu, out 0x%02x/%zu", u->base.name,
		m.iface, m.ep_in, m.mps_in, m.ep_out, m.mps_out);
	*ret = &u->base;
	return 0;

out_release:
	libusb_release_interface(u->h, m.iface);
out_reattach:
	if (u->detached)
		libusb_attach_kernel_driver(u->h, m.iface);
	libusb_close(u->h);
out_free_list:
	if (list)
		libusb_free_device_list(list, 1);
out_exit:
	libusb_exit(u->usb);
out_free:
	free(u);
	return r;
}
