/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BSDIFF40 writer: header, then bzip2(control), bzip2(diff), bzip2(extra).
 *
 * Each stream is one bzip2 stream, as bspatch expects, but it is made of
 * blocks compressed independently and in parallel:
 *
 *  1. a first pass walks the stream's bytes (generated from the control
 *     triples, old and new; never held whole in memory) and counts what
 *     bzip2's run-length stage (RLE1) makes of them, to cut the stream into
 *     chunks that each fill one bzip2 block without overflowing it;
 *  2. workers compress every chunk as its own one-block bzip2 stream;
 *  3. the blocks are taken out of their streams (a block starts at bit 32,
 *     after "BZh" and the level digit, and ends where the 48-bit end
 *     marker begins) and bit-concatenated under one header, followed by
 *     one end marker whose CRC combines the blocks' CRCs.
 *
 * A bzip2 decoder keeps no state from one block to the next except the
 * combined CRC, so the result is the stream libbz2 would have written had
 * it chosen the same block boundaries.
 *
 * Block size: code diffs favour 100k blocks (they change character every
 * few hundred KB), long similar stretches (a tar of modules) favour 900k.
 * The stream is cut into regions of one large block, each also cut into
 * 100k blocks; a sample of regions is compressed both ways and the winner
 * is used for the rest (and kept for the sample). The header's level is
 * the largest block size used, which is what sizes the applier's decoder.
 */
#include "delta/delta.h"

#include "core/core.h"
#include "util/fs.h"

#include <bzlib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIECE (64 * 1024)
/* sampled regions when choosing the block size: about one in SAMPLE_EVERY, at most SAMPLE_MAX */
#define SAMPLE_EVERY 8
#define SAMPLE_MAX 4

static int src_read(const struct mfw_delta_src *s, int64_t off, uint8_t *buf, size_t n, const uint8_t **out)
{
	if (s->p) {
		*out = s->p + off;
		return 0;
	}
	/* a file that ends early is an I/O error here, as a failing read */
	if (mfw_pread_all(s->fd, buf, n, (uint64_t)off) < 0)
		return MFW_E_IO;
	*out = buf;
	return 0;
}

enum stream_kind { S_CTRL, S_DIFF, S_EXTRA };

struct stream {
	enum stream_kind kind;
	const uint8_t *buf; /* S_CTRL: the serialised triples */
	const struct mfw_delta_src *old;
	const struct mfw_delta_src *nw;
	const struct mfw_delta_ctrlv *ctrl;
	uint64_t total;
};

/* A position in a stream: triple ci, off bytes into its x (diff) or y (extra) part. */
struct spos {
	size_t ci;
	int64_t off;
	int64_t newpos, oldpos; /* at the start of triple ci */
	uint64_t at;            /* stream offset */
};

/* Scratch of one thread generating stream bytes. */
struct gen {
	uint8_t nb[PIECE], ob[PIECE], db[PIECE];
};

/*
 * The next stream bytes from p, at most PIECE and never across a triple:
 * *out points at *n of them (in g->db or straight into a buffer).
 */
static int gen_next(const struct stream *s, struct spos *p, struct gen *g, size_t want,
		    const uint8_t **out, size_t *n)
{
	if (want > PIECE)
		want = PIECE;
	if (s->kind == S_CTRL) {
		uint64_t left = s->total - p->at;
		*n = left < want ? (size_t)left : want;
		*out = s->buf + p->at;
		p->at += *n;
		return 0;
	}
	for (;;) {
		const struct mfw_delta_ctrl *c;
		int64_t part, left;
		const uint8_t *np, *op;
		int r;

		if (p->ci >= s->ctrl->n) {
			*n = 0;
			return 0;
		}
		c = &s->ctrl->v[p->ci];
		part = s->kind == S_DIFF ? c->x : c->y;
		if (p->off >= part) {
			p->newpos += c->x + c->y;
			p->oldpos += c->x + c->z;
			p->ci++;
			p->off = 0;
			continue;
		}
		left = part - p->off;
		*n = left < (int64_t)want ? (size_t)left : want;
		if (s->kind == S_DIFF) {
			if ((r = src_read(s->nw, p->newpos + p->off, g->nb, *n, &np)) < 0 ||
			    (r = src_read(s->old, p->oldpos + p->off, g->ob, *n, &op)) < 0)
				return r;
			for (size_t k = 0; k < *n; k++)
				g->db[k] = (uint8_t)(np[k] - op[k]);
			*out = g->db;
		} else {
			if ((r = src_read(s->nw, p->newpos + c->x + p->off, g->nb, *n, &np)) < 0)
				return r;
			*out = np;
		}
		p->off += (int64_t)*n;
		p->at += *n;
		return 0;
	}
}

