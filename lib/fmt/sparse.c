/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Android sparse image: streaming decoder and a small writer. The decoder
 * holds at most one header of state; every size field is checked against
 * the others before anything is emitted, because the file comes from a
 * package we did not build and a wrong length would write the wrong sectors.
 */
#include "fmt/sparse.h"
#include "core/core.h"
#include "util/bytes.h"
#include "util/crc.h"
#include <modemfw/error.h>

#include <stdlib.h>
#include <string.h>

enum dec_state {
	ST_FILE_HDR,
	ST_CHUNK_HDR,
	ST_CHUNK_BODY, /* the 4-byte body of FILL or CRC32 */
	ST_RAW,
	ST_DONE,
	ST_FAILED,
};

/* Only major version 1 exists; minor versions add nothing a reader needs. */
#define SPARSE_MAJOR 1u
#define CHUNK_BODY_LEN 4u

bool mfw_sparse_is_sparse(const void *buf, size_t len)
{
	return len >= 4 && mfw_get_le32(buf) == MFW_SPARSE_MAGIC;
}

int mfw_sparse_parse_header(struct mfw_ctx *ctx, const void *buf, size_t len,
			    struct mfw_sparse_header *out)
{
	const uint8_t *p = buf;
	uint16_t file_hdr_sz, chunk_hdr_sz;

	if (len < MFW_SPARSE_HEADER_LEN)
		return mfw_fail(ctx, MFW_E_FORMAT, "sparse image shorter than its %u-byte header",
				MFW_SPARSE_HEADER_LEN);
	if (mfw_get_le32(p) != MFW_SPARSE_MAGIC)
		return mfw_fail(ctx, MFW_E_FORMAT, "not a sparse image (magic 0x%08x)",
				mfw_get_le32(p));
	out->major = mfw_get_le16(p + 4);
	out->minor = mfw_get_le16(p + 6);
	file_hdr_sz = mfw_get_le16(p + 8);
	chunk_hdr_sz = mfw_get_le16(p + 10);
	out->blk_sz = mfw_get_le32(p + 12);
	out->total_blks = mfw_get_le32(p + 16);
	out->total_chunks = mfw_get_le32(p + 20);
	out->image_checksum = mfw_get_le32(p + 24);
	if (out->major != SPARSE_MAJOR)
		return mfw_fail(ctx, MFW_E_FORMAT, "sparse image version %u.%u not supported",
				out->major, out->minor);
	if (file_hdr_sz != MFW_SPARSE_HEADER_LEN || chunk_hdr_sz != MFW_SPARSE_CHUNK_HEADER_LEN)
		return mfw_fail(ctx, MFW_E_FORMAT,
				"sparse image header sizes %u/%u, expected %u/%u", file_hdr_sz,
				chunk_hdr_sz, MFW_SPARSE_HEADER_LEN, MFW_SPARSE_CHUNK_HEADER_LEN);
	if (!out->blk_sz || out->blk_sz % 4)
		return mfw_fail(ctx, MFW_E_FORMAT,
				"sparse image block size %u is not a positive multiple of 4",
				out->blk_sz);
	return 0;
}

uint64_t mfw_sparse_expanded_size(const struct mfw_sparse_header *h)
{
	/* 32 x 32 bits: cannot overflow 64 */
	return (uint64_t)h->total_blks * h->blk_sz;
}

int mfw_sparse_image_size(struct mfw_ctx *ctx, const void *buf, size_t len, uint64_t *out)
{
	struct mfw_sparse_header h;
	int ret = mfw_sparse_parse_header(ctx, buf, len, &h);

	if (ret < 0)
		return ret;
	*out = mfw_sparse_expanded_size(&h);
	return 0;
}

void mfw_sparse_dec_init(struct mfw_sparse_dec *d, bool verify_crc)
{
	memset(d, 0, sizeof(*d));
	d->state = ST_FILE_HDR;
	d->verify_crc = verify_crc;
}

