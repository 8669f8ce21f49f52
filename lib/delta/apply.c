/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Streaming BSDIFF40 applier.
 *
 * Memory is fixed: the three bzip2 streams are decoded incrementally, each
 * reading its own region of the patch through its own small buffer, old is
 * read by offset and the output is produced in order, chunk by chunk. So a
 * 160 MB image applies in the same few MB as a 1 KB one.
 *
 * Every number taken from the patch is checked before use (CVE-2014-9862
 * was bspatch trusting them): header lengths against the patch size, the
 * new size against the caller's limit, each control triple against the
 * bytes left to produce, and every cursor addition against overflow.
 * Old bytes outside [0, old size) contribute nothing, as in bspatch 4.3.
 */
#include "delta/delta.h"
#include "delta/bzdec.h"

#include "core/core.h"
#include "util/fs.h"

#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define IN_BUF (64 * 1024)
#define CHUNK (128 * 1024)
#define WBUF (128 * 1024)
/*
 * Old is read ahead into OWAYS windows of OWIN bytes, the least recently
 * used refilled on a miss. One 128 KiB window was refilled at every jump
 * between two regions of old: a patch of code changes seeks back and forth
 * (libcrypto: 105 seeks back and 107 forward by more than 64 KiB in 1170
 * controls), and the kernel copied old 5.4 times over (14.3 MB in 223 reads
 * for 2.6 MB of output; 84 MB for the 20.6 MB kernel Image, simulated). Four
 * windows of 32 KiB filled with the control's bytes plus OAHEAD: 6.7 MB in
 * 209 reads (the Image: 42 MB in 1000 reads against 1107), same memory.
 */
#define OWAYS 4
#define OWIN (32 * 1024)
#define OAHEAD (32 * 1024)
/*
 * Controls that produce no byte (x = y = 0) are legal (bsdiff writes one
 * when new begins on a match elsewhere in old), but a bzip2 bomb of them
 * would keep the applier busy for hours: more than this many in a row is
 * refused.
 */
#define MAX_IDLE_CONTROLS (1u << 20)
/* report progress about every this many output bytes */
#define PROGRESS_STEP (4u << 20)

struct bzin {
	bz_stream s;
	bool open;
	bool ended;
	/*
	 * bzdec.c decodes the stream's blocks, when it takes them: libbz2
	 * (s) is only fed if it says no to one, and then from the stream's
	 * start, skipping the fgot bytes bzdec gave (bzin_fast).
	 */
	struct mfw_bzdec *fz;
	bool fast, fblock;
	uint64_t fbit;     /* where the next block magic or the end marker starts */
	uint64_t fgot;
	uint32_t fcomb;    /* the blocks' CRCs combined */
	uint64_t start;    /* the stream's first byte in the patch */
	const char *name;
	uint64_t off; /* next patch byte to feed */
	uint64_t end; /* end of this stream's region in the patch */
	const struct mfw_delta_reader *patch;
	char why[160]; /* what went wrong, for the caller's thread to report */
	uint8_t in[IN_BUF];
};

/*
 * The diff stream carries one byte per output byte and decoding it is
 * about 80 % of an apply, so with a second thread allowed it is decoded
 * ahead into a small ring of chunks while the main thread reads old,
 * adds and writes. The ring adds RING * CHUNK bytes, nothing per input.
 */
#define RING 4
struct ring {
	pthread_t tid;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bzin *z;
	uint8_t *buf[RING];
	size_t len[RING];
	unsigned head, tail, count; /* producer fills head, consumer reads tail */
	size_t pos;                 /* consumer's offset in buf[tail] */
	bool eof, stop;
	int err;
};

struct applier {
	struct mfw_ctx *ctx;
	struct mfw_delta_mem mem;
	const struct mfw_delta_reader *old;
	const struct mfw_delta_writer *out;
	struct bzin ctrl;
	struct bzin diff;
	struct bzin extra;
	struct ring ring;
	bool threaded;
	struct mfw_delta_pbz *pbz; /* diff stream decoded block-parallel, when not NULL */
	uint8_t dbuf[CHUNK];
	/*
	 * Output is gathered here and written in large pieces, and old is
	 * read ahead: a patch of code changes has thousands of controls, and
	 * a write and a read per control cost a third of an apply.
	 */
	uint8_t wbuf[WBUF];
	size_t wn;
	struct {
		uint8_t buf[OWIN];
		int64_t base; /* offset in old of buf[0] */
		size_t len;
		uint64_t used; /* when last used, for LRU */
	} ow[OWAYS];
	uint64_t otick;
};

