/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MFWZ writer: the control triples the matcher selected, cut into segments
 * of segment_size output bytes, each segment one zstd frame that needs
 * nothing from the others.
 *
 * A segment's frame holds records: u32 x, u32 y, i64 seek, then x diff
 * bytes (new - old) and y extra bytes. Diff and extra bytes are
 * interleaved rather than kept in separate streams as BSDIFF40 does: the
 * applier then reads one stream front to back with one decoder and a
 * window-sized buffer, where three streams would need three windows. A
 * triple crossing a segment boundary is split, and the segment's first
 * old position goes into its index entry, so decoding segment k needs
 * nothing from segment k - 1. No record is empty (x + y > 0): the
 * applier uses that to bound the records in a segment by its output size.
 */
#include "delta/delta.h"

#include "core/core.h"
#include "util/bytes.h"
#include "util/fs.h"
#include "util/hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define OLD_CHUNK (64 * 1024)

/* Position in the triples: control ci, bytes of it already produced, old cursor. */
struct walk {
	size_t ci;
	int64_t used;
	int64_t op;
};

struct seg_out {
	uint8_t *z;       /* compressed frame */
	size_t zlen, zcap;
	int64_t old_pos;
	uint64_t raw_len;
	uint8_t sha[32];
};

struct zjob {
	struct mfw_ctx *ctx;
	const struct mfw_delta_src *old, *nw;
	const struct mfw_delta_ctrlv *ctrl;
	const struct walk *starts;
	struct seg_out *segs;
	uint64_t nseg, seg_size;
	int level;
	struct mfw_delta_mem *mem;
	pthread_mutex_t mu;
	uint64_t next;
	uint64_t bytes_done; /* for progress */
	pthread_t ctx_thread;
	int err;
	char why[160];
};

static int src_read(const struct mfw_delta_src *s, int64_t off, uint8_t *buf, size_t len)
{
	if (s->p) {
		memcpy(buf, s->p + off, len);
		return 0;
	}
	/* a file that ends early is an I/O error here, as a failing read */
	return mfw_pread_all(s->fd, buf, len, (uint64_t)off) < 0 ? MFW_E_IO : 0;
}

/*
 * Take up to *rem output bytes from the triples at w: the diff part (dx
 * bytes from old at *dop), then the extra part (ey bytes). A triple is
 * left once all its bytes are produced, its seek applied.
 */
static void walk_step(struct walk *w, const struct mfw_delta_ctrlv *c, int64_t *rem, int64_t *dx,
		      int64_t *ey, int64_t *dop)
{
	const struct mfw_delta_ctrl *t = &c->v[w->ci];

	*dx = *ey = 0;
	*dop = w->op;
	if (w->used < t->x) {
		*dx = t->x - w->used < *rem ? t->x - w->used : *rem;
		w->used += *dx;
		w->op += *dx;
		*rem -= *dx;
	}
	if (*rem > 0 && w->used >= t->x && w->used < t->x + t->y) {
		*ey = t->x + t->y - w->used < *rem ? t->x + t->y - w->used : *rem;
		w->used += *ey;
		*rem -= *ey;
	}
	if (w->used == t->x + t->y) {
		w->op += t->z;
		w->ci++;
		w->used = 0;
	}
}

/* Where every segment starts in the triples: one pass, so segments can be encoded in any order. */
static int walk_starts(const struct mfw_delta_ctrlv *c, int64_t new_size, uint64_t seg_size, struct walk *starts,
		       uint64_t nseg)
{
	struct walk w = { 0, 0, 0 };

	for (uint64_t k = 0; k < nseg; k++) {
		int64_t rem = (int64_t)seg_size;
		if ((int64_t)(k * seg_size) + rem > new_size)
			rem = new_size - (int64_t)(k * seg_size);
		starts[k] = w;
		while (rem > 0) {
			int64_t dx, ey, dop;
			if (w.ci >= c->n)
				return MFW_E_RANGE; /* triples end before new does: a matcher bug */
			walk_step(&w, c, &rem, &dx, &ey, &dop);
		}
	}
	return 0;
}

