/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_TRANSPORT_H
#define MODEMFW_TRANSPORT_H

/*
 * Public face of the transport layer: open a port by spec, close it. The
 * tool hands the transport to an operation (flash, info, ...). The struct is
 * opaque outside the library.
 */
struct mfw_ctx;
struct mfw_transport;

/*
 * spec: tcp:HOST:PORT | unix:PATH | /dev/NODE (tty or char device) |
 *       usb | usb:BUS-PORTS (libusb, 05c6:9008 EDL interface)
 */
int mfw_transport_open(struct mfw_ctx *ctx, const char *spec, struct mfw_transport **ret);
void mfw_transport_close(struct mfw_transport *t);

#endif
