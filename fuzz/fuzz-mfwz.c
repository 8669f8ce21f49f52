/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz the MFWZ container's parser and applier: the input is the patch,
 * applied to the fixed 4 KiB old file of fuzz-bspatch.c (byte i =
 * (7i + 3) mod 251). Every input runs twice: as it is, and "resealed"
 * (the header's SHA-256 over its fields and the index recomputed), so
 * mutations get past the digest to the bounds checks, the index walk, the
 * zstd decoder and the record parser. The output goes to a counting
 * writer. A rejection must be MFW_E_FORMAT or MFW_E_RANGE; an accepted
 * patch must produce exactly the header's new size.
 */
#include <modemfw/modemfw.h>

#include "delta/delta.h"
#include "util/hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OLD_SIZE 4096

static uint8_t old_data[OLD_SIZE];

static int count_write(void *user, const void *buf, size_t len)
{
	(void)buf;
	*(uint64_t *)user += len;
	return 0;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void one(struct mfw_ctx *ctx, const uint8_t *data, size_t size)
{
	struct mfw_delta_span so = { old_data, OLD_SIZE }, sp = { data, size };
	struct mfw_delta_reader old = { mfw_delta_span_read, OLD_SIZE, &so };
	struct mfw_delta_reader patch = { mfw_delta_span_read, size, &sp };
	uint64_t written = 0, new_size = 0;
	struct mfw_delta_writer out = { count_write, &written };
	struct mfw_delta_apply_opts opts = { .max_new_size = 1 << 20 };
	int r = mfw_delta_apply_io(ctx, &old, &patch, &out, &opts, NULL);

	if (r == 0) {
		if (mfw_delta_probe(ctx, data, size, &new_size) < 0 || written != new_size)
			abort();
	} else if (r != MFW_E_FORMAT && r != MFW_E_RANGE) {
		abort();
	}
	mfw_ctx_clear_detail(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mfw_ctx *ctx;
	uint8_t *copy;
	uint64_t idx;
	struct mfw_hash h;

	if (!ctx) {
		if (mfw_ctx_new(&ctx) < 0)
			return 0;
		for (int i = 0; i < OLD_SIZE; i++)
			old_data[i] = (uint8_t)(i * 7 + 3) % 251;
	}
	one(ctx, data, size);
	if (size < MFW_DELTA_MFWZ_HDR || memcmp(data, MFW_DELTA_MFWZ_MAGIC, 8))
		return 0;
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	idx = get64(copy + 48);
	if (mfw_hash_init(&h, MFW_HASH_SHA256) == 0) {
		mfw_hash_update(&h, copy, 128);
		if (idx >= MFW_DELTA_MFWZ_HDR && idx <= size)
			mfw_hash_update(&h, copy + idx, size - idx);
		if (mfw_hash_final(&h, copy + 128, 32) == 32)
			one(ctx, copy, size);
	}
	free(copy);
	return 0;
}
