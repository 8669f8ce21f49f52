/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_CONTEXT_H
#define MODEMFW_CONTEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * The library context: log and progress callbacks, the detail sentence of
 * the last error, and the cancel flag. The library never prints; it hands
 * records to the callbacks and the tool decides what to show.
 */
struct mfw_ctx;

enum mfw_log_level {
	MFW_LOG_ERROR = 0,
	MFW_LOG_WARN = 1,
	MFW_LOG_INFO = 2,
	MFW_LOG_DEBUG = 3,
	MFW_LOG_TRACE = 4,
};

typedef void (*mfw_log_fn)(void *user, enum mfw_log_level level, const char *msg);

/*
 * Progress: phase is a fixed word ("erase", "program", "verify", "backup",
 * "diff", "apply", ...), label names the partition or file, done/total are
 * bytes (total 0 = unknown).
 */
typedef void (*mfw_progress_fn)(void *user, const char *phase, const char *label,
				uint64_t done, uint64_t total);

int mfw_ctx_new(struct mfw_ctx **ret_ctx);
void mfw_ctx_free(struct mfw_ctx *ctx);

void mfw_ctx_set_log(struct mfw_ctx *ctx, mfw_log_fn fn, void *user);
/* Records above this level are not formatted at all. Default MFW_LOG_INFO. */
void mfw_ctx_set_log_level(struct mfw_ctx *ctx, enum mfw_log_level level);
void mfw_ctx_set_progress(struct mfw_ctx *ctx, mfw_progress_fn fn, void *user);

/* The sentence describing the last failure; "" when none. */
const char *mfw_ctx_detail(const struct mfw_ctx *ctx);
void mfw_ctx_clear_detail(struct mfw_ctx *ctx);

/*
 * Cancel: async-signal-safe. Long operations poll it at safe points and
 * return MFW_E_CANCELLED. A second request (count >= 2) means "force".
 */
void mfw_ctx_cancel(struct mfw_ctx *ctx);
int mfw_ctx_cancel_count(const struct mfw_ctx *ctx);

/*
 * Test knob: scale every named protocol deadline (Sahara, Firehose) by
 * pct/100 (default 100). Fault-matrix tests run device timeouts at a few
 * percent so that thousands of trials fit in minutes, as fwupd runs its
 * emulated devices on virtual time. Never changed by the tool.
 */
void mfw_ctx_set_time_scale(struct mfw_ctx *ctx, unsigned pct);
/* ms scaled by the context's time scale; never below 500 ms (or ms itself when smaller). */
int mfw_ctx_ms(const struct mfw_ctx *ctx, int ms);

/*
 * Deadlines are absolute CLOCK_MONOTONIC times in milliseconds.
 * MFW_DEADLINE_NONE exists only for code paths that are proven not to block
 * (e.g. a non-blocking poll); no network or device wait may use it.
 */
typedef int64_t mfw_deadline_t;
#define MFW_DEADLINE_NONE INT64_MAX

int64_t mfw_now_ms(void);
/* Monotonic microseconds, for rates and link models. */
int64_t mfw_now_us(void);
mfw_deadline_t mfw_deadline_in(int64_t ms);
/* Milliseconds left, 0 when passed; clamped to INT32_MAX for poll(). */
int mfw_deadline_left(mfw_deadline_t deadline);
bool mfw_deadline_passed(mfw_deadline_t deadline);
/* The earlier of two deadlines. */
mfw_deadline_t mfw_deadline_min(mfw_deadline_t a, mfw_deadline_t b);

#endif
