/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Parallel decoding of one bzip2 stream, block by block.
 *
 * A bzip2 stream is a 4-byte header ("BZh" and the block size digit), then
 * blocks, each starting with the 48-bit magic 0x314159265359 and its CRC at
 * any bit offset, then the 48-bit end marker 0x177245385090 and the CRC of
 * all blocks. A block can be decoded on its own: copied bit by bit behind a
 * header, followed by an end marker carrying that block's CRC, it is a
 * one-block stream libbz2 decodes. Nothing records where blocks end, so
 * the reader scans the compressed bits for both magics; any match is a
 * candidate boundary, and block k is decoded from candidate k to
 * candidate k + 1 by one of the decoder threads while the caller consumes
 * block k - 1 from another.
 *
 * Why the output is the sequential decoder's:
 *  - every real boundary is a candidate (every bit offset is scanned);
 *  - block 0 starts at bit 32 of the stream, a real boundary;
 *  - a block that decodes from a real boundary up to candidate e, with its
 *    CRC right and our end marker right after it, ends exactly at e: had it
 *    ended earlier, a real magic (a candidate) would lie before e, and the
 *    scan tries windows in order; had it run on past e, libbz2 would have
 *    read our end marker as block data and needed the marker again within
 *    the 0..7 padding bits that follow, and neither magic matches itself
 *    or the other shifted by 1 to 7 bits. So e is a real boundary too;
 *  - the blocks' CRCs, combined as libbz2 does, must equal the CRC after
 *    the end marker.
 * Anything else (a candidate inside a block's data, a corrupt or truncated
 * stream, a foreign header) makes the reader give up; the caller then
 * decodes the stream sequentially from its start and skips what it was
 * already given, so every verdict is the sequential decoder's.
 *
 * Block k goes to decoder k % n. Each decoder holds up to AHEAD blocks:
 * once it has decoded one it goes on with its next while the caller still
 * reads an earlier one. With one block each, a decoder that finished its
 * block sat idle until the caller had read the block before it, and the
 * caller then waited for the other decoder alone (a third of libcrypto's
 * 2.6 MB apply was the caller waiting).
 *
 * Memory is fixed: per decoder thread its bzip2 state, 1 MiB of output
 * slots (a block of code diffs decodes to a few hundred KB) shared by the
 * blocks it holds, in order, and 128 KiB of input buffers; the scanner
 * holds 64 KiB.
 */
#include "delta/delta.h"

#include "core/core.h"
#include "delta/bzdec.h"

#include <bzlib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_MASK 0xffffffffffffull
#define DEC_MAX 4
#define SLOTS 8
#define SLOT (128 * 1024)
#define PIECE (64 * 1024)
/* the scanner keeps this many candidates ahead */
#define CANDS (DEC_MAX + 2)
/* blocks a decoder holds at once (decoding or decoded, not yet read) */
#define AHEAD 4

/* libbz2's allocations a decoder keeps from one block to the next (state, block array; ll16/ll4 with --small) */
#define KEEP 4

/* one block a decoder holds: its window, then its verdict (set under z->mu) */
struct blk {
	uint64_t start, end; /* bits in the patch */
	bool done;  /* the whole block is in the ring (or it failed) */
	bool failed;
	bool late;  /* it failed after some of its output went into the ring (bzdec.c: CRC, run at the end) */
	uint32_t crc;
};