int mfw_delta_probe(struct mfw_ctx *ctx, const uint8_t *hdr, size_t len, uint64_t *new_size)
{
	int64_t x, y, n;

	if (len >= 8 && !memcmp(hdr, MFW_DELTA_MFWZ_MAGIC, 8))
		return mfw_delta_zprobe_hdr(ctx, hdr, len, new_size);
	if (len < MFW_BSDIFF40_HDR || memcmp(hdr, MFW_BSDIFF40_MAGIC, 8))
		return mfw_fail(ctx, MFW_E_FORMAT, "not a BSDIFF40 patch (bad magic or shorter than 32 bytes)");
	x = mfw_delta_get_off(hdr + 8);
	y = mfw_delta_get_off(hdr + 16);
	n = mfw_delta_get_off(hdr + 24);
	if (x < 0 || y < 0)
		return mfw_fail(ctx, MFW_E_RANGE, "patch header: negative stream length (control %lld, diff %lld)",
				(long long)x, (long long)y);
	if (n < 0)
		return mfw_fail(ctx, MFW_E_RANGE, "patch header: negative new size %lld", (long long)n);
	*new_size = (uint64_t)n;
	return 0;
}

static int bzin_open(struct applier *a, struct bzin *z, const char *name, uint64_t off,
		     uint64_t end, bool small)
{
	z->name = name;
	z->start = off;
	z->fast = !small; /* --small: libbz2's small decoder, whose memory bzdec would double */
	z->fz = NULL;
	z->fblock = false;
	z->fgot = 0;
	z->fcomb = 0;
	z->fbit = (off + 4) * 8;
	z->off = off;
	z->end = end;
	z->patch = NULL;
	z->ended = false;
	memset(&z->s, 0, sizeof(z->s));
	z->s.bzalloc = mfw_delta_bzalloc;
	z->s.bzfree = mfw_delta_bzfree;
	z->s.opaque = &a->mem;
	if (BZ2_bzDecompressInit(&z->s, 0, small ? 1 : 0) != BZ_OK)
		return mfw_fail(a->ctx, MFW_E_NOMEM, "cannot set up the bzip2 decoder for the %s stream", name);
	z->open = true;
	return 0;
}

static void bzin_close(struct bzin *z)
{
	if (z->open)
		BZ2_bzDecompressEnd(&z->s);
	z->open = false;
	mfw_bzdec_free(z->fz);
	z->fz = NULL;
}

static int bzin_fill_bz2(struct bzin *z, uint8_t *buf, size_t len, size_t *got);

/* n bits (n <= 32) of the patch from bit `bit`; false past the stream's end or on a read error */
static bool bzin_bits(struct bzin *z, uint64_t bit, unsigned n, uint64_t *v)
{
	uint8_t b[8] = { 0 };
	uint64_t first = bit / 8, last = (bit + n + 7) / 8, w = 0;

	if (last > z->end || z->patch->read(z->patch->user, first, b, (size_t)(last - first)) < 0)
		return false;
	for (int i = 0; i < 8; i++)
		w = w << 8 | b[i];
	*v = w << (bit % 8) >> (64 - n);
	return true;
}

/*
 * The fast path of bzin_fill: blocks decoded by bzdec.c, the end marker
 * and the combined CRC checked here. 0 with *got (less than len only at
 * the stream's end), 1 when bzdec says no to something (a block it does
 * not take, anything but a block magic or the end marker with the right
 * CRC after a block): libbz2 then decodes the stream from its start, so
 * the verdict is libbz2's. A block bzdec fails after giving its bytes
 * (wrong CRC, a run of four with no count at its end) libbz2 fails too,
 * from the same bits: a format error at once, as bzdec's bytes were used.
 */
static int bzin_fast(struct bzin *z, struct mfw_delta_mem *mem, uint8_t *buf, size_t len, size_t *got)
{
	size_t o = 0;

	while (o < len && !z->ended) {
		uint64_t m, c;
		int r;

		if (z->fblock) {
			size_t n = mfw_bzdec_out(z->fz, buf + o, len - o);
			o += n;
			z->fgot += n;
			if (n)
				continue;
			if (!mfw_bzdec_ok(z->fz)) {
				snprintf(z->why, sizeof(z->why), "%s stream is corrupt (a block's CRC or runs)", z->name);
				return MFW_E_FORMAT;
			}
			z->fcomb = (z->fcomb << 1 | z->fcomb >> 31) ^ mfw_bzdec_crc(z->fz);
			z->fbit = mfw_bzdec_end_bit(z->fz);
			z->fblock = false;
		}
		if (!z->fz) {
			uint8_t h[4];
			if (z->end - z->start < 4 || z->patch->read(z->patch->user, z->start, h, 4) < 0 ||
			    memcmp(h, "BZh", 3) || h[3] < '1' || h[3] > '9' ||
			    !(z->fz = mfw_bzdec_new(h[3] - '0', mem)))
				return 1;
		}
		if (!bzin_bits(z, z->fbit, 24, &m) || !bzin_bits(z, z->fbit + 24, 24, &c))
			return 1;
		m = m << 24 | c;
		if (m == MFW_BZ_EOS_MAGIC) {
			if (!bzin_bits(z, z->fbit + 48, 32, &c) || (uint32_t)c != z->fcomb)
				return 1;
			z->ended = true;
			break;
		}
		if (m != MFW_BZ_BLOCK_MAGIC)
			return 1;
		r = mfw_bzdec_block(z->fz, z->patch, z->fbit, MFW_BZDEC_ANY_END, z->end);
		if (r < 0) {
			snprintf(z->why, sizeof(z->why), "cannot read the patch at bit %llu",
				 (unsigned long long)z->fbit);
			return r;
		}
		if (r)
			return 1;
		z->fblock = true;
	}
	*got = o;
	return 0;
}

