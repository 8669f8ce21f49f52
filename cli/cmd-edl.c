/* SPDX-License-Identifier: BSD-3-Clause */
/* modemfw edl: ask a running module, over DIAG, to reboot into EDL (Sahara, 05c6:9008). */
#include "cli.h"
#include "port.h"

#include <modemfw/diag.h>

#include <getopt.h>
#include <string.h>

int cmd_edl(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_port port;
	struct cli_edl_watch *watch;
	struct mfw_diag *d;
	const char *spec = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		if (c == 'p') {
			spec = optarg;
			continue;
		}
		fprintf(c == 'h' ? stdout : stderr,
			"usage: modemfw edl -p PORT\n\n"
			"Switch a running module to EDL (emergency download, 05c6:9008) by sending\n"
			"the DIAG command 4B 65 01 00 on its DIAG port (e.g. /dev/ttyUSB0).\n");
		return c == 'h' ? 0 : EXIT_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "modemfw: edl takes no arguments besides -p PORT\n");
		return EXIT_USAGE;
	}
	/* issue 7: -p auto, ModemManager inhibited, bounded wait for 9008 (cli/cmd-devices.c) */
	r = cli_edl_watch_begin(cli, &spec, &watch);
	if (r < 0)
		return cli_report_error(cli, r, spec ? spec : "auto");
	r = cli_diag_port_open(cli, spec, &port);
	if (r > 0)
		return cli_edl_watch_end(cli, watch, r);
	if (r < 0)
		return cli_report_error(cli, cli_edl_watch_end(cli, watch, r), spec);
	r = mfw_diag_open(cli->ctx, port.t, &d);
	if (r == 0) {
		r = mfw_diag_switch_to_edl(d);
		mfw_diag_close(d);
	}
	cli_port_close(&port);
	r = cli_edl_watch_end(cli, watch, r);
	if (r < 0) {
		r = cli_report_error(cli, r, "edl");
		if (!cli->json)
			fprintf(stderr, "If the module does not take the DIAG command, set its USB_BOOT "
					"(FORCE_BOOT) strap while powering it on, as its hardware design "
					"guide describes; see docs/devices.md.\n");
		return r;
	}
	if (cli->json) {
		cli_json_event(cli, "edl", "\"requested\":true,\"expect\":\"05c6:9008\"");
		return 0;
	}
	printf("EDL requested. The module will re-enumerate as 05c6:9008 (QDLoader 9008) in a few\n"
	       "seconds; its DIAG, AT and network ports disappear. Then use 'modemfw info' or\n"
	       "'modemfw flash' on the EDL device.\n"
	       "If no 05c6:9008 device appears (lsusb), the firmware ignored the request: set the\n"
	       "USB_BOOT (FORCE_BOOT) strap while powering the module on (see docs/devices.md).\n");
	return 0;
}
