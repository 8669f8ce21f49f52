/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One bzip2 block, decoded fast (see bzdec.h for when it says no).
 *
 * A block: 48-bit magic, 32-bit CRC of its output, 1 bit "randomised",
 * 24-bit origin pointer; the symbol map (16 bits, then 16 bits per set bit);
 * 3 bits group count (2-6), 15 bits selector count, the selectors
 * (move-to-front coded, unary); per group the code lengths (5 bits, then
 * delta coded per symbol); then Huffman-coded symbols, the group changing
 * every 50: RUNA/RUNB write runs of the front symbol in bijective base 2,
 * k + 1 moves the symbol at k to the front, EOB ends the block. The symbols
 * are the Burrows-Wheeler transform of the block; undone, they are the
 * first run-length stage's bytes: four equal bytes are followed by a count
 * of more.
 *
 * Codes are canonical (shorter first, then by symbol): a 10-bit table gives
 * the symbol and length of every code up to 10 bits, longer ones are found
 * by length. For a code with room left (not every pattern a code) this is
 * what libbz2 does as well: a pattern that is no code fails either way.
 */
#include "delta/bzdec.h"

#include <modemfw/error.h>
#include <stddef.h>
#include <string.h>

#define LUT_BITS 10
#define MAX_GROUPS 6
#define MAX_ALPHA 258
#define MAX_SELECTORS 18002
#define MAX_LEN 20
#define PIECE (64 * 1024)

struct group {
	uint16_t lut[1 << LUT_BITS];  /* symbol << 5 | length, 0: longer than LUT_BITS (or none) */
	uint32_t first[MAX_LEN + 2];  /* first code of each length */
	uint32_t count[MAX_LEN + 2];  /* codes of each length */
	uint16_t index[MAX_LEN + 2];  /* where each length's symbols start in perm */
	uint16_t perm[MAX_ALPHA];     /* symbols by (length, symbol) */
};

struct mfw_bzdec {
	struct mfw_delta_mem *mem;
	uint32_t max_block;
	uint32_t *tt;
	size_t tt_bytes;
	/* bit reader over the patch */
	const struct mfw_delta_reader *patch;
	uint64_t next;     /* next byte of the patch to load */
	uint64_t limit;    /* bytes at or past it read as zero */
	uint64_t acc;      /* bits, MSB first */
	unsigned nacc;
	uint64_t pos;      /* bit offset in the patch of the next bit to be used */
	size_t bpos, blen;
	bool read_err;
	/* block */
	uint32_t crc, calc, origin, nblock;
	/* output */
	uint32_t tpos, left;
	int last;
	unsigned same;
	uint32_t pend;
	uint8_t pch;
	bool bad;
	uint8_t sel[MAX_SELECTORS];
	struct group g[MAX_GROUPS];
	uint8_t buf[PIECE];
};

struct mfw_bzdec *mfw_bzdec_new(int level, struct mfw_delta_mem *mem)
{
	struct mfw_bzdec *b;

	if (level < 1 || level > 9)
		return NULL;
	b = mfw_delta_malloc(mem, sizeof(*b));
	if (!b)
		return NULL;
	memset(b, 0, offsetof(struct mfw_bzdec, sel));
	b->mem = mem;
	b->max_block = (uint32_t)level * 100000u;
	b->tt_bytes = (size_t)b->max_block * sizeof(uint32_t);
	b->tt = mfw_delta_malloc(mem, b->tt_bytes);
	if (!b->tt) {
		mfw_delta_free(mem, b, sizeof(*b));
		return NULL;
	}
	return b;
}

void mfw_bzdec_free(struct mfw_bzdec *b)
{
	if (!b)
		return;
	mfw_delta_free(b->mem, b->tt, b->tt_bytes);
	mfw_delta_free(b->mem, b, sizeof(*b));
}

/* ---- bits ---- */

static void refill(struct mfw_bzdec *b)
{
	while (b->nacc <= 56) {
		uint8_t v = 0;
		if (b->bpos == b->blen && b->next < b->limit) {
			uint64_t want = b->limit - b->next < PIECE ? b->limit - b->next : PIECE;
			if (b->patch->read(b->patch->user, b->next, b->buf, (size_t)want) < 0) {
				b->read_err = true;
				b->limit = b->next;
			} else {
				b->bpos = 0;
				b->blen = (size_t)want;
				b->next += want;
			}
		}
		if (b->bpos < b->blen)
			v = b->buf[b->bpos++];
		b->acc |= (uint64_t)v << (56 - b->nacc);
		b->nacc += 8;
	}
}

static inline uint32_t peek(struct mfw_bzdec *b, unsigned n)
{
	if (b->nacc < n)
		refill(b);
	return (uint32_t)(b->acc >> (64 - n));
}

