/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_TEST_RAND_H
#define MFW_TEST_RAND_H

/*
 * Deterministic test inputs (xorshift64): the same bytes on every run and
 * machine, so a failure replays. Include after <cmocka.h>. A file that wants
 * other bytes sets rng_state before its tests run.
 */
#include <stdint.h>
#include <stdlib.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* n bytes drawn from the first `alphabet` byte values (small alphabets repeat, like code) */
static inline uint8_t *random_bytes(size_t n, unsigned alphabet)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd() % alphabet);
	return p;
}

#endif