/* Append one record: header, then new bytes with old subtracted from the first dx. */
static int raw_record(struct mfw_delta_buf *r, const struct zjob *j, int64_t np, int64_t dx, int64_t ey, int64_t dop)
{
	uint8_t *p, tmp[OLD_CHUNK];
	int e = mfw_delta_buf_reserve(r, MFWZ_REC + (size_t)(dx + ey));

	if (e < 0)
		return e;
	p = r->p + r->n;
	mfw_put_le32(p, (uint32_t)dx);
	mfw_put_le32(p + 4, (uint32_t)ey);
	mfw_put_le64(p + 8, 0); /* seek: filled when the next record's old position is known */
	p += MFWZ_REC;
	e = src_read(j->nw, np, p, (size_t)(dx + ey));
	if (e < 0)
		return e;
	/* old bytes outside [0, old size) count as 0, as in BSDIFF40 */
	for (int64_t i = 0; i < dx;) {
		int64_t o = dop + i, n = dx - i < OLD_CHUNK ? dx - i : OLD_CHUNK;
		int64_t lo = o < 0 ? -o : 0, hi = o + n > j->old->size ? j->old->size - o : n;
		if (lo < hi) {
			e = src_read(j->old, o + lo, tmp, (size_t)(hi - lo));
			if (e < 0)
				return e;
			for (int64_t b = lo; b < hi; b++)
				p[i + b] = (uint8_t)(p[i + b] - tmp[b - lo]);
		}
		i += n;
	}
	r->n += MFWZ_REC + (size_t)(dx + ey);
	return 0;
}

/* Build segment k's record stream from the triples. */
static int seg_raw(const struct zjob *j, uint64_t k, struct mfw_delta_buf *r, int64_t *old_pos)
{
	struct walk w = j->starts[k];
	int64_t np = (int64_t)(k * j->seg_size), rem = (int64_t)j->seg_size, ocur = 0;
	size_t zat = SIZE_MAX;

	if (np + rem > j->nw->size)
		rem = j->nw->size - np;
	*old_pos = w.op;
	while (rem > 0) {
		int64_t dx, ey, dop;
		int e;
		walk_step(&w, j->ctrl, &rem, &dx, &ey, &dop);
		if (dx + ey == 0)
			continue; /* a pure seek: folded into the next record's */
		if (dx == 0)
			dop = zat == SIZE_MAX ? *old_pos : ocur; /* no old bytes used: no seek */
		if (zat == SIZE_MAX)
			*old_pos = dop;
		else
			mfw_put_le64(r->p + zat, (uint64_t)(dop - ocur));
		zat = r->n + 8;
		e = raw_record(r, j, np, dx, ey, dop);
		if (e < 0)
			return e;
		np += dx + ey;
		ocur = dop + dx;
	}
	return 0;
}

static int seg_encode(struct zjob *j, uint64_t k, ZSTD_CCtx *cc, struct mfw_delta_buf *r)
{
	struct seg_out *s = &j->segs[k];
	int64_t np = (int64_t)(k * j->seg_size);
	size_t out_len = (size_t)(np + (int64_t)j->seg_size > j->nw->size ? j->nw->size - np : (int64_t)j->seg_size);
	size_t zr;
	int e;

	r->n = 0;
	e = seg_raw(j, k, r, &s->old_pos);
	if (e < 0)
		return e;
	/* the segment's output is new's bytes: hash them from new directly */
	{
		struct mfw_hash h;
		uint8_t buf[OLD_CHUNK];
		e = mfw_hash_init(&h, MFW_HASH_SHA256);
		for (size_t done = 0; e >= 0 && done < out_len;) {
			size_t n = out_len - done < sizeof(buf) ? out_len - done : sizeof(buf);
			e = src_read(j->nw, np + (int64_t)done, buf, n);
			if (e >= 0)
				e = mfw_hash_update(&h, buf, n);
			done += n;
		}
		if (e >= 0)
			e = mfw_hash_final(&h, s->sha, sizeof(s->sha));
		else
			mfw_hash_free(&h);
		if (e < 0)
			return e;
	}
	s->raw_len = r->n;
	s->zcap = ZSTD_compressBound(r->n);
	s->z = malloc(s->zcap);
	if (!s->z)
		return MFW_E_NOMEM;
	mfw_delta_mem_add(j->mem, s->zcap);
	zr = ZSTD_compress2(cc, s->z, s->zcap, r->p, r->n);
	if (ZSTD_isError(zr))
		return MFW_E_IO;
	s->zlen = zr;
	return 0;
}

