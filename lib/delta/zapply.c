/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MFWZ applier.
 *
 * The header and the index are checked in full before a byte is decoded:
 * every field bounded, the segments contiguous from the header to the
 * index, and one SHA-256 over the header's fields and the index, so the
 * per-segment numbers the decoder then relies on (old position, stream
 * length, output hash) are the writer's. Old must be the file the patch
 * was made from (size and SHA-256). Each segment is then decoded alone:
 * one zstd decoder whose window is capped by the header (at most 4 MiB),
 * a record parser that checks every length against what the segment may
 * still produce, and the segment's output SHA-256. Memory is that window
 * plus a few fixed buffers, whatever the sizes in the patch.
 */
#include "delta/delta.h"

#include "core/core.h"
#include "util/fs.h"
#include "util/bytes.h"
#include "util/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#define IN_BUF (64 * 1024)
#define DEC_BUF (64 * 1024)
#define WBUF (128 * 1024)
#define OCACHE (128 * 1024)
/* old cursors stay within +-2^62, so adding a length or a seek never overflows */
#define CUR_MAX ((int64_t)1 << 62)
/* damaged segments listed by number in the error; the rest are counted */
#define LIST_MAX 8

struct zentry {
	uint64_t off, len, raw_len;
	int64_t old_pos;
	uint8_t sha[32];
};

static void get_entry(const uint8_t *p, struct zentry *e)
{
	e->off = mfw_get_le64(p);
	e->len = mfw_get_le64(p + 8);
	e->old_pos = (int64_t)mfw_get_le64(p + 16);
	e->raw_len = mfw_get_le64(p + 24);
	memcpy(e->sha, p + 32, 32);
}

static uint64_t seg_out_len(const struct mfw_delta_zinfo *in, uint64_t k)
{
	uint64_t start = k * in->segment_size;
	return in->new_size - start < in->segment_size ? in->new_size - start : in->segment_size;
}

/* Header fields alone (what mfw_delta_probe() needs): no patch size, no index. */
static int check_header(struct mfw_ctx *ctx, const uint8_t *h, struct mfw_delta_zinfo *in)
{
	uint32_t ver = mfw_get_le32(h + 8), hsz = mfw_get_le32(h + 12), flags = mfw_get_le32(h + 60);
	uint64_t want;

	if (memcmp(h, MFW_DELTA_MFWZ_MAGIC, 8))
		return mfw_fail(ctx, MFW_E_FORMAT, "not an MFWZ patch (bad magic)");
	if (ver != MFWZ_VERSION || hsz != MFW_DELTA_MFWZ_HDR || flags)
		return mfw_fail(ctx, MFW_E_FORMAT, "MFWZ header: version %u, header size %u, flags %#x (want 1, 160, 0)",
				ver, hsz, flags);
	in->old_size = mfw_get_le64(h + 16);
	in->new_size = mfw_get_le64(h + 24);
	in->segment_size = mfw_get_le64(h + 32);
	in->segments = mfw_get_le64(h + 40);
	in->index_offset = mfw_get_le64(h + 48);
	in->window_log = mfw_get_le32(h + 56);
	if (in->old_size > (uint64_t)CUR_MAX || in->new_size > (uint64_t)CUR_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ header: old size %llu or new size %llu above 2^62",
				(unsigned long long)in->old_size, (unsigned long long)in->new_size);
	if (in->segment_size < 1 || in->segment_size > MFWZ_SEG_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ header: segment size %llu outside 1..2^30",
				(unsigned long long)in->segment_size);
	want = in->new_size / in->segment_size + (in->new_size % in->segment_size != 0);
	if (in->segments != want)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ header: %llu segments where the sizes need %llu",
				(unsigned long long)in->segments, (unsigned long long)want);
	if (in->window_log < MFWZ_WLOG_MIN || in->window_log > MFWZ_WLOG_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ header: zstd window 2^%u outside 2^%d..2^%d", in->window_log,
				MFWZ_WLOG_MIN, MFWZ_WLOG_MAX);
	memcpy(in->old_sha256, h + 64, 32);
	memcpy(in->new_sha256, h + 96, 32);
	memcpy(in->header_sha256, h + 128, 32);
	return 0;
}

int mfw_delta_zprobe_hdr(struct mfw_ctx *ctx, const uint8_t *hdr, size_t len, uint64_t *new_size)
{
	struct mfw_delta_zinfo in;
	int r;

	if (len < MFW_DELTA_MFWZ_HDR)
		return mfw_fail(ctx, MFW_E_FORMAT, "MFWZ patch shorter than its 160-byte header");
	r = check_header(ctx, hdr, &in);
	if (r == 0)
		*new_size = in.new_size;
	return r;
}

/*
 * One index entry against the header and the patch. Run again on every
 * entry the applier reads back: a patch file that changes under the
 * applier must still not steer it out of bounds.
 */
