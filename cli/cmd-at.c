/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw at: send AT commands to a module's AT port and print the
 * answers; also the normal-mode half of 'modemfw info' (ATI, AT+QGMR,
 * AT+GSN).
 */
#include "cli.h"

#include <modemfw/at.h>
#include <modemfw/device.h>
#include <modemfw/transport.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct at_port {
	struct mfw_transport *t;
	struct mfw_at *at;
	struct mfw_device_guard *guard;
	char spec[256];
	char label[400];
};

static void on_urc(void *user, const char *line)
{
	struct cli *cli = user;
	char buf[1024];

	if (cli->json)
		cli_json_event(cli, "urc", "\"line\":%s", cli_json_str(buf, sizeof(buf), line));
	else if (!cli->quiet)
		fprintf(stderr, "urc: %s\n", line);
}

/*
 * Resolve spec (auto = the AT port of the only module in normal mode),
 * hold ModemManager off the module sysfs says owns it, open the port.
 */
static int at_port_open(struct cli *cli, const struct mfw_device_opts *o, const char *spec,
			struct at_port *ap)
{
	struct mfw_modem *m;
	int port, r;

	memset(ap, 0, sizeof(*ap));
	if (!spec || !strcmp(spec, "auto")) {
		r = mfw_discover_pick(cli->ctx, o, MFW_ROLE_AT, ap->spec, sizeof(ap->spec));
		if (r < 0)
			return r;
	} else if (!strcmp(spec, "emu")) {
		fprintf(stderr, "modemfw: the in-process virtual modem has no AT port; give -p with the "
				"AT port of a module (e.g. /dev/ttyUSB2)\n");
		return EXIT_USAGE;
	} else {
		snprintf(ap->spec, sizeof(ap->spec), "%s", spec);
	}
	snprintf(ap->label, sizeof(ap->label), "%s", ap->spec);
	m = malloc(sizeof(*m));
	if (!m)
		return MFW_E_NOMEM;
	if (mfw_discover_find(cli->ctx, o, ap->spec, m, &port) == 0) {
		const struct mfw_modem_port *at = mfw_modem_port(m, MFW_ROLE_AT);

		if (port >= 0 && m->ports[port].role != MFW_ROLE_AT &&
		    m->ports[port].role != MFW_ROLE_MODEM && at && at->dev[0]) {
			/* -p named the DIAG or NMEA node: AT would garble it and get no answer */
			if (!cli->json)
				fprintf(stderr, "modemfw: %s is the %s port of %s; using its AT port %s\n",
					ap->spec, mfw_port_role_name(m->ports[port].role), m->path,
					at->dev);
			snprintf(ap->spec, sizeof(ap->spec), "%s", at->dev);
		}
		snprintf(ap->label, sizeof(ap->label), "%s (%s at %s)", ap->spec, m->model, m->path);
		r = mfw_device_prepare(cli->ctx, o, m, &ap->guard);
		if (r < 0) {
			free(m);
			return r;
		}
	}
	mfw_ctx_clear_detail(cli->ctx);
	free(m);
	r = mfw_transport_open(cli->ctx, ap->spec, &ap->t);
	if (r == 0)
		r = mfw_at_open(cli->ctx, ap->t, &ap->at);
	if (r == 0)
		mfw_at_set_urc(ap->at, on_urc, cli);
	return r;
}

static void at_port_close(struct at_port *ap)
{
	if (ap->at)
		mfw_at_close(ap->at);
	if (ap->t)
		mfw_transport_close(ap->t);
	/* last: ModemManager gets the module back only once our port is closed */
	mfw_device_release(ap->guard);
	memset(ap, 0, sizeof(*ap));
}

static void print_resp(struct cli *cli, const char *cmd, const struct mfw_at_resp *rsp)
{
	char a[1024], b[1024];

	if (!cli->json) {
		for (size_t i = 0; i < rsp->n_lines; i++)
			printf("%s\n", rsp->lines[i]);
		if (rsp->dropped)
			printf("(%zu more lines dropped)\n", rsp->dropped);
		printf("%s\n", rsp->final_line[0] ? rsp->final_line : "(no final result)");
		return;
	}
	char *lines = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&lines, &len);

	if (!f)
		return;
	for (size_t i = 0; i < rsp->n_lines; i++)
		fprintf(f, "%s%s", i ? "," : "", cli_json_str(a, sizeof(a), rsp->lines[i]));
	fclose(f);
	printf("{\"event\":\"at\",\"cmd\":%s,\"lines\":[%s],\"final\":%s,\"code\":%d}\n",
	       cli_json_str(a, sizeof(a), cmd), lines ? lines : "",
	       cli_json_str(b, sizeof(b), rsp->final_line), rsp->code);
	fflush(stdout);
	free(lines);
}

