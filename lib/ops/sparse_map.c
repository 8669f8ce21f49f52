/* SPDX-License-Identifier: BSD-3-Clause */
#include "ops/sparse_map.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

struct map_build {
	struct mfw_ctx *ctx;
	struct mfw_sparse_map *m;
	size_t cap;
	const uint8_t *buf;  /* input piece being fed */
	uint64_t buf_off;    /* its offset in the file */
};

static int add_run(void *user, const struct mfw_sparse_run *run)
{
	struct map_build *b = user;
	struct mfw_sparse_map_run *r;
	if (b->m->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 64;
		struct mfw_sparse_map_run *n;
		if (cap > MFW_SPARSE_MAP_MAX_RUNS)
			return mfw_fail(b->ctx, MFW_E_RANGE, "sparse image has more than %u chunks",
					MFW_SPARSE_MAP_MAX_RUNS);
		n = realloc(b->m->runs, cap * sizeof(*n));
		if (!n)
			return mfw_fail(b->ctx, MFW_E_NOMEM, "out of memory mapping a sparse image");
		b->m->runs = n;
		b->cap = cap;
	}
	r = &b->m->runs[b->m->n];
	memset(r, 0, sizeof(*r));
	r->kind = run->kind;
	r->img_off = run->offset;
	r->len = run->length;
	if (run->kind == MFW_SPARSE_RUN_DATA)
		r->file_off = b->buf_off + (uint64_t)(run->data - b->buf);
	if (run->kind == MFW_SPARSE_RUN_FILL)
		memcpy(r->fill, run->fill, 4);
	/* a RAW chunk split across input pieces arrives as several DATA runs: merge them */
	if (b->m->n && r->kind == MFW_SPARSE_RUN_DATA) {
		struct mfw_sparse_map_run *p = &b->m->runs[b->m->n - 1];
		if (p->kind == MFW_SPARSE_RUN_DATA && p->img_off + p->len == r->img_off &&
		    p->file_off + p->len == r->file_off) {
			p->len += r->len;
			return 0;
		}
	}
	b->m->n++;
	return 0;
}

int mfw_sparse_map_build(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel,
			 struct mfw_sparse_map *out)
{
	struct map_build b = { .ctx = ctx, .m = out };
	struct mfw_sparse_dec dec;
	struct mfw_pkg_file *f;
	uint8_t buf[65536];
	int r;

	memset(out, 0, sizeof(*out));
	r = mfw_pkg_file_open(ctx, pkg, rel, &f);
	if (r < 0)
		return r;
	mfw_sparse_dec_init(&dec, false);
	for (;;) {
		size_t got = 0;
		r = mfw_pkg_file_read(ctx, f, buf, sizeof(buf), &got);
		if (r < 0 || !got)
			break;
		b.buf = buf;
		r = mfw_sparse_dec_feed(ctx, &dec, buf, got, add_run, &b);
		if (r < 0)
			break;
		b.buf_off += got;
	}
	if (r == 0)
		r = mfw_sparse_dec_finish(ctx, &dec);
	mfw_pkg_file_close(f);
	if (r < 0) {
		mfw_fail_keep(ctx, r, "sparse image '%s' is damaged", rel);
		mfw_sparse_map_free(out);
		return r;
	}
	out->expanded = mfw_sparse_expanded_size(mfw_sparse_dec_header(&dec));
	return 0;
}

void mfw_sparse_map_free(struct mfw_sparse_map *m)
{
	free(m->runs);
	memset(m, 0, sizeof(*m));
}

int mfw_sparse_map_size(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel, uint64_t *size)
{
	struct mfw_pkg_file *f;
	uint8_t hdr[MFW_SPARSE_HEADER_LEN];
	size_t got = 0, have = 0;
	int r;

	r = mfw_pkg_file_open(ctx, pkg, rel, &f);
	if (r < 0)
		return r;
	while (have < sizeof(hdr)) {
		r = mfw_pkg_file_read(ctx, f, hdr + have, sizeof(hdr) - have, &got);
		if (r < 0 || !got)
			break;
		have += got;
	}
	mfw_pkg_file_close(f);
	if (r < 0)
		return r;
	r = mfw_sparse_image_size(ctx, hdr, have, size);
	if (r < 0)
		return mfw_fail_keep(ctx, r, "'%s' is marked sparse but is not a sparse image", rel);
	return 0;
}

int mfw_sparse_reader_fill(struct mfw_sparse_reader *rd, uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		const struct mfw_sparse_map_run *run;
		uint64_t left;
		size_t n;
		if (rd->run >= rd->map->n)
			return mfw_fail(rd->ctx, MFW_E_FORMAT, "sparse image ended early");
		run = &rd->map->runs[rd->run];
		left = run->len - rd->in_run;
		n = left < len - done ? (size_t)left : len - done;
		if (run->kind == MFW_SPARSE_RUN_DATA) {
			uint64_t want_pos = run->file_off + rd->in_run;
			size_t got = 0, have = 0;
			int r;
			if (want_pos < rd->file_pos)
				return mfw_fail(rd->ctx, MFW_E_FORMAT, "sparse runs out of order");
			if (want_pos > rd->file_pos) {
				r = mfw_pkg_file_skip(rd->ctx, rd->f, want_pos - rd->file_pos);
				if (r < 0)
					return r;
				rd->file_pos = want_pos;
			}
			while (have < n) {
				r = mfw_pkg_file_read(rd->ctx, rd->f, buf + done + have, n - have, &got);
				if (r < 0)
					return r;
				if (!got)
					return mfw_fail(rd->ctx, MFW_E_IO, "sparse image file ended early");
				have += got;
			}
			rd->file_pos += n;
		} else if (run->kind == MFW_SPARSE_RUN_FILL) {
			for (size_t i = 0; i < n; i++)
				buf[done + i] = run->fill[(run->img_off + rd->in_run + i) % 4];
		} else {
			memset(buf + done, 0, n);
		}
		done += n;
		rd->in_run += n;
		if (rd->in_run == run->len) {
			rd->run++;
			rd->in_run = 0;
		}
	}
	return 0;
}