/*
 * Bytes bzip2's first stage (RLE1) makes of the input: runs of 4 to 255
 * equal bytes become the 4 bytes and a count byte; a longer run starts a
 * new one at 256. A run does not carry over into the next chunk.
 */
struct rle1 {
	int ch; /* -1: no run yet */
	unsigned len;
	uint64_t done; /* bytes of runs already closed */
};

static inline unsigned rle1_cost(unsigned len)
{
	return len < 4 ? len : 5;
}

static inline uint64_t rle1_total(const struct rle1 *r)
{
	return r->done + rle1_cost(r->len);
}

static inline void rle1_reset(struct rle1 *r)
{
	r->ch = -1;
	r->len = 0;
	r->done = 0;
}

static inline void rle1_add(struct rle1 *r, uint8_t c)
{
	if (c == r->ch && r->len < 255) {
		r->len++;
	} else {
		r->done += rle1_cost(r->len);
		r->ch = c;
		r->len = 1;
	}
}

struct chunk {
	struct spos pos;
	uint64_t len; /* stream bytes */
	int level;
	struct mfw_delta_buf z; /* the chunk as its own one-block bzip2 stream */
	uint64_t bits; /* block bits, from bit 32 of z */
	uint32_t crc;
};

static int chunk_push(struct chunk **v, size_t *n, size_t *cap, struct mfw_delta_mem *mem,
		      const struct spos *pos, uint64_t len, int level)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct chunk *nv = realloc(*v, ncap * sizeof(**v));
		if (!nv)
			return MFW_E_NOMEM;
		mfw_delta_mem_add(mem, (ncap - *cap) * sizeof(**v));
		*v = nv;
		*cap = ncap;
	}
	memset(&(*v)[*n], 0, sizeof(**v));
	(*v)[*n].pos = *pos;
	(*v)[*n].len = len;
	(*v)[*n].level = level;
	(*v)[*n].z.mem = mem;
	(*n)++;
	return 0;
}

/*
 * Block sizes tried, in units: a unit is what RLE1 makes at most UNIT_CAP
 * bytes of. Joined, two units can make one byte more than apart (runs of 2
 * and 2 become a run of 4: 5 bytes), so k units make at most
 * k * (UNIT_CAP + 1) - 1 bytes, which fits one block of ceil(k / 32) * 100k
 * and stays below the 100000 * level - 19 bytes at which libbz2 (the
 * fallback) closes a block.
 * Each size is twice the one before, so the blocks of one size are the
 * halves of those of the next. Streams below 32 MiB: 25k to 200k; above,
 * 25k to 800k; small streams (the control and extra streams, mostly), whose
 * every region is tried at every size: 6k to 400k. With MFW_DELTA_ENC_EVERY
 * (--best) every stream is treated as small: 6k to 400k below 32 MiB, 6k to
 * 800k above.
 */
#define UNIT_CAP 3123
#define UNITS_PER_100K 32
#define NSIZES 8
#define SMALL_STREAM (512u << 10)
static const unsigned sizes_mid[] = { 8, 16, 32, 64 };
static const unsigned sizes_large[] = { 8, 16, 32, 64, 128, 256 };
static const unsigned sizes_small[] = { 2, 4, 8, 16, 32, 64, 128 };
static const unsigned sizes_every_large[] = { 2, 4, 8, 16, 32, 64, 128, 256 };

struct sizes {
	const unsigned *v;
	unsigned n;
};
#define SIZES(a) { (a), (unsigned)(sizeof(a) / sizeof((a)[0])) }
_Static_assert(sizeof(sizes_every_large) / sizeof(sizes_every_large[0]) <= NSIZES, "struct region holds NSIZES sizes");

/* every region tried at every size: small streams always, all streams with MFW_DELTA_ENC_EVERY */
static bool every_region(const struct stream *s, unsigned how)
{
	return s->total <= SMALL_STREAM || (how & MFW_DELTA_ENC_EVERY);
}

/* the block sizes a stream is tried at, smallest first */
static struct sizes stream_sizes(const struct stream *s, int big_level, unsigned how)
{
	static const struct sizes small = SIZES(sizes_small), mid = SIZES(sizes_mid), large = SIZES(sizes_large),
				  every_large = SIZES(sizes_every_large);

	if (every_region(s, how))
		return big_level > 3 && s->total > SMALL_STREAM ? every_large : small;
	return big_level > 3 ? large : mid;
}

