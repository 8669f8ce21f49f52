/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw backup: keep the unit's identity and calibration before anything
 * destructive. Today: --diag (NV items + EFS2 tree over the DIAG port).
 * The EDL form (raw efs2/modemst/fsg partitions over Firehose) comes later
 * and gets its own branch in cmd_backup().
 */
#include "cli.h"
#include "port.h"

#include <modemfw/diag.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void backup_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw backup --diag -p PORT [-o DIR] [options]\n\n"
		"Back up the unit's identity and calibration: every readable numbered NV item\n"
		"(IMEI decoded and checked) and the EFS2 file tree, read over the DIAG port.\n"
		"DIR gets manifest.json (sha256 of every file), nv/, efs/ and backup.xqcn\n"
		"(QPST's XML format: QPST and qfenix can restore it, 'modemfw restore' takes\n"
		"QPST's xQCN files too). The EDL form (raw partitions over Firehose) is coming;\n"
		"until then --diag is required.\n\n"
		"options:\n"
		"      --diag               back up over DIAG (required for now)\n"
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

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	enum { OPT_DIAG = 256, OPT_RANGE, OPT_SIM1, OPT_NO_EFS, OPT_ROOT, OPT_MAXF, OPT_TIMEOUT };
	static const struct option longopts[] = {
		{ "diag", no_argument, NULL, OPT_DIAG },
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
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "p:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DIAG: diag = true; break;
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
	if (!diag) {
		fprintf(stderr, "modemfw: backup over EDL (raw partitions) is not built yet; "
				"use --diag -p PORT\n");
		backup_usage(stderr);
		return EXIT_USAGE;
	}
	if (!opts.dir) {
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(defdir, sizeof(defdir), "backup-diag-%Y%m%d-%H%M%S", &tm);
		opts.dir = defdir;
	}
	return backup_diag(cli, spec, &opts);
}
