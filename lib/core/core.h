/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_LIB_CORE_H
#define MFW_LIB_CORE_H

/* Library-internal helpers on top of the public context API. */
#include <modemfw/error.h>
#include <modemfw/context.h>
#include <stddef.h>

#if defined(__GNUC__)
#define MFW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MFW_PRINTF(a, b)
#endif

#define MFW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Record the detail sentence for a failure and return err, so a failing
 * path reads: return mfw_fail(ctx, MFW_E_NAK, "erase of 'modem' refused: %s", log);
 * ctx may be NULL (pure codecs called without a context).
 */
int mfw_fail(struct mfw_ctx *ctx, int err, const char *fmt, ...) MFW_PRINTF(3, 4);
/* Same, but only when no detail was set since the last clear: keeps the innermost reason. */
int mfw_fail_keep(struct mfw_ctx *ctx, int err, const char *fmt, ...) MFW_PRINTF(3, 4);

void mfw_log(struct mfw_ctx *ctx, enum mfw_log_level level, const char *fmt, ...) MFW_PRINTF(3, 4);
#define mfw_dbg(ctx, ...) mfw_log((ctx), MFW_LOG_DEBUG, __VA_ARGS__)
#define mfw_trace(ctx, ...) mfw_log((ctx), MFW_LOG_TRACE, __VA_ARGS__)
/*
 * Library code logs at debug/trace only (systemd rule). Two exceptions use
 * info/warn: user-facing notices the tool must relay ("detached kernel
 * driver qcserial") — mfw_notice() — and warnings about the device.
 */
#define mfw_notice(ctx, ...) mfw_log((ctx), MFW_LOG_INFO, __VA_ARGS__)
#define mfw_warn(ctx, ...) mfw_log((ctx), MFW_LOG_WARN, __VA_ARGS__)

bool mfw_log_enabled(const struct mfw_ctx *ctx, enum mfw_log_level level);

void mfw_progress(struct mfw_ctx *ctx, const char *phase, const char *label,
		  uint64_t done, uint64_t total);

/* True once cancel was requested (polled at safe points). */
bool mfw_cancelled(const struct mfw_ctx *ctx);

#endif