static void *zworker(void *arg)
{
	struct zjob *j = arg;
	struct mfw_delta_buf r = { .mem = j->mem };
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cc_mem = 0;
	int e = cc ? 0 : MFW_E_NOMEM;

	/*
	 * The window is capped so the applier's decoder never needs more than
	 * 2^MFWZ_WLOG_DEFAULT bytes, whatever the level's own choice; no zstd
	 * checksum, as every segment's output carries a SHA-256.
	 */
	if (e == 0 && (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, j->level)) ||
		       ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_windowLog, MFWZ_WLOG_DEFAULT)) ||
		       ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 0))))
		e = MFW_E_UNSUPPORTED;
	/*
	 * The high levels' match tables (chain 2^24, hash 2^22 entries) made a
	 * compressor about 85 MB; 2^21 and 2^20 make it about 18 MB and the
	 * esbuild patch 0.1 % larger. Lower levels have smaller tables already.
	 */
	if (e == 0 && j->level >= 13 &&
	    (ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_chainLog, 21)) ||
	     ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_hashLog, 20))))
		e = MFW_E_UNSUPPORTED;
	for (;;) {
		uint64_t k;
		pthread_mutex_lock(&j->mu);
		if (e < 0 && !j->err) {
			j->err = e;
		}
		k = j->err ? j->nseg : j->next++;
		pthread_mutex_unlock(&j->mu);
		if (k >= j->nseg)
			break;
		e = seg_encode(j, k, cc, &r);
		if (e == 0 && ZSTD_sizeof_CCtx(cc) > cc_mem) { /* the compressor's tables count too */
			mfw_delta_mem_add(j->mem, ZSTD_sizeof_CCtx(cc) - cc_mem);
			cc_mem = ZSTD_sizeof_CCtx(cc);
		}
		if (e == 0 && j->ctx_thread == pthread_self()) /* progress callbacks run on the caller's thread */
			mfw_progress(j->ctx, "encode", "", __atomic_load_n(&j->bytes_done, __ATOMIC_RELAXED),
				     (uint64_t)j->nw->size);
		__atomic_add_fetch(&j->bytes_done, k + 1 < j->nseg ? j->seg_size : j->nw->size - k * j->seg_size,
				   __ATOMIC_RELAXED);
	}
	if (cc)
		ZSTD_freeCCtx(cc);
	mfw_delta_mem_sub(j->mem, cc_mem);
	mfw_delta_buf_free(&r);
	return NULL;
}

static int hash_src(const struct mfw_delta_src *s, uint8_t out[32])
{
	struct mfw_hash h;
	uint8_t buf[OLD_CHUNK];
	int e = mfw_hash_init(&h, MFW_HASH_SHA256);

	for (int64_t off = 0; e >= 0 && off < s->size;) {
		size_t n = s->size - off < (int64_t)sizeof(buf) ? (size_t)(s->size - off) : sizeof(buf);
		e = src_read(s, off, buf, n);
		if (e >= 0)
			e = mfw_hash_update(&h, buf, n);
		off += (int64_t)n;
	}
	if (e < 0) {
		mfw_hash_free(&h);
		return e;
	}
	e = mfw_hash_final(&h, out, 32);
	return e < 0 ? e : 0;
}

static void put_header(uint8_t *h, const struct mfw_delta_src *old, const struct mfw_delta_src *nw,
		       uint64_t seg_size, uint64_t nseg, uint64_t index_off)
{
	memset(h, 0, MFW_DELTA_MFWZ_HDR);
	memcpy(h, MFW_DELTA_MFWZ_MAGIC, 8);
	mfw_put_le32(h + 8, MFWZ_VERSION);
	mfw_put_le32(h + 12, MFW_DELTA_MFWZ_HDR);
	mfw_put_le64(h + 16, (uint64_t)old->size);
	mfw_put_le64(h + 24, (uint64_t)nw->size);
	mfw_put_le64(h + 32, seg_size);
	mfw_put_le64(h + 40, nseg);
	mfw_put_le64(h + 48, index_off);
	mfw_put_le32(h + 56, MFWZ_WLOG_DEFAULT);
	mfw_put_le32(h + 60, 0); /* flags */
}