/* a run of units of the largest size, and its chunks (indices) at each size once made */
struct region {
	size_t u0, u1;
	size_t c0[NSIZES], c1[NSIZES];
	unsigned pick; /* the size used */
	bool sampled;
};

/* the region's units in chunks of k units */
static int region_chunks(struct chunk **v, size_t *n, size_t *cap, struct mfw_delta_mem *mem,
			 const struct chunk *units, struct region *rg, unsigned si, unsigned k)
{
	int r;

	rg->c0[si] = *n;
	for (size_t i = rg->u0; i < rg->u1; i += k) {
		size_t e = i + k < rg->u1 ? i + k : rg->u1;
		uint64_t len = units[e - 1].pos.at + units[e - 1].len - units[i].pos.at;
		int level = (int)((e - i + UNITS_PER_100K - 1) / UNITS_PER_100K);
		if ((r = chunk_push(v, n, cap, mem, &units[i].pos, len, level)) < 0)
			return r;
	}
	rg->c1[si] = *n;
	return 0;
}

static int jobs_fit(struct chunk ***jobs, size_t *cap, struct mfw_delta_mem *mem, size_t n)
{
	struct chunk **nj;

	if (n <= *cap)
		return 0;
	nj = realloc(*jobs, n * sizeof(*nj));
	if (!nj)
		return MFW_E_NOMEM;
	mfw_delta_mem_add(mem, (n - *cap) * sizeof(*nj));
	*jobs = nj;
	*cap = n;
	return 0;
}

/*
 * A sampled region, tried at every size, takes the best tree of blocks:
 * each block of a size, or the best of its two halves (one when the region
 * ends in it), whichever is smaller.
 */
static uint64_t node_best(const struct chunk *ch, const struct region *rg, unsigned si, size_t j)
{
	uint64_t whole = ch[rg->c0[si] + j].bits, split;
	size_t l;

	if (!si)
		return whole;
	l = rg->c0[si - 1] + 2 * j;
	split = node_best(ch, rg, si - 1, 2 * j);
	if (l + 1 < rg->c1[si - 1])
		split += node_best(ch, rg, si - 1, 2 * j + 1);
	return split < whole ? split : whole;
}

static void node_emit(struct chunk *ch, const struct region *rg, unsigned si, size_t j, struct chunk **jobs,
		      size_t *njobs)
{
	uint64_t whole = ch[rg->c0[si] + j].bits, split;
	bool two;

	if (si) {
		two = rg->c0[si - 1] + 2 * j + 1 < rg->c1[si - 1];
		split = node_best(ch, rg, si - 1, 2 * j) + (two ? node_best(ch, rg, si - 1, 2 * j + 1) : 0);
		if (split < whole) {
			node_emit(ch, rg, si - 1, 2 * j, jobs, njobs);
			if (two)
				node_emit(ch, rg, si - 1, 2 * j + 1, jobs, njobs);
			return;
		}
	}
	jobs[(*njobs)++] = &ch[rg->c0[si] + j];
}

static uint64_t bits_get(const uint8_t *p, uint64_t bit, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++, bit++)
		v = v << 1 | (p[bit >> 3] >> (7 - (bit & 7)) & 1);
	return v;
}

/*
 * Find the block inside a one-block stream: it starts at bit 32 with the
 * block magic and its CRC, and ends where the end marker (magic, then the
 * combined CRC, equal to the block's CRC for one block) starts, followed by
 * 0 to 7 zero bits of padding. Exactly one padding length must fit.
 */
static int chunk_parse(struct chunk *c)
{
	const uint8_t *p = c->z.p;
	uint64_t total = (uint64_t)c->z.n * 8, found = 0;
	int matches = 0;

	if (c->z.n < 4 + 10 + 10 || memcmp(p, "BZh", 3) || p[3] != '0' + c->level ||
	    bits_get(p, 32, 48) != MFW_BZ_BLOCK_MAGIC)
		return MFW_E_IO;
	c->crc = (uint32_t)bits_get(p, 80, 32);
	for (unsigned pad = 0; pad < 8; pad++) {
		uint64_t at = total - pad - 80;
		if (bits_get(p, total - pad, pad) == 0 && bits_get(p, at, 48) == MFW_BZ_EOS_MAGIC &&
		    bits_get(p, at + 48, 32) == c->crc) {
			matches++;
			found = at;
		}
	}
	if (matches != 1 || found <= 32 + 80)
		return MFW_E_IO;
	c->bits = found - 32;
	return 0;
}

