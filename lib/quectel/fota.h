/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_QUECTEL_FOTA_H
#define MFW_QUECTEL_FOTA_H

/*
 * DFOTA over AT, the pure parts (unit-tested in tests/unit/test-fota.c):
 * the AT+QFUPL checksum, the +QIND: "FOTA" URCs, the +QFUPL and +QFLDS
 * answers. The send itself is mfw_fota_send() (include/modemfw/dfota.h).
 */
#include <modemfw/dfota.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The 16-bit XOR checksum AT+QFUPL reports: the data is read as big-endian
 * 16-bit words (byte 0 is the high byte of word 0, byte 1 its low byte,
 * ...), an odd last byte is the high byte of a last word whose low byte is
 * 0, and the checksum is the XOR of all words (0 for no data). Streaming:
 * pass the previous value as sum; every chunk but the last must have an
 * even length.
 */
uint16_t mfw_fota_checksum(uint16_t sum, const void *buf, size_t len);

enum mfw_fota_urc_kind {
	MFW_FOTA_URC_START = 1,   /* "START" */
	MFW_FOTA_URC_UPDATING,    /* "UPDATING",<pct> */
	MFW_FOTA_URC_RESTORE,     /* "RESTORE",<pct> (BG96) */
	MFW_FOTA_URC_END,         /* "END",<code> */
	MFW_FOTA_URC_HTTPSTART,
	MFW_FOTA_URC_HTTPEND,     /* "HTTPEND",<code> */
	MFW_FOTA_URC_FTPSTART,
	MFW_FOTA_URC_FTPEND,      /* "FTPEND",<code> */
};

struct mfw_fota_urc {
	enum mfw_fota_urc_kind kind;
	int value;                /* pct or code; -1 when the kind has none */
};

/*
 * One line: 1 and *u when it is a +QIND: "FOTA" URC, 0 when the line is
 * something else (another URC, RDY), MFW_E_FORMAT when it starts like a
 * FOTA URC but does not parse (unknown stage, missing or bad number).
 */
int mfw_fota_urc_parse(const char *line, struct mfw_fota_urc *u);

/* "+QFUPL: <size>,<checksum hex>" -> 0, else MFW_E_FORMAT. */
int mfw_fota_parse_qfupl(const char *line, uint64_t *size, uint16_t *checksum);
/* "+QFLDS: <free>,<total>" -> 0, else MFW_E_FORMAT. */
int mfw_fota_parse_qflds(const char *line, uint64_t *free_bytes, uint64_t *total);

#endif