const struct mfw_sparse_header *mfw_sparse_dec_header(const struct mfw_sparse_dec *d)
{
	return d->state == ST_FILE_HDR || (d->state == ST_FAILED && !d->hdr.blk_sz) ? NULL :
										      &d->hdr;
}

/* CRC of a pattern repeated over len bytes (len % 4 == 0). */
static uint32_t crc_pattern(uint32_t crc, const uint8_t pat[4], uint64_t len)
{
	uint8_t block[4096];

	for (size_t i = 0; i < sizeof(block); i += 4)
		memcpy(block + i, pat, 4);
	while (len) {
		size_t n = len < sizeof(block) ? (size_t)len : sizeof(block);

		crc = mfw_crc32(crc, block, n);
		len -= n;
	}
	return crc;
}

struct feed {
	struct mfw_ctx *ctx;
	struct mfw_sparse_dec *d;
	uint64_t at; /* file offset of the byte being looked at, for details */
	mfw_sparse_emit_fn emit;
	void *user;
};

static int dec_fail(struct feed *f, const char *what, unsigned long long a,
		    unsigned long long b)
{
	f->d->state = ST_FAILED;
	return mfw_fail(f->ctx, MFW_E_FORMAT, "sparse image chunk %u at file offset %llu: %s (%llu, %llu)",
			f->d->chunk, (unsigned long long)f->at, what, a, b);
}

static int emit_run(struct feed *f, struct mfw_sparse_run *run)
{
	int ret;

	if (!run->length)
		return 0;
	run->offset = f->d->pos;
	f->d->pos += run->length;
	if (!f->emit)
		return 0;
	ret = f->emit(f->user, run);
	if (ret < 0)
		f->d->state = ST_FAILED;
	return ret < 0 ? ret : 0;
}

/* A chunk (header and body) is complete: move on or finish the image. */
static int chunk_done(struct feed *f)
{
	struct mfw_sparse_dec *d = f->d;

	d->hlen = 0;
	if (d->chunk < d->hdr.total_chunks) {
		d->state = ST_CHUNK_HDR;
		return 0;
	}
	if (d->block != d->hdr.total_blks)
		return dec_fail(f, "chunks cover a different number of blocks than the header says",
				d->block, d->hdr.total_blks);
	d->state = ST_DONE;
	return 0;
}

static int chunk_header(struct feed *f)
{
	struct mfw_sparse_dec *d = f->d;
	uint16_t type = mfw_get_le16(d->hbuf);
	uint32_t chunk_sz = mfw_get_le32(d->hbuf + 4);
	uint32_t total_sz = mfw_get_le32(d->hbuf + 8);
	uint64_t bytes = (uint64_t)chunk_sz * d->hdr.blk_sz;
	uint64_t want;

	d->chunk++;
	switch (type) {
	case MFW_SPARSE_CHUNK_RAW:
		want = MFW_SPARSE_CHUNK_HEADER_LEN + bytes;
		break;
	case MFW_SPARSE_CHUNK_FILL:
		want = MFW_SPARSE_CHUNK_HEADER_LEN + CHUNK_BODY_LEN;
		break;
	case MFW_SPARSE_CHUNK_DONT_CARE:
		want = MFW_SPARSE_CHUNK_HEADER_LEN;
		break;
	case MFW_SPARSE_CHUNK_CRC32:
		if (chunk_sz)
			return dec_fail(f, "CRC32 chunk covers blocks", chunk_sz, 0);
		want = MFW_SPARSE_CHUNK_HEADER_LEN + CHUNK_BODY_LEN;
		break;
	default:
		return dec_fail(f, "unknown chunk type", type, 0);
	}
	if (total_sz != want)
		return dec_fail(f, "chunk total_sz disagrees with chunk_sz*blk_sz", total_sz, want);
	if (chunk_sz > d->hdr.total_blks - d->block)
		return dec_fail(f, "chunk runs past the image's total_blks",
				d->block + chunk_sz, d->hdr.total_blks);
	d->block += chunk_sz;

	switch (type) {
	case MFW_SPARSE_CHUNK_RAW:
		d->raw_left = bytes;
		if (!bytes)
			return chunk_done(f);
		d->state = ST_RAW;
		return 0;
	case MFW_SPARSE_CHUNK_DONT_CARE: {
		struct mfw_sparse_run run = { .kind = MFW_SPARSE_RUN_DONT_CARE, .length = bytes };
		static const uint8_t zero[4];
		int ret;

		if (d->verify_crc)
			d->crc = crc_pattern(d->crc, zero, bytes);
		ret = emit_run(f, &run);
		if (ret < 0)
			return ret;
		return chunk_done(f);
	}
	default:
		/* FILL and CRC32 carry 4 more bytes, gathered after the header */
		d->state = ST_CHUNK_BODY;
		return 0;
	}
}

