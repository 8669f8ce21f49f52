/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_UTIL_FS_H
#define MFW_UTIL_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mfw_ctx;

/*
 * Create dir and its missing parents with mode (existing ones are fine).
 * MFW_E_RANGE for an over-long path, MFW_E_IO naming the component that
 * could not be created.
 */
int mfw_mkdir_p(struct mfw_ctx *ctx, const char *dir, mode_t mode);

/*
 * Exactly len bytes at off, through EINTR and short reads: 0, MFW_E_RANGE
 * when the file ends first, MFW_E_IO on a read error (errno kept).
 */
int mfw_pread_all(int fd, void *buf, size_t len, uint64_t off);
/* All of buf, through EINTR and short writes: 0, MFW_E_NOSPC (disk full), MFW_E_IO (errno kept). */
int mfw_write_all(int fd, const void *buf, size_t len);
/*
 * All of buf at off, through EINTR and short writes: 0, MFW_E_NOSPC (disk
 * full, or a write that moved nothing), MFW_E_IO (errno kept).
 */
int mfw_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
