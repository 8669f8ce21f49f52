/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw dfota send UPDATE.ZIP -p PORT [--name FILE] [--url URL] [--json]
 *
 * Upload a DFOTA package to a module in normal mode over its AT port
 * (AT+QFUPL, acknowledged, size and checksum compared), start the update
 * (AT+QFOTADL), follow the module's +QIND: "FOTA" reports through its
 * reboots with a progress bar, and end with the result code in words and
 * the firmware the module reports afterwards (AT+QGMR). ModemManager is
 * kept off the module meanwhile when sysfs knows it (tcp/pty ports: no-op).
 */
#include "cli.h"

#include <modemfw/device.h>
#include <modemfw/dfota.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void send_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw dfota send UPDATE.ZIP -p PORT [--name FILE] [--json]\n"
		"       modemfw dfota send -p PORT --url URL [--json]\n"
		"\n"
		"Send a DFOTA package to a module in normal mode over its AT port: check the free\n"
		"space (AT+QFLDS), delete a stale upload (AT+QFDEL), upload (AT+QFUPL, 1 KiB blocks\n"
		"acknowledged by the module, size and checksum compared), start the update\n"
		"(AT+QFOTADL=\"/data/ufs/FILE\", or the URL with --url), follow the module's\n"
		"+QIND: \"FOTA\" reports through its reboots, then confirm the firmware (AT+QGMR).\n"
		"  -p, --port PORT   the module's AT port (/dev/ttyUSB2, tcp:HOST:PORT); required\n"
		"  --name FILE       name in the module's user file system (default dfota_update.zip)\n"
		"  --url URL         let the module download the package (http://, https://, ftp://)\n"
		"  --sysfs DIR, --dev DIR, --no-inhibit   discovery as for 'modemfw at'\n"
		"Exit: 0 when the module reports 0; 6 for 505/510/521 (wrong package or version),\n"
		"3 for 504 (damaged package), 1 for other codes; the code and its meaning are printed.\n");
}

struct send_ui {
	struct cli *cli;
};

static void on_event(void *user, const struct mfw_fota_event *ev)
{
	struct send_ui *ui = user;
	struct cli *cli = ui->cli;
	char esc[1400];

	if (cli->json) {
		cli_json_event(cli, "dfota-send",
			       "\"step\":\"%s\",\"text\":%s,\"code\":%d,\"a\":%" PRIu64 ",\"b\":%" PRIu64,
			       ev->step, cli_json_str(esc, sizeof(esc), ev->text), ev->code, ev->a,
			       ev->b);
		return;
	}
	if (cli->quiet)
		return;
	/* progress lines are the bar's; the rest are worth a line of their own */
	if (!strcmp(ev->step, "urc") && ev->code >= 0)
		return;
	if (!strcmp(ev->step, "urc") && cli->verbose == 0)
		return;
	if (!strcmp(ev->step, "end"))
		return; /* printed with the code at the end */
	fprintf(stderr, "%s: %s\n", ev->step, ev->text);
}

/* The exit status for a result code, as modemfw dfota apply/check map them (docs/dfota.md). */
static int exit_for_code(int code)
{
	switch (code) {
	case 0:
		return EXIT_OK_;
	case 504:
		return EXIT_BAD_INPUT;
	case 502:
	case 505:
	case 510:
	case 521:
		return EXIT_REFUSED;
	default:
		return EXIT_FAILURE_;
	}
}

int dfota_send_main(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'n' },
		{ "url", required_argument, NULL, 'u' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "dev", required_argument, NULL, 'd' },
		{ "no-inhibit", no_argument, NULL, 'N' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_fota_send_opts o = { 0 };
	struct mfw_fota_send_result res;
	struct mfw_device_opts dopts;
	struct mfw_device_guard *guard = NULL;
	struct mfw_modem *m = NULL;
	struct send_ui ui = { .cli = cli };
	const char *port = NULL, *sysfs = NULL, *dev = NULL, *pkg = NULL;
	bool no_inhibit = false, verified;
	char esc[1024], e2[400], e3[400];
	int c, r, idx;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p': port = optarg; break;
		case 'n': o.name = optarg; break;
		case 'u': o.url = optarg; break;
		case 's': sysfs = optarg; break;
		case 'd': dev = optarg; break;
		case 'N': no_inhibit = true; break;
		case 'j': cli->json = true; break;
		case 'h':
			send_usage(stdout);
			return EXIT_OK_;
		default:
			goto bad;
		}
	}
	if (o.url ? argc - optind > 1 : argc - optind != 1)
		goto bad;
	if (argc - optind == 1)
		pkg = argv[optind];
	if (!port || !strcmp(port, "auto") || !strcmp(port, "emu")) {
		fprintf(stderr, "modemfw: dfota send: give -p with the module's AT port "
				"(e.g. /dev/ttyUSB2 or tcp:HOST:PORT)\n");
		return EXIT_USAGE;
	}
	o.port = port;
	o.on_event = on_event;
	o.event_user = &ui;

	/* ModemManager off the module for the whole update (a no-op for ports sysfs does not know) */
	cli_device_opts(cli, &dopts, sysfs, dev, no_inhibit);
	m = malloc(sizeof(*m));
	if (!m)
		return cli_report_error(cli, MFW_E_NOMEM, "dfota send");
	if (mfw_discover_find(cli->ctx, &dopts, port, m, &idx) == 0) {
		r = mfw_device_prepare(cli->ctx, &dopts, m, &guard);
		if (r < 0) {
			free(m);
			return cli_report_error(cli, r, port);
		}
	}
	mfw_ctx_clear_detail(cli->ctx);
	free(m);

	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_fota_send(cli->ctx, pkg, &o, &res);
	cli_progress_end(cli);
	mfw_device_release(guard);
	if (r < 0) {
		if (cli->json)
			cli_json_event(cli, "dfota-send-end", "\"code\":%d,\"reconnects\":%u", res.code,
				       res.reconnects);
		return cli_report_error(cli, r, "dfota send");
	}
	const char *text = mfw_fota_code_text(res.code, &verified);
	if (cli->json) {
		cli_json_event(cli, "dfota-send-end",
			       "\"code\":%d,\"meaning\":%s,\"verified_meaning\":%s,\"size\":%" PRIu64
			       ",\"checksum\":\"%04x\",\"reconnects\":%u,\"malformed\":%u,"
			       "\"firmware_before\":%s,\"firmware_after\":%s",
			       res.code, cli_json_str(esc, sizeof(esc), text), verified ? "true" : "false",
			       res.size, res.checksum, res.reconnects, res.malformed,
			       cli_json_str(e2, sizeof(e2), res.firmware_before),
			       cli_json_str(e3, sizeof(e3), res.firmware_after));
	} else {
		printf("result %d: %s%s\n", res.code, text, verified ? "" : " [meaning unverified]");
		printf("firmware: %s -> %s\n", res.firmware_before, res.firmware_after);
		fflush(stdout);
	}
	return exit_for_code(res.code);
bad:
	send_usage(stderr);
	return EXIT_USAGE;
}