static int chunk_body(struct feed *f)
{
	struct mfw_sparse_dec *d = f->d;
	uint16_t type = mfw_get_le16(d->hbuf);
	const uint8_t *body = d->hbuf + MFW_SPARSE_CHUNK_HEADER_LEN;
	int ret;

	if (type == MFW_SPARSE_CHUNK_CRC32) {
		uint32_t want = mfw_get_le32(body);

		if (d->verify_crc && want != d->crc)
			return dec_fail(f, "CRC32 chunk does not match the data before it", want,
					d->crc);
	} else {
		struct mfw_sparse_run run = { .kind = MFW_SPARSE_RUN_FILL };
		uint32_t chunk_sz = mfw_get_le32(d->hbuf + 4);

		run.length = (uint64_t)chunk_sz * d->hdr.blk_sz;
		memcpy(run.fill, body, 4);
		run.fill_value = mfw_get_le32(body);
		if (d->verify_crc)
			d->crc = crc_pattern(d->crc, run.fill, run.length);
		ret = emit_run(f, &run);
		if (ret < 0)
			return ret;
	}
	return chunk_done(f);
}

/* Gather up to `want` header bytes into hbuf; true when complete. */
static bool gather(struct mfw_sparse_dec *d, size_t want, const uint8_t **p, size_t *n)
{
	size_t take = want - d->hlen;

	if (take > *n)
		take = *n;
	memcpy(d->hbuf + d->hlen, *p, take);
	d->hlen += take;
	*p += take;
	*n -= take;
	return d->hlen == want;
}

int mfw_sparse_dec_feed(struct mfw_ctx *ctx, struct mfw_sparse_dec *d, const void *buf,
			size_t len, mfw_sparse_emit_fn emit, void *user)
{
	struct feed f = { .ctx = ctx, .d = d, .emit = emit, .user = user };
	const uint8_t *p = buf;
	size_t n = len;
	int ret = 0;

	if (d->state == ST_FAILED)
		return mfw_fail(ctx, MFW_E_FORMAT, "sparse decoder used after an error");
	while (n && ret >= 0) {
		const uint8_t *before = p;

		f.at = d->consumed + (uint64_t)(p - (const uint8_t *)buf);
		switch (d->state) {
		case ST_FILE_HDR:
			if (!gather(d, MFW_SPARSE_HEADER_LEN, &p, &n))
				break;
			ret = mfw_sparse_parse_header(ctx, d->hbuf, d->hlen, &d->hdr);
			if (ret < 0) {
				d->state = ST_FAILED;
				memset(&d->hdr, 0, sizeof(d->hdr));
				break;
			}
			/* an image without chunks is valid only when it is empty */
			ret = chunk_done(&f);
			break;
		case ST_CHUNK_HDR:
			if (gather(d, MFW_SPARSE_CHUNK_HEADER_LEN, &p, &n))
				ret = chunk_header(&f);
			break;
		case ST_CHUNK_BODY:
			if (gather(d, MFW_SPARSE_CHUNK_HEADER_LEN + CHUNK_BODY_LEN, &p, &n))
				ret = chunk_body(&f);
			break;
		case ST_RAW: {
			struct mfw_sparse_run run = { .kind = MFW_SPARSE_RUN_DATA, .data = p };

			run.length = d->raw_left < n ? d->raw_left : n;
			if (d->verify_crc)
				d->crc = mfw_crc32(d->crc, p, (size_t)run.length);
			p += run.length;
			n -= (size_t)run.length;
			d->raw_left -= run.length;
			ret = emit_run(&f, &run);
			if (ret >= 0 && !d->raw_left)
				ret = chunk_done(&f);
			break;
		}
		case ST_DONE:
			ret = dec_fail(&f, "data after the last chunk", n, d->hdr.total_chunks);
			break;
		default:
			ret = mfw_fail(ctx, MFW_E_FORMAT, "sparse decoder used after an error");
			break;
		}
		d->consumed += (uint64_t)(p - before);
	}
	return ret < 0 ? ret : 0;
}

