/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_PROTO_SAHARA_H
#define MFW_PROTO_SAHARA_H

/*
 * Sahara packet codec. Pure: bytes in, struct out, no I/O. Used by the host
 * state machine (lib/qcom/sahara.c) and by the virtual modem's PBL (emu/).
 * Layouts: docs/protocols.md and reference/sahara-firehose.md §2.
 */
#include <stddef.h>
#include <stdint.h>

enum mfw_sahara_cmd {
	MFW_SAHARA_HELLO = 0x01,
	MFW_SAHARA_HELLO_RESP = 0x02,
	MFW_SAHARA_READ_DATA = 0x03,
	MFW_SAHARA_END_OF_IMAGE = 0x04,
	MFW_SAHARA_DONE = 0x05,
	MFW_SAHARA_DONE_RESP = 0x06,
	MFW_SAHARA_RESET = 0x07,
	MFW_SAHARA_RESET_RESP = 0x08,
	MFW_SAHARA_MEMORY_DEBUG = 0x09,
	MFW_SAHARA_MEMORY_READ = 0x0A,
	MFW_SAHARA_CMD_READY = 0x0B,
	MFW_SAHARA_SWITCH_MODE = 0x0C,
	MFW_SAHARA_EXECUTE = 0x0D,
	MFW_SAHARA_EXECUTE_RESP = 0x0E,
	MFW_SAHARA_EXECUTE_DATA = 0x0F,
	MFW_SAHARA_MEMORY_DEBUG_64 = 0x10,
	MFW_SAHARA_MEMORY_READ_64 = 0x11,
	MFW_SAHARA_READ_DATA_64 = 0x12,
	MFW_SAHARA_RESET_STATE_MACHINE = 0x13,
};

enum mfw_sahara_mode {
	MFW_SAHARA_MODE_IMAGE_TX_PENDING = 0,
	MFW_SAHARA_MODE_IMAGE_TX_COMPLETE = 1,
	MFW_SAHARA_MODE_MEMORY_DEBUG = 2,
	MFW_SAHARA_MODE_COMMAND = 3,
};

enum mfw_sahara_exec {
	MFW_SAHARA_EXEC_NOP = 0x00,
	MFW_SAHARA_EXEC_SERIAL_NUM = 0x01,
	MFW_SAHARA_EXEC_MSM_HW_ID = 0x02,
	MFW_SAHARA_EXEC_OEM_PK_HASH = 0x03,
	MFW_SAHARA_EXEC_SBL_SW_VERSION = 0x07,
	MFW_SAHARA_EXEC_CMD_ID_LIST = 0x08,
	MFW_SAHARA_EXEC_CHIP_ID_V3 = 0x0A,
};

/* Image id of a Firehose programmer (EHOSTDL). */
#define MFW_SAHARA_IMAGE_FIREHOSE 13u
#define MFW_SAHARA_HEADER_LEN 8u
/* Longest fixed packet (HELLO / HELLO_RESP). */
#define MFW_SAHARA_MAX_PKT 0x30u
#define MFW_SAHARA_DONE_PENDING 0u
#define MFW_SAHARA_DONE_COMPLETE 1u

struct mfw_sahara_pkt {
	uint32_t cmd;
	uint32_t len; /* on the wire, header included */
	union {
		struct { /* HELLO and HELLO_RESP */
			uint32_t version;
			uint32_t version_compat;
			uint32_t max_len_or_status; /* HELLO: max cmd packet; RESP: status */
			uint32_t mode;
		} hello;
		struct { /* READ_DATA and READ_DATA_64 */
			uint64_t image_id;
			uint64_t offset;
			uint64_t length;
		} read;
		struct {
			uint32_t image_id;
			uint32_t status;
		} eoi;
		struct {
			uint32_t status; /* MFW_SAHARA_DONE_PENDING / _COMPLETE */
		} done_resp;
		struct {
			uint32_t mode;
		} switch_mode;
		struct { /* EXECUTE, EXECUTE_DATA */
			uint32_t client_cmd;
		} exec;
		struct {
			uint32_t client_cmd;
			uint32_t data_len;
		} exec_resp;
		struct { /* MEMORY_DEBUG(_64), MEMORY_READ(_64) */
			uint64_t addr;
			uint64_t len;
		} mem;
	} u;
};

/*
 * Parse one packet from buf. Returns the bytes consumed (> 0), 0 when more
 * bytes are needed, or MFW_E_PROTO for an unknown command or a length that
 * does not fit the command. Trailing bytes are left alone.
 */
int mfw_sahara_parse(const uint8_t *buf, size_t len, struct mfw_sahara_pkt *out);

/*
 * Serialise p (p->len is computed from p->cmd). Returns the length written,
 * or MFW_E_INVAL when cap is too small or cmd unknown.
 */
int mfw_sahara_build(const struct mfw_sahara_pkt *p, uint8_t *buf, size_t cap);

/* Wire length of a command's packet, 0 when unknown. */
uint32_t mfw_sahara_cmd_len(uint32_t cmd);

const char *mfw_sahara_cmd_name(uint32_t cmd);
/* Text for an END_OF_IMAGE status (reference table §2.3). */
const char *mfw_sahara_status_str(uint32_t status);

#endif
