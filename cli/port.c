/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * -p PORT: a transport spec, "emu" (an in-process virtual modem: a dry run
 * of the real thing) or "auto".
 */
#include "cli.h"
#include "port.h"

#include <modemfw/device.h>
#include <modemfw/emu.h>
#include <modemfw/transport.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

int cli_port_open(struct cli *cli, const char *spec, bool emu_nand, struct cli_port *port)
{
	int r;
	memset(port, 0, sizeof(*port));
	port->cli = cli;
	port->reconnect_wait_ms = CLI_RECONNECT_WAIT_MS;
	snprintf(port->spec, sizeof(port->spec), "%s", spec ? spec : "auto");
	if (!spec || !strcmp(spec, "auto")) {
		/* issue 7: sysfs discovery first (the only EDL device, or "several: choose with -p") */
		char found[128];
		struct mfw_device_opts dopts;

		cli_device_opts(cli, &dopts, NULL, NULL, false);
		r = mfw_discover_pick(cli->ctx, &dopts, MFW_ROLE_EDL, found, sizeof(found));
		if (r == MFW_E_BUSY)
			return r;
		if (r == 0) {
			r = mfw_transport_open(cli->ctx, found, &port->t);
			if (r < 0)
				return r;
			snprintf(port->name, sizeof(port->name), "%s (EDL)", found);
			return 0;
		}
		mfw_ctx_clear_detail(cli->ctx);
		/* nothing in sysfs (or no sysfs): libusb's own scan, as before discovery existed */
		r = mfw_transport_open(cli->ctx, "usb", &port->t);
		if (r < 0)
			return r;
		snprintf(port->name, sizeof(port->name), "usb (EDL)");
		return 0;
	}
	if (!strcmp(spec, "emu")) {
		struct mfw_emu_config cfg;
		mfw_emu_config_defaults(&cfg, emu_nand ? MFW_EMU_NAND : MFW_EMU_EMMC);
		cfg.image_path = NULL; /* anonymous: a dry run keeps nothing */
		r = mfw_emu_new(cli->ctx, &cfg, &port->emu);
		if (r < 0)
			return r;
		r = mfw_emu_attach(port->emu, &port->t);
		if (r < 0) {
			mfw_emu_free(port->emu);
			port->emu = NULL;
			return r;
		}
		snprintf(port->name, sizeof(port->name), "in-process virtual modem (%s)",
			 emu_nand ? "NAND" : "eMMC");
		return 0;
	}
	r = mfw_transport_open(cli->ctx, spec, &port->t);
	if (r < 0)
		return r;
	snprintf(port->name, sizeof(port->name), "%s", spec);
	return 0;
}

void cli_port_close(struct cli_port *port)
{
	if (port->t)
		mfw_transport_close(port->t);
	if (port->emu)
		mfw_emu_free(port->emu);
	memset(port, 0, sizeof(*port));
}

int cli_port_reconnect(void *user, struct mfw_transport **t)
{
	struct cli_port *port = user;
	struct mfw_ctx *ctx = port->cli->ctx;
	int64_t deadline = mfw_now_ms() + port->reconnect_wait_ms;
	int r;

	if (*t)
		mfw_transport_close(*t);
	*t = NULL;
	port->t = NULL;
	if (port->emu) {
		/* the in-process device reboots into its boot ROM: attach again */
		r = mfw_emu_attach(port->emu, &port->t);
		*t = port->t;
		return r;
	}
	for (;;) {
		const char *spec = strcmp(port->spec, "auto") ? port->spec : "usb";
		r = mfw_transport_open(ctx, spec, &port->t);
		if (r == 0) {
			*t = port->t;
			return 0;
		}
		if (mfw_now_ms() >= deadline || mfw_ctx_cancel_count(ctx))
			return r;
		/* poll: the device re-enumerates (USB) or the emulator restarts its listener */
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}