int mfw_sparse_dec_finish(struct mfw_ctx *ctx, struct mfw_sparse_dec *d)
{
	switch (d->state) {
	case ST_DONE:
		return 0;
	case ST_FAILED:
		return mfw_fail(ctx, MFW_E_FORMAT, "sparse decoder used after an error");
	case ST_FILE_HDR:
		return mfw_fail(ctx, MFW_E_FORMAT, "sparse image truncated in its header (%llu bytes)",
				(unsigned long long)d->consumed);
	default:
		return mfw_fail(ctx, MFW_E_FORMAT,
				"sparse image truncated in chunk %u of %u after %llu bytes",
				d->chunk, d->hdr.total_chunks, (unsigned long long)d->consumed);
	}
}

/* ------------------------------------------------------------------ */
/* writer                                                              */
/* ------------------------------------------------------------------ */

static int w_reserve(struct mfw_sparse_writer *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 4096;
	uint8_t *nb;

	if (w->err)
		return w->err;
	if (more > SIZE_MAX / 2 - w->len)
		return w->err = MFW_E_NOMEM;
	if (w->len + more <= w->cap)
		return 0;
	while (cap < w->len + more)
		cap *= 2;
	nb = realloc(w->buf, cap);
	if (!nb)
		return w->err = MFW_E_NOMEM;
	w->buf = nb;
	w->cap = cap;
	return 0;
}

/* Running CRC over what the chunk expands to, while the image is small. */
static void w_crc(struct mfw_sparse_writer *w, const uint8_t pat[4], uint64_t len)
{
	if (w->crc_off)
		return;
	if ((uint64_t)w->total_blks * w->blk_sz > MFW_SPARSE_WRITER_CRC_MAX) {
		w->crc_off = true;
		return;
	}
	w->crc = crc_pattern(w->crc, pat, len);
}

static int w_chunk(struct mfw_sparse_writer *w, uint16_t type, uint32_t nblocks, size_t body)
{
	uint8_t *h;
	int ret;

	if (w->err)
		return w->err;
	if (nblocks > UINT32_MAX - w->total_blks || w->total_chunks == UINT32_MAX ||
	    body > UINT32_MAX - MFW_SPARSE_CHUNK_HEADER_LEN)
		return w->err = MFW_E_RANGE;
	ret = w_reserve(w, MFW_SPARSE_CHUNK_HEADER_LEN + body);
	if (ret < 0)
		return ret;
	h = w->buf + w->len;
	mfw_put_le16(h, type);
	mfw_put_le16(h + 2, 0);
	mfw_put_le32(h + 4, nblocks);
	mfw_put_le32(h + 8, (uint32_t)(MFW_SPARSE_CHUNK_HEADER_LEN + body));
	w->len += MFW_SPARSE_CHUNK_HEADER_LEN;
	w->total_blks += nblocks;
	w->total_chunks++;
	return 0;
}