static int check_entry_alone(struct mfw_ctx *ctx, const struct mfw_delta_zinfo *in, uint64_t k, const struct zentry *e)
{
	uint64_t out = seg_out_len(in, k);

	if (e->off < MFW_DELTA_MFWZ_HDR || e->off > in->index_offset)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segment %llu at byte %llu, outside the segment area",
				(unsigned long long)k, (unsigned long long)e->off);
	if (e->len < 1 || e->len > in->index_offset - e->off)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segment %llu length %llu runs past the index",
				(unsigned long long)k, (unsigned long long)e->len);
	/* every record carries at least one output byte and a 16-byte header */
	if (e->raw_len < out + MFWZ_REC || e->raw_len > out * (MFWZ_REC + 1))
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segment %llu stream length %llu impossible for %llu bytes",
				(unsigned long long)k, (unsigned long long)e->raw_len, (unsigned long long)out);
	if (e->old_pos > CUR_MAX || e->old_pos < -CUR_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segment %llu old position %lld out of range",
				(unsigned long long)k, (long long)e->old_pos);
	return 0;
}

/* ... and against the segment before it: no gap, no overlap. */
static int check_entry(struct mfw_ctx *ctx, const struct mfw_delta_zinfo *in, uint64_t k, const struct zentry *e,
		       uint64_t expect_off)
{
	if (e->off != expect_off)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segment %llu at byte %llu, expected %llu (gap or overlap)",
				(unsigned long long)k, (unsigned long long)e->off, (unsigned long long)expect_off);
	return check_entry_alone(ctx, in, k, e);
}

int mfw_delta_zprobe(struct mfw_ctx *ctx, const struct mfw_delta_reader *patch, struct mfw_delta_zinfo *in)
{
	uint8_t h[MFW_DELTA_MFWZ_HDR], buf[64 * MFWZ_ENTRY], sha[32];
	struct mfw_hash hs;
	uint64_t expect = MFW_DELTA_MFWZ_HDR;
	int r;

	if (patch->size < MFW_DELTA_MFWZ_HDR)
		return mfw_fail(ctx, MFW_E_FORMAT, "patch is %llu bytes, shorter than the 160-byte MFWZ header",
				(unsigned long long)patch->size);
	r = patch->read(patch->user, 0, h, sizeof(h));
	if (r < 0)
		return mfw_fail_keep(ctx, r, "cannot read the patch header");
	r = check_header(ctx, h, in);
	if (r < 0)
		return r;
	if (in->index_offset < MFW_DELTA_MFWZ_HDR || in->index_offset > patch->size ||
	    in->segments > (patch->size - in->index_offset) / MFWZ_ENTRY ||
	    patch->size - in->index_offset != in->segments * MFWZ_ENTRY)
		return mfw_fail(ctx, MFW_E_RANGE,
				"MFWZ header: index at byte %llu with %llu entries does not end the %llu-byte patch",
				(unsigned long long)in->index_offset, (unsigned long long)in->segments,
				(unsigned long long)patch->size);
	r = mfw_hash_init(&hs, MFW_HASH_SHA256);
	if (r < 0)
		return mfw_fail(ctx, r, "cannot start SHA-256");
	r = mfw_hash_update(&hs, h, 128);
	/* the index in pieces: a hostile count costs reads, never memory */
	for (uint64_t k = 0; r == 0 && k < in->segments;) {
		uint64_t n = in->segments - k < 64 ? in->segments - k : 64;
		r = patch->read(patch->user, in->index_offset + k * MFWZ_ENTRY, buf, (size_t)(n * MFWZ_ENTRY));
		if (r < 0) {
			r = mfw_fail_keep(ctx, r, "cannot read the MFWZ index");
			break;
		}
		r = mfw_hash_update(&hs, buf, (size_t)(n * MFWZ_ENTRY));
		for (uint64_t i = 0; r == 0 && i < n; i++) {
			struct zentry e;
			get_entry(buf + i * MFWZ_ENTRY, &e);
			r = check_entry(ctx, in, k + i, &e, expect);
			expect = e.off + e.len;
		}
		k += n;
	}
	if (r < 0) {
		mfw_hash_free(&hs);
		return r;
	}
	if (mfw_hash_final(&hs, sha, sizeof(sha)) < 0)
		return mfw_fail(ctx, MFW_E_IO, "SHA-256 failed");
	if (memcmp(sha, in->header_sha256, 32))
		return mfw_fail(ctx, MFW_E_FORMAT, "MFWZ header or index is damaged (their SHA-256 does not match)");
	if (expect != in->index_offset)
		return mfw_fail(ctx, MFW_E_RANGE, "MFWZ index: segments end at byte %llu, the index starts at %llu",
				(unsigned long long)expect, (unsigned long long)in->index_offset);
	return 0;
}

