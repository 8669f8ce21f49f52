/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw delta diff OLD NEW PATCH [--format bsdiff40|mfwz] [--block-size N] [--threads N]
 *                    [--segment-size N] [--level N] [--best] [--libbz2-encoder]
 * modemfw delta apply OLD PATCH NEW [--max-size N] [--small] [--threads 1|2] [--no-sync] [--restart]
 *
 * MODEMFW_FAULT_KILL_SEGMENT=k (tests only): apply kills itself with
 * SIGKILL once k segments of an MFWZ patch are committed (the applier
 * reports "apply" progress after each commit), a power cut at a known
 * point for tests/integration/delta-resume.sh.
 */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static void delta_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw delta diff OLD NEW PATCH [--format bsdiff40|mfwz] [--block-size BYTES] [--threads N]\n"
		"                          [--segment-size BYTES] [--level 1..19] [--best] [--libbz2-encoder]\n"
		"       modemfw delta apply OLD PATCH NEW [--max-size BYTES] [--small] [--threads 1|2] [--no-sync]\n"
		"                          [--restart]\n"
		"\n"
		"diff writes a BSDIFF40 patch (bsdiff 4.3 / bspatch compatible; the default) that turns OLD\n"
		"into NEW, or with --format mfwz modemfw's container (zstd segments with SHA-256 each).\n"
		"apply rebuilds NEW from OLD and PATCH with bounded memory; NEW appears only when complete.\n"
		"An interrupted mfwz apply resumes at the last good segment (--restart starts over).\n"
		"--best tries every bzip2 block size on every part of the patch: about 1 %% smaller, about\n"
		"twice the encoding time.\n"
		"-v (before 'delta') or --verbose reports sizes, time and memory.\n");
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void report(struct cli *cli, const char *what, const struct mfw_delta_stats *st, double secs)
{
	struct rusage ru;
	char a[32], b[32], c[32], d[32], e[32];
	getrusage(RUSAGE_SELF, &ru);
	if (cli->json) {
		cli_json_event(cli, what,
			       "\"old_size\":%llu,\"new_size\":%llu,\"patch_size\":%llu,\"controls\":%llu,"
			       "\"diff_bytes\":%llu,\"extra_bytes\":%llu,\"engine_peak_mem\":%llu,"
			       "\"peak_rss\":%llu,\"seconds\":%.3f,\"segments\":%llu,\"resumed_from\":%llu,"
			       "\"segments_applied\":%llu",
			       (unsigned long long)st->old_size, (unsigned long long)st->new_size,
			       (unsigned long long)st->patch_size, (unsigned long long)st->controls,
			       (unsigned long long)st->diff_bytes, (unsigned long long)st->extra_bytes,
			       (unsigned long long)st->peak_mem, (unsigned long long)ru.ru_maxrss * 1024,
			       secs, (unsigned long long)st->segments, (unsigned long long)st->resumed_from,
			       (unsigned long long)st->segments_applied);
		return;
	}
	if (!cli->verbose)
		return;
	fprintf(stderr, "%s: old %s, new %s, patch %s (%.2f %% of new), %llu controls\n", what,
		cli_bytes(a, sizeof(a), (double)st->old_size), cli_bytes(b, sizeof(b), (double)st->new_size),
		cli_bytes(c, sizeof(c), (double)st->patch_size),
		st->new_size ? 100.0 * (double)st->patch_size / (double)st->new_size : 0.0,
		(unsigned long long)st->controls);
	fprintf(stderr, "%s: %.2f s (%s/s of new); memory: engine peak %s, process peak RSS %s\n", what, secs,
		cli_bytes(d, sizeof(d), secs > 0 ? (double)st->new_size / secs : 0),
		cli_bytes(e, sizeof(e), (double)st->peak_mem),
		cli_bytes(a, sizeof(a), (double)ru.ru_maxrss * 1024));
	if (st->segments && !strcmp(what, "apply"))
		fprintf(stderr, "%s: %llu segments, resumed from segment %llu, %llu decoded\n", what,
			(unsigned long long)st->segments, (unsigned long long)st->resumed_from,
			(unsigned long long)st->segments_applied);
	else if (st->segments)
		fprintf(stderr, "%s: %llu segments\n", what, (unsigned long long)st->segments);
}

/* MODEMFW_FAULT_KILL_SEGMENT: see the top of this file. */
static uint64_t kill_at_byte;

static void fault_progress(void *user, const char *phase, const char *label, uint64_t done, uint64_t total)
{
	(void)user;
	(void)label;
	(void)total;
	if (!strcmp(phase, "apply") && done >= kill_at_byte)
		raise(SIGKILL);
}

/* The byte count at which k segments of PATCH are committed: k times its segment size. */
static uint64_t fault_byte(const char *patch, const char *k)
{
	uint8_t h[40];
	uint64_t seg = 0;
	FILE *f = fopen(patch, "rb");

	if (f && fread(h, 1, sizeof(h), f) == sizeof(h) && !memcmp(h, MFW_DELTA_MFWZ_MAGIC, 8))
		for (int i = 7; i >= 0; i--)
			seg = seg << 8 | h[32 + i];
	if (f)
		fclose(f);
	return seg ? seg * strtoull(k, NULL, 10) : UINT64_MAX;
}

