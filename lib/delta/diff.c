/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Diff driver: index old block by block, select alignments, encode.
 *
 * Memory by phase, for old and new of about n bytes and the default three
 * blocks: find holds new + one block + its suffix array + its filter
 * (n + n/3 + 4n/3 + n/6);
 * select holds old + new + candidates; encode holds one bzip2 compressor
 * and the compressed patch, reading old and new back by offset when they
 * come from files. bsdiff 4.3 peaks near 9n.
 */
#include "delta/delta.h"

#include "core/core.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Blocks overlap by this much so matches across a block boundary survive. */
#define BLOCK_OVERLAP (64 << 10)
/*
 * Default number of blocks: with three, the find phase holds about
 * new + 5/3 old + filter, under 3x the input where bsdiff needs about 9x.
 * Patch size moved by under 0.5 % between 2, 3, 4 and 6 blocks on the corpus.
 */
#define BLOCKS 3
/* Below this, one block: the index is small and splitting only costs matches. */
#define SPLIT_MIN (1 << 20)
/* divsufsort's 32-bit index */
#define BLOCK_MAX ((int64_t)1 << 30)

static int load(struct mfw_ctx *ctx, const struct mfw_delta_src *s, int64_t off, int64_t len,
		struct mfw_delta_mem *mem, uint8_t **buf, bool *owned, const char *what)
{
	uint8_t *p;

	if (s->p) {
		*buf = (uint8_t *)s->p + off;
		*owned = false;
		return 0;
	}
	p = mfw_delta_map(mem, (size_t)len);
	if (!p)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory for %lld bytes of %s", (long long)len, what);
	for (int64_t done = 0; done < len;) {
		ssize_t r = pread(s->fd, p + done, (size_t)(len - done), (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			mfw_delta_unmap(mem, p, (size_t)len);
			return mfw_fail(ctx, MFW_E_IO, "cannot read %s at byte %lld: %s", what,
					(long long)(off + done), r < 0 ? strerror(errno) : "file shrank");
		}
		done += r;
	}
	*buf = p;
	*owned = true;
	return 0;
}

static void unload(struct mfw_delta_mem *mem, uint8_t *buf, bool owned, int64_t len)
{
	if (owned)
		mfw_delta_unmap(mem, buf, (size_t)len);
}

/* One block of old on its way to being searched: loaded, then indexed. */
struct prep {
	uint8_t *blk;
	bool own;
	int64_t off, len;
	struct mfw_delta_index ix;
	bool loaded, ready, started;
	unsigned threads; /* for the index: 2 lets the filter be built beside the sort */
	const uint8_t *new_data; /* to list positions of new worth a search beside the sort; NULL: not */
	int64_t new_size;
	const uint8_t *covered;
	int err; /* from the indexing thread */
	pthread_t tid;
};

static int prep_load(struct mfw_ctx *ctx, const struct mfw_delta_src *old, int64_t off, int64_t bs,
		     struct mfw_delta_mem *mem, struct prep *p)
{
	int64_t len = old->size - off;
	int r;

	if (len > bs + BLOCK_OVERLAP)
		len = bs + BLOCK_OVERLAP;
	if (len > BLOCK_MAX)
		len = BLOCK_MAX;
	memset(p, 0, sizeof(*p));
	r = load(ctx, old, off, len, mem, &p->blk, &p->own, "old");
	if (r < 0)
		return r;
	p->off = off;
	p->len = len;
	p->loaded = true;
	p->ix.mem = mem;
	return 0;
}

static void *prep_thread(void *arg)
{
	struct prep *p = arg;
	p->err = mfw_delta_index_build(&p->ix, p->blk, p->off, p->len, p->ix.mem, p->threads, p->new_data,
				       p->new_size, p->covered);
	p->ready = p->err == 0;
	return NULL;
}

/* Index the block unless the thread did; report the thread's error. */
static int prep_build(struct prep *p, struct mfw_ctx *ctx)
{
	if (!p->ready && !p->err)
		prep_thread(p);
	if (p->err)
		return p->err == MFW_E_RANGE
			       ? mfw_fail(ctx, MFW_E_RANGE, "index block of %lld bytes is above 2 GiB", (long long)p->len)
			       : mfw_fail(ctx, p->err, "out of memory for the index of %lld bytes of old",
					  (long long)p->len);
	return 0;
}

static void prep_free(struct mfw_delta_mem *mem, struct prep *p)
{
	if (p->loaded) {
		mfw_delta_index_free(&p->ix);
		unload(mem, p->blk, p->own, p->len);
	}
	p->loaded = p->ready = false;
	p->blk = NULL;
}

/* what the BSDIFF40 writer is asked for */
static unsigned write_how(const struct mfw_delta_opts *opts)
{
	if (!opts)
		return 0;
	return (opts->libbz2_encoder ? MFW_DELTA_ENC_LIBBZ2 : 0) | (opts->best ? MFW_DELTA_ENC_EVERY : 0);
}

static int diff_run(struct mfw_ctx *ctx, const struct mfw_delta_src *old, const struct mfw_delta_src *nw,
		    const struct mfw_delta_opts *opts, uint8_t **patch, size_t *patch_size,
		    struct mfw_delta_stats *st)
{
	struct mfw_delta_mem mem = { 0, 0 };
	struct prep prep[2];
	int cur = 0;
	bool pipeline;
	struct mfw_delta_candv cands = { 0 };
	struct mfw_delta_ctrlv ctrl = { 0 };
	uint8_t *nbuf = NULL, *obuf = NULL, *covered = NULL;
	size_t covered_len = 0;
	bool nown = false, oown = false;
	unsigned threads = opts && opts->threads ? opts->threads : 2;
	int64_t t0 = mfw_now_us(), t1;
	int64_t bs = opts && opts->block_size ? (int64_t)(opts->block_size > (uint64_t)BLOCK_MAX ? BLOCK_MAX
											: opts->block_size)
					      : 0;
	int r;

