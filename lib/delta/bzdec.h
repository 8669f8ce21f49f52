/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DELTA_BZDEC_H
#define MFW_DELTA_BZDEC_H

/*
 * A decoder for one bzip2 block, for the block-parallel reader (pbz.c):
 * table-driven Huffman decoding, runs written with memset() and a CRC taken
 * eight bytes at a time, where libbz2 decodes a bit at a time and writes
 * and checksums a byte at a time. It handles well-formed blocks only and
 * says no to anything else (a randomised block, an over-subscribed code,
 * more than 18002 selectors, a run of four at the block's end, a wrong CRC,
 * a block that does not end exactly where it should): the reader then lets
 * libbz2 decide, so every verdict stays libbz2's.
 */
#include "delta/delta.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_bzdec;

/* A decoder for blocks of up to level x 100k; NULL when out of memory. */
struct mfw_bzdec *mfw_bzdec_new(int level, struct mfw_delta_mem *mem);
void mfw_bzdec_free(struct mfw_bzdec *b);

/*
 * Read and decode the block whose magic starts at bit `start` of the patch
 * and which must end exactly at bit `end` (the next magic), or anywhere up
 * to byte `limit` of the patch when end is MFW_BZDEC_ANY_END (a sequential
 * reader: mfw_bzdec_end_bit() then says where it ended). Nothing at or
 * past byte `limit` is read. 0 when the block is ready for mfw_bzdec_out(),
 * 1 when this decoder does not take it (the caller falls back to libbz2),
 * a negative error when the patch cannot be read.
 */
#define MFW_BZDEC_ANY_END UINT64_MAX
int mfw_bzdec_block(struct mfw_bzdec *b, const struct mfw_delta_reader *patch, uint64_t start,
		    uint64_t end, uint64_t limit);
/* The bit after the block's end-of-block symbol. */
uint64_t mfw_bzdec_end_bit(const struct mfw_bzdec *b);
/*
 * Up to cap bytes of the block's output into buf; returns how many (0 once
 * the block is done). After 0, mfw_bzdec_ok() tells whether the block ended
 * well (its run-length coding complete) and its CRC is the one in its header.
 */
size_t mfw_bzdec_out(struct mfw_bzdec *b, uint8_t *buf, size_t cap);
bool mfw_bzdec_ok(const struct mfw_bzdec *b);
/* The CRC in the block's header. */
uint32_t mfw_bzdec_crc(const struct mfw_bzdec *b);

#endif
