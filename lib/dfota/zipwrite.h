/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_ZIPWRITE_H
#define MFW_DFOTA_ZIPWRITE_H

/*
 * Deterministic zip writer over libzip: entries are collected first and
 * written at the end in byte order of their names, every entry with the
 * DOS time 2008-01-01 00:00, unix attributes 0644 (0755 for directories),
 * no extra fields, so the same entries always give the same bytes. Entry
 * data comes from host files (streamed by libzip at write time, so memory
 * does not grow with the package) or small buffers (copied).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modemfw/context.h>

struct mfw_zipw;

int mfw_zipw_new(struct mfw_zipw **out);
void mfw_zipw_free(struct mfw_zipw *zw);
/* host_path must stay in place until mfw_zipw_write() returns. */
int mfw_zipw_add_file(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name,
		      const char *host_path, bool deflate);
int mfw_zipw_add_buf(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name,
		     const void *data, size_t len, bool deflate);
/* A directory entry; name must end with '/'. */
int mfw_zipw_add_dir(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *name);
/* True when an entry of that name was added. */
bool mfw_zipw_has(const struct mfw_zipw *zw, const char *name);
/*
 * SHA-256 over every entry added so far, in the order they will be
 * written: name bytes, then data bytes (the package signature input).
 */
int mfw_zipw_digest(struct mfw_ctx *ctx, struct mfw_zipw *zw, uint8_t out[32]);
/* Write the archive to path (through path.tmp, renamed when complete). */
int mfw_zipw_write(struct mfw_ctx *ctx, struct mfw_zipw *zw, const char *path);

#endif
