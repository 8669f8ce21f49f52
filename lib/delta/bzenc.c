/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bzip2 block encoder. libbz2 stays the decoder everywhere; this only writes
 * blocks, and spends more effort than libbz2's encoder on the entropy stage.
 *
 * The stages, as the bzip2 format defines them:
 *
 *  1. RLE1: runs of 4 to 255 equal bytes become the 4 bytes and a count
 *     byte (run length - 4); a longer run starts over at 256. The block CRC
 *     (CRC-32, MSB first, polynomial 0x04c11db7) covers the bytes before
 *     RLE1.
 *  2. BWT over the block's cyclic rotations. libdivsufsort sorts suffixes,
 *     not rotations: the block is sorted rotated to its least rotation (a
 *     Lyndon word, whose rotations sort as its suffixes), or, when periodic,
 *     doubled (suffixes of BB that start in the first copy compare as the
 *     rotations do; equal rotations may come in any order, as they decode to
 *     the same bytes). origPtr is the row of rotation 0.
 *  3. MTF over the symbols used, runs of zeros written in bijective base 2
 *     (RUNA = 1, RUNB = 2 per digit), values v > 0 as v + 1, then EOB.
 *  4. Huffman: 2 to 6 tables, one chosen per group of 50 symbols (the
 *     selectors, MTF-coded in unary), each table's code lengths sent as
 *     differences (2 bits per step of 1). libbz2 starts from one partition
 *     of the alphabet and refines it 4 times with a table count set by the
 *     block size. Here:
 *     - every table count from 2 up to libbz2's for the block's size is
 *       refined from the same kind of start until the assignment of groups
 *       stops changing or stops paying (at most MAX_ITER times); a group
 *       takes the table for which its symbols plus its selector (after the
 *       previous group's) cost fewest bits; the tables are then fitted to
 *       their groups with optimal codes of at most MAX_LEN bits (Huffman,
 *       or package-merge when Huffman's are longer);
 *     - the DP_TOP best counts are refined DP_ITER more times with code
 *       lengths that also count the bits the table costs to send (a
 *       dynamic programme over the symbols, Kraft's inequality by a
 *       Lagrange multiplier): on diff streams, mostly zeros with a few
 *       changed bytes of every value, the tables were a sixth of a 100k
 *       block;
 *     - the smallest exact size (symbols, selectors, tables) is written.
 */
#include "delta/delta.h"

#include <divsufsort.h>
#include <modemfw/error.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define GROUP 50
#define MIN_TABLES 2
#define MAX_TABLES 6
#define MAX_ALPHA 258
/* table counts tried: the NT_SPAN largest up to libbz2's count for the block */
#define NT_SPAN 5
/* refinements of one table count, at most */
#define MAX_ITER 8
/* the format's longest code: libbz2 decodes up to 20 bits */
#define MAX_LEN 20
/* the longest code of the final tables (libbz2 writes up to 17): longer ones cost table bits */
#define TABLE_MAX_LEN 17
/* table counts refined again with the table-aware lengths, best first */
#define DP_TOP 3
#define DP_ITER 2
/* bisection steps for lambda */
#define BISECT 6

struct mfw_bzenc {
	struct mfw_delta_mem *mem;
	int level;
	size_t cap;   /* RLE1 bytes the block may hold */
	size_t room;  /* the cap of the level the buffers were made for */
	uint8_t *blk; /* 2 * cap: the block, then the copy that is sorted (rotated, or the block again) */
	int32_t *sa;  /* 2 * cap */
	uint8_t *bwt; /* cap */
	uint16_t *sym; /* cap + 1 */
	uint8_t *sel;  /* selectors, cap / GROUP + 1 */
	size_t n;     /* RLE1 bytes in blk */
	int ch;       /* byte of the pending run, -1: none */
	unsigned len; /* its length */
	uint32_t crc;
	bool any;     /* the block holds at least one byte */
};

size_t mfw_bzenc_cap(int level)
{
	/* libbz2's decoder takes up to 100000 * level RLE1 bytes; stay below as its encoder does */
	return (size_t)level * 100000 - 19;
}

static size_t alloc_size(size_t cap)
{
	return 2 * cap + 2 * cap * sizeof(int32_t) + cap + (cap + 1) * sizeof(uint16_t) + cap / GROUP + 1;
}

int mfw_bzenc_new(struct mfw_bzenc **out, struct mfw_delta_mem *mem, int level)
{
	struct mfw_bzenc *e;
	uint8_t *p;

	*out = NULL;
	if (level < 1 || level > 9)
		return MFW_E_INVAL;
	e = mfw_delta_malloc(mem, sizeof(*e));
	if (!e)
		return MFW_E_NOMEM;
	memset(e, 0, sizeof(*e));
	e->mem = mem;
	e->level = level;
	e->cap = e->room = mfw_bzenc_cap(level);
	p = mfw_delta_map(mem, alloc_size(e->room));
	if (!p) {
		mfw_delta_free(mem, e, sizeof(*e));
		return MFW_E_NOMEM;
	}
	/* the int32 array first: mmap()ed memory is page-aligned */
	e->sa = (int32_t *)p;
	p += 2 * e->cap * sizeof(int32_t);
	e->sym = (uint16_t *)p;
	p += (e->cap + 1) * sizeof(uint16_t);
	e->blk = p;
	p += 2 * e->cap;
	e->bwt = p;
	p += e->cap;
	e->sel = p;
	e->ch = -1;
	e->crc = 0xffffffffu;
	*out = e;
	return 0;
}

void mfw_bzenc_free(struct mfw_bzenc *e)
{
	if (!e)
		return;
	mfw_delta_unmap(e->mem, e->sa, alloc_size(e->room));
	mfw_delta_free(e->mem, e, sizeof(*e));
}

int mfw_bzenc_set_level(struct mfw_bzenc *e, int level)
{
	if (level < 1 || mfw_bzenc_cap(level) > e->room || e->any)
		return MFW_E_INVAL;
	e->level = level;
	e->cap = mfw_bzenc_cap(level);
	return 0;
}

static inline unsigned run_cost(unsigned len)
{
	return len < 4 ? len : 5;
}

static void run_flush(struct mfw_bzenc *e)
{
	uint8_t c = (uint8_t)e->ch;
	if (e->len < 4) {
		for (unsigned i = 0; i < e->len; i++)
			e->blk[e->n++] = c;
	} else {
		memset(e->blk + e->n, c, 4);
		e->blk[e->n + 4] = (uint8_t)(e->len - 4);
		e->n += 5;
	}
}

size_t mfw_bzenc_add(struct mfw_bzenc *e, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (c == e->ch && e->len < 255) {
			if (e->n + run_cost(e->len + 1) > e->cap)
				break;
			e->len++;
		} else {
			if (e->n + run_cost(e->len) + 1 > e->cap)
				break;
			if (e->ch >= 0)
				run_flush(e);
			e->ch = c;
			e->len = 1;
		}
		e->any = true;
	}
	e->crc = mfw_bz_crc_update(e->crc, p, i);
	return i;
}

/* ---- Huffman tables ---- */

/*
 * Huffman's code lengths for leaves in ascending order of weight (two
 * queues: leaves, and internal nodes, which are made in ascending order).
 * false when a length exceeds maxlen.
 */
static bool huff_lengths(const uint32_t *w, const int *order, int n, int maxlen, uint8_t *len)
{
	uint64_t iw[MAX_ALPHA];
	int parent[2 * MAX_ALPHA];
	uint8_t depth[2 * MAX_ALPHA];
	int li = 0, ii = 0;

	for (int k = 0; k < n - 1; k++) {
		uint64_t sum = 0;
		for (int t = 0; t < 2; t++) {
			if (li < n && (ii >= k || w[order[li]] <= iw[ii])) {
				sum += w[order[li]];
				parent[li++] = n + k;
			} else {
				sum += iw[ii];
				parent[n + ii++] = n + k;
			}
		}
		iw[k] = sum;
	}
	depth[2 * n - 2] = 0;
	for (int k = 2 * n - 3; k >= 0; k--) {
		int d = depth[parent[k]] + 1;
		if (d > maxlen)
			return false;
		depth[k] = (uint8_t)d;
	}
	for (int i = 0; i < n; i++)
		len[order[i]] = depth[i];
	return true;
}

/*
 * Optimal code lengths of at most maxlen bits for n weights (package-merge).
 * Symbols of weight 0 get maxlen: every symbol needs a code in bzip2.
 */
static void code_lengths(const uint32_t *w, int n, int maxlen, uint8_t *len)
{
	/* per level, for each item of its merged list: 1 if a package */
	static _Thread_local uint8_t pkg[MAX_LEN][2 * MAX_ALPHA];
	uint64_t cur[2 * MAX_ALPHA], prev[2 * MAX_ALPHA], lw[MAX_ALPHA];
	int order[MAX_ALPHA], ncur = 0, nprev = 0;

	/* leaves sorted by weight, then symbol: the unused ones first, the others by Shell sort */
	uint64_t key[MAX_ALPHA];
	int nz = 0, nk = 0;
	for (int i = 0; i < n; i++) {
		if (w[i])
			key[nk++] = (uint64_t)w[i] << 9 | (unsigned)i;
		else
			order[nz++] = i;
	}
	for (int gap = nk / 2; gap > 0; gap = gap == 2 ? 1 : gap * 5 / 11) {
		for (int i = gap; i < nk; i++) {
			uint64_t k = key[i];
			int j = i;
			for (; j >= gap && key[j - gap] > k; j -= gap)
				key[j] = key[j - gap];
			key[j] = k;
		}
	}
	for (int i = 0; i < nk; i++)
		order[nz + i] = (int)(key[i] & 511);
	if (huff_lengths(w, order, n, maxlen, len))
		return;
	for (int i = 0; i < n; i++)
		lw[i] = w[order[i]];
	/* deepest level first: its list is the leaves alone */
	for (int l = maxlen - 1; l >= 0; l--) {
		int a = 0, b = 0, np = nprev / 2;
		ncur = 0;
		while (a < n || b < np) {
			uint64_t pw = b < np ? prev[2 * b] + prev[2 * b + 1] : UINT64_MAX;
			if (a < n && lw[a] <= pw) {
				pkg[l][ncur] = 0;
				cur[ncur++] = lw[a++];
			} else {
				pkg[l][ncur] = 1;
				cur[ncur++] = pw;
				b++;
			}
		}
		memcpy(prev, cur, (size_t)ncur * sizeof(cur[0]));
		nprev = ncur;
	}
	for (int i = 0; i < n; i++)
		len[i] = 0;
	/* take 2n - 2 items at the top; each package taken takes two items of the level below */
	for (int l = 0, take = 2 * n - 2; l < maxlen && take > 0; l++) {
		int leaves = 0, packs = 0;
		for (int i = 0; i < take; i++) {
			if (pkg[l][i])
				packs++;
			else
				len[order[leaves++]]++;
		}
		take = 2 * packs;
	}
}

static unsigned table_bits(const uint8_t *len, int n)
{
	unsigned bits = 5, cur = len[0];
	for (int i = 0; i < n; i++) {
		unsigned d = len[i] > cur ? len[i] - cur : cur - len[i];
		bits += 1 + 2 * d;
		cur = len[i];
	}
	return bits;
}

/*
 * Code lengths that also count what the table costs to send (each length
 * is sent as the difference from the previous one, 2 bits per step): the
 * lengths minimising sum(w * len) + table bits + lambda * sum(2^-len) by
 * dynamic programming over the symbols, for the smallest lambda whose
 * lengths satisfy Kraft's inequality (found by bisection).
 */
static bool dp_lengths(const uint32_t *w, int n, int maxlen, double lambda, uint8_t *len)
{
	/* costs in 1/256 bits, as integers */
	static _Thread_local uint8_t from[MAX_ALPHA][MAX_LEN + 1];
	int64_t d[MAX_LEN + 2], nd[MAX_LEN + 2], pen[MAX_LEN + 2];
	uint32_t kraft = 0;
	const int64_t step = 2 * 256;

	for (int l = 1; l <= maxlen; l++) {
		pen[l] = (int64_t)(lambda * 256 / (double)(1u << l));
		d[l] = (int64_t)w[0] * l * 256 + pen[l];
	}
	for (int i = 1; i < n; i++) {
		/* nd[l] = min over p of d[p] + 2|l - p| bits, from below then from above */
		int64_t best = INT64_MAX / 2, wl = (int64_t)w[i] * 256;
		int bp = 1;
		uint8_t *f = from[i];
		for (int l = 1; l <= maxlen; l++) {
			best += step;
			if (d[l] <= best) {
				best = d[l];
				bp = l;
			}
			nd[l] = best;
			f[l] = (uint8_t)bp;
		}
		best = INT64_MAX / 2;
		for (int l = maxlen; l >= 1; l--) {
			best += step;
			if (d[l] < best) {
				best = d[l];
				bp = l;
			}
			if (best < nd[l]) {
				nd[l] = best;
				f[l] = (uint8_t)bp;
			}
		}
		for (int l = 1; l <= maxlen; l++)
			d[l] = nd[l] + wl * l + pen[l];
	}
	{
		int64_t best = INT64_MAX;
		int bl = 1;
		for (int l = 1; l <= maxlen; l++)
			if (d[l] < best) {
				best = d[l];
				bl = l;
			}
		for (int i = n - 1; i >= 0; i--) {
			len[i] = (uint8_t)bl;
			kraft += 1u << (MAX_LEN - bl);
			if (i)
				bl = from[i][bl];
		}
	}
	return kraft <= 1u << MAX_LEN;
}

static uint64_t table_cost(const uint32_t *w, const uint8_t *len, int n);

/* the cheaper of package-merge's lengths and the DP's, counting the table */
static void fit_lengths(const uint32_t *w, int n, int maxlen, uint8_t *len)
{
	uint8_t alt[MAX_ALPHA], feas[MAX_ALPHA];
	double lo, hi;
	uint64_t total = 0;

	code_lengths(w, n, maxlen, len);
	for (int i = 0; i < n; i++)
		total += w[i];
	if (!total)
		return;
	/*
	 * Without the table, lambda = total / ln 2 = 1.44 total gives Kraft's
	 * sum 1; with it, the diff and control streams' tables ended between
	 * 1.1 and 1.65 times the total.
	 */
	lo = (double)total * 1.05;
	hi = (double)total * 1.75 + 64;
	for (int k = 0; !dp_lengths(w, n, maxlen, hi, alt); k++) {
		if (k == 4)
			return;
		lo = hi;
		hi *= 4;
	}
	memcpy(feas, alt, (size_t)n);
	for (int k = 0; k < BISECT; k++) {
		double mid = (lo + hi) / 2;
		if (dp_lengths(w, n, maxlen, mid, alt)) {
			hi = mid;
			memcpy(feas, alt, (size_t)n);
		} else {
			lo = mid;
		}
	}
	if (table_cost(w, feas, n) < table_cost(w, len, n))
		memcpy(len, feas, (size_t)n);
}

static uint64_t table_cost(const uint32_t *w, const uint8_t *len, int n)
{
	uint64_t bits = table_bits(len, n);
	for (int i = 0; i < n; i++)
		bits += (uint64_t)w[i] * len[i];
	return bits;
}

struct tables {
	int nt;
	uint8_t len[MAX_TABLES][MAX_ALPHA];
	uint64_t bits; /* symbols + selectors + tables */
};

enum fit { FIT_APPROX, FIT_OPT, FIT_TABLE };

/*
 * Lengths near -log2 of each symbol's share, not a valid code: what the
 * refinements use to move groups around, as they need no real code.
 */
static void approx_lengths(const uint32_t *w, int n, uint8_t *len)
{
	uint64_t total = 0;
	for (int i = 0; i < n; i++)
		total += w[i];
	for (int i = 0; i < n; i++) {
		int l = MAX_LEN;
		if (w[i]) {
			/* log2(total / w), rounded, from a fixed-point quotient with 8 fraction bits */
			uint64_t q = (total << 8) / w[i];
			l = 63 - __builtin_clzll(q | 1);
			if (q * 10000 >= (1ull << l) * 14142)
				l++;
			l -= 8;
			l = l < 1 ? 1 : l > MAX_LEN ? MAX_LEN : l;
		}
		len[i] = (uint8_t)l;
	}
}

/*
 * Give every group the table whose lengths cost it fewest bits, its
 * selector's bits (after the previous group's) included. Returns the number
 * of groups whose table changed.
 */
static size_t assign(const uint16_t *sym, size_t nsym, int alpha, const struct tables *t, uint8_t *sel, bool first)
{
	uint64_t pack[MAX_ALPHA][2];
	uint8_t mtf[MAX_TABLES];
	size_t changed = 0;
	int nt = t->nt;

	/* four 16-bit lanes per word: a group's cost in every table with two adds per symbol */
	for (int s = 0; s < alpha; s++) {
		pack[s][0] = pack[s][1] = 0;
		for (int k = 0; k < nt; k++)
			pack[s][k / 4] |= (uint64_t)t->len[k][s] << (16 * (k % 4));
	}
	for (int k = 0; k < nt; k++)
		mtf[k] = (uint8_t)k;
	for (size_t g = 0, at = 0; at < nsym; g++, at += GROUP) {
		size_t end = at + GROUP < nsym ? at + GROUP : nsym;
		uint64_t c0 = 0, c1 = 0;
		unsigned best = UINT32_MAX;
		int bt = 0, pos = 0;

		for (size_t i = at; i < end; i++) {
			c0 += pack[sym[i]][0];
			c1 += pack[sym[i]][1];
		}
		for (int j = 0; j < nt; j++) {
			int k = mtf[j];
			unsigned c = (unsigned)((k < 4 ? c0 >> (16 * k) : c1 >> (16 * (k - 4))) & 0xffff) + (unsigned)j + 1;
			if (c < best) {
				best = c;
				bt = k;
				pos = j;
			}
		}
		for (int j = pos; j > 0; j--)
			mtf[j] = mtf[j - 1];
		mtf[0] = (uint8_t)bt;
		if (first || sel[g] != bt)
			changed++;
		sel[g] = (uint8_t)bt;
	}
	return changed;
}

/* Fit the tables to the groups given them; the exact bits (symbols, selectors, tables) */
static uint64_t fit(const uint16_t *sym, size_t nsym, int alpha, struct tables *t, const uint8_t *sel, enum fit how)
{
	uint32_t freq[MAX_TABLES][MAX_ALPHA];
	uint8_t mtf[MAX_TABLES];
	uint64_t bits = 0;
	int nt = t->nt;

	memset(freq, 0, sizeof(freq));
	for (size_t g = 0, at = 0; at < nsym; g++, at += GROUP) {
		size_t end = at + GROUP < nsym ? at + GROUP : nsym;
		uint32_t *f = freq[sel[g]];
		for (size_t i = at; i < end; i++)
			f[sym[i]]++;
	}
	for (int k = 0; k < nt; k++) {
		if (how == FIT_TABLE)
			fit_lengths(freq[k], alpha, TABLE_MAX_LEN, t->len[k]);
		else if (how == FIT_OPT)
			code_lengths(freq[k], alpha, MAX_LEN, t->len[k]);
		else
			approx_lengths(freq[k], alpha, t->len[k]);
		for (int s = 0; s < alpha; s++)
			bits += (uint64_t)freq[k][s] * t->len[k][s];
		bits += table_bits(t->len[k], alpha);
	}
	for (int k = 0; k < nt; k++)
		mtf[k] = (uint8_t)k;
	for (size_t g = 0; g * GROUP < nsym; g++) {
		int j = 0;
		while (mtf[j] != sel[g])
			j++;
		bits += (uint64_t)j + 1;
		for (; j > 0; j--)
			mtf[j] = mtf[j - 1];
		mtf[0] = sel[g];
	}
	return bits;
}

/* libbz2's starting point: the alphabet cut into nt ranges of about equal frequency */
static void initial_tables(const uint32_t *freq, size_t nsym, int alpha, struct tables *t)
{
	size_t left = nsym;
	int lo = 0;

	for (int k = t->nt; k > 0; k--) {
		size_t want = left / (size_t)k, got = 0;
		int hi = lo - 1;
		while (got < want && hi < alpha - 1)
			got += freq[++hi];
		if (hi > lo && k != t->nt && k != 1 && (t->nt - k) % 2 == 1)
			got -= freq[hi--];
		for (int s = 0; s < alpha; s++)
			t->len[t->nt - k][s] = s >= lo && s <= hi ? 0 : 15;
		lo = hi + 1;
		left -= got;
	}
}

static void optimize(const uint16_t *sym, size_t nsym, int alpha, const uint32_t *freq, struct tables *best,
		     uint8_t *sel, uint8_t *scratch)
{
	size_t ngroups = (nsym + GROUP - 1) / GROUP;
	struct tables cand[MAX_TABLES + 1];
	uint8_t *csel[MAX_TABLES + 1];
	int order[MAX_TABLES + 1], nc = 0;

	/*
	 * More tables than libbz2 would use hardly ever pay for themselves, nor
	 * do fewer than two below that.
	 */
	int ntmax = nsym < 200 ? 2 : nsym < 600 ? 3 : nsym < 1200 ? 4 : nsym < 2400 ? 5 : 6;
	int ntmin = ntmax - NT_SPAN + 1 > MIN_TABLES ? ntmax - NT_SPAN + 1 : MIN_TABLES;

	best->bits = UINT64_MAX;
	/*
	 * 1: every table count, refined with approximate lengths until the
	 * groups stop moving or the estimate stops falling, then fitted with
	 * optimal codes
	 */
	for (int nt = ntmin; nt <= ntmax; nt++) {
		struct tables t = { .nt = nt };
		uint64_t bits, prev = UINT64_MAX;

		csel[nt] = scratch + (size_t)(nt - ntmin + 1) * ngroups;
		initial_tables(freq, nsym, alpha, &t);
		for (int it = 0; it < MAX_ITER; it++) {
			size_t ch = assign(sym, nsym, alpha, &t, csel[nt], it == 0);
			bits = fit(sym, nsym, alpha, &t, csel[nt], FIT_APPROX);
			if (!ch || bits >= prev)
				break;
			prev = bits;
		}
		cand[nt] = t;
		cand[nt].bits = fit(sym, nsym, alpha, &cand[nt], csel[nt], FIT_OPT);
		order[nc++] = nt;
		for (int j = nc - 1; j > 0 && cand[order[j]].bits < cand[order[j - 1]].bits; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	}
	/* 2: the best few again with lengths that count the tables' cost */
	for (int c = 0; c < nc; c++) {
		int nt = order[c];
		struct tables t = cand[nt];
		uint64_t bits;

		if (cand[nt].bits < best->bits) {
			*best = cand[nt];
			memcpy(sel, csel[nt], ngroups);
		}
		if (c >= DP_TOP)
			continue;
		memcpy(scratch, csel[nt], ngroups);
		for (int it = 0; it < DP_ITER; it++) {
			assign(sym, nsym, alpha, &t, scratch, false);
			bits = fit(sym, nsym, alpha, &t, scratch, FIT_TABLE);
			if (bits >= best->bits)
				break;
			*best = t;
			best->bits = bits;
			memcpy(sel, scratch, ngroups);
		}
	}
}

/* ---- the block ---- */

/*
 * The start of the block's least rotation, or n when the block is a power
 * of a shorter string (two rotations are equal). Two candidate starts i < j
 * are compared k bytes deep; the loser and the k starts after it cannot be
 * the least (O(n) steps, no memory).
 */
static size_t least_rotation(const uint8_t *s, size_t n)
{
	size_t i = 0, j = 1, k = 0;

	while (i < n && j < n && k < n) {
		size_t x = i + k, y = j + k; /* both below 2n */
		uint8_t a = s[x < n ? x : x - n], b = s[y < n ? y : y - n];
		if (a == b) {
			k++;
			continue;
		}
		if (a > b)
			i += k + 1;
		else
			j += k + 1;
		if (i == j)
			j++;
		k = 0;
	}
	if (k >= n)
		return n;
	return i < j ? i : j;
}

/*
 * bzip2's BWT sorts the block's rotations. Rotated to start at its least
 * rotation, a block that is not a power of a shorter string is a Lyndon
 * word, and a Lyndon word's rotations sort exactly as its suffixes do (it
 * is smaller than each of its proper suffixes and has no border), so one
 * suffix sort of n bytes gives the same order as the sort of the doubled
 * block, 2n bytes with an n-byte repeat in the middle, which took twice
 * the time and more. Periodic blocks (a run of RLE1 zeros in a diff
 * stream can make one) keep the doubled sort.
 */
static size_t do_bwt(struct mfw_bzenc *e, size_t n)
{
	size_t orig = 0, j = 0, m = least_rotation(e->blk, n);
	const uint8_t *t;  /* what is sorted: its suffixes that start below n are the rows */
	size_t len, start; /* t's length; where the block itself begins in t */

	if (m < n) {
		uint8_t *w = e->blk + n;
		memcpy(w, e->blk + m, n - m);
		memcpy(w + (n - m), e->blk, m);
		t = w;
		len = n;
		start = (n - m) % n;
	} else {
		memcpy(e->blk + n, e->blk, n);
		t = e->blk;
		len = 2 * n;
		start = 0;
	}
	divsufsort(t, e->sa, (int32_t)len);
	for (size_t i = 0; i < len; i++) {
		size_t k = (size_t)e->sa[i];
		if (k >= n)
			continue;
		if (k == start)
			orig = j;
		e->bwt[j++] = t[k ? k - 1 : n - 1];
	}
	return orig;
}

static void put_run(uint16_t *sym, size_t *m, uint32_t *freq, size_t run)
{
	run--;
	for (;;) {
		uint16_t s = run & 1 ? 1 : 0;
		sym[(*m)++] = s;
		freq[s]++;
		if (run < 2)
			break;
		run = (run - 2) / 2;
	}
}

static void put_tables_and_symbols(struct mfw_bz_bitw *w, const struct tables *t, int alpha, const uint8_t *sel,
				   const uint16_t *sym, size_t nsym)
{
	uint32_t code[MAX_TABLES][MAX_ALPHA];
	size_t ngroups = (nsym + GROUP - 1) / GROUP;
	uint8_t mtf[MAX_TABLES];

	mfw_bz_put(w, (uint64_t)t->nt, 3);
	mfw_bz_put(w, ngroups, 15);
	for (int k = 0; k < t->nt; k++)
		mtf[k] = (uint8_t)k;
	for (size_t g = 0; g < ngroups; g++) {
		int j = 0;
		while (mtf[j] != sel[g])
			j++;
		mfw_bz_put(w, ((1ull << j) - 1) << 1, (unsigned)j + 1);
		for (; j > 0; j--)
			mtf[j] = mtf[j - 1];
		mtf[0] = sel[g];
	}
	for (int k = 0; k < t->nt; k++) {
		unsigned cur = t->len[k][0];
		uint32_t next = 0;
		mfw_bz_put(w, cur, 5);
		for (int s = 0; s < alpha; s++) {
			for (; cur < t->len[k][s]; cur++)
				mfw_bz_put(w, 2, 2);
			for (; cur > t->len[k][s]; cur--)
				mfw_bz_put(w, 3, 2);
			mfw_bz_put(w, 0, 1);
		}
		/* canonical codes, as the decoder assigns them */
		for (unsigned l = 1; l <= MAX_LEN; l++) {
			for (int s = 0; s < alpha; s++)
				if (t->len[k][s] == l)
					code[k][s] = next++;
			next <<= 1;
		}
	}
	for (size_t g = 0, at = 0; g < ngroups; g++, at += GROUP) {
		size_t end = at + GROUP < nsym ? at + GROUP : nsym;
		const uint8_t *len = t->len[sel[g]];
		const uint32_t *c = code[sel[g]];
		for (size_t i = at; i < end; i++)
			mfw_bz_put(w, c[sym[i]], len[sym[i]]);
	}
}

int mfw_bzenc_finish(struct mfw_bzenc *e, struct mfw_delta_buf *out, uint64_t *block_bits, uint32_t *block_crc)
{
	struct mfw_bz_bitw w = { 0 };
	bool used[256] = { false };
	uint8_t map[256], mtf[256];
	uint32_t freq[MAX_ALPHA] = { 0 };
	struct tables t;
	size_t n, orig, m = 0, run = 0, bound, start;
	int nused = 0, alpha;
	uint32_t crc = ~e->crc;
	uint16_t inuse16 = 0;
	int r;

	if (e->ch >= 0)
		run_flush(e);
	n = e->n;
	out->n = 0;
	*block_bits = 0;
	*block_crc = 0;
	if (!e->any) {
		if ((r = mfw_delta_buf_reserve(out, 16)) < 0)
			return r;
		w.p = out->p;
		mfw_bz_put_header(&w, e->level);
		mfw_bz_put_end(&w, 0);
		out->n = w.n;
		goto reset;
	}

	orig = do_bwt(e, n);
	for (size_t i = 0; i < n; i++)
		used[e->bwt[i]] = true;
	for (int c = 0; c < 256; c++)
		if (used[c]) {
			map[c] = (uint8_t)nused;
			mtf[nused] = (uint8_t)nused;
			nused++;
			inuse16 |= (uint16_t)(1u << (15 - c / 16));
		}
	alpha = nused + 2;
	for (size_t i = 0; i < n; i++) {
		uint8_t v = map[e->bwt[i]];
		int j;
		if (mtf[0] == v) {
			run++;
			continue;
		}
		if (run) {
			put_run(e->sym, &m, freq, run);
			run = 0;
		}
		for (j = 1; mtf[j] != v; j++)
			;
		memmove(mtf + 1, mtf, (size_t)j);
		mtf[0] = v;
		e->sym[m++] = (uint16_t)(j + 1);
		freq[j + 1]++;
	}
	if (run)
		put_run(e->sym, &m, freq, run);
	e->sym[m++] = (uint16_t)(alpha - 1);
	freq[alpha - 1]++;

	optimize(e->sym, m, alpha, freq, &t, e->sel, e->bwt);

	/* header, block header and map, selectors, tables, symbols, end: all bounded by t.bits */
	bound = (size_t)(t.bits / 8) + 4 + 14 + 2 + 32 + 2 + 10 + 16;
	if ((r = mfw_delta_buf_reserve(out, bound)) < 0)
		goto reset;
	w.p = out->p;
	mfw_bz_put_header(&w, e->level);
	start = w.n * 8 + w.bits;
	mfw_bz_put(&w, MFW_BZ_BLOCK_MAGIC >> 24, 24);
	mfw_bz_put(&w, MFW_BZ_BLOCK_MAGIC & 0xffffff, 24);
	mfw_bz_put(&w, crc, 32);
	mfw_bz_put(&w, 0, 1);
	mfw_bz_put(&w, orig, 24);
	mfw_bz_put(&w, inuse16, 16);
	for (int h = 0; h < 16; h++) {
		uint16_t bits = 0;
		if (!(inuse16 & (1u << (15 - h))))
			continue;
		for (int c = 0; c < 16; c++)
			if (used[h * 16 + c])
				bits |= (uint16_t)(1u << (15 - c));
		mfw_bz_put(&w, bits, 16);
	}
	put_tables_and_symbols(&w, &t, alpha, e->sel, e->sym, m);
	*block_bits = w.n * 8 + w.bits - start;
	*block_crc = crc;
	mfw_bz_put_end(&w, crc);
	out->n = w.n;
	r = 0;
reset:
	e->n = 0;
	e->ch = -1;
	e->len = 0;
	e->crc = 0xffffffffu;
	e->any = false;
	return r;
}

int mfw_bzenc_stream(struct mfw_delta_mem *mem, const uint8_t *in, size_t n, int level, struct mfw_delta_buf *out)
{
	struct mfw_bzenc *e;
	struct mfw_delta_buf blk = { .mem = mem };
	struct mfw_bz_bitw w = { 0 };
	uint32_t comb = 0;
	size_t done = 0;
	int r;

	if ((r = mfw_bzenc_new(&e, mem, level)) < 0)
		return r;
	out->n = 0;
	if ((r = mfw_delta_buf_reserve(out, 16)) < 0)
		goto out;
	w.p = out->p;
	mfw_bz_put_header(&w, level);
	while (done < n) {
		uint64_t bits;
		uint32_t crc;
		done += mfw_bzenc_add(e, in + done, n - done);
		if ((r = mfw_bzenc_finish(e, &blk, &bits, &crc)) < 0)
			goto out;
		/* the block, moved from bit 32 of its own stream */
		out->n = w.n;
		if ((r = mfw_delta_buf_reserve(out, (size_t)(bits / 8) + 32)) < 0)
			goto out;
		w.p = out->p;
		for (uint64_t b = 0; b < bits;) {
			unsigned k = bits - b >= 32 ? 32 : (unsigned)(bits - b);
			uint64_t v = 0;
			for (unsigned i = 0; i < k; i++, b++)
				v = v << 1 | (blk.p[(32 + b) >> 3] >> (7 - ((32 + b) & 7)) & 1);
			mfw_bz_put(&w, v, k);
		}
		comb = (comb << 1 | comb >> 31) ^ crc;
	}
	out->n = w.n;
	if ((r = mfw_delta_buf_reserve(out, 16)) < 0)
		goto out;
	w.p = out->p;
	mfw_bz_put_end(&w, comb);
	out->n = w.n;
	r = 0;
out:
	mfw_delta_buf_free(&blk);
	mfw_bzenc_free(e);
	return r;
}