static int read_entry(struct mfw_ctx *ctx, const struct mfw_delta_reader *patch, const struct mfw_delta_zinfo *in,
		      uint64_t k, struct zentry *e)
{
	uint8_t b[MFWZ_ENTRY];
	int r = patch->read(patch->user, in->index_offset + k * MFWZ_ENTRY, b, sizeof(b));

	if (r < 0)
		return mfw_fail_keep(ctx, r, "cannot read MFWZ index entry %llu", (unsigned long long)k);
	get_entry(b, e);
	return 0;
}

/* ---- the applier ---- */

/*
 * Old's SHA-256 on a helper thread (threads >= 2): it is a full read and
 * hash of old, a fifth of an apply, and the decoding does not need its
 * verdict. Committing segments before it is safe, as each segment's output
 * is proven by its own SHA-256; it only turns "every segment damaged" into
 * the plain "wrong old file", and a wrong verdict stops the decoding early.
 */
struct oldcheck {
	const struct mfw_delta_reader *old;
	const uint8_t *want;
	pthread_t tid;
	bool started;
	int verdict; /* 0 pending, 1 match, -1 mismatch, MFW_E_* on error; atomic */
	uint8_t got[32];
	uint8_t buf[OCACHE];
};

static int hash_old(const struct mfw_delta_reader *old, uint8_t *buf, uint8_t out[32])
{
	struct mfw_hash h;
	int r = mfw_hash_init(&h, MFW_HASH_SHA256);

	for (uint64_t off = 0; r == 0 && off < old->size;) {
		size_t n = old->size - off < OCACHE ? (size_t)(old->size - off) : OCACHE;
		r = old->read(old->user, off, buf, n);
		if (r == 0)
			r = mfw_hash_update(&h, buf, n);
		off += n;
	}
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	return mfw_hash_final(&h, out, 32) < 0 ? MFW_E_IO : 0;
}

static void *oldcheck_thread(void *arg)
{
	struct oldcheck *c = arg;
	int r = hash_old(c->old, c->buf, c->got);

	__atomic_store_n(&c->verdict, r < 0 ? r : memcmp(c->got, c->want, 32) ? -1 : 1, __ATOMIC_RELEASE);
	return NULL;
}

struct zapp {
	struct mfw_ctx *ctx;
	struct mfw_delta_mem mem;
	const struct mfw_delta_reader *old, *patch;
	const struct mfw_delta_writer *out;
	struct mfw_delta_zinfo in;
	ZSTD_DCtx *dz;
	size_t dz_counted;
	bool discard;       /* a segment was damaged: decode on to name the others, write nothing */
	bool whole;         /* hashing the whole output (the apply started at segment 0) */
	struct mfw_hash hnew, hseg;
	/* record parser */
	uint8_t rh[MFWZ_REC];
	unsigned rh_fill;
	uint64_t xrem, yrem, produced, seg_len;
	int64_t seek, cur;
	bool rec_open;
	char why[200];      /* what is wrong with the current segment */
	struct oldcheck *check; /* old's SHA-256 on a helper thread, or NULL */
	uint8_t in_buf[IN_BUF];
	uint8_t dec[DEC_BUF];
	uint8_t wbuf[WBUF];
	size_t wn;
	uint8_t ocache[OCACHE];
	int64_t obase;
	size_t olen;
};

static int flush_out(struct zapp *a)
{
	int r = 0;

	if (a->wn && !a->discard)
		r = a->out->write(a->out->user, a->wbuf, a->wn);
	a->wn = 0;
	return r < 0 ? mfw_fail_keep(a->ctx, r, "cannot write the output") : 0;
}

static int emit(struct zapp *a, const uint8_t *p, size_t n)
{
	int r = mfw_hash_update(&a->hseg, p, n);

	if (r == 0 && a->whole)
		r = mfw_hash_update(&a->hnew, p, n);
	if (r < 0)
		return mfw_fail(a->ctx, MFW_E_IO, "SHA-256 failed");
	a->produced += n;
	while (n && !a->discard) {
		size_t m = WBUF - a->wn < n ? WBUF - a->wn : n;
		memcpy(a->wbuf + a->wn, p, m);
		a->wn += m;
		p += m;
		n -= m;
		if (a->wn == WBUF && (r = flush_out(a)) < 0)
			return r;
	}
	return 0;
}

/*
 * Old bytes [o, o + n), n <= OCACHE: inside old (the common case) a
 * pointer into the read-ahead window, so the add runs straight from it;
 * otherwise dst filled byte by byte, 0 outside old as in BSDIFF40.
 */
