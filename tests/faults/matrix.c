/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fault matrix (issue 4): seeded random trials, each injecting 1-3
 * faults into a flash against the in-process virtual modem. A trial passes
 * when the flash either
 *   - succeeds and the storage is identical to a fault-free flash, or
 *   - fails within its deadline (+5 s) with a message that names the fault,
 *     and then a plain re-run (after a power cycle) succeeds with identical
 *     storage.
 * Faults are injected between host and device by the transport fault
 * wrapper (stall, dropped or corrupted bytes either way, disconnects); a
 * disconnect is followed by a power cycle of the device (new emulator on
 * the same storage: "comes back in EDL, storage as it was"), which the
 * flash must recover from inside the same run.
 * Half of the trials also get one device-side fault through the emulator's
 * fault schedule (emu/fault.c), drawn from the trial's seed without touching
 * the transport draws: a NAK of a program/erase/digest, a log flood, a slow
 * final ACK, a grown bad block, a device that goes silent, or a lost HELLO.
 * A grown bad block changes what a correct flash leaves: such a trial is
 * compared with a fault-free flash of pristine storage with the same bad block.
 *
 * usage: fault-matrix PACKAGE WORKDIR TRIALS SEED [--verbose]
 * Prints per-kind counts and "N passed, N failed".
 */
#include <modemfw/modemfw.h>
#include <modemfw/emu.h>
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS 400
/* 2 % of the named deadlines: the final-ACK 120 s becomes 2.4 s, erase 30 s 0.6 s */
#define TIME_SCALE_PCT 2
/* Longest single named deadline at this scale (final ACK / digest 120 s) plus the 5 s. */
#define TRIAL_BOUND_MS (120000 * TIME_SCALE_PCT / 100 * 3 + 5000 + 15000)

struct trial {
	struct mfw_ctx *ctx;
	const char *image;
	struct mfw_emu *emu;
	struct mfw_transport *host;
	struct mfw_fault_spec spec;
	bool faulty;      /* wrap the next attach with spec */
	/* device-side fault of this trial (first power-on only), or none */
	const char *dev_faults[1];
	size_t ndev;
	char dev_spec[128];
	unsigned cycles;  /* power cycles */
	char log[4096];
};

static bool verbose;
static unsigned grown_bad; /* trials whose storage grew a bad block */

static void log_cb(void *user, enum mfw_log_level level, const char *msg)
{
	struct trial *t = user;
	size_t l = strlen(t->log);
	if (level <= MFW_LOG_WARN && l + strlen(msg) + 2 < sizeof(t->log))
		snprintf(t->log + l, sizeof(t->log) - l, "%s\n", msg);
	if (verbose)
		fprintf(stderr, "  [%d] %s\n", level, msg);
}

static int power_on(struct trial *t)
{
	struct mfw_emu_config cfg;
	struct mfw_transport *pair_end, *wrapped;
	int r;

	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = t->image;
	/* erased pages as file holes: trial images copy and compare in milliseconds */
	cfg.sparse_erased = true;
	if (t->faulty && t->ndev) {
		cfg.faults = t->dev_faults;
		cfg.nfaults = t->ndev;
	}
	r = mfw_emu_new(t->ctx, &cfg, &t->emu);
	if (r < 0)
		return r;
	r = mfw_emu_attach(t->emu, &pair_end);
	if (r < 0)
		return r;
	if (!t->faulty) {
		t->host = pair_end;
		return 0;
	}
	r = mfw_transport_fault(t->ctx, pair_end, &t->spec, &wrapped);
	if (r < 0) {
		mfw_transport_close(pair_end);
		return r;
	}
	t->host = wrapped;
	/* a fault fires once: after a power cycle the link is healthy */
	t->faulty = false;
	return 0;
}

static void power_off(struct trial *t)
{
	if (t->host)
		mfw_transport_close(t->host);
	t->host = NULL;
	if (t->emu)
		mfw_emu_free(t->emu); /* flushes storage */
	t->emu = NULL;
}

/* mfw_flash_opts.reconnect: the device lost power and comes back in EDL */
static int power_cycle(void *user, struct mfw_transport **tp)
{
	struct trial *t = user;
	if (*tp == t->host)
		t->host = NULL;
	if (*tp)
		mfw_transport_close(*tp);
	*tp = NULL;
	power_off(t);
	t->cycles++;
	if (power_on(t) < 0)
		return MFW_E_NODEV;
	*tp = t->host;
	return 0;
}

