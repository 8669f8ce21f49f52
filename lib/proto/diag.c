/* SPDX-License-Identifier: BSD-3-Clause */
#include "proto/diag.h"
#include "proto/hdlc.h"
#include "core/core.h"
#include "util/bytes.h"
#include <modemfw/error.h>

#include <string.h>

const char *mfw_diag_cmd_name(uint8_t cmd)
{
	switch (cmd) {
	case MFW_DIAG_VERNO: return "VERNO";
	case MFW_DIAG_ESN: return "ESN";
	case MFW_DIAG_STATUS: return "STATUS";
	case MFW_DIAG_LOG: return "LOG";
	case MFW_DIAG_BAD_CMD: return "BAD_CMD";
	case MFW_DIAG_BAD_PARM: return "BAD_PARM";
	case MFW_DIAG_BAD_LEN: return "BAD_LEN";
	case MFW_DIAG_BAD_DEV: return "BAD_DEV";
	case MFW_DIAG_BAD_MODE: return "BAD_MODE";
	case MFW_DIAG_DIAG_VER: return "DIAG_VER";
	case MFW_DIAG_MSG: return "MSG";
	case MFW_DIAG_NV_READ: return "NV_READ";
	case MFW_DIAG_NV_WRITE: return "NV_WRITE";
	case MFW_DIAG_CONTROL: return "CONTROL";
	case MFW_DIAG_SW_VERSION: return "SW_VERSION";
	case MFW_DIAG_DLOAD: return "DLOAD";
	case MFW_DIAG_SPC: return "SPC";
	case MFW_DIAG_BAD_SPC_MODE: return "BAD_SPC_MODE";
	case MFW_DIAG_PASSWORD: return "PASSWORD";
	case MFW_DIAG_BAD_SEC_MODE: return "BAD_SEC_MODE";
	case MFW_DIAG_SUBSYS: return "SUBSYS_CMD";
	case MFW_DIAG_EVENT: return "EVENT";
	case MFW_DIAG_EXT_MSG: return "EXT_MSG";
	case MFW_DIAG_LOOPBACK: return "PROTOCOL_LOOPBACK";
	case MFW_DIAG_EXT_BUILD_ID: return "EXT_BUILD_ID";
	case MFW_DIAG_TERSE_MSG: return "TERSE_MSG";
	case MFW_DIAG_QSR_MSG: return "QSR_MSG";
	case MFW_DIAG_SUBSYS_V2: return "SUBSYS_CMD_VER_2";
	case MFW_DIAG_BAD_TRANS: return "BAD_TRANS";
	default: return "UNKNOWN";
	}
}

const char *mfw_nv_status_name(uint16_t status)
{
	static const char *const names[] = {
		"done", "busy", "bad command", "memory full", "failed", "inactive (never written)",
		"bad parameter (no such item)", "read-only",
	};
	if (status < MFW_ARRAY_SIZE(names))
		return names[status];
	/* 8 and above: sources disagree on the names (reference §3); a generic failure */
	return "failed (unknown status)";
}

int mfw_nv_status_err(uint16_t status)
{
	switch (status) {
	case MFW_NV_DONE: return 0;
	case MFW_NV_BUSY: return MFW_E_BUSY;
	case MFW_NV_BADCMD: return MFW_E_UNSUPPORTED;
	case MFW_NV_FULL: return MFW_E_NOSPC;
	case MFW_NV_NOTACTIVE:
	case MFW_NV_BADPARM: return MFW_E_NOENT;
	case MFW_NV_READONLY: return MFW_E_NAK;
	default: return MFW_E_IO;
	}
}

bool mfw_diag_is_error_rsp(uint8_t cmd)
{
	switch (cmd) {
	case MFW_DIAG_BAD_CMD:
	case MFW_DIAG_BAD_PARM:
	case MFW_DIAG_BAD_LEN:
	case MFW_DIAG_BAD_DEV:
	case MFW_DIAG_BAD_MODE:
	case MFW_DIAG_BAD_SPC_MODE:
	case MFW_DIAG_BAD_SEC_MODE:
	case MFW_DIAG_BAD_TRANS:
		return true;
	default:
		return false;
	}
}