	if (opts && opts->format != MFW_DELTA_BSDIFF40 && opts->format != MFW_DELTA_MFWZ)
		return mfw_fail(ctx, MFW_E_UNSUPPORTED, "delta format %d is not supported", (int)opts->format);
	if (!bs)
		bs = old->size <= SPLIT_MIN ? old->size : (old->size + BLOCKS - 1) / BLOCKS;
	if (bs > BLOCK_MAX)
		bs = BLOCK_MAX;
	if (bs < 1)
		bs = 1;

	/*
	 * Index the next block while this one is searched only when blocks
	 * are small enough that two of them fit where one of the default
	 * three would: with more blocks each position of new is searched more
	 * often (six pipelined blocks: 1.5x the CPU time of three in turn on a
	 * tar of modules, for no gain in time), so by default the blocks are
	 * indexed in turn, each sort beside the building of its filter.
	 */
	pipeline = threads > 1 && old->size / bs >= 5;
	memset(prep, 0, sizeof(prep));
	r = load(ctx, nw, 0, nw->size, &mem, &nbuf, &nown, "new");
	if (r < 0)
		return r;
	covered_len = (size_t)(nw->size / 8 + 1);
	covered = mfw_delta_malloc(&mem, covered_len);
	if (!covered) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
		goto free_all;
	}
	memset(covered, 0, covered_len);
	/* find: one block of old at a time */
	for (int64_t off = 0; off < old->size;) {
		struct prep *p = &prep[cur];
		struct prep *q = &prep[!cur];
		int64_t next;

		if (!p->ready) {
			r = prep_load(ctx, old, off, bs, &mem, p);
			p->threads = threads;
			p->new_data = nbuf;
			p->new_size = nw->size;
			p->covered = covered;
			if (r == 0)
				r = prep_build(p, ctx);
			if (r < 0)
				goto free_all;
		}
		next = p->off + p->len >= old->size ? old->size : off + bs;
		mfw_progress(ctx, "index", "", (uint64_t)off, (uint64_t)old->size);
		if (pipeline && next < old->size) {
			r = prep_load(ctx, old, next, bs, &mem, q);
			if (r < 0)
				goto free_all;
			q->threads = 1; /* the search has the other threads */
			q->new_size = nw->size;
			q->covered = NULL; /* being written by the search */
			q->started = pthread_create(&q->tid, NULL, prep_thread, q) == 0;
		}
		r = mfw_delta_find(ctx, &p->ix, nbuf, nw->size, covered, threads, &mem, &cands);
		mfw_dbg(ctx, "delta: block at %lld (%lld bytes): %zu candidates so far, heap peak %llu, %.3f s",
			(long long)off, (long long)p->len, cands.n, (unsigned long long)mem.peak,
			(double)(mfw_now_us() - t0) / 1e6);
		prep_free(&mem, p);
		if (pipeline && next < old->size) {
			if (q->started) {
				pthread_join(q->tid, NULL);
				q->started = false;
			}
			if (r == 0)
				r = prep_build(q, ctx);
		}
		if (r < 0)
			goto free_all;
		cur = !cur;
		off = next;
	}
	mfw_progress(ctx, "index", "", (uint64_t)old->size, (uint64_t)old->size);
	mfw_delta_free(&mem, covered, covered_len);
	covered = NULL;
	mfw_delta_cands_sort(&cands);
	mfw_dbg(ctx, "delta: candidates sorted, %.3f s", (double)(mfw_now_us() - t0) / 1e6);

