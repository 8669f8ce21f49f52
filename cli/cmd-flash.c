/* SPDX-License-Identifier: BSD-3-Clause */
#include "cli.h"
#include "port.h"

#include <modemfw/device.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ALLOW 16

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw flash PACKAGE [-p PORT] [options]\n"
		"\n"
		"Flash a firmware package (a directory or a .zip) into a module in EDL mode.\n"
		"md5.txt and the manifests are checked before the device is touched.\n"
		"\n"
		"  -p, --port PORT         auto (default: the only module; one in normal mode is switched\n"
		"                          to EDL over DIAG), usb:PATH, /dev/ttyUSBn, /dev/wwan0.., tcp:HOST:PORT,\n"
		"                          unix:PATH, emu (in-process virtual modem: dry run), or\n"
		"                          diag:SPEC (a DIAG port sysfs cannot see, e.g. a virtual modem in\n"
		"                          normal mode: switched to EDL first)\n"
		"      --edl-port SPEC     with diag:SPEC, where the module comes back in EDL (default: SPEC)\n"
		"      --factory           use the *_factory.xml manifest instead of *_update.xml\n"
		"      --manifest FILE     use this rawprogram XML\n"
		"      --order safe|document\n"
		"                          NAND: safe = every erase, then programs, SBL last (default)\n"
		"      --verify auto|digest|readback|none\n"
		"      --allow-protected LABEL\n"
		"                          allow writing a protected partition (efs2, modemst1, ...)\n"
		"      --no-md5            do not check md5.txt\n"
		"      --no-reset          leave the programmer running\n"
		"      --max-payload N     configure proposal in bytes (default 1 MiB)\n"
		"      --stall-timeout S   seconds without progress that end a transfer (default 20)\n"
		"      --restart           ignore the journal of an interrupted run; skip nothing\n"
		"      --journal-dir DIR   where journals live (default $XDG_STATE_HOME/modemfw/flash)\n"
		"      --no-reconnect      do not wait for a disconnected device to come back\n"
		"      --no-backup         do not back up efs2/modemst*/fsg/fsc/persist first (not recommended)\n"
		"      --backup-dir DIR    where backups go (default $XDG_DATA_HOME/modemfw/backups)\n"
		"\n"
		"Exit codes: see docs/cli.md.\n");
}

static int parse_verify(const char *s, enum mfw_verify_mode *out)
{
	static const char *const names[] = { "auto", "digest", "readback", "none" };
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum mfw_verify_mode)i;
			return 0;
		}
	return -1;
}

static void print_summary(struct cli *cli, const char *package, const char *port,
			  const struct mfw_flash_summary *s)
{
	char b[32], j1[1024], j2[256], j3[600], j4[1100];
	if (cli->json) {
		cli_json_event(cli, "summary",
			       "\"package\":%s,\"port\":%s,\"storage\":\"%s\",\"manifest\":%s,"
			       "\"programs\":%u,\"erases\":%u,\"patches\":%u,\"skipped\":%u,"
			       "\"bytes\":%llu,\"verified\":%u,\"verify\":\"%s\",\"seconds\":%.3f,"
			       "\"programmer_uploaded\":%s,\"units\":%u,\"units_skipped\":%u,"
			       "\"recoveries\":%u,\"device\":\"%s\",\"backup\":%s",
			       cli_json_str(j1, sizeof(j1), package), cli_json_str(j2, sizeof(j2), port),
			       s->storage, cli_json_str(j3, sizeof(j3), s->manifest_note), s->programs,
			       s->erases, s->patches, s->skipped, (unsigned long long)s->bytes,
			       s->verified, s->verify_method ? s->verify_method : "none", s->seconds,
			       s->programmer_uploaded ? "true" : "false", s->units, s->units_skipped,
			       s->recoveries, s->device_key, cli_json_str(j4, sizeof(j4), s->backup));
		return;
	}
	printf("flashed %s into %s (%s)\n", package, port, s->storage);
	printf("  %u programs (%s), %u erases, %u patches, %u elements without a file skipped\n",
	       s->programs, cli_bytes(b, sizeof(b), (double)s->bytes), s->erases, s->patches,
	       s->skipped);
	if (s->verified)
		printf("  verified: %u ranges by %s\n", s->verified,
		       !strcmp(s->verify_method, "digest") ? "device SHA-256 digest" : "read-back");
	else if (s->programs)
		printf("  verified: no (--verify none)\n");
	if (s->units_skipped)
		printf("  skipped: %u of %u partitions proven unchanged or done in an earlier run\n",
		       s->units_skipped, s->units);
	if (s->recoveries)
		printf("  recovered from %u disconnect%s\n", s->recoveries, s->recoveries > 1 ? "s" : "");
	if (s->backup[0])
		printf("  backup: %s\n", s->backup);
	if (s->journal[0])
		printf("  journal: %s\n", s->journal);
	printf("  device time: %.1f s (%s/s)\n", s->seconds,
	       cli_bytes(b, sizeof(b), s->seconds > 0 ? (double)s->bytes / s->seconds : 0));
}