/*
 * Decode up to len bytes into buf; *got says how many. Stops early only at
 * the stream's end marker; a broken or truncated stream is a format error,
 * described in z->why (this runs on the decoder thread too, which must not
 * touch the context).
 */
static int bzin_fill(struct bzin *z, uint8_t *buf, size_t len, size_t *got)
{
	if (z->fast) {
		size_t o = 0;
		int r = bzin_fast(z, z->s.opaque, buf, len, &o);
		if (r <= 0) {
			*got = o;
			return r;
		}
		/* bzdec said no (at a block boundary): libbz2 from the start, past every byte bzdec gave */
		z->fast = false;
		z->ended = false;
		for (uint64_t skip = z->fgot; skip;) {
			uint8_t t[4096];
			size_t n = skip < sizeof(t) ? (size_t)skip : sizeof(t), k;
			if ((r = bzin_fill_bz2(z, t, n, &k)) < 0)
				return r;
			if (k < n) {
				snprintf(z->why, sizeof(z->why), "%s stream is corrupt (ends early)", z->name);
				return MFW_E_FORMAT;
			}
			skip -= n;
		}
		if ((r = bzin_fill_bz2(z, buf + o, len - o, got)) < 0)
			return r;
		*got += o;
		return 0;
	}
	return bzin_fill_bz2(z, buf, len, got);
}

static int bzin_fill_bz2(struct bzin *z, uint8_t *buf, size_t len, size_t *got)
{
	z->s.next_out = (char *)buf;
	z->s.avail_out = (unsigned)len;
	while (z->s.avail_out && !z->ended) {
		unsigned in_before, out_before;
		int rc;

		if (!z->s.avail_in && z->off < z->end) {
			size_t n = z->end - z->off < IN_BUF ? (size_t)(z->end - z->off) : IN_BUF;
			int r = z->patch->read(z->patch->user, z->off, z->in, n);
			if (r < 0) {
				snprintf(z->why, sizeof(z->why), "cannot read the patch at byte %llu",
					 (unsigned long long)z->off);
				return r;
			}
			z->off += n;
			z->s.next_in = (char *)z->in;
			z->s.avail_in = (unsigned)n;
		}
		in_before = z->s.avail_in;
		out_before = z->s.avail_out;
		rc = BZ2_bzDecompress(&z->s);
		if (rc == BZ_STREAM_END) {
			z->ended = true;
			break;
		}
		if (rc != BZ_OK) {
			snprintf(z->why, sizeof(z->why), "%s stream is corrupt (bzip2 error %d)", z->name, rc);
			return MFW_E_FORMAT;
		}
		if (in_before == z->s.avail_in && out_before == z->s.avail_out && z->off >= z->end) {
			snprintf(z->why, sizeof(z->why), "%s stream is truncated", z->name);
			return MFW_E_FORMAT;
		}
	}
	*got = len - z->s.avail_out;
	return 0;
}

/* Decode exactly len bytes; a stream that ends first is a format error. */
static int bzin_read(struct applier *a, struct bzin *z, uint8_t *buf, size_t len)
{
	size_t got;
	int r = bzin_fill(z, buf, len, &got);
	if (r < 0)
		return mfw_fail_keep(a->ctx, r, "%s", z->why);
	if (got < len)
		return mfw_fail(a->ctx, MFW_E_FORMAT, "%s stream ends %zu bytes early", z->name, len - got);
	return 0;
}

/*
 * After the last output byte every stream must be at its end marker: the
 * marker carries the combined CRC, and leftover data means the patch was
 * not made for this output.
 */
static int bzin_finish(struct applier *a, struct bzin *z)
{
	uint8_t b;
	size_t got;
	int r = bzin_fill(z, &b, 1, &got);
	if (r < 0)
		return mfw_fail_keep(a->ctx, r, "%s", z->why);
	if (got)
		return mfw_fail(a->ctx, MFW_E_FORMAT, "%s stream has data after the end of the new file",
				z->name);
	return 0;
}

static void *ring_producer(void *arg)
{
	struct ring *g = arg;

	for (;;) {
		unsigned slot;
		size_t got = 0;
		int r;

		pthread_mutex_lock(&g->mu);
		while (g->count == RING && !g->stop)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stop) {
			pthread_mutex_unlock(&g->mu);
			return NULL;
		}
		slot = g->head;
		pthread_mutex_unlock(&g->mu);

		r = bzin_fill(g->z, g->buf[slot], CHUNK, &got);

		pthread_mutex_lock(&g->mu);
		if (r < 0) {
			g->err = r;
		} else {
			if (got) {
				g->len[slot] = got;
				g->head = (g->head + 1) % RING;
				g->count++;
			}
			if (got < CHUNK)
				g->eof = true; /* bzin_fill stops short only at the end marker */
		}
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		if (r < 0 || got < CHUNK)
			return NULL;
	}
}