struct dec {
	struct mfw_delta_pbz *z;
	struct {
		void *p;
		size_t n;
		bool live;
	} keep[KEEP];
	pthread_t tid;
	bool started;
	pthread_cond_t cv; /* this decoder waits here: for a block, or for a free slot */
	bool waiting;
	/*
	 * Its blocks, blk[i % AHEAD] for its i-th: assigned by the caller and
	 * started by the decoder (under z->mu), read (consumed) by the caller
	 * (nconsumed is the caller's alone).
	 */
	struct blk blk[AHEAD];
	uint64_t nassigned, nstarted, nconsumed;
	/* the block being decoded (the decoder's own) */
	uint64_t start, end, local;
	bool late;
	/*
	 * Output: SLOTS buffers. The ring lists the filled ones in order, each
	 * with its length and its block's local number; the free ones are a
	 * stack, so the buffer just read is the next one written (warm in the
	 * cache, and only the pages of the buffers in use ever get touched).
	 */
	uint8_t *buf[SLOTS];
	uint8_t ring[SLOTS];
	size_t len[SLOTS];
	uint64_t tag[SLOTS];
	unsigned head, tail, count;
	size_t pos;
	uint8_t freel[SLOTS];
	unsigned nfree;
	int held; /* the buffer the decoder writes, or -1 */
	struct mfw_bzdec *fast; /* bzdec.c, made on the first block; NULL: libbz2 only */
	bool no_fast;
	uint32_t crc;
	uint8_t src[PIECE + 8];
	uint8_t in[PIECE + 16];
};

struct cand {
	uint64_t bit;
	bool eos;
};

