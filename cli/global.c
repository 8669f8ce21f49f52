/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What both programs do before and around a command: the global options
 * (-v, -vv, -q, --json) and the context with its log callback. Shared by the
 * full tool (cli/main.c) and the lean front (cli/front.c), so that
 * `modemfw -v --json delta ...` behaves the same whichever program runs it.
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

int cli_global_options(struct cli *cli, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			cli->verbose++;
		else if (!strcmp(argv[i], "-vv"))
			cli->verbose += 2;
		else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
			cli->quiet = true;
		else if (!strcmp(argv[i], "--json"))
			cli->json = true;
		else
			break;
	}
	return i;
}

static void log_to_stderr(void *user, enum mfw_log_level level, const char *msg)
{
	struct cli *cli = user;
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: ", "trace: " };
	char esc[2048];
	if (cli->json) {
		static const char *const names[] = { "error", "warn", "info", "debug", "trace" };
		cli_json_event(cli, "log", "\"level\":\"%s\",\"msg\":%s", names[level],
			       cli_json_str(esc, sizeof(esc), msg));
		return;
	}
	if (cli->tty)
		fputs("\r\033[K", stderr);
	fprintf(stderr, "%s%s\n", prefix[level], msg);
}

int cli_run(struct cli *cli, cli_cmd_fn fn, int argc, char **argv)
{
	int rc;

	if (mfw_ctx_new(&cli->ctx) < 0) {
		fprintf(stderr, "modemfw: out of memory\n");
		return EXIT_FAILURE_;
	}
	cli->tty = isatty(STDERR_FILENO) && !cli->json;
	mfw_ctx_set_log(cli->ctx, log_to_stderr, cli);
	mfw_ctx_set_log_level(cli->ctx, cli->quiet ? MFW_LOG_WARN
				       : (enum mfw_log_level)(MFW_LOG_INFO + (cli->verbose > 2 ? 2 : cli->verbose)));
	/* each command parses its own options; argv[0] is the command name */
	optind = 1;
	rc = fn(cli, argc, argv);
	mfw_ctx_free(cli->ctx);
	cli->ctx = NULL;
	return rc;
}
