/* SPDX-License-Identifier: BSD-3-Clause */
/* modemfw devices: the modules sysfs shows, their mode, ports by role and conflicts. */
#include "cli.h"

#include <modemfw/at.h>
#include <modemfw/device.h>
#include <modemfw/transport.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

void cli_device_opts(struct cli *cli, struct mfw_device_opts *o, const char *root,
		     const char *dev_dir, bool no_inhibit)
{
	(void)cli;
	memset(o, 0, sizeof(*o));
	o->root = root;
	o->dev_dir = dev_dir;
	o->no_inhibit = no_inhibit;
	/* the library reads no environment: the tool hands it the bus a test (or a user) chose */
	o->dbus_address = getenv("DBUS_SYSTEM_BUS_ADDRESS");
}

/*
 * --probe: ask a module in normal mode who it is over its AT port (ATI,
 * AT+QGMR, AT+GSN), with ModemManager inhibited meanwhile. Opt-in: a
 * listing should not open ports unless asked. Failures are noted, not fatal.
 */
static void probe(struct cli *cli, const struct mfw_device_opts *o, const struct mfw_modem *m,
		  struct mfw_at_ident *id)
{
	const struct mfw_modem_port *p = mfw_modem_port(m, MFW_ROLE_AT);
	struct mfw_device_guard *g = NULL;
	struct mfw_transport *t = NULL;
	struct mfw_at *at = NULL;
	int r;

	memset(id, 0, sizeof(*id));
	if (m->mode != MFW_MODE_NORMAL || !p || !p->dev[0])
		return;
	r = mfw_device_prepare(cli->ctx, o, m, &g);
	if (r == 0)
		r = mfw_transport_open(cli->ctx, p->dev, &t);
	if (r == 0)
		r = mfw_at_open(cli->ctx, t, &at);
	if (r == 0)
		r = mfw_at_identify(at, id);
	if (r < 0 && !cli->json)
		fprintf(stderr, "modemfw: %s: cannot read its identity on %s: %s\n", m->path, p->dev,
			mfw_ctx_detail(cli->ctx)[0] ? mfw_ctx_detail(cli->ctx) : mfw_strerror(r));
	mfw_ctx_clear_detail(cli->ctx);
	if (at)
		mfw_at_close(at);
	if (t)
		mfw_transport_close(t);
	mfw_device_release(g);
}

static void json_str(FILE *f, const char *s)
{
	char buf[1024];

	fputs(cli_json_str(buf, sizeof(buf), s), f);
}

static void print_json(const struct mfw_modem *m, const struct mfw_at_ident *id)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (!f)
		return;
	fprintf(f, "{\"event\":\"modem\",\"bus\":\"%s\",\"path\":", m->bus == MFW_BUS_USB ? "usb" : "pcie");
	json_str(f, m->path);
	fputs(",\"syspath\":", f);
	json_str(f, m->syspath);
	fprintf(f, ",\"vid\":\"%04x\",\"pid\":\"%04x\",\"model\":", m->vid, m->pid);
	json_str(f, m->model);
	fputs(",\"chip\":", f);
	json_str(f, m->chip);
	fprintf(f, ",\"platform\":\"%s\",\"known\":%s,\"flashable\":%s,\"mode\":\"%s\",\"serial\":",
		m->platform, m->known ? "true" : "false", m->flashable ? "true" : "false",
		mfw_modem_mode_name(m->mode));
	json_str(f, m->serial);
	fprintf(f, ",\"speed_mbps\":%d,\"power_control\":", m->speed_mbps);
	json_str(f, m->power_control);
	fputs(",\"driver\":", f);
	json_str(f, m->driver);
	fputs(",\"ports\":[", f);
	for (size_t i = 0; i < m->n_ports; i++) {
		const struct mfw_modem_port *p = &m->ports[i];

		fprintf(f, "%s{\"role\":\"%s\",\"interface\":%d,\"name\":", i ? "," : "",
			mfw_port_role_name(p->role), p->interface);
		json_str(f, p->name);
		fputs(",\"dev\":", f);
		json_str(f, p->dev);
		fputs(",\"driver\":", f);
		json_str(f, p->driver);
		fputs(",\"class\":", f);
		json_str(f, p->usb_class);
		fprintf(f, ",\"net\":%s}", p->net ? "true" : "false");
	}
	fputs("],\"conflicts\":[", f);
	for (size_t i = 0; i < m->n_conflicts; i++) {
		const struct mfw_modem_conflict *c = &m->conflicts[i];

		fprintf(f, "%s{\"kind\":\"%s\",\"port\":", i ? "," : "", mfw_conflict_kind_name(c->kind));
		json_str(f, c->port);
		fprintf(f, ",\"pid\":%ld,\"message\":", c->pid);
		json_str(f, c->what);
		fputs("}", f);
	}
	fputs("]", f);
	if (id && id->model[0]) {
		fputs(",\"identity\":{\"manufacturer\":", f);
		json_str(f, id->manufacturer);
		fputs(",\"model\":", f);
		json_str(f, id->model);
		fputs(",\"revision\":", f);
		json_str(f, id->revision);
		fputs(",\"firmware\":", f);
		json_str(f, id->firmware);
		fputs(",\"imei\":", f);
		json_str(f, id->imei);
		fputs("}", f);
	}
	fputs("}", f);
	fclose(f);
	puts(line);
	free(line);
}