struct enc {
	const struct stream *s;
	struct mfw_delta_mem *mem;
	struct chunk **jobs;
	size_t njobs;
	size_t next;   /* atomic: next job to take */
	uint64_t done; /* atomic: stream bytes compressed, for progress */
	int err;       /* atomic: first error */
	struct mfw_ctx *ctx; /* progress, reported from the calling thread only */
	uint64_t progress_total;
	bool libbz2;   /* compress with libbz2's encoder (mfw_delta_opts.libbz2_encoder) */
};

/* the chunk through libbz2's encoder: the fallback */
static int compress_chunk_libbz2(struct enc *e, struct chunk *c, struct gen *g)
{
	bz_stream z;
	struct spos p = c->pos;
	uint64_t left = c->len;
	int r = 0, rc;

	memset(&z, 0, sizeof(z));
	z.bzalloc = mfw_delta_bzalloc;
	z.bzfree = mfw_delta_bzfree;
	z.opaque = e->mem;
	/* workFactor 30 is bzip2's own default; the output does not depend on it */
	if (BZ2_bzCompressInit(&z, c->level, 0, 30) != BZ_OK)
		return MFW_E_NOMEM;
	c->z.n = 0;
	for (int action = BZ_RUN;;) {
		const uint8_t *in = NULL;
		size_t n = 0;

		if (left) {
			if ((r = gen_next(e->s, &p, g, left < PIECE ? (size_t)left : PIECE, &in, &n)) < 0)
				break;
			if (!n) {
				r = MFW_E_IO; /* the stream ended before the chunk: cannot happen */
				break;
			}
			left -= n;
		} else {
			action = BZ_FINISH;
		}
		z.next_in = (char *)in;
		z.avail_in = (unsigned)n;
		do {
			if ((r = mfw_delta_buf_reserve(&c->z, 16 * 1024)) < 0)
				goto out;
			z.next_out = (char *)c->z.p + c->z.n;
			z.avail_out = (unsigned)(c->z.cap - c->z.n);
			rc = BZ2_bzCompress(&z, action);
			c->z.n = c->z.cap - z.avail_out;
			if (action == BZ_RUN ? rc != BZ_RUN_OK : rc != BZ_FINISH_OK && rc != BZ_STREAM_END) {
				r = MFW_E_IO;
				goto out;
			}
		} while (action == BZ_RUN ? z.avail_in > 0 : rc != BZ_STREAM_END);
		if (action == BZ_FINISH)
			break;
	}
out:
	BZ2_bzCompressEnd(&z);
	if (r == 0)
		r = chunk_parse(c);
	return r;
}

/*
 * The chunk through our encoder (bzenc.c), which makes smaller blocks than
 * libbz2's; libbz2 when ours cannot start (memory) or when the caller asks
 * for it (mfw_delta_opts.libbz2_encoder, for comparisons).
 */
static int compress_chunk(struct enc *e, struct chunk *c, struct gen *g, struct mfw_bzenc **zp)
{
	bool force_libbz2 = e->libbz2;
	struct mfw_bzenc *z;
	struct spos p = c->pos;
	uint64_t left = c->len;
	int r;

	/*
	 * The thread keeps its encoder, made for the largest level it has met
	 * (small blocks would otherwise each map 1.3 MB or more).
	 */
	if (!force_libbz2 && *zp && mfw_bzenc_set_level(*zp, c->level) < 0) {
		mfw_bzenc_free(*zp);
		*zp = NULL;
	}
	if (!force_libbz2 && !*zp && mfw_bzenc_new(zp, e->mem, c->level) < 0)
		*zp = NULL;
	z = *zp;
	if (force_libbz2 || !z)
		return compress_chunk_libbz2(e, c, g);
	while (left) {
		const uint8_t *in = NULL;
		size_t n = 0;

		if ((r = gen_next(e->s, &p, g, left < PIECE ? (size_t)left : PIECE, &in, &n)) < 0)
			goto out;
		/* the stream ends before the chunk, or the chunk overflows its block: cannot happen */
		if (!n || mfw_bzenc_add(z, in, n) != n) {
			r = MFW_E_IO;
			goto out;
		}
		left -= n;
	}
	r = mfw_bzenc_finish(z, &c->z, &c->bits, &c->crc);
out:
	if (r < 0) {
		/* it may hold part of a block */
		mfw_bzenc_free(z);
		*zp = NULL;
	}
	return r;
}