/*
 * The options diff and apply share: 1 when c was one (handled), 0 after
 * --help, -1 for an unknown option (usage printed).
 */
static int shared_option(struct cli *cli, int c)
{
	switch (c) {
	case 'v':
		cli->verbose++;
		return 1;
	case 'h':
		delta_usage(stdout);
		return 0;
	default:
		delta_usage(stderr);
		return -1;
	}
}

/* Both end alike: progress closed, then the error or the result (what: "diff" or "apply"). */
static int finish(struct cli *cli, int r, const char *what, const struct mfw_delta_stats *st,
		  double t0)
{
	char label[16];

	cli_progress_end(cli);
	if (r < 0) {
		snprintf(label, sizeof(label), "delta %s", what);
		return cli_report_error(cli, r, label);
	}
	report(cli, what, st, now_s() - t0);
	return EXIT_OK_;
}

static int do_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, 't' },
		{ "segment-size", required_argument, NULL, 'S' },
		{ "level", required_argument, NULL, 'L' },
		{ "libbz2-encoder", no_argument, NULL, 'Z' },
		{ "best", no_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_delta_opts o = { .format = MFW_DELTA_BSDIFF40 };
	struct mfw_delta_stats st;
	uint64_t v;
	double t0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:b:t:S:L:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (!strcmp(optarg, "mfwz") || !strcmp(optarg, "MFWZ")) {
				o.format = MFW_DELTA_MFWZ;
			} else if (strcmp(optarg, "bsdiff40") && strcmp(optarg, "BSDIFF40")) {
				fprintf(stderr, "modemfw: delta diff: unknown format '%s' (supported: bsdiff40, mfwz)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (parse_size(optarg, &o.segment_size) < 0 || o.segment_size < 1)
				goto bad;
			break;
		case 'L':
			if (parse_size(optarg, &v) < 0 || v < 1 || v > 19)
				goto bad;
			o.level = (int)v;
			break;
		case 'b':
			if (parse_size(optarg, &o.block_size) < 0)
				goto bad;
			break;
		case 't':
			if (parse_size(optarg, &v) < 0 || v > 64)
				goto bad;
			o.threads = (unsigned)v;
			break;
		case 'Z':
			o.libbz2_encoder = true;
			break;
		case 'B':
			o.best = true;
			break;
		default:
			r = shared_option(cli, c);
			if (r <= 0)
				return r == 0 ? EXIT_OK_ : EXIT_USAGE;
			break;
		}
	}
	if (argc - optind != 3)
		goto bad;
	cli_progress_begin(cli);
	t0 = now_s();
	r = mfw_delta_diff(cli->ctx, argv[optind], argv[optind + 1], argv[optind + 2], &o, &st);
	return finish(cli, r, "diff", &st, t0);
bad:
	delta_usage(stderr);
	return EXIT_USAGE;
}

static int do_apply(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "max-size", required_argument, NULL, 'm' },
		{ "small", no_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "no-sync", no_argument, NULL, 'n' },
		{ "restart", no_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_delta_apply_opts o = { 0 };
	struct mfw_delta_stats st;
	uint64_t v;
	double t0;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:st:nrvh", lo, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.restart = true;
			break;
		case 't':
			if (parse_size(optarg, &v) < 0 || v > 2)
				goto bad;
			o.threads = (unsigned)v;
			break;
		case 'm':
			if (parse_size(optarg, &o.max_new_size) < 0)
				goto bad;
			break;
		case 's':
			o.small_decoder = true;
			break;
		case 'n':
			o.no_sync = true;
			break;
		default:
			r = shared_option(cli, c);
			if (r <= 0)
				return r == 0 ? EXIT_OK_ : EXIT_USAGE;
			break;
		}
	}
	if (argc - optind != 3)
		goto bad;
	cli_progress_begin(cli);
	if (getenv("MODEMFW_FAULT_KILL_SEGMENT")) {
		kill_at_byte = fault_byte(argv[optind + 1], getenv("MODEMFW_FAULT_KILL_SEGMENT"));
		mfw_ctx_set_progress(cli->ctx, fault_progress, NULL);
	}
	t0 = now_s();
	r = mfw_delta_apply(cli->ctx, argv[optind], argv[optind + 1], argv[optind + 2], &o, &st);
	return finish(cli, r, "apply", &st, t0);
bad:
	delta_usage(stderr);
	return EXIT_USAGE;
}

int cmd_delta(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		delta_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK_;
	}
	if (!strcmp(argv[1], "diff"))
		return do_diff(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return do_apply(cli, argc - 1, argv + 1);
	fprintf(stderr, "modemfw: delta: unknown action '%s'\n", argv[1]);
	delta_usage(stderr);
	return EXIT_USAGE;
}