/*
 * Get the module into EDL. A module sysfs knows (auto, usb:PATH, any of its
 * ports) and that runs normally is switched over DIAG and waited for;
 * ModemManager stays inhibited until the flash ends (guard). "diag:SPEC"
 * names a DIAG port sysfs cannot see (a virtual modem in normal mode, a
 * remote bridge): it is switched, and the module is expected back at
 * --edl-port (default: the same address, as a USB module re-enumerates).
 */
static int reach_edl(struct cli *cli, const char *spec, const char *edl_port, char *out,
		     size_t cap, struct mfw_device_guard **guard)
{
	struct mfw_device_opts dopts;
	int r;

	if (!strcmp(spec, "emu")) {
		snprintf(out, cap, "%s", spec);
		return 0;
	}
	cli_device_opts(cli, &dopts, NULL, NULL, false);
	if (!strncmp(spec, "diag:", 5)) {
		r = mfw_device_switch_edl(cli->ctx, &dopts, spec + 5, out, cap, guard);
		if (r < 0)
			return r;
		if (!out[0])
			snprintf(out, cap, "%s", edl_port ? edl_port : spec + 5);
		return 0;
	}
	return mfw_device_ensure_edl(cli->ctx, &dopts, spec, out, cap, guard);
}

/* Open the EDL port; right after a switch the module needs a moment to come back. */
static int open_edl(struct cli *cli, const char *spec, bool nand, struct cli_port *port)
{
	int64_t deadline = mfw_now_ms() + CLI_RECONNECT_WAIT_MS;
	for (;;) {
		int r = cli_port_open(cli, spec, nand, port);
		if (r == 0 || r != MFW_E_NODEV || mfw_now_ms() >= deadline ||
		    !strcmp(spec, "emu") || mfw_ctx_cancel_count(cli->ctx))
			return r;
		struct timespec ts = { 0, 250 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
}

int cmd_flash(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "factory", no_argument, NULL, 'F' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "order", required_argument, NULL, 'o' },
		{ "verify", required_argument, NULL, 'V' },
		{ "allow-protected", required_argument, NULL, 'A' },
		{ "no-md5", no_argument, NULL, 'N' },
		{ "no-reset", no_argument, NULL, 'R' },
		{ "max-payload", required_argument, NULL, 'P' },
		{ "stall-timeout", required_argument, NULL, 'S' },
		{ "restart", no_argument, NULL, 'r' },
		{ "journal-dir", required_argument, NULL, 'J' },
		{ "no-reconnect", no_argument, NULL, 'n' },
		{ "no-backup", no_argument, NULL, 'B' },
		{ "edl-port", required_argument, NULL, 'E' },
		{ "backup-dir", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *allow[MAX_ALLOW];
	struct mfw_flash_opts o = { 0 };
	struct mfw_flash_summary sum;
	struct mfw_package_info info;
	struct cli_port port;
	const char *spec = "auto";
	const char *journal_dir = NULL;
	char default_journal[1024];
	bool reconnect = true, backup = true;
	const char *backup_dir = NULL, *edl_port = NULL;
	struct mfw_device_guard *guard = NULL;
	char edl_spec[256];
	char default_backup[1024];
	int c, r;

	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			spec = optarg;
			break;
		case 'F':
			o.pick = MFW_FLASH_PICK_FACTORY;
			break;
		case 'm':
			o.pick = MFW_FLASH_PICK_FILE;
			o.rawprogram = optarg;
			break;
		case 'o':
			if (!strcmp(optarg, "safe"))
				o.order = MFW_FLASH_ORDER_SAFE;
			else if (!strcmp(optarg, "document"))
				o.order = MFW_FLASH_ORDER_DOCUMENT;
			else {
				fprintf(stderr, "modemfw flash: --order is safe or document\n");
				return EXIT_USAGE;
			}
			break;
		case 'V':
			if (parse_verify(optarg, &o.verify) < 0) {
				fprintf(stderr, "modemfw flash: --verify is auto, digest, readback or none\n");
				return EXIT_USAGE;
			}
			break;
		case 'A':
			if (o.n_allow_protected == MAX_ALLOW) {
				fprintf(stderr, "modemfw flash: too many --allow-protected\n");
				return EXIT_USAGE;
			}
			allow[o.n_allow_protected++] = optarg;
			o.allow_protected = allow;
			break;
		case 'N':
			o.skip_md5 = true;
			break;
		case 'R':
			o.no_reset = true;
			break;
		case 'P':
			o.max_payload = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			o.stall_ms = atoi(optarg) * 1000;
			if (o.stall_ms <= 0) {
				fprintf(stderr, "modemfw flash: --stall-timeout needs seconds > 0\n");
				return EXIT_USAGE;
			}
			break;
		case 'r':
			o.restart = true;
			break;
		case 'J':
			journal_dir = optarg;
			break;
		case 'n':
			reconnect = false;
			break;
		case 'B':
			backup = false;
			break;
		case 'D':
			backup_dir = optarg;
			break;
		case 'E':
			edl_port = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	o.package = argv[optind];
	if (!journal_dir) {
		/* XDG base directory spec: state that should survive a reboot */
		const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
		if (xdg && xdg[0] == '/')
			snprintf(default_journal, sizeof(default_journal), "%s/modemfw/flash", xdg);
		else
			snprintf(default_journal, sizeof(default_journal), "%s/.local/state/modemfw/flash",
				 home && home[0] ? home : "/tmp");
		journal_dir = default_journal;
	}
	o.journal_dir = journal_dir;
	if (!backup_dir) {
		const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
		if (xdg && xdg[0] == '/')
			snprintf(default_backup, sizeof(default_backup), "%s/modemfw/backups", xdg);
		else
			snprintf(default_backup, sizeof(default_backup), "%s/.local/share/modemfw/backups",
				 home && home[0] ? home : "/tmp");
		backup_dir = default_backup;
	}
	/*
	 * --no-backup skips making one; --allow-protected still looks for an
	 * earlier verified backup there.
	 */
	o.backup_dir = backup_dir;
	o.no_backup = !backup;
	if (!backup)
		fprintf(stderr, "warning: --no-backup: the module's identity and calibration "
				"partitions will not be backed up before flashing\n");

	r = mfw_package_probe(cli->ctx, o.package, o.pick, o.rawprogram, &info);
	if (r < 0)
		return cli_report_error(cli, r, "package");
	r = reach_edl(cli, spec, edl_port, edl_spec, sizeof(edl_spec), &guard);
	if (r < 0)
		return cli_report_error(cli, r, spec);
	r = open_edl(cli, edl_spec, info.nand, &port);
	if (r < 0) {
		mfw_device_release(guard);
		return cli_report_error(cli, r, edl_spec);
	}
	if (reconnect) {
		o.reconnect = cli_port_reconnect;
		o.reconnect_user = &port;
	}
	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_flash(cli->ctx, port.t, &o, &sum);
	cli_progress_end(cli);
	if (r < 0) {
		c = cli_report_error(cli, r, "flash");
		cli_port_close(&port);
		mfw_device_release(guard);
		return c;
	}
	print_summary(cli, o.package, port.name, &sum);
	cli_port_close(&port);
	mfw_device_release(guard);
	return 0;
}
