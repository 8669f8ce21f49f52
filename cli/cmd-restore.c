/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw restore: put a unit's identity and calibration back: by default
 * over EDL (raw partitions from a 'modemfw backup' directory, refused for
 * another device unless --force), or --diag (NV items and EFS2 files from a
 * 'modemfw backup --diag' directory or a QPST xQCN file, over DIAG).
 */
#include "cli.h"
#include "port.h"

#include <modemfw/diag.h>
#include <modemfw/backup.h>

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void restore_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw restore BACKUP -p PORT [--package PKG | --programmer FILE] [--force]\n"
		"                       [--only LABEL]... [--include-table]\n"
		"       modemfw restore --diag BACKUP -p PORT [options]\n\n"
		"EDL (default): checks every image against the manifest, refuses a backup made on\n"
		"another device (serial/HW id) unless --force, writes the partitions back\n"
		"(erase first on NAND) and verifies each by digest or read-back.\n\n"
		"Write NV items and EFS2 files back over the DIAG port, then read each one back\n"
		"and compare. BACKUP is a directory made by 'modemfw backup --diag' (its manifest\n"
		"hashes are checked before anything is sent) or an .xqcn file (QPST's XML backup).\n"
		"\n"
		"options:\n"
		"      --diag               restore over DIAG instead of EDL\n"
		"      --no-reset           EDL: leave the programmer running afterwards\n"
		"      --package PKG, --programmer FILE   EDL: the Firehose programmer\n"
		"      --force              EDL: restore a backup made on another device\n"
		"      --only LABEL         EDL: restore only this partition (repeatable)\n"
		"      --include-table      EDL: also write the partition table back\n"
		"  -p, --port PORT          the DIAG port: /dev/ttyUSBn, /dev/wwan0qcdm0, tcp:HOST:PORT\n"
		"      --i-own-this-imei    also write NV item 550 (the IMEI). Only lawful to restore\n"
		"                           the unit's OWN original IMEI from its own backup\n"
		"      --spc CODE           send the 6-digit service programming code first\n"
		"      --offline            put the modem offline first (some items need it)\n"
		"      --no-nv              EFS2 files only\n"
		"      --no-efs             NV items only\n"
		"      --timeout MS         per-answer deadline (default 5000)\n");
}

