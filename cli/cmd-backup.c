/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw backup: keep the unit's identity and calibration before anything
 * destructive: --diag (NV items + EFS2 tree over the DIAG port), or by
 * default over EDL (raw efs2/modemst/fsg/fsc/persist partitions and the
 * partition table over Firehose, each read proven by the device's digest)
 * and gets its own branch in cmd_backup().
 */
#include "cli.h"
#include "port.h"

#include <modemfw/diag.h>
#include <modemfw/backup.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void backup_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw backup -p PORT [-o DIR] [--package PKG | --programmer FILE]\n"
		"       modemfw backup --diag -p PORT [-o DIR] [options]\n\n"
		"EDL (default): reads the protected partitions that exist (efs2, modemst1,\n"
		"modemst2, fsg, fsc, persist) and the partition table, proves every read by the\n"
		"device's SHA-256 digest (or a second read), and writes images + manifest.txt/json.\n"
		"The device needs a Firehose programmer: --package PKG (its programmer) or\n"
		"--programmer FILE, unless one is already running.\n\n"
		"Back up the unit's identity and calibration: every readable numbered NV item\n"
		"(IMEI decoded and checked) and the EFS2 file tree, read over the DIAG port.\n"
		"DIR gets manifest.json (sha256 of every file), nv/, efs/ and backup.xqcn\n"
		"(QPST's XML format: QPST and qfenix can restore it, 'modemfw restore' takes\n"
		"QPST's xQCN files too).\n\n"
		"options:\n"
		"      --diag               back up over DIAG instead of EDL\n"
		"      --no-reset           EDL: leave the programmer running afterwards\n"
		"      --package PKG        EDL: take the Firehose programmer from this package\n"
		"      --programmer FILE    EDL: this Firehose programmer\n"
		"      --storage nand|emmc  EDL: storage type (default: the package's, else the device's)\n"
		"  -p, --port PORT          the DIAG port: /dev/ttyUSBn, /dev/wwan0qcdm0, tcp:HOST:PORT\n"
		"  -o, --output DIR         new or empty directory (default backup-diag-<date>)\n"
		"      --nv-range A-B       NV items to scan (default 0-%u)\n"
		"      --sim1               also read subscription index 1 of every item found\n"
		"      --no-efs             NV items only\n"
		"      --efs-root PATH      walk EFS2 from PATH (default /)\n"
		"      --efs-max-file BYTES skip EFS files larger than this (default 4 MiB)\n"
		"      --timeout MS         per-answer deadline (default 5000)\n",
		MFW_DIAG_NV_SCAN_DEFAULT);
}

static int backup_diag(struct cli *cli, const char *spec, struct mfw_diag_backup_opts *opts)
{
	struct mfw_diag_backup_summary s;
	struct cli_port port;
	char b1[32], j1[1100];
	int r = cli_diag_port_open(cli, spec, &port);

	if (r > 0)
		return r;
	if (r < 0)
		return cli_report_error(cli, r, spec);
	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_diag_backup_run(cli->ctx, port.t, opts, &s);
	cli_progress_end(cli);
	cli_port_close(&port);
	if (r < 0)
		return cli_report_error(cli, r, "backup");
	if (cli->json) {
		cli_json_event(cli, "backup",
			       "\"dir\":%s,\"imei\":\"%s\",\"imei2\":\"%s\",\"nv_items\":%u,"
			       "\"nv_scanned\":%u,\"efs_files\":%u,\"efs_dirs\":%u,\"efs_skipped\":%u,"
			       "\"efs_bytes\":%" PRIu64 ",\"efs_unavailable\":%s%s%s%s",
			       cli_json_str(j1, sizeof(j1), opts->dir), s.imei, s.imei2, s.nv_items,
			       s.nv_scanned, s.efs_files, s.efs_dirs, s.efs_skipped, s.efs_bytes,
			       s.efs_unavailable ? "true" : "false",
			       s.imei_note ? ",\"imei_note\":\"" : "", s.imei_note ? s.imei_note : "",
			       s.imei_note ? "\"" : "");
		return 0;
	}
	printf("backup of %s (%s %s) in %s\n", s.version.ver_dir, s.version.rel_date,
	       s.version.rel_time, opts->dir);
	printf("  IMEI:      %s%s%s\n", s.imei[0] ? s.imei : "(none)", s.imei2[0] ? ", second " : "",
	       s.imei2);
	printf("  NV items:  %u of %u scanned\n", s.nv_items, s.nv_scanned);
	if (s.efs_unavailable)
		printf("  EFS2:      not reachable over DIAG on this firmware (NV items only)\n");
	else if (!opts->no_efs)
		printf("  EFS2:      %u files (%s) in %u directories, %u skipped\n", s.efs_files,
		       cli_bytes(b1, sizeof(b1), (double)s.efs_bytes), s.efs_dirs, s.efs_skipped);
	printf("  manifest:  %s (every file verified on disk)\n", s.manifest);
	if (s.imei_note)
		fprintf(stderr, "warning: IMEI: %s; keep this backup, but check the unit's label\n",
			s.imei_note);
	return 0;
}

