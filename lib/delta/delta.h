/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_LIB_DELTA_H
#define MFW_LIB_DELTA_H

/* Internals shared by the delta engine's files. */
#include <modemfw/delta.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#define MFW_BSDIFF40_MAGIC "BSDIFF40"
#define MFW_BSDIFF40_HDR 32

/*
 * BSDIFF40 integers are 8 bytes little-endian sign-magnitude: bit 63 is the
 * sign, the low 63 bits the magnitude (not two's complement). "Negative
 * zero" decodes to 0, as bspatch does.
 */
static inline int64_t mfw_delta_get_off(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	int64_t mag = (int64_t)(v & INT64_MAX);
	return (v >> 63) ? -mag : mag;
}

static inline void mfw_delta_put_off(uint8_t *p, int64_t x)
{
	/* INT64_MIN has no sign-magnitude form; callers never produce it. */
	uint64_t v = x < 0 ? ((uint64_t)(-x) | (1ull << 63)) : (uint64_t)x;
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* One control triple: add x diff bytes, copy y extra bytes, seek old by z. */
struct mfw_delta_ctrl {
	int64_t x;
	int64_t y;
	int64_t z;
};

struct mfw_delta_ctrlv {
	struct mfw_delta_ctrl *v;
	size_t n;
	size_t cap;
};

/*
 * Heap accounting for the stats: every large buffer and every bzip2 state
 * goes through these counters, from several threads.
 */
struct mfw_delta_mem {
	uint64_t cur;
	uint64_t peak;
};

void mfw_delta_mem_add(struct mfw_delta_mem *m, uint64_t n);
void mfw_delta_mem_sub(struct mfw_delta_mem *m, uint64_t n);
void *mfw_delta_malloc(struct mfw_delta_mem *m, size_t n);
void mfw_delta_free(struct mfw_delta_mem *m, void *p, size_t n);
/* the same for large buffers, from mmap(): returned to the system when freed */
void *mfw_delta_map(struct mfw_delta_mem *m, size_t n);
void mfw_delta_unmap(struct mfw_delta_mem *m, void *p, size_t n);
/* A growable buffer whose memory the counters include. */
struct mfw_delta_buf {
	uint8_t *p;
	size_t n, cap;
	struct mfw_delta_mem *mem;
};
/* room for more bytes after n (capacity doubles from 16 KiB): 0 or MFW_E_NOMEM */
int mfw_delta_buf_reserve(struct mfw_delta_buf *b, size_t more);
void mfw_delta_buf_free(struct mfw_delta_buf *b);
/*
 * bzip2 stream framing at the bit level: write.c joins blocks compressed
 * apart into one stream, pbz.c wraps one block of a stream as a stream of
 * its own. A block starts with BLOCK_MAGIC; a stream ends with EOS_MAGIC,
 * the combined CRC and zero bits up to a byte.
 */
#define MFW_BZ_BLOCK_MAGIC 0x314159265359ull
#define MFW_BZ_EOS_MAGIC 0x177245385090ull

/* MSB-first bit writer into a buffer already big enough. */
struct mfw_bz_bitw {
	uint8_t *p;
	size_t n;
	uint64_t acc;
	unsigned bits; /* pending bits in acc, < 8 between calls */
};

static inline void mfw_bz_put(struct mfw_bz_bitw *w, uint64_t v, unsigned n)
{
	w->acc = w->acc << n | (v & ((1ull << n) - 1));
	w->bits += n;
	while (w->bits >= 8) {
		w->bits -= 8;
		w->p[w->n++] = (uint8_t)(w->acc >> w->bits);
	}
}

/* "BZh" and the block-size digit */
static inline void mfw_bz_put_header(struct mfw_bz_bitw *w, int level)
{
	mfw_bz_put(w, 'B', 8);
	mfw_bz_put(w, 'Z', 8);
	mfw_bz_put(w, 'h', 8);
	mfw_bz_put(w, (uint64_t)('0' + level), 8);
}

/* the end marker, the stream's combined CRC, zero bits to a byte boundary */
static inline void mfw_bz_put_end(struct mfw_bz_bitw *w, uint32_t crc)
{
	mfw_bz_put(w, MFW_BZ_EOS_MAGIC >> 24, 24);
	mfw_bz_put(w, MFW_BZ_EOS_MAGIC & 0xffffff, 24);
	mfw_bz_put(w, crc, 32);
	if (w->bits)
		mfw_bz_put(w, 0, 8 - w->bits);
}

/* bzip2's block CRC (MSB-first CRC-32) over p[0..n), continuing c; start at ~0, finish with ~ (bzcrc.c) */
uint32_t mfw_bz_crc_update(uint32_t c, const uint8_t *p, size_t n);

/*
 * Our bzip2 block encoder (bzenc.c): feed bytes with add(), which takes as
 * many as fit one block of the level (RLE1 bytes, at most mfw_bzenc_cap());
 * finish() writes them into out as a one-block stream ("BZh" + level, the
 * block, the end marker) and gives the block's bits (from bit 32 of out)
 * and CRC; the encoder is then empty and can take the next block. With no
 * bytes, out is a stream without blocks and *block_bits is 0.
 */
struct mfw_bzenc;
size_t mfw_bzenc_cap(int level);
int mfw_bzenc_new(struct mfw_bzenc **e, struct mfw_delta_mem *mem, int level);
/* an empty encoder's level, up to the one it was made for: 0 or MFW_E_INVAL */
int mfw_bzenc_set_level(struct mfw_bzenc *e, int level);
size_t mfw_bzenc_add(struct mfw_bzenc *e, const uint8_t *p, size_t n);
int mfw_bzenc_finish(struct mfw_bzenc *e, struct mfw_delta_buf *out, uint64_t *block_bits, uint32_t *block_crc);
void mfw_bzenc_free(struct mfw_bzenc *e);
/* a whole buffer as one bzip2 stream of as many blocks as it needs */
int mfw_bzenc_stream(struct mfw_delta_mem *mem, const uint8_t *in, size_t n, int level, struct mfw_delta_buf *out);

/* bzalloc/bzfree for libbz2 that count into the mfw_delta_mem passed as opaque. */
void *mfw_delta_bzalloc(void *opaque, int items, int size);
void mfw_delta_bzfree(void *opaque, void *p);

/*
 * Matcher, in two passes so old never has to sit in memory next to a
 * suffix array over all of it:
 *  find:   over one block of old at a time, a suffix array finds exact
 *          matches for new (candidates); only new, the block and its
 *          index are in memory; covered (one bit per byte of new) marks
 *          what earlier blocks matched, so later blocks skip it;
 *  select: with old and new in memory, a bsdiff-style scan over the
 *          candidates picks the approximate alignments and the control
 *          triples.
 */
struct mfw_delta_cand {
	int64_t np;  /* position in new */
	int64_t op;  /* position in old */
	int64_t len; /* exact match length */
};

struct mfw_delta_candv {
	struct mfw_delta_cand *v;
	size_t n;
	size_t cap;
};

/*
 * The index of one block of old: its suffix array, a table of 2-byte
 * prefixes and a filter of the hashes of its 12-byte strings. Building
 * takes no context and reports only an error code, so it can run on a
 * helper thread while the previous block is searched.
 */
struct mfw_delta_index {
	const uint8_t *blk;
	int64_t off; /* of the block in old */
	int64_t len;
	int32_t *sa;
	int32_t *bucket; /* 65537 entries: SA range of each 2-byte prefix */
	uint64_t *filter; /* bits per hash of every 12-byte string of the block */
	unsigned filter_bits;
	size_t sa_bytes, filter_bytes;
	struct mfw_delta_mem *mem;
	/* bit per position of new worth a search in this block, made beside the sort when new is given */
	uint64_t *hits;
	size_t hits_bytes;
	bool hits_ready;
	const uint8_t *new_data;
	int64_t new_size;
	const uint8_t *covered;
	/* while it is built: the filter is whole, and the next position of new to mark (shared by two threads) */
	pthread_mutex_t lock;
	pthread_cond_t filter_done;
	bool filter_ready;
	int64_t mark_next;
};

/*
 * new_data and covered may be NULL: the search then makes its list of
 * positions worth a search itself (the pipelined index is built while
 * covered is still being written).
 */
int mfw_delta_index_build(struct mfw_delta_index *ix, const uint8_t *blk, int64_t blk_off, int64_t blk_len,
			  struct mfw_delta_mem *mem, unsigned threads, const uint8_t *new_data, int64_t new_size,
			  const uint8_t *covered);
void mfw_delta_index_free(struct mfw_delta_index *ix);
int mfw_delta_find(struct mfw_ctx *ctx, const struct mfw_delta_index *ix, const uint8_t *new_data,
		   int64_t new_size, uint8_t *covered, unsigned threads, struct mfw_delta_mem *mem,
		   struct mfw_delta_candv *out);
/* Sort candidates from several blocks into new order. */
void mfw_delta_cands_sort(struct mfw_delta_candv *c);
int mfw_delta_select(struct mfw_ctx *ctx, const uint8_t *old, int64_t old_size,
		     const uint8_t *new_data, int64_t new_size, const struct mfw_delta_candv *cands,
		     struct mfw_delta_mem *mem, struct mfw_delta_ctrlv *out);

/*
 * A byte source for the writer: either a buffer or a file read by offset,
 * so old and new need not stay in memory while the streams are encoded.
 */
/*
 * Bytes in memory as a mfw_delta_reader: { mfw_delta_span_read, n, &span }.
 * A read outside them is MFW_E_RANGE.
 */
struct mfw_delta_span {
	const uint8_t *p;
	uint64_t n;
};
int mfw_delta_span_read(void *user, uint64_t off, void *buf, size_t len);

struct mfw_delta_src {
	const uint8_t *p;
	int fd;
	int64_t size;
};

/*
 * Writer: encode the three bzip2 streams and the header into a malloc()ed
 * patch. how: MFW_DELTA_ENC_LIBBZ2 compresses with libbz2's encoder instead
 * of ours (bzenc.c); MFW_DELTA_ENC_EVERY tries every block size on every
 * region of every stream instead of on a sample of the large ones.
 */
#define MFW_DELTA_ENC_LIBBZ2 1u
#define MFW_DELTA_ENC_EVERY 2u
int mfw_delta_write_bsdiff40(struct mfw_ctx *ctx, const struct mfw_delta_src *old,
			     const struct mfw_delta_src *new_data,
			     const struct mfw_delta_ctrlv *ctrl, unsigned threads, unsigned how,
			     struct mfw_delta_mem *mem, uint8_t **patch, size_t *patch_size);

/*
 * MFWZ container (zwrite.c, zapply.c; layout in docs/delta.md). All
 * integers little-endian; the header's last 32 bytes are the SHA-256 of
 * its first 128 bytes followed by the index, so one digest covers every
 * field the applier trusts and names the patch in resume state.
 */
#define MFWZ_VERSION 1
#define MFWZ_ENTRY 64         /* index entry: offset, length, old position, raw length, SHA-256 */
#define MFWZ_SEG_DEFAULT (4u << 20)
#define MFWZ_SEG_MAX (1ull << 30)
#define MFWZ_WLOG_DEFAULT 22  /* 4 MiB: a whole default segment's stream */
#define MFWZ_WLOG_MIN 10
#define MFWZ_WLOG_MAX 22      /* the applier refuses frames that need more */
#define MFWZ_REC 16           /* record header in a segment's stream: u32 x, u32 y, i64 seek */

/* Writer: encode the triples into MFWZ segments; the patch is malloc()ed. */
int mfw_delta_write_mfwz(struct mfw_ctx *ctx, const struct mfw_delta_src *old,
			 const struct mfw_delta_src *new_data, const struct mfw_delta_ctrlv *ctrl,
			 unsigned threads, uint64_t segment_size, int level, struct mfw_delta_mem *mem,
			 uint8_t **patch, size_t *patch_size);

/* mfw_delta_probe() for an MFWZ header: its fields only. */
int mfw_delta_zprobe_hdr(struct mfw_ctx *ctx, const uint8_t *hdr, size_t len, uint64_t *new_size);

/* File form of the MFWZ apply, with the resume state (zapply.c). */
int mfw_delta_zapply_file(struct mfw_ctx *ctx, const char *old_path, const char *patch_path,
			  const char *new_path, const struct mfw_delta_apply_opts *opts,
			  struct mfw_delta_stats *stats);

/*
 * Parallel decoding of one bzip2 stream (pbz.c): its blocks are found by
 * scanning for their magic and decoded on several threads at once; the
 * caller takes the output in order. It may give up (a magic inside a
 * block's data, a corrupt stream): take() and finish() then return 1 and
 * the caller decodes sequentially, skipping delivered() bytes. open()
 * returns 1 when the stream is not one it can take.
 */
struct mfw_delta_pbz;
int mfw_delta_pbz_open(struct mfw_delta_pbz **out, const struct mfw_delta_reader *patch, uint64_t off,
		       uint64_t end, unsigned decoders, bool small, struct mfw_delta_mem *mem);
int mfw_delta_pbz_take(struct mfw_delta_pbz *z, size_t want, const uint8_t **p, size_t *n);
int mfw_delta_pbz_finish(struct mfw_delta_pbz *z);
uint64_t mfw_delta_pbz_delivered(const struct mfw_delta_pbz *z);
void mfw_delta_pbz_close(struct mfw_delta_pbz *z);

#endif