static int restore_edl(struct cli *cli, const char *spec, const char *dir,
		       const struct mfw_edl_prog *prog, const struct mfw_restore_opts *ro)
{
	struct mfw_restore_summary s;
	struct cli_port port;
	char b[32], j[600];
	int r;

	r = cli_port_open(cli, spec ? spec : "auto", true, &port);
	if (r < 0)
		return cli_report_error(cli, r, spec ? spec : "auto");
	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_restore_edl(cli->ctx, port.t, prog, dir, ro, &s);
	cli_progress_end(cli);
	cli_port_close(&port);
	if (r < 0)
		return cli_report_error(cli, r, "restore");
	if (cli->json) {
		cli_json_event(cli, "restore", "\"device\":\"%s\",\"partitions\":%u,\"bytes\":%llu,"
			       "\"labels\":%s", s.device_key, s.parts, (unsigned long long)s.bytes,
			       cli_json_str(j, sizeof(j), s.labels));
		return 0;
	}
	printf("restored %s (%s) to device %s; every partition verified\n", s.labels,
	       cli_bytes(b, sizeof(b), (double)s.bytes), s.device_key);
	return 0;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	enum { OPT_DIAG = 256, OPT_IMEI, OPT_SPC, OPT_OFFLINE, OPT_NO_NV, OPT_NO_EFS, OPT_TIMEOUT,
	       OPT_PKG, OPT_PROG, OPT_FORCE, OPT_ONLY, OPT_TABLE };
	static const struct option longopts[] = {
		{ "diag", no_argument, NULL, OPT_DIAG },
		{ "package", required_argument, NULL, OPT_PKG },
		{ "no-reset", no_argument, NULL, 'R' },
		{ "programmer", required_argument, NULL, OPT_PROG },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "only", required_argument, NULL, OPT_ONLY },
		{ "include-table", no_argument, NULL, OPT_TABLE },
		{ "port", required_argument, NULL, 'p' },
		{ "i-own-this-imei", no_argument, NULL, OPT_IMEI },
		{ "spc", required_argument, NULL, OPT_SPC },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "no-nv", no_argument, NULL, OPT_NO_NV },
		{ "no-efs", no_argument, NULL, OPT_NO_EFS },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_diag_restore_opts opts = { 0 };
	struct mfw_diag_restore_summary s;
	struct cli_port port;
	const char *spec = NULL;
	bool diag = false;
	struct mfw_edl_prog prog = { 0 };
	struct mfw_restore_opts ro = { 0 };
	const char *only[16];
	unsigned long v;
	int c, r;

	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DIAG: diag = true; break;
		case OPT_PKG: prog.package = optarg; break;
		case 'R': prog.no_reset = true; break;
		case OPT_PROG: prog.programmer = optarg; break;
		case OPT_FORCE: ro.force = true; break;
		case OPT_TABLE: ro.include_table = true; break;
		case OPT_ONLY:
			if (ro.nlabels == 16) {
				fprintf(stderr, "modemfw: too many --only\n");
				return EXIT_USAGE;
			}
			only[ro.nlabels++] = optarg;
			ro.labels = only;
			break;
		case 'p': spec = optarg; break;
		case OPT_IMEI: opts.write_imei = true; break;
		case OPT_SPC: opts.spc = optarg; break;
		case OPT_OFFLINE: opts.offline = true; break;
		case OPT_NO_NV: opts.no_nv = true; break;
		case OPT_NO_EFS: opts.no_efs = true; break;
		case OPT_TIMEOUT:
			if (!cli_parse_ulong(optarg, 600000, &v) || !v) {
				fprintf(stderr, "modemfw: --timeout wants 1..600000 ms\n");
				return EXIT_USAGE;
			}
			opts.timeout_ms = (int)v;
			break;
		case 'h':
			restore_usage(stdout);
			return 0;
		default:
			restore_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!diag) {
		if (optind + 1 != argc) {
			restore_usage(stderr);
			return EXIT_USAGE;
		}
		return restore_edl(cli, spec, argv[optind], &prog, &ro);
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "modemfw: restore needs exactly one BACKUP (directory or .xqcn)\n");
		return EXIT_USAGE;
	}
	opts.source = argv[optind];
	if (opts.no_nv && opts.no_efs) {
		fprintf(stderr, "modemfw: --no-nv and --no-efs leave nothing to restore\n");
		return EXIT_USAGE;
	}
	if (opts.write_imei && !cli->json)
		fprintf(stderr, "warning: --i-own-this-imei: NV item 550 (IMEI) will be written. This "
				"is only lawful to restore\n"
				"         this unit's own original IMEI; cloning or changing an IMEI is a "
				"crime in many countries.\n");
	r = cli_diag_port_open(cli, spec, &port);
	if (r > 0)
		return r;
	if (r < 0)
		return cli_report_error(cli, r, spec);
	cli_install_signals(cli);
	cli_progress_begin(cli);
	r = mfw_diag_restore_run(cli->ctx, port.t, &opts, &s);
	cli_progress_end(cli);
	cli_port_close(&port);
	if (cli->json)
		cli_json_event(cli, "restore",
			       "\"nv_written\":%u,\"nv_verified\":%u,\"nv_skipped\":%u,\"nv_failed\":%u,"
			       "\"efs_written\":%u,\"efs_verified\":%u,\"efs_failed\":%u,"
			       "\"imei_skipped\":%s",
			       s.nv_written, s.nv_verified, s.nv_skipped, s.nv_failed, s.efs_written,
			       s.efs_verified, s.efs_failed, s.imei_skipped ? "true" : "false");
	else if (r == 0 || s.nv_written || s.efs_written)
		printf("NV items:  %u written, %u verified, %u refused, %u skipped\n"
		       "EFS files: %u written, %u verified, %u refused\n",
		       s.nv_written, s.nv_verified, s.nv_failed, s.nv_skipped, s.efs_written,
		       s.efs_verified, s.efs_failed);
	if (s.imei_skipped && !cli->json)
		printf("NV item 550 (IMEI) was not written; add --i-own-this-imei to restore this "
		       "unit's own IMEI.\n");
	if (r < 0)
		return cli_report_error(cli, r, "restore");
	return 0;
}
