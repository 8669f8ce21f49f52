/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BSDIFF40 writer: header, then bzip2(control), bzip2(diff), bzip2(extra).
 *
 * The streams are produced from the control triples by reading old and new
 * in chunks, so the encoder holds one bzip2 compressor and the compressed
 * output, never the uncompressed streams (bsdiff keeps two buffers of the
 * new size for them). Each stream's bzip2 block size is chosen by trying
 * (see encode_best()); it is never larger than the stream needs, which
 * keeps the applier's decoder state small for small streams.
 */
#include "delta/delta.h"

#include "core/core.h"

#include <bzlib.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (64 * 1024)

struct growbuf {
	uint8_t *p;
	size_t n;
	size_t cap;
	struct mfw_delta_mem *mem;
};

static int grow(struct growbuf *g, size_t need)
{
	size_t ncap;
	uint8_t *p;

	if (g->cap - g->n >= need)
		return 0;
	ncap = g->cap ? g->cap : 64 * 1024;
	while (ncap - g->n < need)
		ncap *= 2;
	p = realloc(g->p, ncap);
	if (!p)
		return MFW_E_NOMEM;
	mfw_delta_mem_add(g->mem, ncap - g->cap);
	g->p = p;
	g->cap = ncap;
	return 0;
}

struct bzout {
	bz_stream s;
	struct growbuf out;
	bool open;
};

static int block_size_for(uint64_t len)
{
	uint64_t b = (len + 99999) / 100000;
	return b < 1 ? 1 : b > 9 ? 9 : (int)b;
}

static int bzout_open(struct bzout *z, struct mfw_delta_mem *mem, int level)
{
	memset(z, 0, sizeof(*z));
	z->out.mem = mem;
	z->s.bzalloc = mfw_delta_bzalloc;
	z->s.bzfree = mfw_delta_bzfree;
	z->s.opaque = mem;
	/* workFactor 30 is bzip2's own default */
	if (BZ2_bzCompressInit(&z->s, level, 0, 30) != BZ_OK)
		return MFW_E_NOMEM;
	z->open = true;
	return 0;
}

static int bzout_run(struct bzout *z, const uint8_t *p, size_t n, int action)
{
	/* libbz2 calls a BZ_RUN that consumes nothing a parameter error */
	if (action == BZ_RUN && !n)
		return 0;
	z->s.next_in = (char *)p;
	z->s.avail_in = (unsigned)n;
	for (;;) {
		int rc;
		if (grow(&z->out, 64 * 1024) < 0)
			return MFW_E_NOMEM;
		z->s.next_out = (char *)z->out.p + z->out.n;
		z->s.avail_out = (unsigned)(z->out.cap - z->out.n);
		rc = BZ2_bzCompress(&z->s, action);
		z->out.n = z->out.cap - z->s.avail_out;
		if (action == BZ_FINISH) {
			if (rc == BZ_STREAM_END)
				return 0;
			if (rc != BZ_FINISH_OK)
				return MFW_E_IO;
		} else {
			if (rc != BZ_RUN_OK)
				return MFW_E_IO;
			if (!z->s.avail_in)
				return 0;
		}
	}
}

static void bzout_close(struct bzout *z)
{
	if (z->open)
		BZ2_bzCompressEnd(&z->s);
	z->open = false;
}