struct mfw_delta_pbz {
	const struct mfw_delta_reader *patch;
	uint64_t off, end; /* the stream's bytes in the patch */
	int level;
	bool small;
	struct mfw_delta_mem *mem;
	unsigned n;
	struct dec *d[DEC_MAX];
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* the caller waits here for the decoder it reads */
	struct dec *waiting_on; /* that decoder, while the caller waits */
	bool stop;
	/* scanner: bytes [sbase, sbase + slen) of the patch in sbuf */
	uint8_t sbuf[PIECE + 8];
	uint64_t sbase;
	size_t slen;
	uint64_t snext; /* next bit offset to test */
	bool sdone;
	struct cand q[CANDS];
	unsigned qn;
	uint16_t tab[256]; /* bit s (0-7): block magic at shift s may start; bit 8 + s: end marker */
	/* consumer */
	uint64_t cur;      /* block being consumed */
	uint64_t assigned; /* blocks handed to decoders */
	struct cand eos; /* eos.eos: the end marker is the next candidate after the last block assigned */
	uint32_t comb;
	uint64_t delivered;
	uint64_t block_from; /* delivered when block cur began */
	bool gave_up;
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * The next candidate boundary at or after z->snext: 0 and *c, or 1 when the
 * stream's bytes hold no more. A magic starting at bit 8i + s fixes the
 * whole byte i + 1, which the table checks before the full 48 bits are.
 */
static int scan_next(struct mfw_delta_pbz *z, struct cand *c)
{
	uint64_t endbit = z->end * 8;

	while (!z->sdone) {
		uint64_t i = z->snext / 8;
		unsigned s0 = (unsigned)(z->snext % 8);

		if (z->snext + 48 > endbit) {
			z->sdone = true;
			break;
		}
		if (i < z->sbase || i + 8 > z->sbase + z->slen) {
			uint64_t want = z->end - i < PIECE + 8 ? z->end - i : PIECE + 8;
			memset(z->sbuf, 0, sizeof(z->sbuf));
			if (z->patch->read(z->patch->user, i, z->sbuf, (size_t)want) < 0) {
				z->sdone = true;
				return -1;
			}
			z->sbase = i;
			/* zeros past the end never match: matches must end by endbit */
			z->slen = want < 8 ? 8 : (size_t)want;
		}
		for (; i + 8 <= z->sbase + z->slen; i++, s0 = 0) {
			const uint8_t *p = z->sbuf + (i - z->sbase);
			unsigned t = z->tab[p[1]], m = ((t & 0xff) | t >> 8) >> s0 << s0;
			uint64_t v;

			if (!m)
				continue;
			v = be64(p);
			for (unsigned s = s0; s < 8; s++) {
				uint64_t bit = i * 8 + s, w;
				if (!(m >> s & 1))
					continue;
				if (bit + 48 > endbit) {
					z->sdone = true;
					return 1;
				}
				w = v >> (16 - s) & MAGIC_MASK;
				if (w == MFW_BZ_BLOCK_MAGIC || w == MFW_BZ_EOS_MAGIC) {
					c->bit = bit;
					c->eos = w == MFW_BZ_EOS_MAGIC;
					z->snext = bit + 1;
					return 0;
				}
			}
		}
		z->snext = i * 8;
	}
	return 1;
}

/* Wait for a free output buffer and hold it (d->held); false when told to stop. */
static bool slot_wait(struct dec *d)
{
	struct mfw_delta_pbz *z = d->z;
	bool ok;
	pthread_mutex_lock(&z->mu);
	while (!d->nfree && !z->stop) {
		d->waiting = true;
		pthread_cond_wait(&d->cv, &z->mu);
		d->waiting = false;
	}
	ok = !z->stop;
	if (ok)
		d->held = d->freel[--d->nfree];
	pthread_mutex_unlock(&z->mu);
	return ok;
}

static void slot_push(struct dec *d, size_t len, bool done, bool failed)
{
	struct mfw_delta_pbz *z = d->z;
	pthread_mutex_lock(&z->mu);
	if (d->held >= 0) {
		if (len) {
			d->ring[d->head] = (uint8_t)d->held;
			d->len[d->head] = len;
			d->tag[d->head] = d->local;
			d->head = (d->head + 1) % SLOTS;
			d->count++;
		} else {
			d->freel[d->nfree++] = (uint8_t)d->held;
		}
		d->held = -1;
	}
	if (done) {
		struct blk *b = &d->blk[d->local % AHEAD];
		b->done = true;
		b->failed = failed;
		b->late = d->late;
		b->crc = d->crc;
	}
	if (z->waiting_on == d)
		pthread_cond_signal(&z->cv);
	pthread_mutex_unlock(&z->mu);
}

/*
 * libbz2 allocates its state (64 KB) and the block array (4 bytes per byte
 * of block size: 400 KB for 100k blocks) when a stream starts and frees them
 * when it ends, so a decoder that starts a stream per block would get them
 * from malloc() every block; blocks that large come from mmap() and go back
 * to the kernel on free(), which made every block pay a fresh mapping and a
 * page fault per 4 KiB (a tenth of an apply of 2.6 MB of output). A decoder
 * keeps what libbz2 frees and hands it back when the same size is asked for
 * again; pbz_close frees it. The engine's count is unchanged: the memory is
 * counted while kept, as it was while libbz2 held it.
 */
static void *dec_alloc(void *opaque, int items, int size)
{
	struct dec *d = opaque;
	size_t n;
	void *p;

	if (items < 0 || size < 0 || __builtin_mul_overflow((size_t)items, (size_t)size, &n))
		return NULL;
	for (int k = 0; k < KEEP; k++)
		if (d->keep[k].p && !d->keep[k].live && d->keep[k].n == n) {
			d->keep[k].live = true;
			return d->keep[k].p;
		}
	p = mfw_delta_bzalloc(d->z->mem, items, size);
	for (int k = 0; p && k < KEEP; k++)
		if (!d->keep[k].p) {
			d->keep[k].p = p;
			d->keep[k].n = n;
			d->keep[k].live = true;
			break;
		}
	return p;
}

static void dec_free(void *opaque, void *ptr)
{
	struct dec *d = opaque;

	for (int k = 0; ptr && k < KEEP; k++)
		if (d->keep[k].p == ptr) {
			d->keep[k].live = false;
			return;
		}
	mfw_delta_bzfree(d->z->mem, ptr);
}

/*
 * The block with bzdec.c: 0 when done (well or not), 1 to let libbz2 try it.
 * A block bzdec.c fails after its output went into the ring is one libbz2
 * fails too (the same bytes, and a wrong CRC or a run of four with no count
 * at its end), unless bzdec.c is wrong: such a block is marked late, and the
 * reader then stops with an error rather than handing the stream to the
 * sequential decoder, which would skip bytes this decoder wrote.
 */
static int decode_fast(struct dec *d)
{
	struct mfw_delta_pbz *z = d->z;
	size_t out_used = 0;
	unsigned slot;
	int r;

	if (z->small || d->no_fast)
		return 1;
	if (!d->fast && !(d->fast = mfw_bzdec_new(z->level, z->mem))) {
		d->no_fast = true;
		return 1;
	}
	r = mfw_bzdec_block(d->fast, z->patch, d->start, d->end, z->end);
	if (r > 0)
		return 1;
	if (r < 0 || !slot_wait(d)) {
		slot_push(d, 0, true, true);
		return 0;
	}
	d->crc = mfw_bzdec_crc(d->fast);
	slot = (unsigned)d->held;
	for (;;) {
		size_t n = mfw_bzdec_out(d->fast, d->buf[slot] + out_used, SLOT - out_used);
		if (!n)
			break;
		out_used += n;
		if (out_used == SLOT) {
			slot_push(d, SLOT, false, false);
			out_used = 0;
			if (!slot_wait(d)) {
				slot_push(d, 0, true, true);
				return 0;
			}
			slot = (unsigned)d->held;
		}
	}
	if (mfw_bzdec_ok(d->fast)) {
		slot_push(d, out_used, true, false);
	} else {
		d->late = true;
		slot_push(d, 0, true, true);
	}
	return 0;
}

/* Decode the window [start, end) as a one-block stream into the ring. */
static void decode_window(struct dec *d)
{
	struct mfw_delta_pbz *z = d->z;
	bz_stream s;
	uint64_t bit = d->start, endbit = d->end;
	bool input_done = false, ok = false;
	size_t out_used = 0;
	unsigned slot;
	int rc;

	if (decode_fast(d) == 0)
		return;
	memset(&s, 0, sizeof(s));
	s.bzalloc = dec_alloc;
	s.bzfree = dec_free;
	s.opaque = d;
	if (BZ2_bzDecompressInit(&s, 0, z->small ? 1 : 0) != BZ_OK) {
		slot_push(d, 0, true, true);
		return;
	}
	{
		/* the block's CRC: the 32 bits after its magic */
		uint8_t h[12];
		uint64_t b0 = d->start + 48;
		if (z->patch->read(z->patch->user, b0 / 8, h, 5) < 0)
			goto out;
		d->crc = (uint32_t)(be64((uint8_t[8]){ h[0], h[1], h[2], h[3], h[4], 0, 0, 0 }) >>
				    (32 - b0 % 8));
	}
	/* the header goes in first, with the first piece */
	{
		struct mfw_bz_bitw w = { d->in, 0, 0, 0 };
		mfw_bz_put_header(&w, z->level);
		s.next_in = (char *)d->in;
		s.avail_in = (unsigned)w.n;
	}
	if (!slot_wait(d))
		goto out;
	slot = (unsigned)d->held;
	for (;;) {
		if (!s.avail_in && !input_done) {
			/* next piece: source bits [bit, min(endbit, bit + 8 * PIECE)) shifted to bytes */
			struct mfw_bz_bitw w = { d->in, 0, 0, 0 };
			uint64_t nbits = endbit - bit < (uint64_t)PIECE * 8 ? endbit - bit : (uint64_t)PIECE * 8;
			uint64_t first = bit / 8, last = (bit + nbits + 7) / 8;
			unsigned sh = (unsigned)(bit % 8);
			if (nbits) {
				if (z->patch->read(z->patch->user, first, d->src, (size_t)(last - first)) < 0)
					goto out;
				uint64_t full = nbits / 8;
				for (uint64_t k = 0; k < full; k++)
					mfw_bz_put(&w, (uint8_t)(d->src[k] << sh | (sh ? d->src[k + 1] >> (8 - sh) : 0)), 8);
				unsigned rest = (unsigned)(nbits % 8);
				if (rest) {
					unsigned v = (unsigned)(d->src[full] << sh | (sh && full + 1 < last - first ? d->src[full + 1] >> (8 - sh) : 0));
					mfw_bz_put(&w, (v & 0xff) >> (8 - rest), rest);
				}
				bit += nbits;
			}
			if (bit == endbit) {
				mfw_bz_put_end(&w, d->crc);
				input_done = true;
			} else if (w.bits) {
				/* keep pieces whole bytes: carry the odd bits into the next piece */
				bit -= w.bits;
				w.bits = 0;
			}
			s.next_in = (char *)d->in;
			s.avail_in = (unsigned)w.n;
		}
		s.next_out = (char *)d->buf[slot] + out_used;
		s.avail_out = (unsigned)(SLOT - out_used);
		unsigned in_before = s.avail_in, out_before = s.avail_out;
		rc = BZ2_bzDecompress(&s);
		out_used = SLOT - s.avail_out;
		if (rc == BZ_STREAM_END) {
			ok = true;
			break;
		}
		if (rc != BZ_OK)
			break;
		if (in_before == s.avail_in && out_before == s.avail_out && input_done)
			break; /* truncated: the block runs past the window */
		if (out_used == SLOT) {
			slot_push(d, SLOT, false, false);
			out_used = 0;
			if (!slot_wait(d))
				goto out;
			slot = (unsigned)d->held;
		}
	}
out:
	/* the end marker must be ours, read last */
	if (ok && (s.avail_in || !input_done))
		ok = false;
	BZ2_bzDecompressEnd(&s);
	slot_push(d, ok ? out_used : 0, true, !ok);
}

static void *dec_thread(void *arg)
{
	struct dec *d = arg;
	struct mfw_delta_pbz *z = d->z;

	for (;;) {
		struct blk *b;

		pthread_mutex_lock(&z->mu);
		while (d->nstarted == d->nassigned && !z->stop) {
			d->waiting = true;
			pthread_cond_wait(&d->cv, &z->mu);
			d->waiting = false;
		}
		if (z->stop) {
			pthread_mutex_unlock(&z->mu);
			return NULL;
		}
		b = &d->blk[d->nstarted % AHEAD];
		d->start = b->start;
		d->end = b->end;
		d->local = d->nstarted++;
		pthread_mutex_unlock(&z->mu);
		d->late = false;
		d->crc = 0;
		decode_window(d);
	}
}

/* Candidate q[k] (k < CANDS) relative to the consumer's window queue. */
static int cand_at(struct mfw_delta_pbz *z, unsigned k, struct cand *c)
{
	while (z->qn <= k) {
		int r = scan_next(z, &z->q[z->qn]);
		if (r)
			return r;
		z->qn++;
	}
	*c = z->q[k];
	return 0;
}

/*
 * Hand the next block to its decoder. q[0] is the start of block
 * z->assigned, q[1] its end. Returns 1 when q[0] is the end marker.
 */
static int assign_next(struct mfw_delta_pbz *z)
{
	struct cand a, b;
	struct dec *d = z->d[z->assigned % z->n];
	int r = cand_at(z, 0, &a);

	if (r)
		return -1;
	if (a.eos) {
		z->eos = a;
		return 1;
	}
	if (cand_at(z, 1, &b))
		b.bit = z->end * 8; /* no end found: let the decoder fail */
	memmove(z->q, z->q + 1, (z->qn - 1) * sizeof(z->q[0]));
	z->qn--;
	pthread_mutex_lock(&z->mu);
	d->blk[d->nassigned % AHEAD] = (struct blk){ .start = a.bit, .end = b.bit };
	d->nassigned++;
	if (d->waiting)
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&z->mu);
	z->assigned++;
	return 0;
}

