/* SPDX-License-Identifier: BSD-3-Clause */
#include "cli.h"

#include <string.h>
#include <time.h>

/*
 * One progress line per (phase, label): a bar with bytes, rate and ETA on a
 * terminal, redrawn at most 10 times a second; a JSON line per update with
 * --json (rate-limited the same way, plus the first and the last update);
 * plain lines at start and end otherwise (logs, CI).
 */
struct progress_state {
	struct cli *cli;
	char phase[32];
	char label[96];
	double start;
	double last_draw;
	uint64_t last_done;
	bool open;
};

static struct progress_state ps;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Phases that count percent points, not bytes (the module's own "UPDATING",<pct>). */
static bool percent_phase(const char *phase)
{
	return !strcmp(phase, "update");
}

static void finish_line(void)
{
	char a[32], b[32];
	double el;
	if (!ps.open)
		return;
	el = now_s() - ps.start;
	if (ps.cli->tty) {
		fputs("\n", stderr);
	} else if (!ps.cli->json && !ps.cli->quiet && percent_phase(ps.phase)) {
		fprintf(stderr, "%s %s: %llu %% in %.1f s\n", ps.phase, ps.label,
			(unsigned long long)ps.last_done, el);
	} else if (!ps.cli->json && !ps.cli->quiet) {
		fprintf(stderr, "%s %s: %s in %.1f s (%s/s)\n", ps.phase, ps.label,
			cli_bytes(a, sizeof(a), (double)ps.last_done), el,
			cli_bytes(b, sizeof(b), el > 0 ? (double)ps.last_done / el : 0));
	}
	ps.open = false;
}

static void draw(uint64_t done, uint64_t total, bool final)
{
	char d[32], t[32], r[32], eta[32] = "";
	double el = now_s() - ps.start;
	/* a rate from a few ms is noise while running; the final line shows the average */
	double rate = (el > 0.05 || (final && el > 0)) ? (double)done / el : 0;
	int width = 28, fill = 0;
	char bar[64];
	if (total)
		fill = (int)((double)done * width / (double)total);
	if (fill > width)
		fill = width;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(width - fill));
	bar[width] = '\0';
	if (total && rate > 0 && done < total)
		snprintf(eta, sizeof(eta), " ETA %.0fs", (double)(total - done) / rate);
	if (percent_phase(ps.phase)) {
		fprintf(stderr, "\r\033[K%-7s %-12.12s [%s] %3llu %%%s", ps.phase, ps.label, bar,
			(unsigned long long)(total ? done * 100 / total : done), final ? "" : eta);
		fflush(stderr);
		return;
	}
	fprintf(stderr, "\r\033[K%-7s %-12.12s [%s] %s/%s %s/s%s", ps.phase, ps.label, bar,
		cli_bytes(d, sizeof(d), (double)done), cli_bytes(t, sizeof(t), (double)total),
		cli_bytes(r, sizeof(r), rate), final ? "" : eta);
	fflush(stderr);
}

static void on_progress(void *user, const char *phase, const char *label, uint64_t done,
			uint64_t total)
{
	struct cli *cli = user;
	double t = now_s();
	bool fresh = !ps.open || strcmp(ps.phase, phase) || strcmp(ps.label, label);
	bool final = total && done >= total;
	char l[256];

	if (fresh) {
		finish_line();
		ps.cli = cli;
		snprintf(ps.phase, sizeof(ps.phase), "%s", phase);
		snprintf(ps.label, sizeof(ps.label), "%s", label);
		ps.start = t;
		ps.last_draw = 0;
		ps.open = true;
		if (!cli->tty && !cli->json && !cli->quiet)
			fprintf(stderr, "%s %s ...\n", phase, label);
	}
	ps.last_done = done;
	if (!fresh && !final && t - ps.last_draw < 0.1)
		return;
	ps.last_draw = t;
	if (cli->json) {
		cli_json_event(cli, "progress",
			       "\"phase\":\"%s\",\"label\":%s,\"done\":%llu,\"total\":%llu,\"elapsed\":%.3f",
			       phase, cli_json_str(l, sizeof(l), label), (unsigned long long)done,
			       (unsigned long long)total, t - ps.start);
	} else if (cli->tty && !cli->quiet) {
		draw(done, total, final);
	}
	if (final)
		finish_line();
}

void cli_progress_begin(struct cli *cli)
{
	memset(&ps, 0, sizeof(ps));
	ps.cli = cli;
	mfw_ctx_set_progress(cli->ctx, on_progress, cli);
}

void cli_progress_end(struct cli *cli)
{
	finish_line();
	mfw_ctx_set_progress(cli->ctx, NULL, NULL);
}