/* Header, frames in order, index; the header's digest covers its fields and the index. */
static int assemble(struct mfw_ctx *ctx, const struct zjob *j, uint8_t **patch, size_t *patch_size)
{
	size_t total = MFW_DELTA_MFWZ_HDR, off;
	uint8_t *p, *idx;
	struct mfw_hash h;
	int e;

	for (uint64_t k = 0; k < j->nseg; k++)
		total += j->segs[k].zlen + MFWZ_ENTRY;
	p = malloc(total);
	if (!p)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for a %zu-byte patch", total);
	mfw_delta_mem_add(j->mem, total);
	off = MFW_DELTA_MFWZ_HDR;
	idx = p + total - j->nseg * MFWZ_ENTRY;
	put_header(p, j->old, j->nw, j->seg_size, j->nseg, (uint64_t)(idx - p));
	for (uint64_t k = 0; k < j->nseg; k++) {
		const struct seg_out *s = &j->segs[k];
		uint8_t *en = idx + k * MFWZ_ENTRY;
		memcpy(p + off, s->z, s->zlen);
		mfw_put_le64(en, off);
		mfw_put_le64(en + 8, s->zlen);
		mfw_put_le64(en + 16, (uint64_t)s->old_pos);
		mfw_put_le64(en + 24, s->raw_len);
		memcpy(en + 32, s->sha, 32);
		off += s->zlen;
	}
	e = hash_src(j->old, p + 64);
	if (e == 0)
		e = hash_src(j->nw, p + 96);
	if (e == 0)
		e = mfw_hash_init(&h, MFW_HASH_SHA256);
	if (e == 0) {
		e = mfw_hash_update(&h, p, 128);
		if (e == 0)
			e = mfw_hash_update(&h, idx, j->nseg * MFWZ_ENTRY);
		if (e == 0)
			e = mfw_hash_final(&h, p + 128, 32) < 0 ? MFW_E_IO : 0;
		else
			mfw_hash_free(&h);
	}
	if (e < 0) {
		mfw_delta_free(j->mem, p, total);
		return mfw_fail(ctx, e, "cannot hash old or new for the patch header");
	}
	*patch = p;
	*patch_size = total;
	return 0;
}

int mfw_delta_write_mfwz(struct mfw_ctx *ctx, const struct mfw_delta_src *old,
			 const struct mfw_delta_src *new_data, const struct mfw_delta_ctrlv *ctrl,
			 unsigned threads, uint64_t segment_size, int level, struct mfw_delta_mem *mem,
			 uint8_t **patch, size_t *patch_size)
{
	struct zjob j;
	pthread_t tid[8];
	unsigned started = 0;
	int e;

	if (!segment_size)
		segment_size = MFWZ_SEG_DEFAULT;
	if (segment_size > MFWZ_SEG_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "segment size %llu is above 1 GiB", (unsigned long long)segment_size);
	if (!level)
		level = 19;
	if (level < 1 || level > 19)
		return mfw_fail(ctx, MFW_E_RANGE, "zstd level %d is outside 1..19", level);
	memset(&j, 0, sizeof(j));
	j.ctx = ctx;
	j.old = old;
	j.nw = new_data;
	j.ctrl = ctrl;
	j.seg_size = segment_size;
	j.nseg = ((uint64_t)new_data->size + segment_size - 1) / segment_size;
	j.level = level;
	j.mem = mem;
	if (j.nseg > SIZE_MAX / sizeof(struct seg_out))
		return mfw_fail(ctx, MFW_E_RANGE, "too many segments");
	j.starts = mfw_delta_malloc(mem, j.nseg * sizeof(struct walk) + 1);
	j.segs = mfw_delta_malloc(mem, j.nseg * sizeof(struct seg_out) + 1);
	if (!j.starts || !j.segs) {
		e = mfw_fail(ctx, MFW_E_NOMEM, "out of memory for %llu segments", (unsigned long long)j.nseg);
		goto out;
	}
	memset(j.segs, 0, j.nseg * sizeof(struct seg_out));
	if (walk_starts(ctrl, new_data->size, segment_size, (struct walk *)j.starts, j.nseg) < 0) {
		e = mfw_fail(ctx, MFW_E_RANGE, "control triples end before the new file does");
		goto out;
	}
	pthread_mutex_init(&j.mu, NULL);
	j.ctx_thread = pthread_self();
	if (threads < 1)
		threads = 1;
	if (threads > MFW_ARRAY_SIZE(tid))
		threads = MFW_ARRAY_SIZE(tid);
	/* segments are independent: each worker encodes whole segments with its own compressor */
	for (unsigned t = 1; t < threads && (uint64_t)t < j.nseg; t++)
		if (pthread_create(&tid[started], NULL, zworker, &j) == 0)
			started++;
	zworker(&j);
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	pthread_mutex_destroy(&j.mu);
	if (j.err)
		e = mfw_fail(ctx, j.err, "cannot encode an MFWZ segment (%s)", mfw_strerror(j.err));
	else
		e = assemble(ctx, &j, patch, patch_size);
out:
	for (uint64_t k = 0; j.segs && k < j.nseg; k++)
		mfw_delta_free(mem, j.segs[k].z, j.segs[k].zcap);
	mfw_delta_free(mem, j.segs, j.nseg * sizeof(struct seg_out) + 1);
	mfw_delta_free(mem, (void *)j.starts, j.nseg * sizeof(struct walk) + 1);
	return e;
}