static int old_span(struct zapp *a, int64_t o, uint8_t *dst, size_t n, const uint8_t **out)
{
	int64_t osz = (int64_t)a->old->size;
	int r;

	if (o >= 0 && o + (int64_t)n <= osz) {
		if (!(o >= a->obase && o + (int64_t)n <= a->obase + (int64_t)a->olen)) {
			size_t want = osz - o < OCACHE ? (size_t)(osz - o) : OCACHE;
			r = a->old->read(a->old->user, (uint64_t)o, a->ocache, want);
			if (r < 0) {
				a->olen = 0;
				return mfw_fail_keep(a->ctx, r, "cannot read old at byte %lld", (long long)o);
			}
			a->obase = o;
			a->olen = want;
		}
		*out = a->ocache + (o - a->obase);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t p = o + (int64_t)i;
		dst[i] = 0;
		if (p >= 0 && p < osz && (r = a->old->read(a->old->user, (uint64_t)p, &dst[i], 1)) < 0)
			return mfw_fail_keep(a->ctx, r, "cannot read old at byte %lld", (long long)p);
	}
	*out = dst;
	return 0;
}

/* Format problems inside a segment are noted, not failed at once: the caller names the segment. */
#define BAD(a, ...) (snprintf((a)->why, sizeof((a)->why), __VA_ARGS__), MFW_E_FORMAT)

static int record_start(struct zapp *a)
{
	uint64_t x = mfw_get_le32(a->rh), y = mfw_get_le32(a->rh + 4);

	a->seek = (int64_t)mfw_get_le64(a->rh + 8);
	a->rh_fill = 0;
	if (x + y == 0)
		return BAD(a, "empty record");
	if (x + y > a->seg_len - a->produced)
		return BAD(a, "record of %llu bytes runs past the segment's end", (unsigned long long)(x + y));
	if (a->seek > CUR_MAX || a->seek < -CUR_MAX)
		return BAD(a, "seek %lld out of range", (long long)a->seek);
	a->xrem = x;
	a->yrem = y;
	a->rec_open = true;
	return 0;
}

static int record_end(struct zapp *a)
{
	a->rec_open = false;
	a->cur += a->seek;
	if (a->cur > CUR_MAX || a->cur < -CUR_MAX)
		return BAD(a, "old position %lld out of range", (long long)a->cur);
	return 0;
}

/* Feed n decoded bytes to the record parser. */
static int parse(struct zapp *a, const uint8_t *p, size_t n)
{
	uint8_t tmp[OCACHE / 2];
	const uint8_t *ob = NULL;
	int r;

	while (n) {
		size_t m;
		if (!a->rec_open) {
			m = MFWZ_REC - a->rh_fill < n ? MFWZ_REC - a->rh_fill : n;
			memcpy(a->rh + a->rh_fill, p, m);
			a->rh_fill += (unsigned)m;
			if (a->rh_fill == MFWZ_REC && (r = record_start(a)) < 0)
				return r;
		} else if (a->xrem) {
			m = a->xrem < n ? (size_t)a->xrem : n;
			if (m > sizeof(tmp))
				m = sizeof(tmp);
			if ((r = old_span(a, a->cur, tmp, m, &ob)) < 0)
				return r;
			for (size_t i = 0; i < m; i++)
				tmp[i] = (uint8_t)(ob[i] + p[i]);
			if ((r = emit(a, tmp, m)) < 0)
				return r;
			a->cur += (int64_t)m;
			a->xrem -= m;
		} else {
			m = a->yrem < n ? (size_t)a->yrem : n;
			if ((r = emit(a, p, m)) < 0)
				return r;
			a->yrem -= m;
		}
		p += m;
		n -= m;
		if (a->rec_open && !a->xrem && !a->yrem && (r = record_end(a)) < 0)
			return r;
	}
	return 0;
}

/* Decode segment k's frame through the parser. MFW_E_FORMAT with a->why set, or an I/O error. */
static int decode_segment(struct zapp *a, const struct zentry *e)
{
	ZSTD_inBuffer ib = { a->in_buf, 0, 0 };
	uint64_t pos = e->off, end = e->off + e->len, raw = 0;
	bool need_in = true;
	int r;

	ZSTD_DCtx_reset(a->dz, ZSTD_reset_session_only);
	for (;;) {
		ZSTD_outBuffer ob = { a->dec, DEC_BUF, 0 };
		size_t zr;
		if (need_in && ib.pos == ib.size) {
			size_t n = end - pos < IN_BUF ? (size_t)(end - pos) : IN_BUF;
			if (!n)
				return BAD(a, "compressed stream truncated");
			r = a->patch->read(a->patch->user, pos, a->in_buf, n);
			if (r < 0)
				return mfw_fail_keep(a->ctx, r, "cannot read the patch at byte %llu", (unsigned long long)pos);
			pos += n;
			ib.size = n;
			ib.pos = 0;
		}
		zr = ZSTD_decompressStream(a->dz, &ob, &ib);
		if (ZSTD_isError(zr))
			return BAD(a, "zstd: %s", ZSTD_getErrorName(zr));
		raw += ob.pos;
		if (raw > e->raw_len)
			return BAD(a, "stream longer than its index entry says");
		if ((r = parse(a, a->dec, ob.pos)) < 0)
			return r;
		if (zr == 0)
			break;
		/* more input only once the decoder has flushed what it holds */
		need_in = ob.pos < ob.size;
	}
	if (ib.pos != ib.size || pos != end)
		return BAD(a, "data after the compressed stream");
	if (raw != e->raw_len || a->rec_open || a->rh_fill || a->produced != a->seg_len)
		return BAD(a, "stream ends after %llu of %llu output bytes", (unsigned long long)a->produced,
			   (unsigned long long)a->seg_len);
	return 0;
}