static inline void skip(struct mfw_bzdec *b, unsigned n)
{
	b->acc <<= n;
	b->nacc -= n;
	b->pos += n;
}

static inline uint32_t get(struct mfw_bzdec *b, unsigned n)
{
	uint32_t v = peek(b, n);
	skip(b, n);
	return v;
}

/* ---- Huffman ---- */

/* false for an over-subscribed code (more codes than patterns), which libbz2 decodes its own way */
static bool build(struct group *g, const uint8_t *len, unsigned alpha)
{
	uint32_t code = 0;
	unsigned n = 0;

	memset(g->count, 0, sizeof(g->count));
	for (unsigned i = 0; i < alpha; i++)
		g->count[len[i]]++;
	for (unsigned l = 1; l <= MAX_LEN; l++) {
		code = (code + g->count[l - 1]) << 1;
		if (l == 1)
			code = 0;
		g->first[l] = code;
		g->index[l] = (uint16_t)n;
		n += g->count[l];
		if (g->count[l] > (1u << l) - code)
			return false;
		for (unsigned i = 0, k = g->index[l]; i < alpha; i++)
			if (len[i] == l)
				g->perm[k++] = (uint16_t)i;
	}
	memset(g->lut, 0, sizeof(g->lut));
	for (unsigned l = 1; l <= LUT_BITS; l++)
		for (uint32_t c = 0; c < g->count[l]; c++) {
			uint32_t pat = (g->first[l] + c) << (LUT_BITS - l);
			uint16_t e = (uint16_t)(g->perm[g->index[l] + c] << 5 | l);
			for (uint32_t k = 0; k < 1u << (LUT_BITS - l); k++)
				g->lut[pat + k] = e;
		}
	return true;
}

/* the next symbol, or -1 when the bits are no code */
static inline int decode(struct mfw_bzdec *b, const struct group *g)
{
	uint32_t v = peek(b, MAX_LEN);
	uint16_t e = g->lut[v >> (MAX_LEN - LUT_BITS)];

	if (e) {
		skip(b, e & 31);
		return e >> 5;
	}
	for (unsigned l = LUT_BITS + 1; l <= MAX_LEN; l++) {
		uint32_t c = (v >> (MAX_LEN - l)) - g->first[l];
		if (c < g->count[l]) {
			skip(b, l);
			return g->perm[g->index[l] + c];
		}
	}
	return -1;
}

/* ---- block ---- */