/*
 * Assign windows until every decoder holds AHEAD blocks (block k goes to
 * decoder k % n, so blocks cur .. cur + n * AHEAD - 1 are spread evenly)
 * or the end marker is next. -1 when the patch cannot be read.
 */
static int assign_ahead(struct mfw_delta_pbz *z)
{
	while (!z->eos.eos && z->assigned < z->cur + (uint64_t)z->n * AHEAD) {
		int r = assign_next(z);
		if (r)
			return r < 0 ? -1 : 0;
	}
	return 0;
}

void mfw_delta_pbz_close(struct mfw_delta_pbz *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->mu);
	z->stop = true;
	for (unsigned i = 0; i < z->n; i++)
		if (z->d[i])
			pthread_cond_signal(&z->d[i]->cv);
	pthread_mutex_unlock(&z->mu);
	for (unsigned i = 0; i < z->n; i++) {
		struct dec *d = z->d[i];
		if (!d)
			continue;
		if (d->started)
			pthread_join(d->tid, NULL);
		pthread_cond_destroy(&d->cv);
		for (int k = 0; k < SLOTS; k++)
			mfw_delta_free(z->mem, d->buf[k], SLOT);
		for (int k = 0; k < KEEP; k++)
			mfw_delta_bzfree(z->mem, d->keep[k].p);
		mfw_bzdec_free(d->fast);
		mfw_delta_free(z->mem, d, sizeof(*d));
	}
	pthread_cond_destroy(&z->cv);
	pthread_mutex_destroy(&z->mu);
	mfw_delta_free(z->mem, z, sizeof(*z));
}