static void print_human(const struct mfw_modem *m, const struct mfw_at_ident *id)
{
	printf("%s  %04x:%04x  %s", m->path, m->vid, m->pid, m->model[0] ? m->model : "(unknown)");
	if (m->chip[0])
		printf(" (%s)", m->chip);
	printf("  %s mode", mfw_modem_mode_name(m->mode));
	if (m->speed_mbps)
		printf(", %d Mb/s", m->speed_mbps);
	if (m->bus == MFW_BUS_PCIE)
		printf(", PCIe (%s)", m->driver[0] ? m->driver : "no driver");
	putchar('\n');
	if (id && id->model[0])
		printf("    identity: %s %s, firmware %s, IMEI %s\n", id->manufacturer, id->model,
		       id->firmware[0] ? id->firmware : id->revision[0] ? id->revision : "?",
		       id->imei[0] ? id->imei : "?");
	for (size_t i = 0; i < m->n_ports; i++) {
		const struct mfw_modem_port *p = &m->ports[i];
		char ifn[16] = "";

		if (p->interface >= 0)
			snprintf(ifn, sizeof(ifn), "if%d", p->interface);
		printf("    %-9s %-18s %-5s %-9s %s\n", mfw_port_role_name(p->role),
		       p->dev[0] ? p->dev : p->name[0] ? p->name : "-", ifn,
		       p->usb_class[0] ? p->usb_class : "", p->driver[0] ? p->driver : "(no driver)");
	}
	for (size_t i = 0; i < m->n_conflicts; i++)
		printf("  ! %s\n", m->conflicts[i].what);
}