static int ring_start(struct applier *a)
{
	struct ring *g = &a->ring;

	g->z = &a->diff;
	for (int i = 0; i < RING; i++) {
		g->buf[i] = mfw_delta_malloc(&a->mem, CHUNK);
		if (!g->buf[i])
			return mfw_fail(a->ctx, MFW_E_NOMEM, "out of memory for the decode ring");
	}
	if (pthread_mutex_init(&g->mu, NULL))
		return mfw_fail(a->ctx, MFW_E_NOMEM, "cannot create a mutex");
	if (pthread_cond_init(&g->cv, NULL)) {
		pthread_mutex_destroy(&g->mu);
		return mfw_fail(a->ctx, MFW_E_NOMEM, "cannot create a condition variable");
	}
	if (pthread_create(&g->tid, NULL, ring_producer, g)) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		return mfw_fail(a->ctx, MFW_E_NOMEM, "cannot start the decoder thread");
	}
	g->started = true;
	return 0;
}

static void ring_stop(struct applier *a)
{
	struct ring *g = &a->ring;

	if (g->started) {
		pthread_mutex_lock(&g->mu);
		g->stop = true;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		pthread_join(g->tid, NULL);
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		g->started = false;
	}
	for (int i = 0; i < RING; i++) {
		mfw_delta_free(&a->mem, g->buf[i], CHUNK);
		g->buf[i] = NULL;
	}
}

/*
 * Next decoded diff bytes: *p points at up to want of them inside the
 * ring; *n says how many. The chunk is handed back to the producer once
 * the consumer has gone past its end.
 */
