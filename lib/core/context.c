/* SPDX-License-Identifier: BSD-3-Clause */
#include "core/core.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DETAIL_MAX 1024
/* Scaled deadlines never go below this (or below the unscaled value when that is smaller). */
#define MFW_TIME_SCALE_FLOOR_MS 500

struct mfw_ctx {
	mfw_log_fn log_fn;
	void *log_user;
	enum mfw_log_level log_level;
	mfw_progress_fn progress_fn;
	void *progress_user;
	char detail[DETAIL_MAX];
	/* written from signal handlers: sig_atomic_t, no locking */
	volatile sig_atomic_t cancel_count;
	unsigned time_scale_pct;
};

int mfw_ctx_new(struct mfw_ctx **ret_ctx)
{
	struct mfw_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return MFW_E_NOMEM;
	ctx->log_level = MFW_LOG_INFO;
	ctx->time_scale_pct = 100;
	*ret_ctx = ctx;
	return 0;
}

void mfw_ctx_free(struct mfw_ctx *ctx)
{
	free(ctx);
}

void mfw_ctx_set_log(struct mfw_ctx *ctx, mfw_log_fn fn, void *user)
{
	ctx->log_fn = fn;
	ctx->log_user = user;
}

void mfw_ctx_set_log_level(struct mfw_ctx *ctx, enum mfw_log_level level)
{
	ctx->log_level = level;
}

void mfw_ctx_set_progress(struct mfw_ctx *ctx, mfw_progress_fn fn, void *user)
{
	ctx->progress_fn = fn;
	ctx->progress_user = user;
}

const char *mfw_ctx_detail(const struct mfw_ctx *ctx)
{
	return ctx ? ctx->detail : "";
}

void mfw_ctx_clear_detail(struct mfw_ctx *ctx)
{
	if (ctx)
		ctx->detail[0] = '\0';
}

void mfw_ctx_cancel(struct mfw_ctx *ctx)
{
	if (ctx->cancel_count < 1000)
		ctx->cancel_count++;
}

int mfw_ctx_cancel_count(const struct mfw_ctx *ctx)
{
	return ctx ? (int)ctx->cancel_count : 0;
}

bool mfw_cancelled(const struct mfw_ctx *ctx)
{
	return ctx && ctx->cancel_count > 0;
}

static int set_detail(struct mfw_ctx *ctx, int err, const char *fmt, va_list ap)
{
	vsnprintf(ctx->detail, sizeof(ctx->detail), fmt, ap);
	if (mfw_log_enabled(ctx, MFW_LOG_DEBUG) && ctx->log_fn) {
		char line[DETAIL_MAX + 64];
		snprintf(line, sizeof(line), "fail (%s): %s", mfw_error_name(err), ctx->detail);
		ctx->log_fn(ctx->log_user, MFW_LOG_DEBUG, line);
	}
	return err;
}

int mfw_fail(struct mfw_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	if (!ctx)
		return err;
	va_start(ap, fmt);
	set_detail(ctx, err, fmt, ap);
	va_end(ap);
	return err;
}

int mfw_fail_keep(struct mfw_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	if (!ctx || ctx->detail[0])
		return err;
	va_start(ap, fmt);
	set_detail(ctx, err, fmt, ap);
	va_end(ap);
	return err;
}

bool mfw_log_enabled(const struct mfw_ctx *ctx, enum mfw_log_level level)
{
	return ctx && ctx->log_fn && level <= ctx->log_level;
}

void mfw_log(struct mfw_ctx *ctx, enum mfw_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	if (!mfw_log_enabled(ctx, level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ctx->log_fn(ctx->log_user, level, line);
}

void mfw_progress(struct mfw_ctx *ctx, const char *phase, const char *label,
		  uint64_t done, uint64_t total)
{
	if (ctx && ctx->progress_fn)
		ctx->progress_fn(ctx->progress_user, phase, label ? label : "", done, total);
}

int64_t mfw_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mfw_now_ms(void)
{
	return mfw_now_us() / 1000;
}

mfw_deadline_t mfw_deadline_in(int64_t ms)
{
	if (ms < 0)
		ms = 0;
	return mfw_now_ms() + ms;
}

int mfw_deadline_left(mfw_deadline_t deadline)
{
	int64_t left;
	if (deadline == MFW_DEADLINE_NONE)
		return INT32_MAX;
	left = deadline - mfw_now_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

bool mfw_deadline_passed(mfw_deadline_t deadline)
{
	return deadline != MFW_DEADLINE_NONE && mfw_now_ms() >= deadline;
}

mfw_deadline_t mfw_deadline_min(mfw_deadline_t a, mfw_deadline_t b)
{
	return a < b ? a : b;
}

void mfw_ctx_set_time_scale(struct mfw_ctx *ctx, unsigned pct)
{
	ctx->time_scale_pct = pct ? pct : 100;
}

int mfw_ctx_ms(const struct mfw_ctx *ctx, int ms)
{
	int64_t v;
	if (!ctx || ctx->time_scale_pct == 100)
		return ms;
	v = (int64_t)ms * ctx->time_scale_pct / 100;
	/*
	 * A floor keeps scaled waits longer than a loaded machine's scheduling
	 * hiccups (a 100 ms Sahara wait failed fault-free re-runs under load).
	 */
	if (v < MFW_TIME_SCALE_FLOOR_MS)
		v = ms < MFW_TIME_SCALE_FLOOR_MS ? ms : MFW_TIME_SCALE_FLOOR_MS;
	return v < 1 ? 1 : v > INT32_MAX ? INT32_MAX : (int)v;
}