int mfw_diag_error_err(uint8_t cmd)
{
	switch (cmd) {
	case MFW_DIAG_BAD_CMD: return MFW_E_UNSUPPORTED;   /* firmware does not know it */
	case MFW_DIAG_BAD_PARM:
	case MFW_DIAG_BAD_LEN: return MFW_E_PROTO;         /* we built something it cannot take */
	case MFW_DIAG_BAD_SPC_MODE:
	case MFW_DIAG_BAD_SEC_MODE:
	case MFW_DIAG_BAD_MODE: return MFW_E_NAK;          /* locked: SPC, password or mode */
	default: return MFW_E_NAK;
	}
}

bool mfw_diag_is_unsolicited(uint8_t cmd)
{
	switch (cmd) {
	case MFW_DIAG_LOG:
	case MFW_DIAG_MSG:
	case MFW_DIAG_EXT_MSG:
	case MFW_DIAG_TERSE_MSG:
	case MFW_DIAG_QSR_MSG:
	case MFW_DIAG_EVENT:
		return true;
	default:
		return false;
	}
}

enum mfw_diag_match mfw_diag_match(const uint8_t *req, size_t req_len, const uint8_t *rsp,
				   size_t rsp_len)
{
	if (!req_len || !rsp_len)
		return MFW_DIAG_MATCH_NONE;
	if (rsp[0] == req[0]) {
		if (req[0] != MFW_DIAG_SUBSYS && req[0] != MFW_DIAG_SUBSYS_V2)
			return MFW_DIAG_MATCH_RSP;
		/* subsystem answers also carry subsystem id and command code */
		if (req_len >= 4 && rsp_len >= 4 && !memcmp(rsp + 1, req + 1, 3))
			return MFW_DIAG_MATCH_RSP;
		return MFW_DIAG_MATCH_NONE;
	}
	if (mfw_diag_is_error_rsp(rsp[0])) {
		/* error packets echo the request after their code (when they echo anything) */
		if (rsp_len == 1 || rsp[1] == req[0]) {
			if (rsp_len >= 3 && req_len >= 2 && req[0] == MFW_DIAG_SUBSYS && rsp[2] != req[1])
				return MFW_DIAG_MATCH_NONE;
			return MFW_DIAG_MATCH_ERROR;
		}
		return MFW_DIAG_MATCH_NONE;
	}
	if (mfw_diag_is_unsolicited(rsp[0]))
		return MFW_DIAG_MATCH_UNSOLICITED;
	return MFW_DIAG_MATCH_NONE;
}

/* ---- requests ---- */

int mfw_diag_build_verno(uint8_t *out, size_t cap)
{
	if (cap < 1)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_VERNO;
	return 1;
}

int mfw_diag_build_nv(uint8_t cmd, uint16_t item, const uint8_t *data, size_t len, uint8_t *out,
		      size_t cap)
{
	if ((cmd != MFW_DIAG_NV_READ && cmd != MFW_DIAG_NV_WRITE) || len > MFW_NV_DATA_LEN)
		return MFW_E_INVAL;
	if (cap < MFW_DIAG_NV_PKT_LEN)
		return MFW_E_RANGE;
	memset(out, 0, MFW_DIAG_NV_PKT_LEN);
	out[0] = cmd;
	mfw_put_le16(out + 1, item);
	if (data && len)
		memcpy(out + 3, data, len);
	return (int)MFW_DIAG_NV_PKT_LEN;
}

int mfw_diag_build_nv_ext(uint8_t op, uint16_t item, uint16_t index, const uint8_t *data,
			  size_t len, uint8_t *out, size_t cap)
{
	if ((op != MFW_DIAG_NV_EXT_READ && op != MFW_DIAG_NV_EXT_WRITE) || len > MFW_NV_DATA_LEN)
		return MFW_E_INVAL;
	if (cap < MFW_DIAG_NV_EXT_PKT_LEN)
		return MFW_E_RANGE;
	memset(out, 0, MFW_DIAG_NV_EXT_PKT_LEN);
	out[0] = MFW_DIAG_SUBSYS;
	out[1] = MFW_DIAG_SS_NV;
	mfw_put_le16(out + 2, op);
	mfw_put_le16(out + 4, item);
	mfw_put_le16(out + 6, index);
	if (data && len)
		memcpy(out + 8, data, len);
	return (int)MFW_DIAG_NV_EXT_PKT_LEN;
}

