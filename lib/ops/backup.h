/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_BACKUP_H
#define MFW_OPS_BACKUP_H

#include "ops/conn.h"
#include <modemfw/backup.h>

#define MFW_DEV_MAX_PARTS 160

/* Where partitions are on the device, from its own partition table. */
struct mfw_dev_part {
	char label[72];
	unsigned lun;
	uint64_t first;   /* sector */
	uint64_t count;   /* sectors */
};

struct mfw_dev_layout {
	bool nand;
	uint32_t sector_size;
	uint32_t pages_per_block;
	uint64_t total_sectors;
	struct mfw_dev_part table; /* the partition table region itself (MIBIB / primary GPT) */
	size_t n;
	struct mfw_dev_part parts[MFW_DEV_MAX_PARTS];
};

/* Read storage info and the partition table (MIBIB on NAND, GPT on eMMC/UFS LUN 0). */
int mfw_dev_layout_read(struct mfw_conn *c, struct mfw_dev_layout *out);
const struct mfw_dev_part *mfw_dev_layout_find(const struct mfw_dev_layout *l, const char *label);

/* Back up the protected partitions present in l (plus the table) into dir. */
int mfw_backup_session(struct mfw_conn *c, const struct mfw_dev_layout *l, const char *dir,
		       struct mfw_backup_summary *out);

/*
 * Newest verified backup of this device under base (base/<device_key>/<time>/)
 * that holds label; found gets its directory. MFW_E_NOENT when none.
 */
int mfw_backup_find(struct mfw_ctx *ctx, const char *base, const char *device_key,
		    const char *label, char *found, size_t cap);

#endif