int mfw_bzdec_block(struct mfw_bzdec *b, const struct mfw_delta_reader *patch, uint64_t start,
		    uint64_t end, uint64_t limit)
{
	uint8_t seq[256], mtf[256], len[MAX_ALPHA];
	uint32_t ftab[256];
	unsigned nuse = 0, ngroups, nsel, alpha, eob;
	uint32_t used;

	b->patch = patch;
	b->next = start / 8;
	/* stop: past this bit the block cannot be right (also bounds the work on garbage) */
	uint64_t stop = end != MFW_BZDEC_ANY_END ? end : limit * 8;
	b->limit = end != MFW_BZDEC_ANY_END && (end + 7) / 8 < limit ? (end + 7) / 8 : limit;
	b->acc = 0;
	b->nacc = 0;
	b->bpos = b->blen = 0;
	b->read_err = false;
	b->pos = start & ~(uint64_t)7;
	b->left = 0;
	b->pend = 0;
	b->bad = true;
	if (start % 8)
		get(b, (unsigned)(start % 8));

	uint64_t magic = (uint64_t)get(b, 24) << 24;
	magic |= get(b, 24);
	if (magic != MFW_BZ_BLOCK_MAGIC)
		return b->read_err ? MFW_E_IO : 1;
	b->crc = get(b, 16) << 16;
	b->crc |= get(b, 16);
	if (get(b, 1))
		return 1; /* randomised: libbz2's business */
	b->origin = get(b, 24);

	used = get(b, 16);
	for (unsigned i = 0; i < 16; i++)
		if (used >> (15 - i) & 1) {
			uint32_t v = get(b, 16);
			for (unsigned j = 0; j < 16; j++)
				if (v >> (15 - j) & 1)
					seq[nuse++] = (uint8_t)(i * 16 + j);
		}
	if (!nuse)
		return 1;
	alpha = nuse + 2;
	eob = nuse + 1;
	ngroups = get(b, 3);
	nsel = get(b, 15);
	if (ngroups < 2 || ngroups > MAX_GROUPS || nsel < 1 || nsel > MAX_SELECTORS)
		return 1;
	{
		uint8_t order[MAX_GROUPS];
		for (unsigned i = 0; i < ngroups; i++)
			order[i] = (uint8_t)i;
		for (unsigned i = 0; i < nsel; i++) {
			unsigned j = 0;
			while (get(b, 1))
				if (++j >= ngroups)
					return 1;
			uint8_t t = order[j];
			memmove(order + 1, order, j);
			order[0] = t;
			b->sel[i] = t;
		}
	}
	for (unsigned t = 0; t < ngroups; t++) {
		int cur = (int)get(b, 5);
		for (unsigned i = 0; i < alpha; i++) {
			for (;;) {
				if (cur < 1 || cur > MAX_LEN)
					return 1;
				if (!get(b, 1))
					break;
				cur += get(b, 1) ? -1 : 1;
			}
			len[i] = (uint8_t)cur;
		}
		if (!build(&b->g[t], len, alpha))
			return 1;
	}
	if (b->pos > stop || b->read_err)
		return b->read_err ? MFW_E_IO : 1;

	/* the symbols */
	for (unsigned i = 0; i < 256; i++)
		mtf[i] = (uint8_t)i;
	memset(ftab, 0, sizeof(ftab));
	{
		uint32_t n = 0, max = b->max_block, run = 0, w = 1;
		unsigned gpos = 0, gno = 0;
		const struct group *g = NULL;
		bool inrun = false;

		for (;;) {
			int s;
			if (!gpos) {
				if (gno >= nsel)
					return 1;
				g = &b->g[b->sel[gno++]];
				gpos = 50;
			}
			gpos--;
			s = decode(b, g);
			if (s < 0)
				return 1;
			if (s <= 1) {
				if (!inrun) {
					inrun = true;
					run = 0;
					w = 1;
				}
				if (w >= 2 * 1024 * 1024)
					return 1;
				run += w << s;
				w <<= 1;
				continue;
			}
			if (inrun) {
				uint8_t c = seq[mtf[0]];
				inrun = false;
				if (run > max - n)
					return 1;
				ftab[c] += run;
				for (uint32_t k = 0; k < run; k++)
					b->tt[n + k] = c;
				n += run;
			}
			if ((unsigned)s == eob)
				break;
			if (n >= max)
				return 1;
			{
				unsigned k = (unsigned)s - 1;
				uint8_t m = mtf[k];
				memmove(mtf + 1, mtf, k);
				mtf[0] = m;
				ftab[seq[m]]++;
				b->tt[n++] = seq[m];
			}
			if (b->pos > stop)
				return 1;
		}
		b->nblock = n;
	}
	if (b->read_err)
		return MFW_E_IO;
	if ((end != MFW_BZDEC_ANY_END ? b->pos != end : b->pos > stop) || b->origin >= b->nblock)
		return 1;

	/* undo the transform: tt[i] gets the index of the next byte above its own */
	{
		uint32_t sum = 0;
		for (unsigned i = 0; i < 256; i++) {
			uint32_t f = ftab[i];
			ftab[i] = sum;
			sum += f;
		}
		for (uint32_t i = 0; i < b->nblock; i++) {
			uint8_t c = (uint8_t)b->tt[i];
			b->tt[ftab[c]++] |= i << 8;
		}
	}
	b->tpos = b->tt[b->origin] >> 8;
	b->left = b->nblock;
	b->last = -1;
	b->same = 0;
	b->calc = 0xffffffffu;
	b->bad = false;
	return 0;
}

size_t mfw_bzdec_out(struct mfw_bzdec *b, uint8_t *buf, size_t cap)
{
	const uint32_t *tt = b->tt;
	uint32_t tpos = b->tpos, left = b->left;
	unsigned same = b->same;
	int last = b->last;
	size_t o = 0;

	if (b->bad)
		return 0;
	while (o < cap) {
		if (b->pend) {
			size_t n = b->pend < cap - o ? b->pend : cap - o;
			memset(buf + o, b->pch, n);
			o += n;
			b->pend -= (uint32_t)n;
			continue;
		}
		if (!left)
			break;
		tpos = tt[tpos];
		uint8_t c = (uint8_t)tpos;
		tpos >>= 8;
		left--;
		if (same == 4) {
			/* a count of more of the run's byte; the next byte starts afresh */
			b->pend = c;
			b->pch = (uint8_t)last;
			same = 0;
			last = -1;
			continue;
		}
		if (c == last) {
			same++;
		} else {
			last = c;
			same = 1;
		}
		buf[o++] = c;
	}
	b->tpos = tpos;
	b->left = left;
	b->same = same;
	b->last = last;
	b->calc = mfw_bz_crc_update(b->calc, buf, o);
	if (!o && !left && same == 4)
		b->bad = true; /* four equal bytes and no count: libbz2 reads past the block */
	return o;
}

bool mfw_bzdec_ok(const struct mfw_bzdec *b)
{
	return !b->bad && !b->left && !b->pend && b->same != 4 && ~b->calc == b->crc;
}

uint64_t mfw_bzdec_end_bit(const struct mfw_bzdec *b)
{
	return b->pos;
}

uint32_t mfw_bzdec_crc(const struct mfw_bzdec *b)
{
	return b->crc;
}
