/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_PROTO_EXPR_H
#define MFW_PROTO_EXPR_H

/*
 * The expressions that appear in rawprogram/patch manifests, parsed with a
 * strict grammar and never evaluated as code (reference §4.3):
 *   1234 | 1234.           literal (decimal; the trailing '.' marks decimal)
 *   NUM_DISK_SECTORS-N.    total sectors of the LUN minus N (also "+N", or alone)
 *   NUM_DISK_BLOCKS-N.     NAND: total blocks minus N (also "+N", or alone)
 *   CRC32(a,b)             CRC-32 of b bytes starting at sector a (a may itself
 *                          be a NUM_DISK_SECTORS form), stored little-endian
 * Whitespace around tokens is allowed; keywords are upper case; N is decimal
 * and fits int64_t (MFW_E_RANGE otherwise). Anything else is MFW_E_FORMAT.
 * Evaluation: MFW_E_RANGE below 0 or above UINT64_MAX; MFW_E_UNSUPPORTED when
 * the env lacks what the form needs (num_disk_sectors or num_disk_blocks 0,
 * crc32 NULL); a crc32 callback's error is returned as is.
 */
#include <stdint.h>

struct mfw_ctx;

enum mfw_expr_kind {
	MFW_EXPR_LITERAL,
	MFW_EXPR_DISK_SECTORS, /* NUM_DISK_SECTORS + offset */
	MFW_EXPR_DISK_BLOCKS,  /* NUM_DISK_BLOCKS + offset */
	MFW_EXPR_CRC32,        /* CRC32(start, len) */
};

struct mfw_expr {
	enum mfw_expr_kind kind;
	int64_t value;   /* literal value, or the signed offset for DISK_* */
	/* CRC32: start sector is itself a literal or DISK_SECTORS form */
	enum mfw_expr_kind crc_start_kind;
	int64_t crc_start; /* literal sector, or offset from NUM_DISK_SECTORS */
	uint64_t crc_len;  /* bytes */
};

struct mfw_expr_env {
	uint64_t num_disk_sectors; /* of this LUN */
	uint64_t num_disk_blocks;  /* NAND; 0 when not NAND */
	uint32_t sector_size;
	/* CRC-32 of len bytes from sector start; NULL when CRC32 is not available */
	int (*crc32)(void *user, uint64_t start_sector, uint64_t len, uint32_t *out);
	void *user;
};

int mfw_expr_parse(struct mfw_ctx *ctx, const char *text, struct mfw_expr *out);
/* Evaluate to an unsigned value; MFW_E_RANGE on underflow/overflow. */
int mfw_expr_eval(struct mfw_ctx *ctx, const struct mfw_expr *e, const struct mfw_expr_env *env,
		  uint64_t *out);
/* Parse and evaluate in one step. */
int mfw_expr_eval_text(struct mfw_ctx *ctx, const char *text, const struct mfw_expr_env *env,
		       uint64_t *out);

#endif