static int run_flash(struct trial *t, const char *pkg, const char *state, bool reconnect,
		     struct mfw_flash_summary *sum)
{
	struct mfw_flash_opts o = {
		.package = pkg,
		.stall_ms = STALL_MS,
		.journal_dir = state,
		.no_backup = true,
	};
	if (reconnect) {
		o.reconnect = power_cycle;
		o.reconnect_user = t;
	}
	mfw_ctx_clear_detail(t->ctx);
	return mfw_flash(t->ctx, t->host, &o, sum);
}

static int copy_file(const char *from, const char *to)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	return system(cmd) == 0 ? 0 : -1;
}

static int same_file(const char *a, const char *b)
{
	static uint8_t x[1 << 20], y[1 << 20];
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int same = fa && fb;
	while (same) {
		size_t na = fread(x, 1, sizeof(x), fa), nb = fread(y, 1, sizeof(y), fb);
		if (na != nb || memcmp(x, y, na))
			same = 0;
		if (!na)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

/* Words a failure message must contain for each fault kind (any of them). */
static bool names_fault(const char *detail)
{
	static const char *const words[] = {
		"stopped accepting", "stopped sending", "did not answer", "disconnect",
		"reads back different", "refused", "went silent", "unexpected", "protocol",
		"lost the device", "does not answer", "device asks", "not come back", "broken",
		"without raw mode", "raw mode", "no digest", "no total_blocks", "digest",
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(detail, words[i]))
			return true;
	return false;
}

/* splitmix64: device-side draws come from the trial seed, apart from the transport draws */
static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* One device-side fault for half of the trials; counts are those of the fault-free flash. */
static void draw_device_fault(struct trial *t, uint32_t tseed, unsigned programs, unsigned erases)
{
	uint64_t r = mix64(tseed ^ 0xD1CEull);
	static const char *const naked[] = { "program", "erase", "getsha256digest" };
	unsigned progs = programs ? programs : 1, ers = erases ? erases : 1;

	t->ndev = 0;
	t->dev_spec[0] = '\0';
	if (r % 2 == 0)
		return;
	r >>= 1;
	switch (r % 6) {
	case 0: {
		unsigned c = (unsigned)((r >> 8) % 3);
		unsigned n = c == 1 ? ers : progs; /* every program is verified by one digest */
		snprintf(t->dev_spec, sizeof(t->dev_spec), "nak@op=%u,cmd=%s",
			 1 + (unsigned)((r >> 16) % n), naked[c]);
		break;
	}
	case 1:
		snprintf(t->dev_spec, sizeof(t->dev_spec), "flood@op=%u,lines=%u",
			 1 + (unsigned)((r >> 8) % 20), 1 + (unsigned)((r >> 16) % 300));
		break;
	case 2:
		/* around the scaled final-ACK deadline: some pass slowly, some must time out */
		snprintf(t->dev_spec, sizeof(t->dev_spec), "slowack@op=%u,cmd=program,ms=%u",
			 1 + (unsigned)((r >> 8) % progs), 50 + (unsigned)((r >> 16) % 3000));
		break;
	case 3:
		snprintf(t->dev_spec, sizeof(t->dev_spec), "badblock@op=%u",
			 1 + (unsigned)((r >> 8) % progs));
		break;
	case 4:
		snprintf(t->dev_spec, sizeof(t->dev_spec), "silence@op=%u",
			 1 + (unsigned)((r >> 8) % (progs * 2 + ers + 3)));
		break;
	default:
		snprintf(t->dev_spec, sizeof(t->dev_spec), "nohello");
		break;
	}
	t->dev_faults[0] = t->dev_spec;
	t->ndev = 1;
}

/* Bad blocks listed in an image's sidecar (IMAGE.badblocks); returns how many. */
static size_t read_bad_blocks(const char *image, uint32_t *out, size_t cap)
{
	char path[1100], line[64];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s.badblocks", image);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (n < cap && fgets(line, sizeof(line), f))
		if (line[0] >= '0' && line[0] <= '9')
			out[n++] = (uint32_t)strtoul(line, NULL, 10);
	fclose(f);
	return n;
}

/*
 * What a correct flash leaves on storage that grew bad blocks: pristine
 * storage, the same blocks marked bad, one fault-free flash.
 */
static int golden_with_bad_blocks(struct trial *t, const char *pkg, const char *pristine,
				  const char *out, const uint32_t *bad, size_t nbad)
{
	struct mfw_flash_summary sum;
	struct mfw_emu_config cfg;
	char from[1100], to[1100];
	int r;

	if (copy_file(pristine, out) < 0)
		return -1;
	snprintf(from, sizeof(from), "%s.badblocks", pristine);
	snprintf(to, sizeof(to), "%s.badblocks", out);
	if (copy_file(from, to) < 0)
		return -1;
	mfw_emu_config_defaults(&cfg, MFW_EMU_NAND);
	cfg.image_path = out;
	cfg.sparse_erased = true;
	r = mfw_emu_new(t->ctx, &cfg, &t->emu);
	for (size_t i = 0; r == 0 && i < nbad; i++)
		r = mfw_emu_mark_bad(t->emu, bad[i]);
	mfw_emu_free(t->emu);
	t->emu = NULL;
	if (r < 0)
		return r;
	t->image = out;
	t->faulty = false;
	if (power_on(t) < 0)
		return -1;
	r = run_flash(t, pkg, NULL, false, &sum);
	power_off(t);
	return r;
}

/* The storage a correct flash leaves: golden, or golden with the trial's grown bad blocks. */
static const char *expect_for(struct trial *t, const char *pkg, const char *pristine,
			      const char *image, const char *golden, const char *golden_bb)
{
	uint32_t bad[16], base[16];
	size_t n = read_bad_blocks(image, bad, 16), nbase = read_bad_blocks(pristine, base, 16);
	const char *keep = t->image;

	if (n == nbase)
		return golden;
	if (golden_with_bad_blocks(t, pkg, pristine, golden_bb, bad, n) < 0) {
		printf("cannot build the golden image with bad blocks: %s\n", mfw_ctx_detail(t->ctx));
		t->image = keep;
		return golden;
	}
	t->image = keep;
	grown_bad++;
	return golden_bb;
}

int main(int argc, char **argv)
{
	const char *pkg, *work;
	unsigned trials, passed = 0, failed = 0, ok_direct = 0, ok_rerun = 0, recovered = 0;
	uint64_t seed, golden_bytes = 0;
	char pristine[1024], golden[1024], image[1024], state[1024];
	char pristine_bb[1100], image_bb[1100], golden_bb[1024];
	unsigned golden_programs, golden_erases, dev_trials = 0;
	struct trial t = { 0 };
	struct mfw_flash_summary sum;
	int r;

	if (argc < 5) {
		fprintf(stderr, "usage: fault-matrix PACKAGE WORKDIR TRIALS SEED [--verbose]\n");
		return 2;
	}
	pkg = argv[1];
	work = argv[2];
	trials = (unsigned)strtoul(argv[3], NULL, 0);
	seed = strtoull(argv[4], NULL, 0) | 1;
	verbose = argc > 5 && !strcmp(argv[5], "--verbose");
	if (mfw_ctx_new(&t.ctx) < 0)
		return 1;
	mfw_ctx_set_log(t.ctx, log_cb, &t);
	mfw_ctx_set_time_scale(t.ctx, TIME_SCALE_PCT);
	snprintf(pristine, sizeof(pristine), "%s/pristine.img", work);
	snprintf(golden, sizeof(golden), "%s/golden.img", work);
	snprintf(image, sizeof(image), "%s/trial.img", work);
	snprintf(state, sizeof(state), "%s/state", work);
	snprintf(golden_bb, sizeof(golden_bb), "%s/golden-bb.img", work);
	snprintf(pristine_bb, sizeof(pristine_bb), "%s.badblocks", pristine);
	snprintf(image_bb, sizeof(image_bb), "%s.badblocks", image);

	/* the factory image, then a fault-free flash of it: the expected storage */
	t.image = pristine;
	unlink(pristine);
	if (power_on(&t) < 0)
		return 1;
	power_off(&t);
	if (copy_file(pristine, golden) < 0)
		return 1;
	t.image = golden;
	if (power_on(&t) < 0 || run_flash(&t, pkg, NULL, false, &sum) < 0) {
		fprintf(stderr, "fault-free flash failed: %s\n", mfw_ctx_detail(t.ctx));
		return 1;
	}
	power_off(&t);
	printf("golden flash: %u programs, %llu bytes\n", sum.programs, (unsigned long long)sum.bytes);
	/* trials overwrite sum: keep the golden size for drawing fault offsets */
	golden_bytes = sum.bytes;
	golden_programs = sum.programs;
	golden_erases = sum.erases;

	for (unsigned i = 0; i < trials; i++) {
		uint32_t tseed = rnd(&seed);
		unsigned nfaults = 1 + tseed % 3;
		int64_t start, took;
		bool pass = false;
		char what[256] = "";

		if (copy_file(pristine, image) < 0)
			return 1;
		/* a bad block grown by an earlier trial must not outlive it */
		if (copy_file(pristine_bb, image_bb) < 0)
			return 1;
		{
			char cmd[1200];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
			if (system(cmd) != 0)
				return 1;
		}
		/* 1-3 faults drawn from the seed, merged into one spec (each a different kind) */
		mfw_fault_spec_init(&t.spec);
		for (unsigned k = 0; k < nfaults; k++) {
			struct mfw_fault_spec one;
			mfw_fault_spec_random(&one, tseed + k * 7919u, golden_bytes + (4u << 20));
#define TAKE(f) if (one.f != MFW_FAULT_OFF && t.spec.f == MFW_FAULT_OFF) { t.spec.f = one.f; \
	snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s@%llu", *what ? "+" : "", #f, \
		 (unsigned long long)one.f); }
			TAKE(stall_out_at);
			TAKE(drop_in_at);
			TAKE(corrupt_in_at);
			TAKE(drop_out_at);
			TAKE(corrupt_out_at);
			TAKE(disconnect_at);
#undef TAKE
		}
		draw_device_fault(&t, tseed, golden_programs, golden_erases);
		if (t.ndev) {
			dev_trials++;
			snprintf(what + strlen(what), sizeof(what) - strlen(what), "+dev:%s", t.dev_spec);
		}
		t.image = image;
		t.faulty = true;
		t.log[0] = '\0';
		t.cycles = 0;
		if (power_on(&t) < 0)
			return 1;
		start = mfw_now_ms();
		r = run_flash(&t, pkg, state, true, &sum);
		took = mfw_now_ms() - start;
		power_off(&t);
		if (r == 0) {
			pass = same_file(image, expect_for(&t, pkg, pristine, image, golden, golden_bb));
			if (pass) {
				ok_direct++;
				recovered += sum.recoveries > 0;
			}
			if (!pass)
				printf("trial %u (%s): flash succeeded but storage differs\n", i, what);
		} else if (took > TRIAL_BOUND_MS) {
			printf("trial %u (%s): failed after %lld ms (bound %d): %s\n", i, what,
			       (long long)took, TRIAL_BOUND_MS, mfw_ctx_detail(t.ctx));
		} else if (!names_fault(mfw_ctx_detail(t.ctx))) {
			printf("trial %u (%s): failure does not name the fault: %s\n", i, what,
			       mfw_ctx_detail(t.ctx));
		} else {
			/* plain re-run after a power cycle, no faults */
			char first[1024];
			snprintf(first, sizeof(first), "%s", mfw_ctx_detail(t.ctx));
			t.faulty = false;
			if (power_on(&t) < 0)
				return 1;
			r = run_flash(&t, pkg, state, false, &sum);
			power_off(&t);
			pass = r == 0 &&
			       same_file(image, expect_for(&t, pkg, pristine, image, golden, golden_bb));
			if (pass)
				ok_rerun++;
			else
				printf("trial %u (%s): first run failed (%s), re-run %s\n", i, what, first,
				       r == 0 ? "left different storage" : mfw_ctx_detail(t.ctx));
		}
		if (verbose)
			printf("trial %u (%s): %s in %lld ms\n", i, what, pass ? "pass" : "FAIL",
			       (long long)took);
		if (pass)
			passed++;
		else
			failed++;
	}
	printf("fault matrix: %u trials: %u completed despite the faults (%u via automatic "
	       "recovery), %u stopped with a named fault and completed on re-run, %u failed\n",
	       trials, ok_direct, recovered, ok_rerun, failed);
	printf("fault matrix: %u trials had a device-side fault as well (%u grew a bad block)\n",
	       dev_trials, grown_bad);
	printf("%u passed, %u failed\n", passed, failed);
	mfw_ctx_free(t.ctx);
	return failed ? 1 : 0;
}