int mfw_delta_pbz_open(struct mfw_delta_pbz **out, const struct mfw_delta_reader *patch, uint64_t off,
		       uint64_t end, unsigned decoders, bool small, struct mfw_delta_mem *mem)
{
	struct mfw_delta_pbz *z;
	uint8_t h[4];
	int r;

	*out = NULL;
	if (decoders < 2 || end - off < 4 + 10)
		return 1;
	if (patch->read(patch->user, off, h, 4) < 0 || memcmp(h, "BZh", 3) || h[3] < '1' || h[3] > '9')
		return 1; /* not for us: the sequential decoder reports it */
	if (decoders > DEC_MAX)
		decoders = DEC_MAX;
	z = mfw_delta_malloc(mem, sizeof(*z));
	if (!z)
		return MFW_E_NOMEM;
	memset(z, 0, sizeof(*z));
	z->patch = patch;
	z->off = off;
	z->end = end;
	z->level = h[3] - '0';
	z->small = small;
	z->mem = mem;
	z->snext = (off + 4) * 8;
	z->sbase = 0;
	z->slen = 0;
	for (unsigned s = 0; s < 8; s++) {
		z->tab[MFW_BZ_BLOCK_MAGIC >> (32 + s) & 0xff] |= (uint16_t)(1u << s);
		z->tab[MFW_BZ_EOS_MAGIC >> (32 + s) & 0xff] |= (uint16_t)(1u << (8 + s));
	}
	pthread_mutex_init(&z->mu, NULL);
	pthread_cond_init(&z->cv, NULL);
	z->n = decoders;
	for (unsigned i = 0; i < decoders; i++) {
		struct dec *d = mfw_delta_malloc(mem, sizeof(*d));
		if (!d) {
			r = MFW_E_NOMEM;
			goto fail;
		}
		memset(d, 0, sizeof(*d));
		d->z = z;
		pthread_cond_init(&d->cv, NULL);
		d->held = -1;
		for (unsigned k = 0; k < SLOTS; k++)
			d->freel[k] = (uint8_t)(SLOTS - 1 - k);
		d->nfree = SLOTS;
		z->d[i] = d;
		for (int k = 0; k < SLOTS; k++)
			if (!(d->buf[k] = mfw_delta_malloc(mem, SLOT))) {
				r = MFW_E_NOMEM;
				goto fail;
			}
		if (pthread_create(&d->tid, NULL, dec_thread, d)) {
			r = MFW_E_NOMEM;
			goto fail;
		}
		d->started = true;
	}
	/* block 0 must start right after the header */
	{
		struct cand c;
		if (cand_at(z, 0, &c) || c.bit != (off + 4) * 8) {
			mfw_delta_pbz_close(z);
			return 1;
		}
	}
	if (assign_ahead(z) < 0) {
		mfw_delta_pbz_close(z);
		return 1;
	}
	*out = z;
	return 0;
fail:
	mfw_delta_pbz_close(z);
	return r;
}

