/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DEVICE_INTERNAL_H
#define MFW_DEVICE_INTERNAL_H

/* Shared by discover.c, conflicts.c and switch.c; not public. */
#include <modemfw/device.h>
#include "core/core.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

/* Prefix of /sys and /proc: "" for the running system. */
const char *mfw_dev_root(const struct mfw_device_opts *o);
/* "/dev" unless overridden. */
const char *mfw_dev_dir(const struct mfw_device_opts *o);

/* snprintf that reports truncation as -1 (paths too long are skipped, never cut). */
int mfw_dev_path(char *out, size_t cap, const char *fmt, ...) MFW_PRINTF(3, 4);
/* Bounded copy that always terminates: names and sentences, never a path to open. */
static inline void str_copy(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	while (n + 1 < cap && src[n]) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
}

/* One sysfs attribute, trailing newline removed: its length, or -1. */
int mfw_dev_read_attr(const char *dir, const char *name, char *buf, size_t cap);

/* Append a conflict sentence to m (dropped when the table is full). */
void mfw_dev_add_conflict(struct mfw_modem *m, enum mfw_conflict_kind kind, const char *port,
			  long pid, const char *fmt, ...) MFW_PRINTF(5, 6);
/*
 * Fill the conflicts of every modem: ModemManager, drivers on the EDL
 * interface, autosuspend, ports held by other processes (one pass over
 * <root>/proc), Unisoc/ASR platforms.
 */
void mfw_dev_find_conflicts(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			    struct mfw_modem *v, size_t n);

/* Polling period while waiting for a device to (re)appear: QFirehose and qdl poll every few hundred ms. */
#define MFW_DEV_POLL_MS 250

#endif
