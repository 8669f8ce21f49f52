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
};

/* emu_nand: storage of the in-process virtual modem when spec is "emu". */
int cli_port_open(struct cli *cli, const char *spec, bool emu_nand, struct cli_port *port);
void cli_port_close(struct cli_port *port);

#endif