int mfw_diag_build_spc(const char *code, uint8_t *out, size_t cap)
{
	if (!code || strlen(code) != MFW_DIAG_SPC_LEN)
		return MFW_E_INVAL;
	for (size_t i = 0; i < MFW_DIAG_SPC_LEN; i++)
		if (code[i] < '0' || code[i] > '9')
			return MFW_E_INVAL;
	if (cap < 1 + MFW_DIAG_SPC_LEN)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_SPC;
	memcpy(out + 1, code, MFW_DIAG_SPC_LEN);
	return 1 + (int)MFW_DIAG_SPC_LEN;
}

int mfw_diag_build_password(const uint8_t pw[MFW_DIAG_PASSWORD_LEN], uint8_t *out, size_t cap)
{
	if (cap < 1 + MFW_DIAG_PASSWORD_LEN)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_PASSWORD;
	memcpy(out + 1, pw, MFW_DIAG_PASSWORD_LEN);
	return 1 + (int)MFW_DIAG_PASSWORD_LEN;
}

int mfw_diag_build_control(uint16_t mode, uint8_t *out, size_t cap)
{
	if (mode > MFW_DIAG_MODE_POWER_OFF)
		return MFW_E_INVAL;
	if (cap < 3)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_CONTROL;
	mfw_put_le16(out + 1, mode);
	return 3;
}

int mfw_diag_build_edl(uint8_t *out, size_t cap)
{
	if (cap < 4)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_SUBSYS;
	out[1] = MFW_DIAG_SS_SYSOPS;
	mfw_put_le16(out + 2, MFW_DIAG_SYSOPS_EDL);
	return 4;
}

/* ---- responses ---- */

/* Fixed-width device string: stop at NUL, printable ASCII only, trailing blanks trimmed. */
static void copy_str(char *dst, size_t dcap, const uint8_t *src, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < dcap && src[i]; i++)
		dst[k++] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	while (k && dst[k - 1] == ' ')
		k--;
	dst[k] = 0;
}

int mfw_diag_parse_verno(const uint8_t *rsp, size_t len, struct mfw_diag_version *out)
{
	/* field widths in wire order; strings first, then the small numbers */
	static const uint8_t width[] = { 11, 8, 11, 8, 8, 1, 1, 1, 2, 1, 1, 1 };
	size_t pos = 1;

	memset(out, 0, sizeof(*out));
	if (len < 1 || rsp[0] != MFW_DIAG_VERNO)
		return MFW_E_PROTO;
	for (size_t f = 0; f < MFW_ARRAY_SIZE(width); f++) {
		const uint8_t *p = rsp + pos;

		/* some firmware answers with fewer fields: keep what came */
		if (len - pos < width[f])
			break;
		switch (f) {
		case 0: copy_str(out->comp_date, sizeof(out->comp_date), p, 11); break;
		case 1: copy_str(out->comp_time, sizeof(out->comp_time), p, 8); break;
		case 2: copy_str(out->rel_date, sizeof(out->rel_date), p, 11); break;
		case 3: copy_str(out->rel_time, sizeof(out->rel_time), p, 8); break;
		case 4: copy_str(out->ver_dir, sizeof(out->ver_dir), p, 8); break;
		case 5: out->scm = p[0]; break;
		case 6: out->cai_rev = p[0]; break;
		case 7: out->model = p[0]; break;
		case 8: out->firm_rev = mfw_get_le16(p); break;
		case 9: out->slot_cycle = p[0]; break;
		case 10: out->hw_major = p[0]; break;
		case 11: out->hw_minor = p[0]; break;
		}
		pos += width[f];
		out->fields++;
	}
	return 0;
}

int mfw_diag_parse_nv(uint8_t cmd, const uint8_t *rsp, size_t len, struct mfw_nv_record *rec)
{
	if (len < MFW_DIAG_NV_PKT_LEN || rsp[0] != cmd ||
	    (cmd != MFW_DIAG_NV_READ && cmd != MFW_DIAG_NV_WRITE))
		return MFW_E_PROTO;
	memset(rec, 0, sizeof(*rec));
	rec->item = mfw_get_le16(rsp + 1);
	memcpy(rec->data, rsp + 3, MFW_NV_DATA_LEN);
	rec->status = mfw_get_le16(rsp + 3 + MFW_NV_DATA_LEN);
	return 0;
}