uint64_t mfw_delta_pbz_delivered(const struct mfw_delta_pbz *z)
{
	return z->delivered;
}

/*
 * Move past the finished block z->cur (b, its decoder's record): check it,
 * fold its CRC in and hand out the windows its place frees. 1 means give up.
 */
static int advance(struct mfw_delta_pbz *z, struct dec *d, const struct blk *b)
{
	if (b->failed)
		return b->late && z->delivered > z->block_from ? MFW_E_FORMAT : 1;
	z->comb = (z->comb << 1 | z->comb >> 31) ^ b->crc;
	z->cur++;
	z->block_from = z->delivered;
	/* the record is free once counted: assign_ahead may reuse it */
	d->nconsumed++;
	return assign_ahead(z) < 0 ? 1 : 0;
}

/*
 * Up to want decoded bytes: 0 with *p, *n (n is 0 only at the end marker),
 * or 1: give up, decode sequentially instead.
 */
int mfw_delta_pbz_take(struct mfw_delta_pbz *z, size_t want, const uint8_t **p, size_t *n)
{
	*n = 0;
	if (z->gave_up)
		return 1;
	for (;;) {
		struct dec *d;
		struct blk *b;
		uint64_t local;
		bool ready;

		if (z->cur == z->assigned) {
			/* nothing in flight: the end marker, or a scan that found nothing */
			if (z->eos.eos)
				return 0;
			z->gave_up = true;
			return 1;
		}
		d = z->d[z->cur % z->n];
		local = d->nconsumed;
		b = &d->blk[local % AHEAD];
		pthread_mutex_lock(&z->mu);
		/* the slot read last time (of this block or the one before on this decoder) */
		if (d->count && d->pos == d->len[d->tail]) {
			d->freel[d->nfree++] = d->ring[d->tail];
			d->tail = (d->tail + 1) % SLOTS;
			d->count--;
			d->pos = 0;
			if (d->waiting)
				pthread_cond_signal(&d->cv);
		}
		/* the ring holds the decoder's blocks in order: this one's bytes come first */
		while (!(ready = d->count && d->tag[d->tail] == local) && !b->done) {
			z->waiting_on = d;
			pthread_cond_wait(&z->cv, &z->mu);
			z->waiting_on = NULL;
		}
		if (ready) {
			*p = d->buf[d->ring[d->tail]] + d->pos;
			*n = d->len[d->tail] - d->pos < want ? d->len[d->tail] - d->pos : want;
			d->pos += *n;
			pthread_mutex_unlock(&z->mu);
			z->delivered += *n;
			return 0;
		}
		pthread_mutex_unlock(&z->mu);
		/* the block is done and drained */
		int r = advance(z, d, b);
		if (r) {
			z->gave_up = true;
			return r;
		}
	}
}

/* After the last output byte: 0 if the stream ends here with the right CRC, 1 to ask the sequential decoder. */
int mfw_delta_pbz_finish(struct mfw_delta_pbz *z)
{
	const uint8_t *p;
	size_t n;
	struct cand c;
	uint8_t b[5];

	int r = mfw_delta_pbz_take(z, 1, &p, &n);
	if (r < 0)
		return r;
	if (r || n)
		return 1;
	c = z->eos;
	if (z->patch->read(z->patch->user, (c.bit + 48) / 8, b, 5) < 0)
		return 1;
	{
		uint64_t v = (uint64_t)b[0] << 32 | (uint64_t)b[1] << 24 | (uint64_t)b[2] << 16 | (uint64_t)b[3] << 8 | b[4];
		uint32_t crc = (uint32_t)(v >> (8 - (c.bit + 48) % 8));
		if (crc != z->comb || c.bit + 80 > z->end * 8)
			return 1;
	}
	return 0;
}