int mfw_sparse_writer_init(struct mfw_sparse_writer *w, uint32_t blk_sz)
{
	memset(w, 0, sizeof(*w));
	if (!blk_sz || blk_sz % 4)
		return w->err = MFW_E_INVAL;
	w->blk_sz = blk_sz;
	/* the header is written by finish; reserve its place now */
	if (w_reserve(w, MFW_SPARSE_HEADER_LEN) < 0)
		return w->err;
	memset(w->buf, 0, MFW_SPARSE_HEADER_LEN);
	w->len = MFW_SPARSE_HEADER_LEN;
	return 0;
}

int mfw_sparse_writer_raw(struct mfw_sparse_writer *w, const void *data, uint32_t nblocks)
{
	uint64_t bytes = (uint64_t)nblocks * w->blk_sz;
	int ret;

	if (bytes > SIZE_MAX / 2)
		return w->err = MFW_E_RANGE;
	ret = w_chunk(w, MFW_SPARSE_CHUNK_RAW, nblocks, (size_t)bytes);
	if (ret < 0)
		return ret;
	memcpy(w->buf + w->len, data, (size_t)bytes);
	w->len += (size_t)bytes;
	if ((uint64_t)w->total_blks * w->blk_sz > MFW_SPARSE_WRITER_CRC_MAX)
		w->crc_off = true;
	if (!w->crc_off)
		w->crc = mfw_crc32(w->crc, data, (size_t)bytes);
	return 0;
}

int mfw_sparse_writer_fill(struct mfw_sparse_writer *w, uint32_t pattern, uint32_t nblocks)
{
	uint8_t pat[4];
	int ret = w_chunk(w, MFW_SPARSE_CHUNK_FILL, nblocks, 4);

	if (ret < 0)
		return ret;
	mfw_put_le32(pat, pattern);
	memcpy(w->buf + w->len, pat, 4);
	w->len += 4;
	w_crc(w, pat, (uint64_t)nblocks * w->blk_sz);
	return 0;
}

int mfw_sparse_writer_dont_care(struct mfw_sparse_writer *w, uint32_t nblocks)
{
	static const uint8_t zero[4];
	int ret = w_chunk(w, MFW_SPARSE_CHUNK_DONT_CARE, nblocks, 0);

	if (ret < 0)
		return ret;
	w_crc(w, zero, (uint64_t)nblocks * w->blk_sz);
	return 0;
}

int mfw_sparse_writer_crc(struct mfw_sparse_writer *w)
{
	int ret;

	if (w->crc_off)
		return w->err ? w->err : MFW_E_RANGE;
	ret = w_chunk(w, MFW_SPARSE_CHUNK_CRC32, 0, 4);
	if (ret < 0)
		return ret;
	mfw_put_le32(w->buf + w->len, w->crc);
	w->len += 4;
	return 0;
}

int mfw_sparse_writer_finish(struct mfw_sparse_writer *w, const uint8_t **out, size_t *len)
{
	uint8_t *h;

	if (w->err)
		return w->err;
	h = w->buf;
	mfw_put_le32(h, MFW_SPARSE_MAGIC);
	mfw_put_le16(h + 4, SPARSE_MAJOR);
	mfw_put_le16(h + 6, 0);
	mfw_put_le16(h + 8, MFW_SPARSE_HEADER_LEN);
	mfw_put_le16(h + 10, MFW_SPARSE_CHUNK_HEADER_LEN);
	mfw_put_le32(h + 12, w->blk_sz);
	mfw_put_le32(h + 16, w->total_blks);
	mfw_put_le32(h + 20, w->total_chunks);
	mfw_put_le32(h + 24, 0);
	*out = w->buf;
	*len = w->len;
	return 0;
}

void mfw_sparse_writer_free(struct mfw_sparse_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}
