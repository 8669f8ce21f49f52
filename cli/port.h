/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_CLI_PORT_H
#define MFW_CLI_PORT_H

#include <stdbool.h>

struct cli;
struct mfw_transport;
struct mfw_emu;

struct cli_port {
	struct mfw_transport *t;
	struct mfw_emu *emu; /* -p emu */
	char name[160];
	char spec[256];
	struct cli *cli;
	int reconnect_wait_ms; /* how long a reconnect waits for the device */
};

/* QFirehose waits up to 30 s for 9008 to appear after a switch or a reset. */
#define CLI_RECONNECT_WAIT_MS 30000

/* emu_nand: storage of the in-process virtual modem when spec is "emu". */
int cli_port_open(struct cli *cli, const char *spec, bool emu_nand, struct cli_port *port);
void cli_port_close(struct cli_port *port);
/* mfw_flash_opts.reconnect: close *t, wait (bounded) for the port to return, reopen. */
int cli_port_reconnect(void *user, struct mfw_transport **t);

#endif