static int ring_take(struct applier *a, size_t want, const uint8_t **p, size_t *n)
{
	struct ring *g = &a->ring;

	pthread_mutex_lock(&g->mu);
	if (g->count && g->pos == g->len[g->tail]) {
		g->tail = (g->tail + 1) % RING;
		g->count--;
		g->pos = 0;
		pthread_cond_broadcast(&g->cv);
	}
	while (!g->count && !g->eof && !g->err)
		pthread_cond_wait(&g->cv, &g->mu);
	if (!g->count) {
		int err = g->err;
		pthread_mutex_unlock(&g->mu);
		if (err)
			return mfw_fail_keep(a->ctx, err, "%s", g->z->why);
		return mfw_fail(a->ctx, MFW_E_FORMAT, "diff stream ends early");
	}
	*p = g->buf[g->tail] + g->pos;
	*n = g->len[g->tail] - g->pos < want ? g->len[g->tail] - g->pos : want;
	g->pos += *n;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

/* The diff stream must end exactly with the output, as bzin_finish() checks. */
static int ring_finish(struct applier *a)
{
	const uint8_t *p;
	size_t n;
	struct ring *g = &a->ring;
	bool more;

	pthread_mutex_lock(&g->mu);
	if (g->count && g->pos == g->len[g->tail]) {
		g->tail = (g->tail + 1) % RING;
		g->count--;
		g->pos = 0;
		pthread_cond_broadcast(&g->cv);
	}
	while (!g->count && !g->eof && !g->err)
		pthread_cond_wait(&g->cv, &g->mu);
	more = g->count > 0;
	pthread_mutex_unlock(&g->mu);
	if (more)
		return mfw_fail(a->ctx, MFW_E_FORMAT, "diff stream has data after the end of the new file");
	if (g->err)
		return ring_take(a, 1, &p, &n); /* reports the producer's error */
	return 0;
}

/*
 * The block-parallel decoder gave up (a magic inside a block, or a corrupt
 * stream): decode the diff stream sequentially from its start, skipping
 * the bytes already used, and let that decoder give the verdict.
 */
static int pbz_fallback(struct applier *a)
{
	uint64_t skip = mfw_delta_pbz_delivered(a->pbz);

	mfw_delta_pbz_close(a->pbz);
	a->pbz = NULL;
	mfw_dbg(a->ctx, "delta: parallel decoding of the diff stream stopped after %llu bytes; sequential",
		(unsigned long long)skip);
	while (skip) {
		size_t n = skip < CHUNK ? (size_t)skip : CHUNK;
		int r = bzin_read(a, &a->diff, a->dbuf, n);
		if (r < 0)
			return r;
		skip -= n;
	}
	return 0;
}

/* The block-parallel decoder stopped with an error (not a give-up). */
static int pbz_error(struct applier *a, int r)
{
	if (r == MFW_E_FORMAT)
		return mfw_fail(a->ctx, r, "diff stream: corrupt bzip2 block after byte %llu (wrong CRC or an unfinished run)",
				(unsigned long long)mfw_delta_pbz_delivered(a->pbz));
	return mfw_fail(a->ctx, r, "diff stream: out of memory");
}

/* Add the next n diff bytes to ob (old bytes) in place. */
static int add_diff(struct applier *a, uint8_t *ob, size_t n)
{
	size_t done = 0;

	while (a->pbz && done < n) {
		const uint8_t *p;
		size_t k;
		int r = mfw_delta_pbz_take(a->pbz, n - done, &p, &k);
		if (r < 0)
			return pbz_error(a, r);
		if (r > 0 || !k) {
			/* gave up, or the end marker came early: the sequential decoder decides */
			if ((r = pbz_fallback(a)) < 0)
				return r;
			break;
		}
		for (size_t i = 0; i < k; i++)
			ob[done + i] = (uint8_t)(ob[done + i] + p[i]);
		done += k;
	}
	if (done == n)
		return 0;
	if (!a->threaded) {
		int r = bzin_read(a, &a->diff, a->dbuf, n - done);
		if (r < 0)
			return r;
		for (size_t i = done; i < n; i++)
			ob[i] = (uint8_t)(ob[i] + a->dbuf[i - done]);
		return 0;
	}
	while (done < n) {
		const uint8_t *p;
		size_t k;
		int r = ring_take(a, n - done, &p, &k);
		if (r < 0)
			return r;
		for (size_t i = 0; i < k; i++)
			ob[done + i] = (uint8_t)(ob[done + i] + p[i]);
		done += k;
	}
	return 0;
}

/* The diff stream must end with the output. */
static int diff_finish(struct applier *a)
{
	if (a->pbz) {
		int r = mfw_delta_pbz_finish(a->pbz);
		if (r == 0)
			return 0;
		if (r < 0)
			return pbz_error(a, r);
		if ((r = pbz_fallback(a)) < 0)
			return r;
	}
	return a->threaded ? ring_finish(a) : bzin_finish(a, &a->diff);
}

/*
 * Old bytes [pos, pos+n) into buf, zero where the range falls outside old.
 * ahead: how many bytes from pos this control will read in all, so the
 * read-ahead window is filled with what is needed and a little more (the
 * next control usually starts nearby), not a fixed 256 KiB per control.
 */
static int read_old(struct applier *a, int64_t pos, uint8_t *buf, size_t n, int64_t ahead)
{
	int64_t osz = (int64_t)a->old->size;
	int64_t lo = pos, hi = pos + (int64_t)n; /* no overflow: checked by the caller */

	if (lo >= osz || hi <= 0) {
		memset(buf, 0, n);
		return 0;
	}
	if (lo < 0) {
		memset(buf, 0, (size_t)-lo);
		buf += -lo;
		lo = 0;
	}
	if (hi > osz) {
		memset(buf + (osz - lo), 0, (size_t)(hi - osz));
		hi = osz;
	}
	a->otick++;
	for (int i = 0; i < OWAYS; i++)
		if (lo >= a->ow[i].base && hi <= a->ow[i].base + (int64_t)a->ow[i].len) {
			memcpy(buf, a->ow[i].buf + (lo - a->ow[i].base), (size_t)(hi - lo));
			a->ow[i].used = a->otick;
			return 0;
		}
	if (hi - lo <= OWIN) {
		/* refill the least recently used window from lo */
		int w = 0;
		for (int i = 1; i < OWAYS; i++)
			if (a->ow[i].used < a->ow[w].used)
				w = i;
		int64_t want = ahead - (lo - pos) + OAHEAD;
		size_t n = want < OWIN ? (size_t)want : OWIN;
		if ((int64_t)n < hi - lo)
			n = (size_t)(hi - lo);
		if ((int64_t)n > osz - lo)
			n = (size_t)(osz - lo);
		int r = a->old->read(a->old->user, (uint64_t)lo, a->ow[w].buf, n);
		if (r < 0) {
			a->ow[w].len = 0;
			return mfw_fail_keep(a->ctx, r, "cannot read old at byte %lld", (long long)lo);
		}
		a->ow[w].base = lo;
		a->ow[w].len = n;
		a->ow[w].used = a->otick;
		memcpy(buf, a->ow[w].buf, (size_t)(hi - lo));
		return 0;
	}
	int r = a->old->read(a->old->user, (uint64_t)lo, buf, (size_t)(hi - lo));
	if (r < 0)
		return mfw_fail_keep(a->ctx, r, "cannot read old at byte %lld", (long long)lo);
	return 0;
}

static int flush_out(struct applier *a, int64_t newpos)
{
	int r;
	if (!a->wn)
		return 0;
	r = a->out->write(a->out->user, a->wbuf, a->wn);
	if (r < 0)
		return mfw_fail_keep(a->ctx, r, "cannot write new at byte %lld", (long long)(newpos - (int64_t)a->wn));
	a->wn = 0;
	return 0;
}

static int add_overflows(int64_t a, int64_t b)
{
	int64_t r;
	return __builtin_add_overflow(a, b, &r);
}

static int run(struct applier *a, int64_t new_size, struct mfw_delta_stats *st)
{
	int64_t newpos = 0, oldpos = 0;
	uint64_t next_progress = PROGRESS_STEP;
	unsigned idle = 0;
	uint8_t cb[24];
	int r;

	mfw_progress(a->ctx, "apply", "", 0, (uint64_t)new_size);
	while (newpos < new_size) {
		int64_t x, y, z;

		if (mfw_cancelled(a->ctx))
			return mfw_fail(a->ctx, MFW_E_CANCELLED, "apply cancelled at byte %lld", (long long)newpos);
		r = bzin_read(a, &a->ctrl, cb, sizeof(cb));
		if (r < 0)
			return r;
		x = mfw_delta_get_off(cb);
		y = mfw_delta_get_off(cb + 8);
		z = mfw_delta_get_off(cb + 16);
		st->controls++;
		if (x < 0 || y < 0)
			return mfw_fail(a->ctx, MFW_E_RANGE,
					"control %llu: negative length (diff %lld, extra %lld)",
					(unsigned long long)st->controls, (long long)x, (long long)y);
		if (x == 0 && y == 0) {
			if (++idle > MAX_IDLE_CONTROLS)
				return mfw_fail(a->ctx, MFW_E_RANGE,
						"control %llu: more than %u controls in a row produce no output",
						(unsigned long long)st->controls, MAX_IDLE_CONTROLS);
		} else {
			idle = 0;
		}
		if (x > new_size - newpos)
			return mfw_fail(a->ctx, MFW_E_RANGE,
					"control %llu: diff length %lld at new byte %lld runs past the new size %lld",
					(unsigned long long)st->controls, (long long)x, (long long)newpos,
					(long long)new_size);
		if (add_overflows(oldpos, x))
			return mfw_fail(a->ctx, MFW_E_RANGE, "control %llu: old cursor overflows",
					(unsigned long long)st->controls);
		for (int64_t left = x; left > 0;) {
			size_t n = left < (int64_t)(WBUF - a->wn) ? (size_t)left : WBUF - a->wn;
			if (!n) {
				if ((r = flush_out(a, newpos)) < 0)
					return r;
				continue;
			}
			if ((r = read_old(a, oldpos, a->wbuf + a->wn, n, left)) < 0 || (r = add_diff(a, a->wbuf + a->wn, n)) < 0)
				return r;
			a->wn += n;
			left -= (int64_t)n;
			oldpos += (int64_t)n;
			newpos += (int64_t)n;
		}
		st->diff_bytes += (uint64_t)x;
		if (y > new_size - newpos)
			return mfw_fail(a->ctx, MFW_E_RANGE,
					"control %llu: extra length %lld at new byte %lld runs past the new size %lld",
					(unsigned long long)st->controls, (long long)y, (long long)newpos,
					(long long)new_size);
		for (int64_t left = y; left > 0;) {
			size_t n = left < (int64_t)(WBUF - a->wn) ? (size_t)left : WBUF - a->wn;
			if (!n) {
				if ((r = flush_out(a, newpos)) < 0)
					return r;
				continue;
			}
			if ((r = bzin_read(a, &a->extra, a->wbuf + a->wn, n)) < 0)
				return r;
			a->wn += n;
			left -= (int64_t)n;
			newpos += (int64_t)n;
		}
		st->extra_bytes += (uint64_t)y;
		if (add_overflows(oldpos, z))
			return mfw_fail(a->ctx, MFW_E_RANGE, "control %llu: old cursor overflows",
					(unsigned long long)st->controls);
		oldpos += z;
		if ((uint64_t)newpos >= next_progress) {
			mfw_progress(a->ctx, "apply", "", (uint64_t)newpos, (uint64_t)new_size);
			next_progress = (uint64_t)newpos + PROGRESS_STEP;
		}
	}
	if ((r = flush_out(a, newpos)) < 0)
		return r;
	if ((r = bzin_finish(a, &a->ctrl)) < 0 ||
	    (r = diff_finish(a)) < 0 ||
	    (r = bzin_finish(a, &a->extra)) < 0)
		return r;
	mfw_progress(a->ctx, "apply", "", (uint64_t)new_size, (uint64_t)new_size);
	return 0;
}

int mfw_delta_apply_io(struct mfw_ctx *ctx, const struct mfw_delta_reader *old,
		       const struct mfw_delta_reader *patch, const struct mfw_delta_writer *out,
		       const struct mfw_delta_apply_opts *opts, struct mfw_delta_stats *stats)
{
	static const struct mfw_delta_apply_opts defaults;
	struct mfw_delta_stats st = { 0 };
	struct applier *a;
	uint8_t hdr[MFW_BSDIFF40_HDR];
	uint64_t new_size, x, y;
	int r;

	if (!opts)
		opts = &defaults;
	if (!old || !patch || !out || !old->read || !patch->read || !out->write)
		return mfw_fail(ctx, MFW_E_INVAL, "delta apply: missing reader or writer");
	if (old->size > INT64_MAX || patch->size > INT64_MAX)
		return mfw_fail(ctx, MFW_E_RANGE, "delta apply: input larger than 2^63 bytes");
	if (patch->size >= 8 && patch->read(patch->user, 0, hdr, 8) == 0 && !memcmp(hdr, MFW_DELTA_MFWZ_MAGIC, 8))
		return mfw_delta_zapply_io(ctx, old, patch, out, NULL, opts, stats);
	if (patch->size < MFW_BSDIFF40_HDR)
		return mfw_fail(ctx, MFW_E_FORMAT, "patch is %llu bytes, shorter than the 32-byte BSDIFF40 header",
				(unsigned long long)patch->size);
	r = patch->read(patch->user, 0, hdr, sizeof(hdr));
	if (r < 0)
		return mfw_fail_keep(ctx, r, "cannot read the patch header");
	r = mfw_delta_probe(ctx, hdr, sizeof(hdr), &new_size);
	if (r < 0)
		return r;
	x = (uint64_t)mfw_delta_get_off(hdr + 8);
	y = (uint64_t)mfw_delta_get_off(hdr + 16);
	/* x, y < 2^63 each: the sum cannot wrap a uint64 */
	if (x + y > patch->size - MFW_BSDIFF40_HDR)
		return mfw_fail(ctx, MFW_E_RANGE,
				"patch header: streams (control %llu + diff %llu bytes) run past the patch end (%llu bytes)",
				(unsigned long long)x, (unsigned long long)y, (unsigned long long)patch->size);
	if (opts->max_new_size && new_size > opts->max_new_size)
		return mfw_fail(ctx, MFW_E_RANGE, "patch header: new size %llu is above the limit %llu",
				(unsigned long long)new_size, (unsigned long long)opts->max_new_size);

	a = calloc(1, sizeof(*a));
	if (!a)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for the applier");
	a->ctx = ctx;
	a->old = old;
	a->out = out;
	mfw_delta_mem_add(&a->mem, sizeof(*a));
	r = bzin_open(a, &a->ctrl, "control", MFW_BSDIFF40_HDR, MFW_BSDIFF40_HDR + x, opts->small_decoder);
	if (r < 0)
		goto free_applier;
	r = bzin_open(a, &a->diff, "diff", MFW_BSDIFF40_HDR + x, MFW_BSDIFF40_HDR + x + y,
		      opts->small_decoder);
	if (r < 0)
		goto close_streams;
	r = bzin_open(a, &a->extra, "extra", MFW_BSDIFF40_HDR + x + y, patch->size, opts->small_decoder);
	if (r < 0)
		goto close_streams;
	a->ctrl.patch = a->diff.patch = a->extra.patch = patch;
	if (opts->threads > 1) {
		/*
		 * Two decoders of the diff stream's blocks at once when their
		 * states stay small (blocks up to 400k: 1.6 MB each, what
		 * modemfw writes for inputs below 32 MiB); bigger blocks
		 * (bsdiff's 900k) keep one decoder thread ahead of the main
		 * thread, so the process stays near 16 MiB whatever the patch.
		 */
		uint8_t lv[4] = { 0 };
		if (y >= 4 && patch->read(patch->user, MFW_BSDIFF40_HDR + x, lv, 4) == 0 && lv[3] >= '1' &&
		    lv[3] <= '4') {
			r = mfw_delta_pbz_open(&a->pbz, patch, MFW_BSDIFF40_HDR + x, MFW_BSDIFF40_HDR + x + y, 2,
					       opts->small_decoder, &a->mem);
			if (r < 0) {
				r = mfw_fail(ctx, r, "cannot start the diff stream decoders");
				goto close_streams;
			}
		}
		if (!a->pbz) {
			r = ring_start(a);
			if (r < 0)
				goto stop_ring;
			a->threaded = true;
		}
	}

	st.old_size = old->size;
	st.new_size = new_size;
	st.patch_size = patch->size;
	r = run(a, (int64_t)new_size, &st);
	st.peak_mem = a->mem.peak;
stop_ring:
	mfw_delta_pbz_close(a->pbz);
	a->pbz = NULL;
	ring_stop(a);
close_streams:
	bzin_close(&a->extra);
	bzin_close(&a->diff);
	bzin_close(&a->ctrl);
free_applier:
	free(a);
	if (stats)
		*stats = st;
	return r < 0 ? r : 0;
}

/* ---- buffer form ---- */

int mfw_delta_span_read(void *user, uint64_t off, void *buf, size_t len)
{
	const struct mfw_delta_span *s = user;
	if (off > s->n || len > s->n - off)
		return MFW_E_RANGE;
	memcpy(buf, s->p + off, len);
	return 0;
}

struct mem_writer {
	uint8_t *p;
	size_t n;
	size_t cap;
};

static int mem_write(void *user, const void *buf, size_t len)
{
	struct mem_writer *w = user;
	/* the applier never writes past the header's new size, which sized cap */
	if (len > w->cap - w->n)
		return MFW_E_RANGE;
	memcpy(w->p + w->n, buf, len);
	w->n += len;
	return 0;
}

int mfw_delta_apply_buf(struct mfw_ctx *ctx, const uint8_t *old, size_t old_size,
			const uint8_t *patch, size_t patch_size, uint8_t **new_data,
			size_t *new_size, const struct mfw_delta_apply_opts *opts,
			struct mfw_delta_stats *stats)
{
	struct mfw_delta_span ro = { old, old_size }, rp = { patch, patch_size };
	struct mfw_delta_reader rold = { mfw_delta_span_read, old_size, &ro };
	struct mfw_delta_reader rpatch = { mfw_delta_span_read, patch_size, &rp };
	struct mem_writer w = { 0 };
	struct mfw_delta_writer wr = { mem_write, &w };
	struct mfw_delta_apply_opts o = { 0 };
	uint64_t nsz;
	int r;

	if (opts)
		o = *opts;
	if (!o.threads)
		o.threads = 2; /* memory readers are safe from any thread */

	*new_data = NULL;
	*new_size = 0;
	r = mfw_delta_probe(ctx, patch, patch_size, &nsz);
	if (r < 0)
		return r;
	if (o.max_new_size && nsz > o.max_new_size)
		return mfw_fail(ctx, MFW_E_RANGE, "patch header: new size %llu is above the limit %llu",
				(unsigned long long)nsz, (unsigned long long)o.max_new_size);
	if (nsz > SIZE_MAX - 1)
		return mfw_fail(ctx, MFW_E_RANGE, "patch header: new size %llu does not fit in memory",
				(unsigned long long)nsz);
	w.cap = (size_t)nsz;
	w.p = malloc(w.cap ? w.cap : 1);
	if (!w.p)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for a %llu-byte output",
				(unsigned long long)nsz);
	r = mfw_delta_apply_io(ctx, &rold, &rpatch, &wr, &o, stats);
	if (r < 0) {
		free(w.p);
		return r;
	}
	*new_data = w.p;
	*new_size = w.n;
	return 0;
}

