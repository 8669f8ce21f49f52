/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC-32 as bzip2 takes it (polynomial 0x04c11db7, MSB first, no
 * reflection), eight bytes at a time: the block CRC of our encoder
 * (bzenc.c) and of our block decoder (bzdec.c).
 */
#include "delta/delta.h"

#include <pthread.h>

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i << 24;
		for (int k = 0; k < 8; k++)
			c = c & 0x80000000u ? c << 1 ^ 0x04c11db7u : c << 1;
		crc_tab[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (uint32_t i = 0; i < 256; i++)
			crc_tab[t][i] = crc_tab[t - 1][i] << 8 ^ crc_tab[0][crc_tab[t - 1][i] >> 24];
}

uint32_t mfw_bz_crc_update(uint32_t c, const uint8_t *p, size_t n)
{
	pthread_once(&crc_once, crc_init);
	while (n >= 8) {
		c ^= (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		c = crc_tab[7][c >> 24] ^ crc_tab[6][c >> 16 & 0xff] ^ crc_tab[5][c >> 8 & 0xff] ^
		    crc_tab[4][c & 0xff] ^ crc_tab[3][p[4]] ^ crc_tab[2][p[5]] ^ crc_tab[1][p[6]] ^
		    crc_tab[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = c << 8 ^ crc_tab[0][(c >> 24) ^ *p++];
	return c;
}
