/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_SPARSE_H
#define MFW_FMT_SPARSE_H

/*
 * Android sparse image ("simg"), as eMMC/UFS packages ship system images
 * (rawprogram sparse="true"). Pure streaming decoder: the caller feeds file
 * bytes in pieces of any size and receives the expanded image as runs
 * (offset, length, and data / fill pattern / don't-care), so a multi-GiB
 * image is expanded with a few dozen bytes of state. Raw data runs point
 * into the caller's input buffer; nothing is copied.
 *
 * File: 28-byte header (magic 0xED26FF3A, major 1, file_hdr_sz 28,
 * chunk_hdr_sz 12, blk_sz, total_blks, total_chunks, image_checksum), then
 * total_chunks chunks: 12-byte header (type, reserved, chunk_sz in blocks,
 * total_sz in bytes including the header) and a body: RAW chunk_sz*blk_sz
 * bytes, FILL a 4-byte pattern, DONT_CARE nothing, CRC32 a 4-byte CRC of the
 * expanded image so far. All little-endian.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

#define MFW_SPARSE_MAGIC 0xED26FF3Au
#define MFW_SPARSE_HEADER_LEN 28u
#define MFW_SPARSE_CHUNK_HEADER_LEN 12u

enum mfw_sparse_chunk_type {
	MFW_SPARSE_CHUNK_RAW = 0xCAC1,
	MFW_SPARSE_CHUNK_FILL = 0xCAC2,
	MFW_SPARSE_CHUNK_DONT_CARE = 0xCAC3,
	MFW_SPARSE_CHUNK_CRC32 = 0xCAC4,
};

struct mfw_sparse_header {
	uint16_t major;
	uint16_t minor;
	uint32_t blk_sz;       /* bytes, multiple of 4 */
	uint32_t total_blks;   /* blocks of the expanded image */
	uint32_t total_chunks;
	uint32_t image_checksum; /* informational; writers leave it 0 */
};

/* True when buf starts with the sparse magic (cheap format sniffing). */
bool mfw_sparse_is_sparse(const void *buf, size_t len);
/*
 * Parse and check the 28-byte file header (len >= 28). MFW_E_FORMAT with a
 * detail on a bad magic, version, header sizes or block size.
 */
int mfw_sparse_parse_header(struct mfw_ctx *ctx, const void *buf, size_t len,
			    struct mfw_sparse_header *out);
/* Size of the expanded image in bytes, from a header read above. */
uint64_t mfw_sparse_expanded_size(const struct mfw_sparse_header *h);
/* Both steps at once: expanded size of the image whose first bytes are buf. */
int mfw_sparse_image_size(struct mfw_ctx *ctx, const void *buf, size_t len, uint64_t *out);

enum mfw_sparse_run_kind {
	MFW_SPARSE_RUN_DATA,      /* data[0..length) */
	MFW_SPARSE_RUN_FILL,      /* fill[4] repeated over length (length % 4 == 0) */
	MFW_SPARSE_RUN_DONT_CARE, /* content undefined: skip or write anything */
};

struct mfw_sparse_run {
	enum mfw_sparse_run_kind kind;
	uint64_t offset;     /* byte offset in the expanded image */
	uint64_t length;     /* bytes, > 0 */
	const uint8_t *data; /* DATA only; valid during the callback */
	uint8_t fill[4];     /* FILL only: the pattern bytes in image order */
	uint32_t fill_value; /* FILL only: the same as a little-endian u32 */
};

/* Return < 0 to stop decoding; that value is returned by mfw_sparse_dec_feed. */
typedef int (*mfw_sparse_emit_fn)(void *user, const struct mfw_sparse_run *run);

struct mfw_sparse_dec {
	/* all internal */
	int state;
	struct mfw_sparse_header hdr;
	uint8_t hbuf[MFW_SPARSE_HEADER_LEN]; /* file or chunk header being gathered */
	size_t hlen;
	uint32_t chunk;          /* chunks started so far */
	uint64_t block;          /* blocks covered by the chunks started so far */
	uint64_t pos;            /* byte offset of the next run */
	uint64_t raw_left;       /* bytes of the current RAW chunk still to come */
	uint64_t consumed;       /* input bytes accepted (for error details) */
	bool verify_crc;
	uint32_t crc;            /* running CRC-32 of the expanded image */
};

/*
 * verify_crc: check CRC32 chunks against the expanded data. Costs a CRC pass
 * over every fill and don't-care byte too (as zeros, like libsparse), so it
 * is off for flashing and on for tests and `verify`.
 */
void mfw_sparse_dec_init(struct mfw_sparse_dec *d, bool verify_crc);
/*
 * Decode the next len bytes of the file, calling emit for every run. Returns
 * 0, MFW_E_FORMAT on any inconsistency (bad header, unknown chunk type,
 * chunk sizes that disagree with blk_sz, more blocks or chunks than the
 * header announced, bytes after the last chunk, CRC mismatch), or emit's
 * negative value. After an error the decoder stays failed.
 */
int mfw_sparse_dec_feed(struct mfw_ctx *ctx, struct mfw_sparse_dec *d, const void *buf,
			size_t len, mfw_sparse_emit_fn emit, void *user);
/* Call at end of input: MFW_E_FORMAT when the image is truncated. */
int mfw_sparse_dec_finish(struct mfw_ctx *ctx, struct mfw_sparse_dec *d);
/* Header of the image being decoded (valid once 28 bytes were fed), or NULL. */
const struct mfw_sparse_header *mfw_sparse_dec_header(const struct mfw_sparse_dec *d);

/*
 * Minimal in-memory writer, for tests and sample packages: append chunks,
 * then finish to get the file. Keeps a running CRC so crc() can emit a
 * CRC32 chunk that a verifying decoder accepts.
 */
struct mfw_sparse_writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	uint32_t blk_sz;
	uint32_t total_blks;
	uint32_t total_chunks;
	uint32_t crc;
	bool crc_off; /* image grew past MFW_SPARSE_WRITER_CRC_MAX: crc() refuses */
	int err; /* first failure, reported by finish */
};

/* The writer's running CRC stops beyond this expanded size (tests stay fast). */
#define MFW_SPARSE_WRITER_CRC_MAX (256ull * 1024 * 1024)

int mfw_sparse_writer_init(struct mfw_sparse_writer *w, uint32_t blk_sz);
/* nblocks * blk_sz bytes of data. */
int mfw_sparse_writer_raw(struct mfw_sparse_writer *w, const void *data, uint32_t nblocks);
int mfw_sparse_writer_fill(struct mfw_sparse_writer *w, uint32_t pattern, uint32_t nblocks);
int mfw_sparse_writer_dont_care(struct mfw_sparse_writer *w, uint32_t nblocks);
/*
 * A CRC32 chunk with the CRC of everything so far (don't-care as zeros);
 * MFW_E_RANGE once the image is larger than MFW_SPARSE_WRITER_CRC_MAX.
 */
int mfw_sparse_writer_crc(struct mfw_sparse_writer *w);
/* Write the header; *out and *len point into w (valid until free). */
int mfw_sparse_writer_finish(struct mfw_sparse_writer *w, const uint8_t **out, size_t *len);
void mfw_sparse_writer_free(struct mfw_sparse_writer *w);

#endif
