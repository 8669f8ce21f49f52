/* SPDX-License-Identifier: BSD-3-Clause */
#include "proto/sahara.h"
#include "util/bytes.h"
#include <modemfw/error.h>

#include <string.h>

uint32_t mfw_sahara_cmd_len(uint32_t cmd)
{
	switch (cmd) {
	case MFW_SAHARA_HELLO:
	case MFW_SAHARA_HELLO_RESP:
		return 0x30;
	case MFW_SAHARA_READ_DATA:
		return 0x14;
	case MFW_SAHARA_END_OF_IMAGE:
		return 0x10;
	case MFW_SAHARA_DONE:
	case MFW_SAHARA_RESET:
	case MFW_SAHARA_RESET_RESP:
	case MFW_SAHARA_CMD_READY:
	case MFW_SAHARA_RESET_STATE_MACHINE:
		return 0x08;
	case MFW_SAHARA_DONE_RESP:
	case MFW_SAHARA_SWITCH_MODE:
	case MFW_SAHARA_EXECUTE:
	case MFW_SAHARA_EXECUTE_DATA:
		return 0x0C;
	case MFW_SAHARA_MEMORY_DEBUG:
	case MFW_SAHARA_MEMORY_READ:
	case MFW_SAHARA_EXECUTE_RESP:
		return 0x10;
	case MFW_SAHARA_MEMORY_DEBUG_64:
	case MFW_SAHARA_MEMORY_READ_64:
		return 0x18;
	case MFW_SAHARA_READ_DATA_64:
		return 0x20;
	default:
		return 0;
	}
}

const char *mfw_sahara_cmd_name(uint32_t cmd)
{
	static const char *const names[] = {
		[MFW_SAHARA_HELLO] = "HELLO",
		[MFW_SAHARA_HELLO_RESP] = "HELLO_RESP",
		[MFW_SAHARA_READ_DATA] = "READ_DATA",
		[MFW_SAHARA_END_OF_IMAGE] = "END_OF_IMAGE",
		[MFW_SAHARA_DONE] = "DONE",
		[MFW_SAHARA_DONE_RESP] = "DONE_RESP",
		[MFW_SAHARA_RESET] = "RESET",
		[MFW_SAHARA_RESET_RESP] = "RESET_RESP",
		[MFW_SAHARA_MEMORY_DEBUG] = "MEMORY_DEBUG",
		[MFW_SAHARA_MEMORY_READ] = "MEMORY_READ",
		[MFW_SAHARA_CMD_READY] = "CMD_READY",
		[MFW_SAHARA_SWITCH_MODE] = "SWITCH_MODE",
		[MFW_SAHARA_EXECUTE] = "EXECUTE",
		[MFW_SAHARA_EXECUTE_RESP] = "EXECUTE_RESP",
		[MFW_SAHARA_EXECUTE_DATA] = "EXECUTE_DATA",
		[MFW_SAHARA_MEMORY_DEBUG_64] = "MEMORY_DEBUG_64",
		[MFW_SAHARA_MEMORY_READ_64] = "MEMORY_READ_64",
		[MFW_SAHARA_READ_DATA_64] = "READ_DATA_64",
		[MFW_SAHARA_RESET_STATE_MACHINE] = "RESET_STATE_MACHINE",
	};
	if (cmd < sizeof(names) / sizeof(names[0]) && names[cmd])
		return names[cmd];
	return "UNKNOWN";
}

const char *mfw_sahara_status_str(uint32_t status)
{
	static const char *const text[] = {
		"success", "invalid command", "protocol mismatch", "invalid target protocol",
		"invalid host protocol", "invalid packet size", "unexpected image id",
		"invalid header size", "invalid data size", "invalid image type",
		"invalid tx length", "invalid rx length", "tx/rx error", "read data error",
		"unsupported number of program headers", "invalid program header size",
		"multiple shared segments", "uninitialised program header location",
		"invalid destination address", "invalid image header data size",
		"invalid elf header", "unknown host error", "rx timeout", "tx timeout",
		"invalid host mode", "invalid memory read", "invalid data size request",
		"memory debug not supported", "invalid mode switch", "exec failure",
		"exec invalid parameter", "exec command unsupported",
		"exec data: invalid client command", "hash table authentication failure",
		"hash verification failure", "hash table not found", "target init failure",
		"image authentication failure", "invalid image hash table size",
		"enumeration failure", "hw bulk transfer error",
	};
	if (status < sizeof(text) / sizeof(text[0]))
		return text[status];
	return "unknown status";
}