static int wrong_old(struct zapp *a, const uint8_t got[32])
{
	char g[65], w[65];

	mfw_hex_encode(got, 32, g);
	mfw_hex_encode(a->in.old_sha256, 32, w);
	return mfw_fail(a->ctx, MFW_E_FORMAT, "wrong old file: SHA-256 %.16s..., the patch was made from %.16s...", g,
			w);
}

/* The helper's verdict once it is in, as an error or 0. */
static int old_verdict(struct zapp *a, struct oldcheck *c)
{
	int v = __atomic_load_n(&c->verdict, __ATOMIC_ACQUIRE);

	if (v == -1)
		return wrong_old(a, c->got);
	if (v < 0)
		return mfw_fail_keep(a->ctx, v, "cannot read old to check its SHA-256");
	return 0;
}

/* Size and SHA-256 of old against the header: a patch applied to another old makes garbage. */
static int check_old(struct zapp *a)
{
	uint8_t sha[32];
	int r;

	if (a->old->size != a->in.old_size)
		return mfw_fail(a->ctx, MFW_E_FORMAT, "wrong old file: %llu bytes, the patch was made from %llu bytes",
				(unsigned long long)a->old->size, (unsigned long long)a->in.old_size);
	if (a->check)
		return 0; /* on the helper thread */
	r = hash_old(a->old, a->ocache, sha);
	a->olen = 0;
	if (r < 0)
		return mfw_fail_keep(a->ctx, r, "cannot read old to check its SHA-256");
	return memcmp(sha, a->in.old_sha256, 32) ? wrong_old(a, sha) : 0;
}

/* Note a damaged segment in the list that becomes the error. */
static void note_damage(char *list, size_t cap, uint64_t *ndamaged, uint64_t k, const struct mfw_delta_zinfo *in,
			const char *why)
{
	size_t l = strlen(list);

	if (++*ndamaged <= LIST_MAX && l < cap)
		snprintf(list + l, cap - l, "%s%llu (new bytes %llu..%llu: %s)", l ? "; " : "", (unsigned long long)k,
			 (unsigned long long)(k * in->segment_size),
			 (unsigned long long)(k * in->segment_size + seg_out_len(in, k)), why);
}

static int segment(struct zapp *a, uint64_t k, bool *damaged)
{
	struct zentry e;
	uint8_t sha[32];
	int r;

	*damaged = false;
	if ((r = read_entry(a->ctx, a->patch, &a->in, k, &e)) < 0 || (r = check_entry_alone(a->ctx, &a->in, k, &e)) < 0)
		return r;
	a->seg_len = seg_out_len(&a->in, k);
	a->produced = 0;
	a->rec_open = false;
	a->rh_fill = 0;
	a->cur = e.old_pos;
	a->why[0] = '\0';
	if (mfw_hash_init(&a->hseg, MFW_HASH_SHA256) < 0)
		return mfw_fail(a->ctx, MFW_E_IO, "SHA-256 failed");
	r = decode_segment(a, &e);
	if (r < 0 && !a->why[0]) {
		mfw_hash_free(&a->hseg);
		return r; /* I/O, not the patch's fault */
	}
	if (mfw_hash_final(&a->hseg, sha, sizeof(sha)) < 0)
		return mfw_fail(a->ctx, MFW_E_IO, "SHA-256 failed");
	if (r == 0 && memcmp(sha, e.sha, 32))
		snprintf(a->why, sizeof(a->why), "output SHA-256 mismatch");
	*damaged = a->why[0] != '\0';
	return flush_out(a);
}

static void count_dctx(struct zapp *a)
{
	size_t n = ZSTD_sizeof_DCtx(a->dz);

	if (n > a->dz_counted) {
		mfw_delta_mem_add(&a->mem, n - a->dz_counted);
		a->dz_counted = n;
	}
}

