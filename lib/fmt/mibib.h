/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_MIBIB_H
#define MFW_FMT_MIBIB_H

/*
 * NAND MIBIB partition table, exactly as modelled in docs/formats.md:
 * page 0 header, page 1 system table (28-byte entries, "0:" names), page 2
 * user table, page 3 check page with the CRC-32 of pages 0 and 1. A length
 * of 0xFFFFFFFF means "to the end of the device". Offsets and lengths are
 * in erase blocks; sectors are pages.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

#define MFW_MIBIB_PAGES 4          /* pages 0..3 carry data; the rest is erased */
#define MFW_MIBIB_MAGIC1 0xFE569FACu
#define MFW_MIBIB_MAGIC2 0xCD7F127Au
#define MFW_MIBIB_VERSION 4u
#define MFW_MIBIB_SYS_MAGIC1 0x55EE73AAu
#define MFW_MIBIB_SYS_MAGIC2 0xE35EBDDBu
#define MFW_MIBIB_SYS_VERSION 4u
#define MFW_MIBIB_USR_MAGIC1 0xAA7D1B9Au
#define MFW_MIBIB_USR_MAGIC2 0x1F7D48BCu
#define MFW_MIBIB_USR_VERSION 1u
#define MFW_MIBIB_TABLE_HDR 16     /* bytes before the first entry of pages 1 and 2 */
#define MFW_MIBIB_ENTRY_SIZE 28
#define MFW_MIBIB_NAME_LEN 16
#define MFW_MIBIB_TO_END 0xFFFFFFFFu
#define MFW_MIBIB_MAX_PARTS 32     /* also bounded by what fits in a page */

struct mfw_mibib_part {
	char name[MFW_MIBIB_NAME_LEN + 1]; /* as stored, e.g. "0:SBL" (NUL-terminated) */
	uint32_t offset;                   /* first block */
	uint32_t length;                   /* blocks, or MFW_MIBIB_TO_END */
	uint8_t attr[3];
	uint8_t which_flash;
};

struct mfw_mibib {
	uint32_t page_size;
	uint32_t version;         /* header page */
	uint32_t age;
	uint32_t sys_version;
	size_t nparts;            /* system table (page 1) */
	struct mfw_mibib_part parts[MFW_MIBIB_MAX_PARTS];
	uint32_t usr_version;
	size_t nuser;             /* user table (page 2) */
	struct mfw_mibib_part user[MFW_MIBIB_MAX_PARTS];
	uint32_t crc_stored;      /* check page; 0 = package form, not yet patched */
	uint32_t crc_computed;    /* CRC-32 of pages 0 and 1 */
};

/*
 * Parse from the start of an image (at least MFW_MIBIB_PAGES * page_size
 * bytes). MFW_E_FORMAT on a bad magic/version, a numparts that does not
 * fit the page or MFW_MIBIB_MAX_PARTS, an unterminated/empty name, a
 * partition that overlaps the previous one, or a non-zero stored CRC that
 * differs from the computed one. A stored CRC of 0 (package form) is
 * accepted. MFW_E_INVAL for a page size that is not a power of two in
 * 512..65536.
 */
int mfw_mibib_parse(struct mfw_ctx *ctx, const void *data, size_t len, uint32_t page_size,
		    struct mfw_mibib *out);

/* System-table entry whose name without the "0:" prefix equals label, case-insensitively. */
const struct mfw_mibib_part *mfw_mibib_find(const struct mfw_mibib *m, const char *label);

/*
 * First and last sector (page) of a partition. total_blocks resolves
 * MFW_MIBIB_TO_END (0 = unknown: MFW_E_RANGE for such a partition).
 * MFW_E_NOENT when label is absent, MFW_E_RANGE on overflow or a partition
 * past total_blocks (when known).
 */
int mfw_mibib_range(struct mfw_ctx *ctx, const struct mfw_mibib *m, const char *label,
		    uint32_t pages_per_block, uint64_t total_blocks, uint64_t *first_sector,
		    uint64_t *last_sector);

enum mfw_mibib_form {
	MFW_MIBIB_FORM_PACKAGE, /* last length 0xFFFFFFFF, check CRC 0 (patched by patch XML) */
	MFW_MIBIB_FORM_DEVICE,  /* last length = total_blocks - its offset, CRC filled */
};

/* The canonical table of docs/formats.md (20 entries, "0:SBL" .. "0:usrfs"). */
const struct mfw_mibib_part *mfw_mibib_canonical(size_t *n);

/*
 * Write MFW_MIBIB_PAGES * page_size bytes into out (cap at least that):
 * pages 0..3 as documented, unused bytes 0xFF. parts go to the system table
 * and, without their "0:" prefix, to the user table. DEVICE form resolves a
 * last entry of MFW_MIBIB_TO_END against total_blocks. Returns the number of
 * bytes written; MFW_E_RANGE (cap, too many parts, table past total_blocks),
 * MFW_E_INVAL (page size, names too long).
 */
int mfw_mibib_build(struct mfw_ctx *ctx, uint32_t page_size, const struct mfw_mibib_part *parts,
		    size_t nparts, uint64_t total_blocks, enum mfw_mibib_form form, uint8_t *out,
		    size_t cap);
/* mfw_mibib_build() with the canonical table. pages_per_block is checked (the layout needs >= 1). */
int mfw_mibib_build_canonical(struct mfw_ctx *ctx, uint32_t page_size, uint32_t pages_per_block,
			      uint64_t total_blocks, enum mfw_mibib_form form, uint8_t *out,
			      size_t cap);

#endif
