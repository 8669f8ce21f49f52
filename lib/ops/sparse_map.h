/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_SPARSE_MAP_H
#define MFW_OPS_SPARSE_MAP_H

/*
 * A sparse image in a package, mapped once into runs (image offset, length,
 * and where the bytes come from) so it can be programmed in pieces with
 * bounded memory: RAW runs are read from the file in order, FILL runs are
 * generated, DONT_CARE runs are not sent at all.
 */
#include "fmt/package.h"
#include "fmt/sparse.h"

/* More chunks than this is not a system image (hostile file). */
#define MFW_SPARSE_MAP_MAX_RUNS (1u << 20)

struct mfw_sparse_map_run {
	enum mfw_sparse_run_kind kind;
	uint64_t img_off;
	uint64_t len;
	uint64_t file_off; /* DATA */
	uint8_t fill[4];   /* FILL */
};

struct mfw_sparse_map {
	struct mfw_sparse_map_run *runs;
	size_t n;
	uint64_t expanded;
};

int mfw_sparse_map_build(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel,
			 struct mfw_sparse_map *out);
void mfw_sparse_map_free(struct mfw_sparse_map *m);
/* Read the expanded size from the header only. */
int mfw_sparse_map_size(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel, uint64_t *size);

/* Sequential reader over runs [first, last) starting at run first. */
struct mfw_sparse_reader {
	struct mfw_ctx *ctx;
	const struct mfw_sparse_map *map;
	struct mfw_pkg_file *f;
	uint64_t file_pos;  /* bytes consumed from f */
	size_t run;         /* current run */
	uint64_t in_run;    /* bytes of the current run already produced */
};

/* Fill exactly len bytes (the caller never asks past the segment). */
int mfw_sparse_reader_fill(struct mfw_sparse_reader *r, uint8_t *buf, size_t len);

#endif
