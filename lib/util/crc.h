/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_UTIL_CRC_H
#define MFW_UTIL_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32 (IEEE 802.3, reflected, as zlib and GPT use). Chain by passing the previous value; start with 0. */
uint32_t mfw_crc32(uint32_t crc, const void *data, size_t len);
/* CRC-16/X-25 (DIAG HDLC). Check value of "123456789" is 0x906E. */
uint16_t mfw_crc16_x25(const void *data, size_t len);

#endif
