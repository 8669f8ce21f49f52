/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw dfota apply UPDATE.ZIP --root DIR --partitions DIR --cache DIR
 *                     [--prop KEY=VALUE]... [--max-attempts N] [--json]
 *
 * The updater as the module runs it: prints the module's +QIND lines on
 * stdout (also kept in <cache>/fota/status), ui_print messages on stderr.
 * Exit code: 0 when the update ended with code 0; otherwise the library
 * error's exit code (docs/cli.md) with the Quectel code printed, so
 * scripts read the code from the END line or the JSON "end" event.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PROPS 64

static void apply_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw dfota apply UPDATE.ZIP --root DIR --partitions DIR --cache DIR\n"
		"                           [--prop KEY=VALUE]... [--max-attempts N] [--json]\n"
		"\n"
		"Apply a DFOTA package the way the module's recovery does: zip and script checks,\n"
		"a check pass that changes nothing (wrong version 505, unexpected source 510, space\n"
		"511), then the update. --root is '/', --cache is '/cache' (source copies, the retry\n"
		"counter and the status file under fota/), --partitions holds one file per partition.\n"
		"Progress and the result are printed as the module's URCs:\n"
		"  +QIND: \"FOTA\",\"START\"   +QIND: \"FOTA\",\"UPDATING\",<pct>   +QIND: \"FOTA\",\"END\",<code>\n"
		"An interrupted run continues where it stopped when run again (at most 5 attempts).\n");
}

static void on_line(void *user, const char *line)
{
	struct cli *cli = user;
	char esc[256];
	if (cli->json) {
		cli_json_event(cli, "qind", "\"line\":%s", cli_json_str(esc, sizeof(esc), line));
		return;
	}
	fprintf(stdout, "%s\n", line);
	fflush(stdout);
}

static bool is_dir(const char *p)
{
	struct stat st;
	return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int dfota_apply_main(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'c' },
		{ "prop", required_argument, NULL, 'P' },
		{ "max-attempts", required_argument, NULL, 'm' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *props[MAX_PROPS + 1] = { 0 };
	struct mfw_dfota_apply_opts o = { .props = props, .report = on_line };
	struct mfw_dfota_apply_result res;
	size_t nprops = 0;
	char esc[1024];
	int c, r;

	o.report_user = cli;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.root = optarg;
			break;
		case 'p':
			o.partitions = optarg;
			break;
		case 'c':
			o.cache = optarg;
			break;
		case 'P':
			if (nprops == MAX_PROPS || !strchr(optarg, '=')) {
				fprintf(stderr, "modemfw: dfota apply: --prop wants KEY=VALUE (at most %d)\n",
					MAX_PROPS);
				return EXIT_USAGE;
			}
			props[nprops++] = optarg;
			break;
		case 'm': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v == 0 || v > 100)
				goto bad;
			o.max_attempts = (unsigned)v;
			break;
		}
		case 'j':
			cli->json = true;
			break;
		case 'h':
			apply_usage(stdout);
			return EXIT_OK_;
		default:
			goto bad;
		}
	}
	if (argc - optind != 1 || !o.root || !o.partitions || !o.cache)
		goto bad;
	if (!is_dir(o.root) || !is_dir(o.partitions) || !is_dir(o.cache)) {
		fprintf(stderr, "modemfw: dfota apply: --root, --partitions and --cache must be existing directories\n");
		return EXIT_USAGE;
	}
	r = mfw_dfota_apply(cli->ctx, argv[optind], &o, &res);
	if (cli->json)
		cli_json_event(cli, "end",
			       "\"code\":%d,\"attempt\":%u,\"resumed\":%s,\"already_applied\":%s,"
			       "\"patched\":%zu,\"from_cache\":%zu,\"already\":%zu,\"extracted\":%zu,"
			       "\"skipped\":%zu,\"entries\":%zu,\"message\":%s",
			       res.code, res.attempt, res.resumed ? "true" : "false",
			       res.already_applied ? "true" : "false", res.patched, res.from_cache,
			       res.already, res.extracted, res.skipped, res.entries,
			       cli_json_str(esc, sizeof(esc), res.message));
	if (r < 0) {
		if (!cli->json)
			fprintf(stderr, "modemfw: dfota apply: update failed with code %d\n", res.code);
		return cli_report_error(cli, r, "dfota apply");
	}
	if (!cli->json && !cli->quiet)
		fprintf(stderr, "modemfw: dfota apply: %s (attempt %u: %zu patched, %zu from the cache copy, "
			"%zu already there, %zu written)\n",
			res.already_applied ? (res.patched + res.from_cache + res.extracted ?
					       "applied before; the module had changed and was updated again" :
					       "already applied (verified)") :
			res.resumed ? "update completed (resumed)" : "update completed", res.attempt, res.patched, res.from_cache, res.already,
			res.extracted);
	return EXIT_OK_;
bad:
	apply_usage(stderr);
	return EXIT_USAGE;
}
