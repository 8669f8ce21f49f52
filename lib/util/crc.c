/* SPDX-License-Identifier: BSD-3-Clause */
#include "util/crc.h"

#include <pthread.h>

static uint32_t crc32_table[256];
static uint16_t crc16_table[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		uint16_t d = (uint16_t)i;
		for (int k = 0; k < 8; k++) {
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			d = (d & 1) ? (uint16_t)(0x8408u ^ (d >> 1)) : (uint16_t)(d >> 1);
		}
		crc32_table[i] = c;
		crc16_table[i] = d;
	}
}

uint32_t mfw_crc32(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	pthread_once(&tables_once, build_tables);
	crc = ~crc;
	while (len--)
		crc = crc32_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

uint16_t mfw_crc16_x25(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint16_t crc = 0xFFFF;
	pthread_once(&tables_once, build_tables);
	while (len--)
		crc = (uint16_t)(crc16_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8));
	return (uint16_t)~crc;
}