int mfw_diag_parse_nv_ext(uint8_t op, const uint8_t *rsp, size_t len, struct mfw_nv_record *rec)
{
	if (len < MFW_DIAG_NV_EXT_PKT_LEN || rsp[0] != MFW_DIAG_SUBSYS || rsp[1] != MFW_DIAG_SS_NV ||
	    mfw_get_le16(rsp + 2) != op)
		return MFW_E_PROTO;
	memset(rec, 0, sizeof(*rec));
	rec->item = mfw_get_le16(rsp + 4);
	rec->index = mfw_get_le16(rsp + 6);
	memcpy(rec->data, rsp + 8, MFW_NV_DATA_LEN);
	rec->status = mfw_get_le16(rsp + 8 + MFW_NV_DATA_LEN);
	return 0;
}

int mfw_diag_parse_ack(uint8_t cmd, const uint8_t *rsp, size_t len)
{
	if (len < 2 || rsp[0] != cmd || rsp[1] > 1)
		return MFW_E_PROTO;
	return rsp[1];
}

/* ---- IMEI (NV 550, reference §3.1) ---- */

/* Placeholders factories and broken restores leave behind. */
static const char *const imei_placeholders[] = {
	"000000000000000",
	"004999010640000",
};

static bool luhn_ok(const char *d)
{
	unsigned sum = 0;
	for (int i = 0; i < MFW_IMEI_DIGITS; i++) {
		unsigned v = (unsigned)(d[MFW_IMEI_DIGITS - 1 - i] - '0');
		if (i & 1) {
			v *= 2;
			if (v > 9)
				v -= 9;
		}
		sum += v;
	}
	return sum % 10 == 0;
}

int mfw_imei_check(const char *imei, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (!imei || strlen(imei) != MFW_IMEI_DIGITS) {
		*why = "not 15 digits";
		return MFW_E_FORMAT;
	}
	for (int i = 0; i < MFW_IMEI_DIGITS; i++) {
		if (imei[i] < '0' || imei[i] > '9') {
			*why = "not 15 digits";
			return MFW_E_FORMAT;
		}
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(imei_placeholders); i++) {
		if (!strcmp(imei, imei_placeholders[i])) {
			*why = "a known placeholder, not a real IMEI";
			return MFW_E_FORMAT;
		}
	}
	if (!luhn_ok(imei)) {
		*why = "Luhn check digit wrong";
		return MFW_E_FORMAT;
	}
	return 0;
}