static int run(struct zapp *a, const struct mfw_delta_zresume *rs, struct mfw_delta_stats *st)
{
	char list[800] = "";
	uint64_t ndamaged = 0, first = rs ? rs->first : 0;
	uint8_t sha[32];
	int r;

	if (first > a->in.segments)
		return mfw_fail(a->ctx, MFW_E_INVAL, "resume at segment %llu of %llu", (unsigned long long)first,
				(unsigned long long)a->in.segments);
	a->whole = first == 0;
	if (a->whole && mfw_hash_init(&a->hnew, MFW_HASH_SHA256) < 0)
		return mfw_fail(a->ctx, MFW_E_IO, "SHA-256 failed");
	st->resumed_from = first;
	for (uint64_t k = first; k < a->in.segments; k++) {
		bool bad;
		if (a->check && (r = old_verdict(a, a->check)) < 0)
			return r;
		if ((r = segment(a, k, &bad)) < 0)
			return r;
		count_dctx(a);
		if (bad) {
			note_damage(list, sizeof(list), &ndamaged, k, &a->in, a->why);
			a->discard = true;
			continue;
		}
		if (a->discard)
			continue;
		st->segments_applied++;
		if (rs && rs->commit && (r = rs->commit(rs->user, k + 1)) < 0)
			return mfw_fail_keep(a->ctx, r, "cannot record segment %llu as done", (unsigned long long)k);
		mfw_progress(a->ctx, "apply", "", (k + 1) * a->in.segment_size < a->in.new_size
				 ? (k + 1) * a->in.segment_size : a->in.new_size, a->in.new_size);
		if (mfw_cancelled(a->ctx) && k + 1 < a->in.segments)
			return mfw_fail(a->ctx, MFW_E_CANCELLED, "stopped after segment %llu of %llu",
					(unsigned long long)k + 1, (unsigned long long)a->in.segments);
	}
	/* a wrong old explains damaged segments: its verdict first */
	if (a->check) {
		pthread_join(a->check->tid, NULL);
		a->check->started = false;
		if ((r = old_verdict(a, a->check)) < 0)
			return r;
	}
	if (ndamaged)
		return mfw_fail(a->ctx, MFW_E_FORMAT, "MFWZ patch: %llu damaged segment%s: %s%s",
				(unsigned long long)ndamaged, ndamaged > 1 ? "s" : "", list,
				ndamaged > LIST_MAX ? "; ..." : "");
	if (a->whole) {
		a->whole = false;
		if (mfw_hash_final(&a->hnew, sha, sizeof(sha)) < 0)
			return mfw_fail(a->ctx, MFW_E_IO, "SHA-256 failed");
		if (memcmp(sha, a->in.new_sha256, 32))
			return mfw_fail(a->ctx, MFW_E_FORMAT, "output differs from the SHA-256 of new in the header");
	}
	return 0;
}

int mfw_delta_zapply_io(struct mfw_ctx *ctx, const struct mfw_delta_reader *old,
			const struct mfw_delta_reader *patch, const struct mfw_delta_writer *out,
			const struct mfw_delta_zresume *resume, const struct mfw_delta_apply_opts *opts,
			struct mfw_delta_stats *stats)
{
	struct mfw_delta_stats st = { 0 };
	struct zapp *a;
	int r;

	if (!old || !patch || !out || !old->read || !patch->read || !out->write)
		return mfw_fail(ctx, MFW_E_INVAL, "delta apply: missing reader or writer");
	a = calloc(1, sizeof(*a));
	if (!a)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for the applier");
	mfw_delta_mem_add(&a->mem, sizeof(*a));
	a->ctx = ctx;
	a->old = old;
	a->patch = patch;
	a->out = out;
	r = mfw_delta_zprobe(ctx, patch, &a->in);
	if (r == 0 && opts && opts->max_new_size && a->in.new_size > opts->max_new_size)
		r = mfw_fail(ctx, MFW_E_RANGE, "patch header: new size %llu is above the limit %llu",
			     (unsigned long long)a->in.new_size, (unsigned long long)opts->max_new_size);
	if (r == 0 && opts && opts->threads > 1 && old->size) {
		a->check = calloc(1, sizeof(*a->check));
		if (a->check) {
			mfw_delta_mem_add(&a->mem, sizeof(*a->check));
			a->check->old = old;
			a->check->want = a->in.old_sha256;
			a->check->started = pthread_create(&a->check->tid, NULL, oldcheck_thread, a->check) == 0;
			if (!a->check->started) {
				free(a->check);
				a->check = NULL;
			}
		}
	}
	if (r == 0)
		r = check_old(a);
	if (r == 0) {
		a->dz = ZSTD_createDCtx();
		/* the header's window, which the writer capped: a frame asking for more is refused */
		if (!a->dz || ZSTD_isError(ZSTD_DCtx_setParameter(a->dz, ZSTD_d_windowLogMax, (int)a->in.window_log)))
			r = mfw_fail(ctx, MFW_E_NOMEM, "cannot set up the zstd decoder");
	}
	if (r == 0)
		r = run(a, resume, &st);
	if (a->whole)
		mfw_hash_free(&a->hnew);
	st.old_size = old->size;
	st.new_size = a->in.new_size;
	st.patch_size = patch->size;
	st.segments = a->in.segments;
	st.peak_mem = a->mem.peak;
	if (a->dz)
		ZSTD_freeDCtx(a->dz);
	if (a->check && a->check->started)
		pthread_join(a->check->tid, NULL);
	free(a->check);
	free(a);
	if (stats)
		*stats = st;
	return r;
}

