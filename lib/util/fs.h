/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_UTIL_FS_H
#define MFW_UTIL_FS_H

#include <sys/types.h>

struct mfw_ctx;

/*
 * Create dir and its missing parents with mode (existing ones are fine).
 * MFW_E_RANGE for an over-long path, MFW_E_IO naming the component that
 * could not be created.
 */
int mfw_mkdir_p(struct mfw_ctx *ctx, const char *dir, mode_t mode);

#endif