int mfw_imei_encode(const char *imei, uint8_t data[MFW_NV_DATA_LEN])
{
	if (!imei || strlen(imei) != MFW_IMEI_DIGITS)
		return MFW_E_INVAL;
	for (int i = 0; i < MFW_IMEI_DIGITS; i++)
		if (imei[i] < '0' || imei[i] > '9')
			return MFW_E_INVAL;
	memset(data, 0, MFW_NV_DATA_LEN);
	data[0] = 0x08;
	/* first digit in the high nibble beside the "IMEI, odd" type nibble 0xA */
	data[1] = (uint8_t)((imei[0] - '0') << 4 | 0x0A);
	for (int i = 0; i < 7; i++) {
		uint8_t lo = (uint8_t)(imei[1 + 2 * i] - '0');
		uint8_t hi = (uint8_t)(imei[2 + 2 * i] - '0');
		data[2 + i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int mfw_imei_decode(const uint8_t *data, size_t len, char imei[MFW_IMEI_DIGITS + 1])
{
	imei[0] = 0;
	if (len < 9 || data[0] != 0x08 || (data[1] & 0x0F) != 0x0A)
		return MFW_E_FORMAT;
	if ((data[1] >> 4) > 9)
		return MFW_E_FORMAT;
	imei[0] = (char)('0' + (data[1] >> 4));
	for (int i = 0; i < 7; i++) {
		uint8_t lo = data[2 + i] & 0x0F, hi = data[2 + i] >> 4;
		if (lo > 9 || hi > 9) {
			imei[0] = 0;
			return MFW_E_FORMAT;
		}
		imei[1 + 2 * i] = (char)('0' + lo);
		imei[2 + 2 * i] = (char)('0' + hi);
	}
	imei[MFW_IMEI_DIGITS] = 0;
	return 0;
}

/* ---- EFS2 ---- */

const char *mfw_efs_cmd_name(uint16_t cmd)
{
	static const char *const names[] = {
		"HELLO", "QUERY", "OPEN", "CLOSE", "READ", "WRITE", "SYMLINK", "READLINK",
		"UNLINK", "MKDIR", "RMDIR", "OPENDIR", "READDIR", "CLOSEDIR", "RENAME", "STAT",
	};
	if (cmd < MFW_ARRAY_SIZE(names))
		return names[cmd];
	return "UNKNOWN";
}

const char *mfw_efs_errno_name(int32_t err)
{
	static const char *const fs_diag[] = {
		"FS_DIAG_INCONSISTENT_STATE", "FS_DIAG_INVALID_SEQ_NO", "FS_DIAG_DIR_NOT_OPEN",
		"FS_DIAG_DIRENT_NOT_FOUND", "FS_DIAG_INVALID_PATH", "FS_DIAG_PATH_TOO_LONG",
		"FS_DIAG_TOO_MANY_OPEN_DIRS", "FS_DIAG_INVALID_DIR_ENTRY", "FS_DIAG_TOO_MANY_OPEN_FILES",
		"FS_DIAG_UNKNOWN_FILETYPE", "FS_DIAG_NOT_NAND_FLASH", "FS_DIAG_UNAVAILABLE_INFO",
	};
	switch (err) {
	case 0: return "OK";
	case 1: return "EPERM";
	case 2: return "ENOENT";
	case 5: return "EIO";
	case 9: return "EBADF";
	case 12: return "ENOMEM";
	case 13: return "EACCES";
	case 17: return "EEXIST";
	case 20: return "ENOTDIR";
	case 21: return "EISDIR";
	case 22: return "EINVAL";
	case 24: return "EMFILE";
	case 28: return "ENOSPC";
	case 36: return "ENAMETOOLONG";
	case 39: return "ENOTEMPTY";
	default: break;
	}
	if (err >= 0x40000001 && err <= 0x4000000C)
		return fs_diag[err - 0x40000001];
	return "errno";
}

int mfw_efs_errno_err(int32_t err)
{
	switch (err) {
	case 0: return 0;
	case 2: return MFW_E_NOENT;
	case 17: return MFW_E_EXIST;
	case 28: return MFW_E_NOSPC;
	case 12: return MFW_E_NOMEM;
	case 1:
	case 13: return MFW_E_NAK;
	case 0x40000004: return MFW_E_NOENT; /* dirent not found */
	default: return MFW_E_IO;
	}
}

static int efs_header(uint8_t ss, uint16_t cmd, size_t body, uint8_t *out, size_t cap)
{
	if (ss != MFW_DIAG_SS_FS && ss != MFW_DIAG_SS_FS_ALT)
		return MFW_E_INVAL;
	if (body > MFW_HDLC_MAX_REQUEST - MFW_EFS_HDR_LEN || cap < MFW_EFS_HDR_LEN + body)
		return MFW_E_RANGE;
	out[0] = MFW_DIAG_SUBSYS;
	out[1] = ss;
	mfw_put_le16(out + 2, cmd);
	return 0;
}

/* path length with its NUL; 0 when empty or too long */
static size_t path_size(const char *path)
{
	size_t n = path ? strnlen(path, MFW_EFS_PATH_MAX) : 0;
	return (n == 0 || n >= MFW_EFS_PATH_MAX) ? 0 : n + 1;
}

int mfw_efs_build_hello(uint8_t ss, uint8_t *out, size_t cap)
{
	static const uint32_t v[] = {
		MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW,
		MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW, MFW_EFS_HELLO_WINDOW,
		MFW_EFS_HELLO_VERSION, MFW_EFS_HELLO_VERSION, MFW_EFS_HELLO_VERSION,
		MFW_EFS_HELLO_FEATURES,
	};
	int r = efs_header(ss, MFW_EFS_HELLO, sizeof(v), out, cap);
	if (r < 0)
		return r;
	for (size_t i = 0; i < MFW_ARRAY_SIZE(v); i++)
		mfw_put_le32(out + MFW_EFS_HDR_LEN + 4 * i, v[i]);
	return (int)(MFW_EFS_HDR_LEN + sizeof(v));
}

int mfw_efs_build_open(uint8_t ss, const char *path, int32_t oflag, int32_t mode, uint8_t *out,
		       size_t cap)
{
	size_t pl = path_size(path);
	int r;
	if (!pl)
		return MFW_E_INVAL;
	r = efs_header(ss, MFW_EFS_OPEN, 8 + pl, out, cap);
	if (r < 0)
		return r;
	mfw_put_le32(out + 4, (uint32_t)oflag);
	mfw_put_le32(out + 8, (uint32_t)mode);
	memcpy(out + 12, path, pl);
	return (int)(12 + pl);
}

int mfw_efs_build_read(uint8_t ss, int32_t fd, uint32_t nbytes, uint32_t offset, uint8_t *out,
		       size_t cap)
{
	int r = efs_header(ss, MFW_EFS_READ, 12, out, cap);
	if (r < 0)
		return r;
	mfw_put_le32(out + 4, (uint32_t)fd);
	mfw_put_le32(out + 8, nbytes);
	mfw_put_le32(out + 12, offset);
	return 16;
}

int mfw_efs_build_write(uint8_t ss, int32_t fd, uint32_t offset, const void *data, size_t len,
			uint8_t *out, size_t cap)
{
	int r = efs_header(ss, MFW_EFS_WRITE, 8 + len, out, cap);
	if (r < 0)
		return r;
	mfw_put_le32(out + 4, (uint32_t)fd);
	mfw_put_le32(out + 8, offset);
	if (len)
		memcpy(out + 12, data, len);
	return (int)(12 + len);
}

int mfw_efs_build_handle(uint8_t ss, uint16_t cmd, uint32_t handle, uint8_t *out, size_t cap)
{
	int r;
	if (cmd != MFW_EFS_CLOSE && cmd != MFW_EFS_CLOSEDIR)
		return MFW_E_INVAL;
	r = efs_header(ss, cmd, 4, out, cap);
	if (r < 0)
		return r;
	mfw_put_le32(out + 4, handle);
	return 8;
}

int mfw_efs_build_path(uint8_t ss, uint16_t cmd, const char *path, uint8_t *out, size_t cap)
{
	size_t pl = path_size(path);
	int r;
	if (!pl || (cmd != MFW_EFS_STAT && cmd != MFW_EFS_OPENDIR && cmd != MFW_EFS_UNLINK &&
		    cmd != MFW_EFS_RMDIR))
		return MFW_E_INVAL;
	r = efs_header(ss, cmd, pl, out, cap);
	if (r < 0)
		return r;
	memcpy(out + 4, path, pl);
	return (int)(4 + pl);
}

int mfw_efs_build_mkdir(uint8_t ss, uint16_t mode, const char *path, uint8_t *out, size_t cap)
{
	size_t pl = path_size(path);
	int r;
	if (!pl)
		return MFW_E_INVAL;
	r = efs_header(ss, MFW_EFS_MKDIR, 2 + pl, out, cap);
	if (r < 0)
		return r;
	mfw_put_le16(out + 4, mode);
	memcpy(out + 6, path, pl);
	return (int)(6 + pl);
}

int mfw_efs_build_readdir(uint8_t ss, uint32_t dirp, int32_t seq, uint8_t *out, size_t cap)
{
	int r = efs_header(ss, MFW_EFS_READDIR, 8, out, cap);
	if (r < 0)
		return r;
	mfw_put_le32(out + 4, dirp);
	mfw_put_le32(out + 8, (uint32_t)seq);
	return 12;
}

static int32_t get_i32(const uint8_t *p)
{
	return (int32_t)mfw_get_le32(p);
}

int mfw_efs_parse(uint8_t ss, uint16_t cmd, const uint8_t *rsp, size_t len,
		  struct mfw_efs_rsp *out)
{
	const uint8_t *b = rsp + MFW_EFS_HDR_LEN;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (len < MFW_EFS_HDR_LEN || rsp[0] != MFW_DIAG_SUBSYS || rsp[1] != ss ||
	    mfw_get_le16(rsp + 2) != cmd)
		return MFW_E_PROTO;
	n = len - MFW_EFS_HDR_LEN;
	out->cmd = cmd;
	switch (cmd) {
	case MFW_EFS_HELLO: {
		uint32_t v[10];
		if (n < sizeof(v))
			return MFW_E_PROTO;
		for (size_t i = 0; i < MFW_ARRAY_SIZE(v); i++)
			v[i] = mfw_get_le32(b + 4 * i);
		out->u.hello = (struct mfw_efs_hello){ v[0], v[1], v[2], v[3], v[4], v[5],
						       v[6], v[7], v[8], v[9] };
		return 0;
	}
	case MFW_EFS_OPEN:
		if (n < 8)
			return MFW_E_PROTO;
		out->u.open.fd = get_i32(b);
		out->err = get_i32(b + 4);
		return 0;
	case MFW_EFS_READ:
		if (n < 16)
			return MFW_E_PROTO;
		out->u.read.fd = get_i32(b);
		out->u.read.offset = mfw_get_le32(b + 4);
		out->u.read.bytes = get_i32(b + 8);
		out->err = get_i32(b + 12);
		if (out->err)
			out->u.read.bytes = 0;
		/* a count beyond what came (or negative) is a lie: refuse rather than read past */
		if (out->u.read.bytes < 0 || (size_t)out->u.read.bytes > n - 16)
			return MFW_E_PROTO;
		out->u.read.data = b + 16;
		return 0;
	case MFW_EFS_WRITE:
		if (n < 16)
			return MFW_E_PROTO;
		out->u.write.fd = get_i32(b);
		out->u.write.offset = mfw_get_le32(b + 4);
		out->u.write.bytes = get_i32(b + 8);
		out->err = get_i32(b + 12);
		return 0;
	case MFW_EFS_CLOSE:
	case MFW_EFS_CLOSEDIR:
	case MFW_EFS_MKDIR:
	case MFW_EFS_UNLINK:
	case MFW_EFS_RMDIR:
		if (n < 4)
			return MFW_E_PROTO;
		out->err = get_i32(b);
		return 0;
	case MFW_EFS_STAT:
		if (n < 28)
			return MFW_E_PROTO;
		out->err = get_i32(b);
		out->u.stat.mode = mfw_get_le32(b + 4);
		out->u.stat.size = mfw_get_le32(b + 8);
		out->u.stat.nlink = mfw_get_le32(b + 12);
		out->u.stat.atime = mfw_get_le32(b + 16);
		out->u.stat.mtime = mfw_get_le32(b + 20);
		out->u.stat.ctime = mfw_get_le32(b + 24);
		return 0;
	case MFW_EFS_OPENDIR:
		if (n < 8)
			return MFW_E_PROTO;
		out->u.opendir.dirp = mfw_get_le32(b);
		out->err = get_i32(b + 4);
		return 0;
	case MFW_EFS_READDIR: {
		struct mfw_efs_dirent *e = &out->u.readdir.ent;
		size_t k = 0;
		if (n < 36)
			return MFW_E_PROTO;
		out->u.readdir.dirp = mfw_get_le32(b);
		out->u.readdir.seq = get_i32(b + 4);
		out->err = get_i32(b + 8);
		e->type = get_i32(b + 12);
		e->mode = mfw_get_le32(b + 16);
		e->size = mfw_get_le32(b + 20);
		e->atime = mfw_get_le32(b + 24);
		e->mtime = mfw_get_le32(b + 28);
		e->ctime = mfw_get_le32(b + 32);
		/* the name ends at its NUL or at the end of the packet; longer names are refused */
		for (size_t i = 36; i < n && b[i]; i++) {
			if (k + 1 >= sizeof(e->name))
				return MFW_E_PROTO;
			e->name[k++] = (char)b[i];
		}
		e->name[k] = 0;
		return 0;
	}
	default:
		return MFW_E_INVAL;
	}
}
