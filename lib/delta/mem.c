/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Heap accounting for the delta engine's stats. Counters are atomic because
 * compressor threads allocate while the matcher holds its buffers.
 */
#include "delta/delta.h"

#include <modemfw/error.h>
#include <stdlib.h>
#include <sys/mman.h>

void mfw_delta_mem_add(struct mfw_delta_mem *m, uint64_t n)
{
	uint64_t cur = __atomic_add_fetch(&m->cur, n, __ATOMIC_RELAXED);
	uint64_t peak = __atomic_load_n(&m->peak, __ATOMIC_RELAXED);
	while (cur > peak &&
	       !__atomic_compare_exchange_n(&m->peak, &peak, cur, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void mfw_delta_mem_sub(struct mfw_delta_mem *m, uint64_t n)
{
	__atomic_sub_fetch(&m->cur, n, __ATOMIC_RELAXED);
}

void *mfw_delta_malloc(struct mfw_delta_mem *m, size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p)
		mfw_delta_mem_add(m, n);
	return p;
}

void mfw_delta_free(struct mfw_delta_mem *m, void *p, size_t n)
{
	if (!p)
		return;
	free(p);
	mfw_delta_mem_sub(m, n);
}

int mfw_delta_buf_reserve(struct mfw_delta_buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 16 * 1024;
	uint8_t *p;

	if (b->cap - b->n >= more)
		return 0;
	while (cap - b->n < more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return MFW_E_NOMEM;
	mfw_delta_mem_add(b->mem, cap - b->cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

void mfw_delta_buf_free(struct mfw_delta_buf *b)
{
	mfw_delta_free(b->mem, b->p, b->cap);
	b->p = NULL;
	b->n = b->cap = 0;
}

/*
 * Large buffers (suffix arrays, filters, blocks of old) come straight from
 * mmap(): freed, they leave the process at once. From malloc() they could
 * stay in a thread's arena after the indexing thread freed them, and the
 * process's peak RSS grew by a third over the engine's own peak.
 */
void *mfw_delta_map(struct mfw_delta_mem *m, size_t n)
{
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	mfw_delta_mem_add(m, n);
	return p;
}

void mfw_delta_unmap(struct mfw_delta_mem *m, void *p, size_t n)
{
	if (!p)
		return;
	munmap(p, n ? n : 1);
	mfw_delta_mem_sub(m, n);
}

/* libbz2 frees without a size: keep it in a header in front of the block. */
#define BZ_HDR 16

void *mfw_delta_bzalloc(void *opaque, int items, int size)
{
	size_t n;
	uint8_t *p;

	if (items < 0 || size < 0 || __builtin_mul_overflow((size_t)items, (size_t)size, &n) ||
	    n > SIZE_MAX - BZ_HDR)
		return NULL;
	p = malloc(n + BZ_HDR);
	if (!p)
		return NULL;
	*(size_t *)p = n;
	mfw_delta_mem_add(opaque, n + BZ_HDR);
	return p + BZ_HDR;
}

void mfw_delta_bzfree(void *opaque, void *ptr)
{
	uint8_t *p;

	if (!ptr)
		return;
	p = (uint8_t *)ptr - BZ_HDR;
	mfw_delta_mem_sub(opaque, *(size_t *)p + BZ_HDR);
	free(p);
}