int cmd_devices(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "sysfs", required_argument, NULL, 's' },
		{ "dev", required_argument, NULL, 'd' },
		{ "probe", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_device_opts o;
	bool do_probe = false;
	const char *root = NULL, *dev = NULL;
	struct mfw_modem *v;
	size_t n;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'j') {
			cli->json = true;
		} else if (c == 's') {
			root = optarg;
		} else if (c == 'd') {
			dev = optarg;
		} else if (c == 'P') {
			do_probe = true;
		} else {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: modemfw devices [--json] [--probe] [--sysfs ROOT] [--dev DIR]\n\n"
				"List the cellular modules sysfs shows (USB and PCIe): USB path, VID:PID,\n"
				"model, mode (normal, edl, dump, fastboot), ports by role with their\n"
				"drivers, and what stands in the way (ModemManager, drivers, autosuspend,\n"
				"ports held by other programs). --sysfs reads a recorded tree (ROOT/sys,\n"
				"ROOT/proc) instead of this machine; --dev replaces /dev in node names.\n"
				"--probe also asks each module in normal mode for its model, firmware\n"
				"and IMEI over its AT port (ModemManager is inhibited meanwhile).\n");
			return c == 'h' ? 0 : EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "modemfw: devices takes no arguments\n");
		return EXIT_USAGE;
	}
	cli_device_opts(cli, &o, root, dev, false);
	r = mfw_discover(cli->ctx, &o, &v, &n);
	if (r < 0)
		return cli_report_error(cli, r, "devices");
	for (size_t i = 0; i < n; i++) {
		struct mfw_at_ident id;

		if (do_probe)
			probe(cli, &o, &v[i], &id);
		if (cli->json)
			print_json(&v[i], do_probe ? &id : NULL);
		else
			print_human(&v[i], do_probe ? &id : NULL);
	}
	if (cli->json)
		cli_json_event(cli, "devices", "\"count\":%zu%s", n,
			       n ? "" : ",\"message\":\"no modem found\"");
	else if (n == 0)
		printf("no modem found (looked at USB and PCIe devices in %s/sys)\n", root ? root : "");
	mfw_modems_free(v);
	return 0;
}

/* ---- modemfw edl: -p auto, ModemManager held off, a bounded wait for 9008 ---- */

struct cli_edl_watch {
	struct mfw_device_opts o;
	struct mfw_modem was;
	struct mfw_modem *before;
	size_t n_before;
	struct mfw_device_guard *guard;
	char spec[128];
};

int cli_edl_watch_begin(struct cli *cli, const char **spec, struct cli_edl_watch **ret)
{
	struct cli_edl_watch *w;
	int port, r;

	*ret = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return MFW_E_NOMEM;
	cli_device_opts(cli, &w->o, NULL, NULL, false);
	if (!*spec || !strcmp(*spec, "auto")) {
		/* the DIAG port of the only running module */
		r = mfw_discover_pick(cli->ctx, &w->o, MFW_ROLE_DIAG, w->spec, sizeof(w->spec));
		if (r < 0) {
			free(w);
			return r;
		}
		*spec = w->spec;
	}
	if (mfw_discover_find(cli->ctx, &w->o, *spec, &w->was, &port) < 0 ||
	    w->was.mode != MFW_MODE_NORMAL) {
		/* tcp:, a pty, a module in another mode: nothing to watch in sysfs */
		mfw_ctx_clear_detail(cli->ctx);
		if (w->was.mode == MFW_MODE_EDL && !cli->json)
			fprintf(stderr, "modemfw: %s belongs to a module already in EDL (%04x:%04x at %s)\n",
				*spec, w->was.vid, w->was.pid, w->was.path);
		w->was.mode = MFW_MODE_UNKNOWN;
		*ret = w; /* *spec may point into it */
		return 0;
	}
	/* EDL devices already present are not the one we will wait for */
	r = mfw_discover(cli->ctx, &w->o, &w->before, &w->n_before);
	if (r == 0)
		r = mfw_device_prepare(cli->ctx, &w->o, &w->was, &w->guard);
	if (r < 0) {
		mfw_modems_free(w->before);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int cli_edl_watch_end(struct cli *cli, struct cli_edl_watch *w, int result)
{
	char spec[128];

	if (!w)
		return result;
	if (result == 0 && w->was.mode == MFW_MODE_NORMAL) {
		result = mfw_discover_wait_edl(cli->ctx, &w->o, &w->was, w->before, w->n_before,
					       mfw_deadline_in(MFW_EDL_APPEAR_TIMEOUT_MS), spec,
					       sizeof(spec));
		if (result == 0 && cli->json)
			cli_json_event(cli, "edl_device", "\"spec\":\"%s\"", spec);
		else if (result == 0)
			printf("EDL device: %s (use -p %s, or -p auto)\n", spec, spec);
	}
	mfw_device_release(w->guard);
	mfw_modems_free(w->before);
	free(w);
	return result;
}