	/* select: old and new side by side */
	r = load(ctx, old, 0, old->size, &mem, &obuf, &oown, "old");
	if (r < 0)
		goto free_all;
	r = mfw_delta_select(ctx, obuf, old->size, nbuf, nw->size, &cands, &mem, &ctrl);
	mfw_delta_free(&mem, cands.v, cands.cap * sizeof(*cands.v));
	cands.v = NULL;
	if (r < 0)
		goto free_all;
	/* encode: file-backed inputs are read back by offset, so free them first */
	unload(&mem, obuf, oown, old->size);
	obuf = NULL;
	oown = false;
	unload(&mem, nbuf, nown, nw->size);
	nbuf = NULL;
	nown = false;
	t1 = mfw_now_us();
	mfw_dbg(ctx, "delta: %zu control triples, heap peak %llu, %.3f s", ctrl.n, (unsigned long long)mem.peak,
		(double)(t1 - t0) / 1e6);
	if (opts && opts->format == MFW_DELTA_MFWZ)
		r = mfw_delta_write_mfwz(ctx, old, nw, &ctrl, threads, opts->segment_size, opts->level, &mem, patch,
					 patch_size);
	else
		r = mfw_delta_write_bsdiff40(ctx, old, nw, &ctrl, threads, write_how(opts), &mem, patch,
					     patch_size);
	if (r < 0)
		goto free_all;
	mfw_dbg(ctx, "delta: encoded in %.3f s", (double)(mfw_now_us() - t1) / 1e6);
	if (st) {
		memset(st, 0, sizeof(*st));
		st->old_size = (uint64_t)old->size;
		st->new_size = (uint64_t)nw->size;
		st->patch_size = *patch_size;
		st->controls = ctrl.n;
		for (size_t i = 0; i < ctrl.n; i++) {
			st->diff_bytes += (uint64_t)ctrl.v[i].x;
			st->extra_bytes += (uint64_t)ctrl.v[i].y;
		}
		st->peak_mem = mem.peak;
		if (opts && opts->format == MFW_DELTA_MFWZ && opts->segment_size)
			st->segments = (st->new_size + opts->segment_size - 1) / opts->segment_size;
		else if (opts && opts->format == MFW_DELTA_MFWZ)
			st->segments = (st->new_size + MFWZ_SEG_DEFAULT - 1) / MFWZ_SEG_DEFAULT;
	}
free_all:
	for (int i = 0; i < 2; i++) {
		if (prep[i].started)
			pthread_join(prep[i].tid, NULL);
		prep_free(&mem, &prep[i]);
	}
	mfw_delta_free(&mem, covered, covered_len);
	mfw_delta_free(&mem, ctrl.v, ctrl.cap * sizeof(*ctrl.v));
	mfw_delta_free(&mem, cands.v, cands.cap * sizeof(*cands.v));
	unload(&mem, obuf, oown, old->size);
	unload(&mem, nbuf, nown, nw->size);
	return r;
}

int mfw_delta_diff_buf(struct mfw_ctx *ctx, const uint8_t *old, size_t old_size,
		       const uint8_t *new_data, size_t new_size, uint8_t **patch,
		       size_t *patch_size, const struct mfw_delta_opts *opts,
		       struct mfw_delta_stats *stats)
{
	static const uint8_t empty[1];
	struct mfw_delta_src so = { old ? old : empty, -1, (int64_t)old_size };
	struct mfw_delta_src sn = { new_data ? new_data : empty, -1, (int64_t)new_size };

	*patch = NULL;
	*patch_size = 0;
	if (old_size > INT64_MAX / 2 || new_size > INT64_MAX / 2)
		return mfw_fail(ctx, MFW_E_RANGE, "input too large");
	return diff_run(ctx, &so, &sn, opts, patch, patch_size, stats);
}

static int open_in(struct mfw_ctx *ctx, const char *path, const char *what, struct mfw_delta_src *s)
{
	struct stat st;

	s->p = NULL;
	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open %s '%s': %s", what,
				path, strerror(errno));
	if (fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(s->fd);
		return mfw_fail(ctx, MFW_E_IO, "%s '%s' is not a regular file", what, path);
	}
	s->size = st.st_size;
	return 0;
}

int mfw_delta_diff(struct mfw_ctx *ctx, const char *old_path, const char *new_path,
		   const char *patch_path, const struct mfw_delta_opts *opts,
		   struct mfw_delta_stats *stats)
{
	struct mfw_delta_src so, sn;
	uint8_t *patch = NULL;
	size_t psize = 0;
	char tmp[PATH_MAX];
	int fd, r;

	r = open_in(ctx, old_path, "old file", &so);
	if (r < 0)
		return r;
	r = open_in(ctx, new_path, "new file", &sn);
	if (r < 0)
		goto close_old;
	r = diff_run(ctx, &so, &sn, opts, &patch, &psize, stats);
	if (r < 0)
		goto close_new;
	if (snprintf(tmp, sizeof(tmp), "%s.part-%ld", patch_path, (long)getpid()) >= (int)sizeof(tmp)) {
		r = mfw_fail(ctx, MFW_E_INVAL, "patch path too long");
		goto free_patch;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot create '%s': %s", tmp, strerror(errno));
		goto free_patch;
	}
	r = mfw_write_all(fd, patch, psize);
	if (r == 0 && fsync(fd) < 0)
		r = MFW_E_IO;
	if (close(fd) < 0 && r == 0)
		r = MFW_E_IO;
	if (r == 0 && rename(tmp, patch_path) < 0)
		r = MFW_E_IO;
	if (r < 0) {
		r = mfw_fail(ctx, r, "cannot write the patch '%s': %s", patch_path, strerror(errno));
		unlink(tmp);
	}
free_patch:
	free(patch);
close_new:
	close(sn.fd);
close_old:
	close(so.fd);
	return r;
}