static int backup_edl(struct cli *cli, const char *spec, const char *dir,
		      const struct mfw_edl_prog *prog)
{
	struct mfw_backup_summary s;
	struct cli_port port;
	char defdir[64], b[32], j1[1100], j2[600];
	int r;

	if (!dir) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(defdir, sizeof(defdir), "backup-edl-%Y%m%d-%H%M%S", &tm);
		dir = defdir;
	}
	r = cli_port_open(cli, spec ? spec : "auto",
			  !prog->storage || !strcmp(prog->storage, "nand"), &port);
	if (r < 0)
		return cli_report_error(cli, r, spec ? spec : "auto");
	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_backup_edl(cli->ctx, port.t, prog, dir, &s);
	cli_progress_end(cli);
	cli_port_close(&port);
	if (r < 0)
		return cli_report_error(cli, r, "backup");
	if (cli->json) {
		cli_json_event(cli, "backup", "\"dir\":%s,\"device\":\"%s\",\"partitions\":%u,"
			       "\"bytes\":%llu,\"labels\":%s,\"proven_by\":\"%s\"",
			       cli_json_str(j1, sizeof(j1), s.dir), s.device_key, s.parts,
			       (unsigned long long)s.bytes, cli_json_str(j2, sizeof(j2), s.labels),
			       s.method);
		return 0;
	}
	printf("backed up %s (%s) of device %s into %s\n  every read proven by %s\n", s.labels,
	       cli_bytes(b, sizeof(b), (double)s.bytes), s.device_key, s.dir,
	       !strcmp(s.method, "digest") ? "the device's SHA-256 digest" : "a second read");
	return 0;
}

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	enum { OPT_DIAG = 256, OPT_RANGE, OPT_SIM1, OPT_NO_EFS, OPT_ROOT, OPT_MAXF, OPT_TIMEOUT,
	       OPT_PKG, OPT_PROG, OPT_STORAGE };
	static const struct option longopts[] = {
		{ "diag", no_argument, NULL, OPT_DIAG },
		{ "package", required_argument, NULL, OPT_PKG },
		{ "no-reset", no_argument, NULL, 'R' },
		{ "programmer", required_argument, NULL, OPT_PROG },
		{ "storage", required_argument, NULL, OPT_STORAGE },
		{ "port", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "nv-range", required_argument, NULL, OPT_RANGE },
		{ "sim1", no_argument, NULL, OPT_SIM1 },
		{ "no-efs", no_argument, NULL, OPT_NO_EFS },
		{ "efs-root", required_argument, NULL, OPT_ROOT },
		{ "efs-max-file", required_argument, NULL, OPT_MAXF },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_diag_backup_opts opts = { 0 };
	char defdir[64];
	const char *spec = NULL;
	bool diag = false;
	struct mfw_edl_prog prog = { 0 };
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "p:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DIAG: diag = true; break;
		case OPT_PKG: prog.package = optarg; break;
		case 'R': prog.no_reset = true; break;
		case OPT_PROG: prog.programmer = optarg; break;
		case OPT_STORAGE:
			if (strcmp(optarg, "nand") && strcmp(optarg, "emmc")) {
				fprintf(stderr, "modemfw: --storage is nand or emmc\n");
				return EXIT_USAGE;
			}
			prog.storage = optarg;
			break;
		case 'p': spec = optarg; break;
		case 'o': opts.dir = optarg; break;
		case OPT_SIM1: opts.nv_sim1 = true; break;
		case OPT_NO_EFS: opts.no_efs = true; break;
		case OPT_ROOT: opts.efs_root = optarg; break;
		case OPT_RANGE: {
			unsigned a, b;
			char tail;
			if (sscanf(optarg, "%u-%u%c", &a, &b, &tail) != 2 || a > b || b > 0xFFFF) {
				fprintf(stderr, "modemfw: --nv-range wants A-B within 0-65535\n");
				return EXIT_USAGE;
			}
			opts.nv_first = a;
			opts.nv_last = b;
			break;
		}
		case OPT_MAXF:
			if (!cli_parse_ulong(optarg, 256ul << 20, &v) || !v) {
				fprintf(stderr, "modemfw: --efs-max-file wants 1..268435456 bytes\n");
				return EXIT_USAGE;
			}
			opts.efs_max_file = v;
			break;
		case OPT_TIMEOUT:
			if (!cli_parse_ulong(optarg, 600000, &v) || !v) {
				fprintf(stderr, "modemfw: --timeout wants 1..600000 ms\n");
				return EXIT_USAGE;
			}
			opts.timeout_ms = (int)v;
			break;
		case 'h':
			backup_usage(stdout);
			return 0;
		default:
			backup_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "modemfw: backup takes no positional arguments (use -o DIR)\n");
		return EXIT_USAGE;
	}
	if (!diag)
		return backup_edl(cli, spec, opts.dir, &prog);
	if (!opts.dir) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(defdir, sizeof(defdir), "backup-diag-%Y%m%d-%H%M%S", &tm);
		opts.dir = defdir;
	}
	return backup_diag(cli, spec, &opts);
}
