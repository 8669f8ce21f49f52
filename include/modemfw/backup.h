/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_BACKUP_H
#define MODEMFW_BACKUP_H

/*
 * Identity and calibration backup over EDL: the protected partitions
 * (efs2, modemst1, modemst2, fsg, fsc, persist — whichever exist) and the
 * partition table itself, each read proven by the device's digest (or by a
 * second read), into a directory with a manifest:
 *
 *   DIR/manifest.txt     line format, read back by restore
 *   DIR/manifest.json    the same for tools
 *   DIR/<label>.bin      the images
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;
struct mfw_transport;

struct mfw_edl_prog {
	const char *package;       /* take the programmer from this firmware package, or */
	const char *programmer;    /* from this file; both NULL: only a running programmer */
	const char *storage;       /* "nand" / "emmc"; NULL: the package's, else the device's word */
	bool no_reset;             /* leave the programmer running at the end (default: reset) */
};

struct mfw_backup_summary {
	char dir[1024];
	char device_key[64];
	unsigned parts;
	uint64_t bytes;
	char labels[512];          /* "EFS2 MIBIB" */
	const char *method;        /* "digest" or "double-read" */
};

/* Back up into dir (created; must not hold a backup already). */
int mfw_backup_edl(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_edl_prog *p,
		   const char *dir, struct mfw_backup_summary *out);

struct mfw_restore_opts {
	bool force;                /* restore a backup made on another device */
	const char *const *labels; /* restore only these (NULL: all but the partition table) */
	size_t nlabels;
	bool include_table;        /* also write the partition table back */
};

struct mfw_restore_summary {
	unsigned parts;
	uint64_t bytes;
	char labels[512];
	char device_key[64];
};

/* Write a backup back, verify each range, refuse another device's backup unless force. */
int mfw_restore_edl(struct mfw_ctx *ctx, struct mfw_transport *t, const struct mfw_edl_prog *p,
		    const char *dir, const struct mfw_restore_opts *o, struct mfw_restore_summary *out);

#endif