/* ---- file form: NEW.part, NEW.part.state, resume ---- */

#define STATE_MAGIC "MFWDZST1"
#define STATE_LEN 56 /* magic, patch digest, segments done, check */

struct zfile {
	struct mfw_ctx *ctx;
	int old_fd, patch_fd, part_fd;
	char part[PATH_MAX], state[PATH_MAX], state_tmp[PATH_MAX];
	struct mfw_delta_zinfo in;
	bool sync;
};

static int fd_pread(void *user, uint64_t off, void *buf, size_t len)
{
	return mfw_pread_all(*(int *)user, buf, len, off);
}

static int fd_append(void *user, const void *buf, size_t len)
{
	return mfw_write_all(*(int *)user, buf, len);
}

static void state_encode(uint8_t *b, const uint8_t patch_sha[32], uint64_t done)
{
	uint8_t sum[32];

	memcpy(b, STATE_MAGIC, 8);
	memcpy(b + 8, patch_sha, 32);
	mfw_put_le64(b + 40, done);
	mfw_hash_buf(MFW_HASH_SHA256, b, 48, sum);
	memcpy(b + 48, sum, 8);
}

/* Segments the state claims for this very patch; 0 when there is no usable state. */
static uint64_t state_read(const struct zfile *f)
{
	uint8_t b[STATE_LEN + 1], sum[32];
	uint64_t done;
	int fd = open(f->state, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n != STATE_LEN || memcmp(b, STATE_MAGIC, 8) || memcmp(b + 8, f->in.header_sha256, 32))
		return 0;
	if (mfw_hash_buf(MFW_HASH_SHA256, b, 48, sum) < 0 || memcmp(b + 48, sum, 8))
		return 0;
	done = mfw_get_le64(b + 40);
	return done <= f->in.segments ? done : 0;
}

/*
 * After segment done - 1: the data first, then the state through a
 * synced temporary file and a rename, so a power cut leaves either the old
 * state or the new one, never a state ahead of the data.
 */
static int state_commit(void *user, uint64_t done)
{
	struct zfile *f = user;
	uint8_t b[STATE_LEN];
	int fd, r;

	if (f->sync && fdatasync(f->part_fd) < 0)
		return MFW_E_IO;
	state_encode(b, f->in.header_sha256, done);
	fd = open(f->state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return MFW_E_IO;
	r = fd_append(&fd, b, sizeof(b));
	if (r == 0 && f->sync && fsync(fd) < 0)
		r = MFW_E_IO;
	if (close(fd) < 0 && r == 0)
		r = MFW_E_IO;
	if (r == 0 && rename(f->state_tmp, f->state) < 0)
		r = MFW_E_IO;
	return r;
}

/* SHA-256 of part bytes [off, off + len). */
static int hash_part(struct zfile *f, uint64_t off, uint64_t len, uint8_t out[32])
{
	static const size_t CH = 64 * 1024;
	uint8_t *buf = malloc(CH);
	struct mfw_hash h;
	int r = buf ? mfw_hash_init(&h, MFW_HASH_SHA256) : MFW_E_NOMEM;

	if (r < 0) {
		free(buf);
		return r;
	}
	while (r == 0 && len) {
		size_t n = len < CH ? (size_t)len : CH;
		r = fd_pread(&f->part_fd, off, buf, n);
		if (r == 0)
			r = mfw_hash_update(&h, buf, n);
		off += n;
		len -= n;
	}
	free(buf);
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	return mfw_hash_final(&h, out, 32) < 0 ? MFW_E_IO : 0;
}

/* The first of the claimed segments whose bytes in NEW.part no longer match the index. */
static uint64_t verify_done(struct zfile *f, const struct mfw_delta_reader *patch, uint64_t claimed)
{
	for (uint64_t k = 0; k < claimed; k++) {
		struct zentry e;
		uint8_t sha[32];
		if (read_entry(f->ctx, patch, &f->in, k, &e) < 0 ||
		    hash_part(f, k * f->in.segment_size, seg_out_len(&f->in, k), sha) < 0 || memcmp(sha, e.sha, 32))
			return k;
	}
	return claimed;
}

static int open_ro(struct mfw_ctx *ctx, const char *path, const char *what, int *fd, uint64_t *size)
{
	struct stat st;

	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open %s '%s': %s", what, path,
				strerror(errno));
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode))
		return mfw_fail(ctx, MFW_E_IO, "%s '%s' is not a regular file", what, path);
	*size = (uint64_t)st.st_size;
	return 0;
}