static void set_err(struct enc *e, int r)
{
	int zero = 0;
	__atomic_compare_exchange_n(&e->err, &zero, r, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

struct worker {
	struct enc *e;
	bool report; /* the calling thread: may report progress */
};

static void *pool_worker(void *arg)
{
	struct worker *w = arg;
	struct enc *e = w->e;
	struct gen *g = mfw_delta_malloc(e->mem, sizeof(*g));
	struct mfw_bzenc *z = NULL;

	if (!g) {
		set_err(e, MFW_E_NOMEM);
		return NULL;
	}
	for (;;) {
		size_t i = __atomic_fetch_add(&e->next, 1, __ATOMIC_SEQ_CST);
		uint64_t done;
		int r;

		if (i >= e->njobs || __atomic_load_n(&e->err, __ATOMIC_SEQ_CST))
			break;
		r = compress_chunk(e, e->jobs[i], g, &z);
		if (r < 0) {
			set_err(e, r);
			break;
		}
		done = __atomic_add_fetch(&e->done, e->jobs[i]->len, __ATOMIC_SEQ_CST);
		if (w->report && e->ctx)
			mfw_progress(e->ctx, "encode", "", done < e->progress_total ? done : e->progress_total,
				     e->progress_total);
	}
	mfw_bzenc_free(z);
	mfw_delta_free(e->mem, g, sizeof(*g));
	return NULL;
}

/* Compress the jobs on the calling thread and up to threads - 1 more. */
static int pool_run(struct enc *e, unsigned threads)
{
	struct worker w[16];
	pthread_t tid[16];
	bool started[16] = { false };

	if (threads > 16)
		threads = 16;
	if (threads > e->njobs)
		threads = e->njobs ? (unsigned)e->njobs : 1;
	e->next = 0;
	e->err = 0;
	for (unsigned t = 0; t < threads; t++)
		w[t] = (struct worker){ e, t == 0 };
	for (unsigned t = 1; t < threads; t++)
		started[t] = pthread_create(&tid[t], NULL, pool_worker, &w[t]) == 0;
	pool_worker(&w[0]);
	for (unsigned t = 1; t < threads; t++)
		if (started[t])
			pthread_join(tid[t], NULL);
	return e->err;
}

static void bw_copy(struct mfw_bz_bitw *w, const uint8_t *src, uint64_t nbits)
{
	uint64_t full = nbits / 8;
	unsigned rest = (unsigned)(nbits % 8);

	if (!w->bits) {
		memcpy(w->p + w->n, src, full);
		w->n += full;
	} else {
		unsigned sh = w->bits;
		uint8_t *o = w->p + w->n;
		uint64_t acc = w->acc;
		for (uint64_t i = 0; i < full; i++) {
			acc = acc << 8 | src[i];
			o[i] = (uint8_t)(acc >> sh);
		}
		w->acc = acc;
		w->n += full;
	}
	if (rest)
		mfw_bz_put(w, src[full] >> (8 - rest), rest);
}

/*
 * Encode one stream into out (a complete bzip2 stream); *level is the
 * level digit of its header.
 */
/*
 * Encode one stream into out (a complete bzip2 stream); *level is the
 * level digit of its header.
 */
static int encode_stream(const struct stream *s, unsigned threads, int big_level, unsigned how,
			 struct mfw_ctx *ctx, struct mfw_delta_mem *mem, struct mfw_delta_buf *out,
			 int *level, size_t *nblocks)
{
	bool every = every_region(s, how);
	const struct sizes list = stream_sizes(s, big_level, how);
	const unsigned *sizes = list.v;
	unsigned nsizes = list.n;
	struct chunk *units = NULL, *ch = NULL, **jobs = NULL;
	struct region *reg = NULL;
	size_t nunits = 0, cunits = 0, nch = 0, cch = 0, nreg = 0, njobs = 0, cjobs = 0;
	struct gen *g = NULL;
	struct rle1 rs;
	struct spos p = { 0 }, ustart = { 0 };
	uint64_t sample_bits[NSIZES] = { 0 };
	struct enc e = { .s = s, .mem = mem, .ctx = ctx, .progress_total = s->total,
			 .libbz2 = how & MFW_DELTA_ENC_LIBBZ2 };
	size_t ncand = 0, nsamp = 0;
	unsigned pick = 0; /* when there is nothing to choose, every size makes one block */
	unsigned top = 0;  /* the largest size the sampled regions were tried at */
	int r = 0, maxlevel = 1;
	struct mfw_bz_bitw w = { 0 };
	uint32_t comb = 0;
	uint64_t bytes;
	int64_t t0 = mfw_now_us();

	*nblocks = 0;
	g = mfw_delta_malloc(mem, sizeof(*g));
	if (!g)
		return MFW_E_NOMEM;
	rle1_reset(&rs);
	/* 1: cut into units */
	for (;;) {
		const uint8_t *in;
		size_t n;

		if ((r = gen_next(s, &p, g, PIECE, &in, &n)) < 0)
			goto out;
		if (!n)
			break;
		for (size_t k = 0; k < n; k++) {
			uint8_t c = in[k];
			uint64_t ts = c == rs.ch && rs.len < 255 ? rs.done + rle1_cost(rs.len + 1) : rle1_total(&rs) + 1;

			if (ts > UNIT_CAP) {
				struct spos at = p;
				at.off = p.off - (int64_t)n + (int64_t)k;
				at.at = p.at - n + k;
				if ((r = chunk_push(&units, &nunits, &cunits, mem, &ustart, at.at - ustart.at, 1)) < 0)
					goto out;
				ustart = at;
				rle1_reset(&rs);
			}
			rle1_add(&rs, c);
		}
	}
	if (p.at > ustart.at &&
	    (r = chunk_push(&units, &nunits, &cunits, mem, &ustart, p.at - ustart.at, 1)) < 0)
		goto out;
	if (ctx)
		mfw_dbg(ctx, "delta: stream cut in %.3f s", (double)(mfw_now_us() - t0) / 1e6);

	/* regions of the largest size; the sample: about one in SAMPLE_EVERY of those with a choice */
	nreg = (nunits + sizes[nsizes - 1] - 1) / sizes[nsizes - 1];
	reg = mfw_delta_malloc(mem, (nreg ? nreg : 1) * sizeof(*reg));
	if (!reg) {
		r = MFW_E_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nreg; i++) {
		memset(&reg[i], 0, sizeof(reg[i]));
		reg[i].u0 = i * sizes[nsizes - 1];
		reg[i].u1 = reg[i].u0 + sizes[nsizes - 1] < nunits ? reg[i].u0 + sizes[nsizes - 1] : nunits;
		if (reg[i].u1 - reg[i].u0 > 1)
			ncand++;
	}
	if (ncand) {
		size_t k = 0;
		nsamp = (ncand + SAMPLE_EVERY - 1) / SAMPLE_EVERY;
		if (nsamp > SAMPLE_MAX)
			nsamp = SAMPLE_MAX;
		if (every)
			nsamp = ncand;
		for (size_t i = 0, c = 0; i < nreg; i++) {
			if (reg[i].u1 - reg[i].u0 <= 1)
				continue;
			if (k < nsamp && c == (2 * k + 1) * ncand / (2 * nsamp)) {
				reg[i].sampled = true;
				k++;
			}
			c++;
		}
	}

	/*
	 * 2: the sampled regions at each size, smallest first (a size that makes
	 * the same blocks as a smaller one is not redone). The sample's size
	 * curve has one minimum on every stream measured: once a size costs
	 * more than the one before, the larger ones are not tried (a stream
	 * that wants small blocks saves the costliest half of the sampling).
	 */
	for (unsigned si = 0; si < nsizes && ncand; si++) {
		size_t first = nch;

		for (size_t i = 0; i < nreg; i++) {
			if (!reg[i].sampled)
				continue;
			if (si && sizes[si - 1] >= reg[i].u1 - reg[i].u0) {
				reg[i].c0[si] = reg[i].c0[si - 1];
				reg[i].c1[si] = reg[i].c1[si - 1];
				continue;
			}
			if ((r = region_chunks(&ch, &nch, &cch, mem, units, &reg[i], si, sizes[si])) < 0)
				goto out;
			e.progress_total += si ? units[reg[i].u1 - 1].pos.at + units[reg[i].u1 - 1].len -
						   units[reg[i].u0].pos.at : 0;
		}
		if ((r = jobs_fit(&jobs, &cjobs, mem, nch - first)) < 0)
			goto out;
		/* large blocks first: they take longest */
		njobs = 0;
		for (size_t j = nch; j-- > first;)
			jobs[njobs++] = &ch[j];
		e.jobs = jobs;
		e.njobs = njobs;
		if (njobs && (r = pool_run(&e, threads)) < 0)
			goto out;
		for (size_t i = 0; i < nreg; i++)
			if (reg[i].sampled)
				for (size_t j = reg[i].c0[si]; j < reg[i].c1[si]; j++)
					sample_bits[si] += ch[j].bits;
		top = si;
		if (si && sample_bits[si] > sample_bits[si - 1])
			break;
	}
	if (ncand) {
		pick = 0;
		for (unsigned si = 1; si <= top; si++)
			if (sample_bits[si] < sample_bits[pick])
				pick = si;
		if (ctx)
			mfw_dbg(ctx, "delta: block sizes sampled on %zu of %zu regions up to %u units: %u units of %u bytes",
				nsamp, nreg, sizes[top], sizes[pick], UNIT_CAP);
	}
	if (ctx)
		mfw_dbg(ctx, "delta: sampled in %.3f s", (double)(mfw_now_us() - t0) / 1e6);

	/* 3: everything else at the chosen size */
	{
		size_t first = nch;
		for (size_t i = 0; i < nreg; i++) {
			if (reg[i].sampled)
				continue;
			reg[i].pick = pick;
			if ((r = region_chunks(&ch, &nch, &cch, mem, units, &reg[i], pick, sizes[pick])) < 0)
				goto out;
		}
		if ((r = jobs_fit(&jobs, &cjobs, mem, nch)) < 0)
			goto out;
		njobs = 0;
		for (size_t j = first; j < nch; j++)
			jobs[njobs++] = &ch[j];
		e.jobs = jobs;
		e.njobs = njobs;
		if (njobs && (r = pool_run(&e, threads)) < 0)
			goto out;
	}
	if (ctx)
		mfw_dbg(ctx, "delta: compressed in %.3f s", (double)(mfw_now_us() - t0) / 1e6);

	/* 4: the blocks in order under one header, one end marker */
	njobs = 0;
	for (size_t i = 0; i < nreg; i++) {
		if (reg[i].sampled) {
			/* the best tree under each of the region's blocks at the largest size tried */
			for (size_t j = 0; j < reg[i].c1[top] - reg[i].c0[top]; j++)
				node_emit(ch, &reg[i], top, j, jobs, &njobs);
			continue;
		}
		for (size_t j = reg[i].c0[reg[i].pick]; j < reg[i].c1[reg[i].pick]; j++)
			jobs[njobs++] = &ch[j];
	}
	/* the blocks must cover the stream, in order, once */
	for (size_t i = 0, at = 0; i <= njobs; i++) {
		if (i == njobs ? at != s->total : jobs[i]->pos.at != at) {
			r = MFW_E_IO;
			goto out;
		}
		if (i < njobs)
			at += jobs[i]->len;
	}
	bytes = 4 + 10 + 1;
	for (size_t i = 0; i < njobs; i++) {
		bytes += jobs[i]->bits / 8 + 1;
		if (jobs[i]->level > maxlevel)
			maxlevel = jobs[i]->level;
	}
	out->mem = mem;
	if ((r = mfw_delta_buf_reserve(out, bytes)) < 0)
		goto out;
	w.p = out->p;
	mfw_bz_put_header(&w, maxlevel);
	for (size_t i = 0; i < njobs; i++) {
		bw_copy(&w, jobs[i]->z.p + 4, jobs[i]->bits);
		comb = (comb << 1 | comb >> 31) ^ jobs[i]->crc;
		mfw_delta_buf_free(&jobs[i]->z);
	}
	mfw_bz_put_end(&w, comb);
	out->n = w.n;
	*level = maxlevel;
	*nblocks = njobs;
	r = 0;
out:
	for (size_t i = 0; i < nch; i++)
		mfw_delta_buf_free(&ch[i].z);
	mfw_delta_free(mem, jobs, cjobs * sizeof(*jobs));
	mfw_delta_free(mem, reg, (nreg ? nreg : 1) * sizeof(*reg));
	mfw_delta_free(mem, ch, cch * sizeof(*ch));
	mfw_delta_free(mem, units, cunits * sizeof(*units));
	mfw_delta_free(mem, g, sizeof(*g));
	return r;
}

/*
 * The control and extra streams. When both are small (tens of KB on code
 * diffs) they are encoded on a thread of their own while the diff stream
 * is: every one of their regions is tried at every block size, one or two
 * blocks at a time, so on their own they kept one of two cores idle for a
 * third of libcrypto's encoding. Otherwise they are encoded first, with
 * all the threads.
 */
struct side {
	const struct stream *sc, *se;
	unsigned threads;
	int big;
	unsigned how;
	struct mfw_delta_mem *mem;
	uint8_t *cbuf; /* the serialised triples, freed once encoded */
	size_t cbytes;
	struct mfw_delta_buf *zc, *ze;
	int lc, le;
	size_t bc, be;
	int r;
	const char *what;
};

static void *side_encode(void *arg)
{
	struct side *sd = arg;

	sd->what = "control";
	sd->r = encode_stream(sd->sc, sd->threads, sd->big, sd->how, NULL, sd->mem, sd->zc, &sd->lc, &sd->bc);
	mfw_delta_free(sd->mem, sd->cbuf, sd->cbytes);
	if (sd->r == 0) {
		sd->what = "extra";
		sd->r = encode_stream(sd->se, sd->threads, sd->big, sd->how, NULL, sd->mem, sd->ze, &sd->le, &sd->be);
	}
	return NULL;
}

int mfw_delta_write_bsdiff40(struct mfw_ctx *ctx, const struct mfw_delta_src *old,
			     const struct mfw_delta_src *nw,
			     const struct mfw_delta_ctrlv *ctrl, unsigned threads, unsigned how,
			     struct mfw_delta_mem *mem, uint8_t **patch, size_t *patch_size)
{
	struct stream sc = { .kind = S_CTRL, .old = old, .nw = nw, .ctrl = ctrl };
	struct stream sd = sc, se = sc;
	struct mfw_delta_buf zc = { .mem = mem }, zd = { .mem = mem }, ze = { .mem = mem };
	uint8_t *cbuf = NULL, *p;
	size_t cbytes = ctrl->n * 24, bc = 0, bd = 0, be = 0;
	int64_t newpos = 0, oldpos = 0;
	int big, lc = 0, ld = 0, le = 0, r;
	const char *what = "control";

	sd.kind = S_DIFF;
	se.kind = S_EXTRA;
	if (threads < 1)
		threads = 1;

	/* the matcher never produces a triple outside old or new; check anyway */
	for (size_t i = 0; i < ctrl->n; i++) {
		const struct mfw_delta_ctrl *c = &ctrl->v[i];
		if (c->x < 0 || c->y < 0 || c->x > nw->size - newpos || c->y > nw->size - newpos - c->x ||
		    oldpos < 0 || c->x > old->size - oldpos)
			return mfw_fail(ctx, MFW_E_RANGE, "internal: control %zu out of range", i);
		newpos += c->x + c->y;
		oldpos += c->x + c->z;
		sd.total += (uint64_t)c->x;
		se.total += (uint64_t)c->y;
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
	sc.buf = cbuf;
	sc.total = cbytes;
	/*
	 * Below 32 MiB the 900k compressor's 7.6 MB per thread would be the
	 * largest allocation of the whole diff, and 300k blocks did as well
	 * or better on every small corpus file.
	 */
	big = nw->size < (32 << 20) ? 3 : 9;
	{
		bool beside = threads > 1 && sc.total <= SMALL_STREAM && se.total <= SMALL_STREAM;
		struct side side = { .sc = &sc, .se = &se, .threads = beside ? 1 : threads, .big = big,
				     .how = how, .mem = mem, .cbuf = cbuf, .cbytes = cbytes,
				     .zc = &zc, .ze = &ze };
		pthread_t tid;
		bool started = beside && pthread_create(&tid, NULL, side_encode, &side) == 0;

		if (!started)
			side_encode(&side);
		what = "diff";
		r = started || side.r == 0 ? encode_stream(&sd, threads, big, how, ctx, mem, &zd, &ld, &bd) : 0;
		if (started)
			pthread_join(tid, NULL);
		if (r == 0 && side.r < 0) {
			r = side.r;
			what = side.what;
		}
		lc = side.lc;
		le = side.le;
		bc = side.bc;
		be = side.be;
	}
	if (r < 0) {
		r = mfw_fail(ctx, r, "cannot encode the %s stream", what);
		goto free_streams;
	}
	mfw_dbg(ctx, "delta: bzip2 streams: control %d00k (%zu blocks), diff %d00k (%zu), extra %d00k (%zu)",
		lc, bc, ld, bd, le, be);

	*patch_size = MFW_BSDIFF40_HDR + zc.n + zd.n + ze.n;
	p = malloc(*patch_size);
	if (!p) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory for the patch");
		goto free_streams;
	}
	mfw_delta_mem_add(mem, *patch_size);
	memcpy(p, MFW_BSDIFF40_MAGIC, 8);
	mfw_delta_put_off(p + 8, (int64_t)zc.n);
	mfw_delta_put_off(p + 16, (int64_t)zd.n);
	mfw_delta_put_off(p + 24, nw->size);
	memcpy(p + 32, zc.p, zc.n);
	memcpy(p + 32 + zc.n, zd.p, zd.n);
	memcpy(p + 32 + zc.n + zd.n, ze.p, ze.n);
	*patch = p;
	r = 0;
free_streams:
	mfw_delta_buf_free(&ze);
	mfw_delta_buf_free(&zd);
	mfw_delta_buf_free(&zc);
	return r;
}
