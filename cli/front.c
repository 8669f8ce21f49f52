/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * `modemfw`, the lean front (docs/cli.md, "Two programs").
 *
 * It is linked against lib/core, lib/util and lib/delta only (libbz2, libzstd,
 * libdivsufsort, libcrypto), so `modemfw delta ...` runs without loading
 * libxml2/ICU, libzip, libusb, libsystemd and the rest: a smaller and faster
 * process for the delta commands. Every other command line, including --help,
 * --version, no arguments and unknown commands, is handed to the full tool with
 * execv() and the same argv: same process id, exit codes and signals, and the
 * full tool parses the global options again.
 *
 * The full tool is looked for, in this order:
 *   1. $MODEMFW_TOOL, when set and not empty (and only there);
 *   2. modemfw-tool beside this program (/proc/self/exe): a build tree;
 *   3. the installed libexec directory relative to this program (an install
 *      under another prefix or a DESTDIR staging tree);
 *   4. the libexec path compiled in (MODEMFW_TOOL_PATH).
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MODEMFW_TOOL_NAME
#define MODEMFW_TOOL_NAME "modemfw-tool"
#endif

/* execv() path if it exists; returns only when it could not be run. */
static void try_exec(const char *path, char **argv, int *err, const char **failed)
{
	execv(path, argv);
	/* a missing candidate is the normal case; remember the first real failure */
	if (errno != ENOENT && errno != ENOTDIR && *err == 0) {
		*err = errno;
		*failed = path;
	}
}

static int run_tool(char **argv)
{
	static char self[PATH_MAX], path[PATH_MAX + 64];
	const char *env = getenv("MODEMFW_TOOL");
	const char *failed = NULL;
	int err = 0;
	ssize_t n;

	if (env && *env) {
		execv(env, argv);
		fprintf(stderr, "modemfw: cannot run the full tool '%s' (MODEMFW_TOOL): %s\n", env,
			strerror(errno));
		return EXIT_FAILURE_;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			slash[1] = '\0';
			snprintf(path, sizeof(path), "%s%s", self, MODEMFW_TOOL_NAME);
			try_exec(path, argv, &err, &failed);
#ifdef MODEMFW_TOOL_REL
			snprintf(path, sizeof(path), "%s%s", self, MODEMFW_TOOL_REL);
			try_exec(path, argv, &err, &failed);
#endif
		}
	}
#ifdef MODEMFW_TOOL_PATH
	try_exec(MODEMFW_TOOL_PATH, argv, &err, &failed);
#endif
	if (err)
		fprintf(stderr, "modemfw: cannot run the full tool '%s': %s\n", failed, strerror(err));
	else
		fprintf(stderr, "modemfw: the full tool '" MODEMFW_TOOL_NAME "' is not installed "
			"(looked beside this program"
#ifdef MODEMFW_TOOL_REL
			", at " MODEMFW_TOOL_REL " from it"
#endif
#ifdef MODEMFW_TOOL_PATH
			", at " MODEMFW_TOOL_PATH
#endif
			"); only 'modemfw delta' works without it\n");
	return EXIT_FAILURE_;
}

int main(int argc, char **argv)
{
	struct cli cli = { .prog = "modemfw" };
	int i = cli_global_options(&cli, argc, argv);

	if (i < argc && !strcmp(argv[i], "delta"))
		return cli_run(&cli, cmd_delta, argc - i, argv + i);
	return run_tool(argv);
}