/* ---- file form ---- */

struct fd_io {
	int fd;
};

static int fd_read(void *user, uint64_t off, void *buf, size_t len)
{
	return mfw_pread_all(((struct fd_io *)user)->fd, buf, len, off);
}

static int fd_write(void *user, const void *buf, size_t len)
{
	return mfw_write_all(((struct fd_io *)user)->fd, buf, len);
}

static int open_input(struct mfw_ctx *ctx, const char *path, const char *what, int *fd, uint64_t *size)
{
	struct stat st;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open %s '%s': %s",
				what, path, strerror(errno));
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return mfw_fail(ctx, MFW_E_IO, "%s '%s' is not a regular file", what, path);
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/* The container has its own file form (resume state); anything else is left to the BSDIFF40 path. */
static bool is_mfwz(const char *path)
{
	uint8_t m[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool yes = fd >= 0 && read(fd, m, 8) == 8 && !memcmp(m, MFW_DELTA_MFWZ_MAGIC, 8);

	if (fd >= 0)
		close(fd);
	return yes;
}

int mfw_delta_apply(struct mfw_ctx *ctx, const char *old_path, const char *patch_path,
		    const char *new_path, const struct mfw_delta_apply_opts *opts,
		    struct mfw_delta_stats *stats)
{
	struct fd_io fo, fp, fn;
	struct mfw_delta_reader rold = { fd_read, 0, &fo }, rpatch = { fd_read, 0, &fp };
	struct mfw_delta_writer wr = { fd_write, &fn };
	struct mfw_delta_apply_opts o = { 0 };
	char tmp[PATH_MAX];
	int r;

	if (opts)
		o = *opts;
	if (!o.threads)
		o.threads = 2; /* pread() is safe from any thread */
	if (is_mfwz(patch_path))
		return mfw_delta_zapply_file(ctx, old_path, patch_path, new_path, &o, stats);
	r = open_input(ctx, old_path, "old file", &fo.fd, &rold.size);
	if (r < 0)
		return r;
	r = open_input(ctx, patch_path, "patch", &fp.fd, &rpatch.size);
	if (r < 0)
		goto close_old;
	if (snprintf(tmp, sizeof(tmp), "%s.part-%ld", new_path, (long)getpid()) >= (int)sizeof(tmp)) {
		r = mfw_fail(ctx, MFW_E_INVAL, "output path too long");
		goto close_patch;
	}
	fn.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fn.fd < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
		goto close_patch;
	}
	r = mfw_delta_apply_io(ctx, &rold, &rpatch, &wr, &o, stats);
	if (r < 0)
		goto remove_tmp;
	if (!o.no_sync && fsync(fn.fd) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot sync '%s': %s", tmp, strerror(errno));
		goto remove_tmp;
	}
	if (close(fn.fd) < 0) {
		fn.fd = -1;
		r = mfw_fail(ctx, MFW_E_IO, "cannot close '%s': %s", tmp, strerror(errno));
		goto remove_tmp;
	}
	fn.fd = -1;
	if (rename(tmp, new_path) < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot rename '%s' to '%s': %s", tmp, new_path, strerror(errno));
		goto remove_tmp;
	}
	goto close_patch;
remove_tmp:
	if (fn.fd >= 0)
		close(fn.fd);
	unlink(tmp);
close_patch:
	close(fp.fd);
close_old:
	close(fo.fd);
	return r;
}