static int src_read(const struct mfw_delta_src *s, int64_t off, uint8_t *buf, size_t n, const uint8_t **out)
{
	if (s->p) {
		*out = s->p + off;
		return 0;
	}
	for (size_t done = 0; done < n;) {
		ssize_t r = pread(s->fd, buf + done, n - done, (off_t)(off + (int64_t)done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return MFW_E_IO;
		done += (size_t)r;
	}
	*out = buf;
	return 0;
}

enum stream_kind { S_CTRL, S_DIFF, S_EXTRA };

struct stream_job {
	enum stream_kind kind;
	int level;
	const uint8_t *buf; /* S_CTRL: the serialised triples */
	const struct mfw_delta_src *old;
	const struct mfw_delta_src *nw;
	const struct mfw_delta_ctrlv *ctrl;
	struct mfw_delta_mem *mem;
	struct bzout z;
	uint64_t total;
	int err;
	struct mfw_ctx *ctx; /* progress from the calling thread's job only */
};

static void *encode_stream(void *arg)
{
	struct stream_job *j = arg;
	uint8_t *nb = NULL, *ob = NULL, *db = NULL;
	int64_t newpos = 0, oldpos = 0;
	uint64_t progress = 0, reported = 0;
	int r;

	if ((r = bzout_open(&j->z, j->mem, j->level)) < 0)
		goto out;
	if (j->kind == S_CTRL) {
		r = bzout_run(&j->z, j->buf, j->total, BZ_RUN);
		goto finish;
	}
	nb = mfw_delta_malloc(j->mem, CHUNK);
	ob = mfw_delta_malloc(j->mem, CHUNK);
	db = mfw_delta_malloc(j->mem, CHUNK);
	if (!nb || !ob || !db) {
		r = MFW_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < j->ctrl->n; i++) {
		const struct mfw_delta_ctrl *c = &j->ctrl->v[i];
		if (j->kind == S_DIFF) {
			for (int64_t done = 0; done < c->x;) {
				size_t n = c->x - done < CHUNK ? (size_t)(c->x - done) : CHUNK;
				const uint8_t *np, *op;
				if ((r = src_read(j->nw, newpos + done, nb, n, &np)) < 0 ||
				    (r = src_read(j->old, oldpos + done, ob, n, &op)) < 0)
					goto out;
				for (size_t k = 0; k < n; k++)
					db[k] = (uint8_t)(np[k] - op[k]);
				if ((r = bzout_run(&j->z, db, n, BZ_RUN)) < 0)
					goto out;
				done += (int64_t)n;
				reported += n;
				if (j->ctx && reported >= (8u << 20)) {
					progress += reported;
					reported = 0;
					mfw_progress(j->ctx, "encode", "", progress, j->total);
				}
			}
		} else {
			for (int64_t done = 0; done < c->y;) {
				size_t n = c->y - done < CHUNK ? (size_t)(c->y - done) : CHUNK;
				const uint8_t *np;
				if ((r = src_read(j->nw, newpos + c->x + done, nb, n, &np)) < 0 ||
				    (r = bzout_run(&j->z, np, n, BZ_RUN)) < 0)
					goto out;
				done += (int64_t)n;
			}
		}
		newpos += c->x + c->y;
		oldpos += c->x + c->z;
	}
	r = 0;
finish:
	if (r == 0)
		r = bzout_run(&j->z, NULL, 0, BZ_FINISH);
out:
	mfw_delta_free(j->mem, db, CHUNK);
	mfw_delta_free(j->mem, ob, CHUNK);
	mfw_delta_free(j->mem, nb, CHUNK);
	bzout_close(&j->z);
	j->err = r;
	return NULL;
}

/*
 * Compress one stream with two bzip2 block sizes and keep the smaller.
 * Block size matters more than one would think: diff streams of code
 * change character every few hundred KB, and 100k blocks adapt to that
 * (a kernel image's diff stream: 4.4 % smaller than with 900k blocks),
 * while the long similar stretches of a tar of modules favour 900k blocks
 * (2 % smaller). Both run at once when a second thread is allowed; the
 * smaller blocks also shrink the applier's decoder state (0.4 MB instead
 * of 3.6 MB per stream).
 */
static int encode_best(struct stream_job *j, unsigned threads, struct mfw_ctx *ctx, int big_level)
{
	struct stream_job alt = *j;
	pthread_t tid;
	bool threaded = false;

	j->level = block_size_for(j->total);
	if (j->level > big_level)
		j->level = big_level;
	if (j->level == 1) {
		j->ctx = ctx;
		encode_stream(j);
		return j->err;
	}
	alt.level = 1;
	alt.ctx = NULL;
	if (threads > 1)
		threaded = pthread_create(&tid, NULL, encode_stream, &alt) == 0;
	j->ctx = ctx;
	if (ctx)
		mfw_progress(ctx, "encode", "", 0, j->total);
	encode_stream(j);
	if (threaded)
		pthread_join(tid, NULL);
	else
		encode_stream(&alt);
	if (ctx)
		mfw_progress(ctx, "encode", "", j->total, j->total);
	if (j->err < 0 || alt.err < 0) {
		mfw_delta_free(j->mem, alt.z.out.p, alt.z.out.cap);
		return j->err < 0 ? j->err : alt.err;
	}
	if (alt.z.out.n < j->z.out.n) {
		mfw_delta_free(j->mem, j->z.out.p, j->z.out.cap);
		j->z.out = alt.z.out;
		j->level = alt.level;
	} else {
		mfw_delta_free(j->mem, alt.z.out.p, alt.z.out.cap);
	}
	return 0;
}

int mfw_delta_write_bsdiff40(struct mfw_ctx *ctx, const struct mfw_delta_src *old,
			     const struct mfw_delta_src *nw,
			     const struct mfw_delta_ctrlv *ctrl, unsigned threads,
			     struct mfw_delta_mem *mem, uint8_t **patch, size_t *patch_size)
{
	struct stream_job jc = { .kind = S_CTRL, .old = old, .nw = nw, .ctrl = ctrl, .mem = mem };
	struct stream_job jd = jc, je = jc;
	uint8_t *cbuf = NULL, *p;
	size_t cbytes = ctrl->n * 24;
	int64_t newpos = 0, oldpos = 0;
	int big, r;

	jd.kind = S_DIFF;
	je.kind = S_EXTRA;

	/* the matcher never produces a triple outside old or new; check anyway */
	for (size_t i = 0; i < ctrl->n; i++) {
		const struct mfw_delta_ctrl *c = &ctrl->v[i];
		if (c->x < 0 || c->y < 0 || c->x > nw->size - newpos || c->y > nw->size - newpos - c->x ||
		    oldpos < 0 || c->x > old->size - oldpos)
			return mfw_fail(ctx, MFW_E_RANGE, "internal: control %zu out of range", i);
		newpos += c->x + c->y;
		oldpos += c->x + c->z;
		jd.total += (uint64_t)c->x;
		je.total += (uint64_t)c->y;
	}
	if (newpos != nw->size)
		return mfw_fail(ctx, MFW_E_RANGE, "internal: controls cover %lld of %lld bytes",
				(long long)newpos, (long long)nw->size);

	cbuf = mfw_delta_malloc(mem, cbytes);
	if (!cbuf)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for the control stream");
	for (size_t i = 0; i < ctrl->n; i++) {
		mfw_delta_put_off(cbuf + i * 24, ctrl->v[i].x);
		mfw_delta_put_off(cbuf + i * 24 + 8, ctrl->v[i].y);
		mfw_delta_put_off(cbuf + i * 24 + 16, ctrl->v[i].z);
	}
	jc.buf = cbuf;
	jc.total = cbytes;
	/*
	 * Below 32 MiB the 900k compressor's 7.6 MB would be the largest
	 * allocation of the whole diff, and 300k blocks did as well or
	 * better on every small corpus file.
	 */
	big = nw->size < (32 << 20) ? 3 : 9;
	r = encode_best(&jc, threads, NULL, big);
	mfw_delta_free(mem, cbuf, cbytes);
	if (r == 0)
		r = encode_best(&jd, threads, ctx, big);
	if (r == 0)
		r = encode_best(&je, threads, NULL, big);
	if (r < 0) {
		r = mfw_fail(ctx, r, "cannot encode the %s stream",
			     jc.err < 0 ? "control" : jd.err < 0 ? "diff" : "extra");
		goto free_streams;
	}
	mfw_dbg(ctx, "delta: bzip2 block sizes: control %d00k, diff %d00k, extra %d00k",
		jc.level, jd.level, je.level);

	*patch_size = MFW_BSDIFF40_HDR + jc.z.out.n + jd.z.out.n + je.z.out.n;
	p = malloc(*patch_size);
	if (!p) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory for the patch");
		goto free_streams;
	}
	mfw_delta_mem_add(mem, *patch_size);
	memcpy(p, MFW_BSDIFF40_MAGIC, 8);
	mfw_delta_put_off(p + 8, (int64_t)jc.z.out.n);
	mfw_delta_put_off(p + 16, (int64_t)jd.z.out.n);
	mfw_delta_put_off(p + 24, nw->size);
	memcpy(p + 32, jc.z.out.p, jc.z.out.n);
	memcpy(p + 32 + jc.z.out.n, jd.z.out.p, jd.z.out.n);
	memcpy(p + 32 + jc.z.out.n + jd.z.out.n, je.z.out.p, je.z.out.n);
	*patch = p;
	r = 0;
free_streams:
	mfw_delta_free(mem, je.z.out.p, je.z.out.cap);
	mfw_delta_free(mem, jd.z.out.p, jd.z.out.cap);
	mfw_delta_free(mem, jc.z.out.p, jc.z.out.cap);
	return r;
}