int cmd_at(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "dev", required_argument, NULL, 'd' },
		{ "no-inhibit", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *spec = "auto", *root = NULL, *dev = NULL;
	struct mfw_device_opts o;
	bool no_inhibit = false;
	struct at_port ap;
	int c, r, timeout_ms = 0;

	/* '+': options end at the first COMMAND, which is sent as given */
	while ((c = getopt_long(argc, argv, "+p:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			spec = optarg;
			continue;
		case 't':
			timeout_ms = atoi(optarg) * 1000;
			if (timeout_ms > 0)
				continue;
			fprintf(stderr, "modemfw: --timeout wants seconds > 0\n");
			return EXIT_USAGE;
		case 's':
			root = optarg;
			continue;
		case 'd':
			dev = optarg;
			continue;
		case 'n':
			no_inhibit = true;
			continue;
		}
		fprintf(c == 'h' ? stdout : stderr,
			"usage: modemfw at [-p PORT] [-t SECONDS] [--no-inhibit] COMMAND...\n\n"
			"Send each COMMAND (e.g. ATI 'AT+QGMR' AT+GSN) to the module's AT port, one at\n"
			"a time, and print the answer lines and the final result. Unsolicited result\n"
			"codes (+QIND:, RDY, ...) go to stderr. PORT defaults to the AT port of the\n"
			"only module in normal mode; ModemManager is inhibited meanwhile. Default\n"
			"timeout %d s per command.\n",
			MFW_AT_TIMEOUT_MS / 1000);
		return c == 'h' ? 0 : EXIT_USAGE;
	}
	if (optind >= argc) {
		fprintf(stderr, "modemfw: at needs at least one COMMAND (e.g. ATI)\n");
		return EXIT_USAGE;
	}
	cli_device_opts(cli, &o, root, dev, no_inhibit);
	r = at_port_open(cli, &o, spec, &ap);
	if (r > 0)
		return r;
	if (r < 0) {
		at_port_close(&ap);
		return cli_report_error(cli, r, spec);
	}
	for (int i = optind; i < argc; i++) {
		const struct mfw_at_resp *rsp;

		r = mfw_at_cmd(ap.at, argv[i], timeout_ms, &rsp);
		if (r == 0 || r == MFW_E_NAK)
			print_resp(cli, argv[i], rsp);
		if (r < 0)
			break;
	}
	if (r < 0) {
		/* the detail sentence names the command and the final result */
		r = cli_report_error(cli, r, ap.label);
		at_port_close(&ap);
		return r;
	}
	at_port_close(&ap);
	return 0;
}

/* -1: not a module in normal mode (info takes its EDL path); else the exit code. */
int cli_info_normal(struct cli *cli, const char *spec)
{
	struct mfw_device_opts o;
	struct mfw_at_ident id;
	struct mfw_modem *v;
	struct at_port ap;
	char at_spec[256] = "";
	size_t n, edl = 0, normal = 0;
	int r;

	cli_device_opts(cli, &o, NULL, NULL, false);
	if (!spec || !strcmp(spec, "auto")) {
		if (mfw_discover(cli->ctx, &o, &v, &n) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			edl += v[i].mode == MFW_MODE_EDL;
			normal += v[i].mode == MFW_MODE_NORMAL && mfw_modem_port(&v[i], MFW_ROLE_AT);
		}
		mfw_modems_free(v);
		if (edl || !normal)
			return -1;
		snprintf(at_spec, sizeof(at_spec), "auto");
	} else if (spec[0] == '/') {
		struct mfw_modem *m = malloc(sizeof(*m));
		const struct mfw_modem_port *p;
		int port;

		if (!m)
			return -1;
		if (mfw_discover_find(cli->ctx, &o, spec, m, &port) == 0 && m->mode == MFW_MODE_NORMAL &&
		    (p = mfw_modem_port(m, MFW_ROLE_AT)) && p->dev[0])
			/* the DIAG or NMEA node of a running module: ask its AT port */
			snprintf(at_spec, sizeof(at_spec), "%s",
				 m->ports[port].role == MFW_ROLE_MODEM ? spec : p->dev);
		free(m);
		mfw_ctx_clear_detail(cli->ctx);
		if (!at_spec[0])
			return -1;
	} else {
		return -1;
	}
	r = at_port_open(cli, &o, at_spec, &ap);
	if (r > 0)
		return r;
	if (r == 0)
		r = mfw_at_identify(ap.at, &id);
	if (r < 0) {
		r = cli_report_error(cli, r, ap.label[0] ? ap.label : at_spec);
		at_port_close(&ap);
		return r;
	}
	if (cli->json) {
		char a[128], b[128], c2[256], d[256], e[64], f[256];

		cli_json_event(cli, "info",
			       "\"mode\":\"normal\",\"port\":%s,\"manufacturer\":%s,\"model\":%s,"
			       "\"revision\":%s,\"firmware\":%s,\"firmware_complete\":%s,\"imei\":%s",
			       cli_json_str(f, sizeof(f), ap.spec),
			       cli_json_str(a, sizeof(a), id.manufacturer),
			       cli_json_str(b, sizeof(b), id.model),
			       cli_json_str(c2, sizeof(c2), id.revision),
			       cli_json_str(d, sizeof(d), id.firmware),
			       id.firmware_complete ? "true" : "false",
			       cli_json_str(e, sizeof(e), id.imei));
	} else {
		printf("mode:     normal (AT port %s)\n", ap.label);
		printf("model:    %s%s%s\n", id.manufacturer, id.manufacturer[0] ? " " : "",
		       id.model[0] ? id.model : "(not answered)");
		if (id.revision[0])
			printf("revision: %s\n", id.revision);
		printf("firmware: %s%s\n", id.firmware[0] ? id.firmware : "(not answered)",
		       id.firmware[0] && !id.firmware_complete ? " (incomplete answer)" : "");
		printf("imei:     %s\n", id.imei[0] ? id.imei : "(not answered)");
	}
	at_port_close(&ap);
	return 0;
}
