/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sparse decoder on arbitrary files, fed in pieces whose size comes from the
 * first byte. Invariants: runs are contiguous, in order, never past the
 * size the header announced.
 */
#include <stdint.h>
#include <stdlib.h>

#include <modemfw/error.h>
#include "fmt/sparse.h"

struct track {
	uint64_t next;
	uint64_t limit;
};

static int emit(void *user, const struct mfw_sparse_run *run)
{
	struct track *t = user;

	if (run->offset != t->next || !run->length || run->length > t->limit - run->offset)
		abort();
	if (run->kind == MFW_SPARSE_RUN_FILL && run->length % 4)
		abort();
	if (run->kind == MFW_SPARSE_RUN_DATA) {
		/* touch every byte so ASan sees an out-of-bounds pointer */
		volatile uint8_t x = 0;

		for (uint64_t i = 0; i < run->length; i++)
			x ^= run->data[i];
		(void)x;
	}
	t->next = run->offset + run->length;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_sparse_dec d;
	struct track t = { 0, 0 };
	size_t step, pos = 1;
	uint64_t total = 0;
	int r = 0;

	if (size < 2)
		return 0;
	step = 1 + data[0] % 41;
	if (data[0] & 0x80)
		step = size;
	if (mfw_sparse_image_size(NULL, data + 1, size - 1, &total) < 0)
		total = 0;
	t.limit = total;
	/* CRC checking costs a pass over fills too: only for small images */
	mfw_sparse_dec_init(&d, (data[0] & 0x40) != 0 && total <= (1u << 20));
	while (pos < size && r == 0) {
		size_t k = size - pos < step ? size - pos : step;

		r = mfw_sparse_dec_feed(NULL, &d, data + pos, k, emit, &t);
		pos += k;
	}
	if (r == 0 && mfw_sparse_dec_finish(NULL, &d) == 0 && t.next != total)
		abort();
	return 0;
}