/* Open NEW.part at the first segment still to do, after checking what the state claims. */
static int open_part(struct zfile *f, const struct mfw_delta_reader *patch, bool restart, uint64_t *first)
{
	uint64_t claimed = restart ? 0 : state_read(f);

	*first = 0;
	f->part_fd = open(f->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->part_fd < 0)
		return mfw_fail(f->ctx, MFW_E_IO, "cannot open '%s': %s", f->part, strerror(errno));
	if (claimed)
		*first = verify_done(f, patch, claimed);
	if (*first == 0)
		unlink(f->state); /* nothing kept: a stale state must not outlive the truncation */
	if (ftruncate(f->part_fd, (off_t)(*first * f->in.segment_size)) < 0 ||
	    lseek(f->part_fd, (off_t)(*first * f->in.segment_size), SEEK_SET) < 0)
		return mfw_fail(f->ctx, MFW_E_IO, "cannot position '%s': %s", f->part, strerror(errno));
	return 0;
}

/* A resumed output was not hashed as a whole while written: hash it now. */
static int verify_whole(struct zfile *f)
{
	uint8_t sha[32];
	int r = hash_part(f, 0, f->in.new_size, sha);

	if (r < 0)
		return mfw_fail(f->ctx, r, "cannot read back '%s'", f->part);
	if (memcmp(sha, f->in.new_sha256, 32))
		return mfw_fail(f->ctx, MFW_E_FORMAT, "output differs from the SHA-256 of new in the header");
	return 0;
}

static int finish(struct zfile *f, const char *new_path)
{
	if (f->sync && fsync(f->part_fd) < 0)
		return mfw_fail(f->ctx, MFW_E_IO, "cannot sync '%s': %s", f->part, strerror(errno));
	if (close(f->part_fd) < 0) {
		f->part_fd = -1;
		return mfw_fail(f->ctx, MFW_E_IO, "cannot close '%s': %s", f->part, strerror(errno));
	}
	f->part_fd = -1;
	if (rename(f->part, new_path) < 0)
		return mfw_fail(f->ctx, MFW_E_IO, "cannot rename '%s' to '%s': %s", f->part, new_path, strerror(errno));
	unlink(f->state);
	return 0;
}

int mfw_delta_zapply_file(struct mfw_ctx *ctx, const char *old_path, const char *patch_path,
			  const char *new_path, const struct mfw_delta_apply_opts *opts,
			  struct mfw_delta_stats *stats)
{
	struct zfile f = { .ctx = ctx, .old_fd = -1, .patch_fd = -1, .part_fd = -1 };
	struct mfw_delta_reader rold = { fd_pread, 0, &f.old_fd }, rpatch = { fd_pread, 0, &f.patch_fd };
	struct mfw_delta_writer wr = { fd_append, &f.part_fd };
	struct mfw_delta_zresume rs = { 0, state_commit, &f };
	int r;

	f.sync = !(opts && opts->no_sync);
	if (snprintf(f.part, sizeof(f.part), "%s.part", new_path) >= (int)sizeof(f.part) ||
	    snprintf(f.state, sizeof(f.state), "%s.part.state", new_path) >= (int)sizeof(f.state) ||
	    snprintf(f.state_tmp, sizeof(f.state_tmp), "%s.part.state.tmp", new_path) >= (int)sizeof(f.state_tmp))
		return mfw_fail(ctx, MFW_E_INVAL, "output path too long");
	r = open_ro(ctx, old_path, "old file", &f.old_fd, &rold.size);
	if (r == 0)
		r = open_ro(ctx, patch_path, "patch", &f.patch_fd, &rpatch.size);
	/* the index is checked before NEW.part is touched: a bad patch leaves an earlier run's work alone */
	if (r == 0)
		r = mfw_delta_zprobe(ctx, &rpatch, &f.in);
	if (r == 0)
		r = open_part(&f, &rpatch, opts && opts->restart, &rs.first);
	if (r == 0)
		r = mfw_delta_zapply_io(ctx, &rold, &rpatch, &wr, &rs, opts, stats);
	if (r == 0 && rs.first > 0)
		r = verify_whole(&f);
	if (r == 0)
		r = finish(&f, new_path);
	else if (f.part_fd >= 0 && access(f.state, F_OK) < 0)
		unlink(f.part); /* no segment is kept: leave nothing behind */
	if (f.part_fd >= 0)
		close(f.part_fd);
	if (f.patch_fd >= 0)
		close(f.patch_fd);
	if (f.old_fd >= 0)
		close(f.old_fd);
	return r;
}
