/* SPDX-License-Identifier: BSD-3-Clause */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct command {
	const char *name;
	cli_cmd_fn fn;
	const char *summary;
};

/* Filled as subcommands land; each one names the issue it belongs to in docs/cli.md. */
static const struct command commands[] = {
	/* one line per subcommand, alphabetical; cli/cmd-<verb>.c implements it */
	{ "at", cmd_at, "send AT commands to a module's AT port (normal mode)" },
	{ "backup", cmd_backup, "back up identity/calibration: protected partitions over EDL, or NV+EFS2 over DIAG (--diag)" },
	{ "delta", cmd_delta, "diff and apply binary patches (BSDIFF40)" },
	{ "devices", cmd_devices, "list modules: mode, ports by role, drivers, conflicts (--json)" },
	{ "dfota", cmd_dfota, "build, check and apply DFOTA update packages" },
	{ "diag", cmd_diag, "DIAG: version, imei, nv-read/nv-write, efs-ls/efs-get/efs-put" },
	{ "edl", cmd_edl, "switch a running module to EDL (9008) over its DIAG port" },
	{ "emu", cmd_emu, "run the virtual modem" },
	{ "flash", cmd_flash, "flash a firmware package (directory or .zip) over EDL" },
	{ "info", cmd_info, "what the device says about itself (EDL: serial, HW id, PK hash; normal: ATI, QGMR, IMEI)" },
	{ "restore", cmd_restore, "restore a backup: partitions over EDL, or NV+EFS2 over DIAG (--diag) / .xqcn" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: modemfw [-v] [-q] [--json] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'modemfw COMMAND --help' describes a command; docs/cli.md lists exit codes.\n");
}

int main(int argc, char **argv)
{
	struct cli cli = { .prog = "modemfw" };
	int i = cli_global_options(&cli, argc, argv);

	if (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("modemfw %s\n", MODEMFW_VERSION);
			return 0;
		}
		fprintf(stderr, "modemfw: unknown option '%s'\n", argv[i]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
		if (!strcmp(argv[i], commands[c].name))
			return cli_run(&cli, commands[c].fn, argc - i, argv + i);
	fprintf(stderr, "modemfw: unknown command '%s'\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