int mfw_sahara_parse(const uint8_t *buf, size_t len, struct mfw_sahara_pkt *out)
{
	uint32_t cmd, plen, want;
	const uint8_t *b = buf + MFW_SAHARA_HEADER_LEN;

	if (len < MFW_SAHARA_HEADER_LEN)
		return 0;
	cmd = mfw_get_le32(buf);
	plen = mfw_get_le32(buf + 4);
	want = mfw_sahara_cmd_len(cmd);
	if (!want)
		return MFW_E_PROTO;
	/*
	 * Devices may pad packets (HELLO is sometimes longer on v3), but a
	 * packet shorter than its fields, or absurdly long, is a protocol error.
	 */
	if (plen < want || plen > 0x1000)
		return MFW_E_PROTO;
	if (len < plen)
		return 0;

	memset(out, 0, sizeof(*out));
	out->cmd = cmd;
	out->len = plen;
	switch (cmd) {
	case MFW_SAHARA_HELLO:
	case MFW_SAHARA_HELLO_RESP:
		out->u.hello.version = mfw_get_le32(b);
		out->u.hello.version_compat = mfw_get_le32(b + 4);
		out->u.hello.max_len_or_status = mfw_get_le32(b + 8);
		out->u.hello.mode = mfw_get_le32(b + 12);
		break;
	case MFW_SAHARA_READ_DATA:
		out->u.read.image_id = mfw_get_le32(b);
		out->u.read.offset = mfw_get_le32(b + 4);
		out->u.read.length = mfw_get_le32(b + 8);
		break;
	case MFW_SAHARA_READ_DATA_64:
		out->u.read.image_id = mfw_get_le64(b);
		out->u.read.offset = mfw_get_le64(b + 8);
		out->u.read.length = mfw_get_le64(b + 16);
		break;
	case MFW_SAHARA_END_OF_IMAGE:
		out->u.eoi.image_id = mfw_get_le32(b);
		out->u.eoi.status = mfw_get_le32(b + 4);
		break;
	case MFW_SAHARA_DONE_RESP:
		out->u.done_resp.status = mfw_get_le32(b);
		break;
	case MFW_SAHARA_SWITCH_MODE:
		out->u.switch_mode.mode = mfw_get_le32(b);
		break;
	case MFW_SAHARA_EXECUTE:
	case MFW_SAHARA_EXECUTE_DATA:
		out->u.exec.client_cmd = mfw_get_le32(b);
		break;
	case MFW_SAHARA_EXECUTE_RESP:
		out->u.exec_resp.client_cmd = mfw_get_le32(b);
		out->u.exec_resp.data_len = mfw_get_le32(b + 4);
		break;
	case MFW_SAHARA_MEMORY_DEBUG:
	case MFW_SAHARA_MEMORY_READ:
		out->u.mem.addr = mfw_get_le32(b);
		out->u.mem.len = mfw_get_le32(b + 4);
		break;
	case MFW_SAHARA_MEMORY_DEBUG_64:
	case MFW_SAHARA_MEMORY_READ_64:
		out->u.mem.addr = mfw_get_le64(b);
		out->u.mem.len = mfw_get_le64(b + 8);
		break;
	default: /* header-only packets */
		break;
	}
	return (int)plen;
}

int mfw_sahara_build(const struct mfw_sahara_pkt *p, uint8_t *buf, size_t cap)
{
	uint32_t len = mfw_sahara_cmd_len(p->cmd);
	uint8_t *b = buf + MFW_SAHARA_HEADER_LEN;

	if (!len || cap < len)
		return MFW_E_INVAL;
	memset(buf, 0, len);
	mfw_put_le32(buf, p->cmd);
	mfw_put_le32(buf + 4, len);
	switch (p->cmd) {
	case MFW_SAHARA_HELLO:
	case MFW_SAHARA_HELLO_RESP:
		mfw_put_le32(b, p->u.hello.version);
		mfw_put_le32(b + 4, p->u.hello.version_compat);
		mfw_put_le32(b + 8, p->u.hello.max_len_or_status);
		mfw_put_le32(b + 12, p->u.hello.mode);
		break;
	case MFW_SAHARA_READ_DATA:
		if (p->u.read.image_id > UINT32_MAX || p->u.read.offset > UINT32_MAX ||
		    p->u.read.length > UINT32_MAX)
			return MFW_E_INVAL;
		mfw_put_le32(b, (uint32_t)p->u.read.image_id);
		mfw_put_le32(b + 4, (uint32_t)p->u.read.offset);
		mfw_put_le32(b + 8, (uint32_t)p->u.read.length);
		break;
	case MFW_SAHARA_READ_DATA_64:
		mfw_put_le64(b, p->u.read.image_id);
		mfw_put_le64(b + 8, p->u.read.offset);
		mfw_put_le64(b + 16, p->u.read.length);
		break;
	case MFW_SAHARA_END_OF_IMAGE:
		mfw_put_le32(b, p->u.eoi.image_id);
		mfw_put_le32(b + 4, p->u.eoi.status);
		break;
	case MFW_SAHARA_DONE_RESP:
		mfw_put_le32(b, p->u.done_resp.status);
		break;
	case MFW_SAHARA_SWITCH_MODE:
		mfw_put_le32(b, p->u.switch_mode.mode);
		break;
	case MFW_SAHARA_EXECUTE:
	case MFW_SAHARA_EXECUTE_DATA:
		mfw_put_le32(b, p->u.exec.client_cmd);
		break;
	case MFW_SAHARA_EXECUTE_RESP:
		mfw_put_le32(b, p->u.exec_resp.client_cmd);
		mfw_put_le32(b + 4, p->u.exec_resp.data_len);
		break;
	case MFW_SAHARA_MEMORY_DEBUG:
	case MFW_SAHARA_MEMORY_READ:
		if (p->u.mem.addr > UINT32_MAX || p->u.mem.len > UINT32_MAX)
			return MFW_E_INVAL;
		mfw_put_le32(b, (uint32_t)p->u.mem.addr);
		mfw_put_le32(b + 4, (uint32_t)p->u.mem.len);
		break;
	case MFW_SAHARA_MEMORY_DEBUG_64:
	case MFW_SAHARA_MEMORY_READ_64:
		mfw_put_le64(b, p->u.mem.addr);
		mfw_put_le64(b + 8, p->u.mem.len);
		break;
	default:
		break;
	}
	return (int)len;
}
