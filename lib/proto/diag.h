/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_PROTO_DIAG_H
#define MFW_PROTO_DIAG_H

/*
 * DIAG (QCDM) message codec: request builders and response parsers for
 * version, NV items, SPC/password, mode control, switch to EDL and the
 * EFS2 subsystem. Pure: bytes in, structs out, no I/O. Framing is
 * proto/hdlc.h; the session that sends and waits is qcom/diag.h.
 * Layouts: reference/diag.md §2-4, docs/diag.md.
 *
 * Builders return the length written or MFW_E_RANGE (cap too small) /
 * MFW_E_INVAL (bad argument). Parsers return 0 or MFW_E_PROTO (the packet
 * is not the answer it claims to be, or is too short).
 */
#include <modemfw/diag.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mfw_diag_cmd {
	MFW_DIAG_VERNO = 0x00,
	MFW_DIAG_ESN = 0x01,
	MFW_DIAG_STATUS = 0x0C,
	MFW_DIAG_LOG = 0x10,
	MFW_DIAG_BAD_CMD = 0x13,
	MFW_DIAG_BAD_PARM = 0x14,
	MFW_DIAG_BAD_LEN = 0x15,
	MFW_DIAG_BAD_DEV = 0x16,
	MFW_DIAG_BAD_MODE = 0x18,
	MFW_DIAG_DIAG_VER = 0x1C,
	MFW_DIAG_MSG = 0x1F,
	MFW_DIAG_NV_READ = 0x26,
	MFW_DIAG_NV_WRITE = 0x27,
	MFW_DIAG_CONTROL = 0x29,
	MFW_DIAG_SW_VERSION = 0x38,
	MFW_DIAG_DLOAD = 0x3A,
	MFW_DIAG_SPC = 0x41,
	MFW_DIAG_BAD_SPC_MODE = 0x42,
	MFW_DIAG_PASSWORD = 0x46,
	MFW_DIAG_BAD_SEC_MODE = 0x47,
	MFW_DIAG_SUBSYS = 0x4B,
	MFW_DIAG_EVENT = 0x60,
	MFW_DIAG_EXT_MSG = 0x79,
	MFW_DIAG_LOOPBACK = 0x7B,
	MFW_DIAG_EXT_BUILD_ID = 0x7C,
	MFW_DIAG_TERSE_MSG = 0x7D,
	MFW_DIAG_QSR_MSG = 0x7E,
	MFW_DIAG_SUBSYS_V2 = 0x80,
	MFW_DIAG_BAD_TRANS = 0x95,
};

enum mfw_diag_subsys {
	MFW_DIAG_SS_FS = 0x13,
	MFW_DIAG_SS_NV = 0x30,
	MFW_DIAG_SS_FS_ALT = 0x3E,
	MFW_DIAG_SS_SYSOPS = 0x65,
};

#define MFW_DIAG_NV_PKT_LEN 133u       /* cmd, u16 item, data[128], u16 status */
#define MFW_DIAG_NV_EXT_PKT_LEN 138u   /* 4B 30 cc 00, u16 item, u16 index, data[128], u16 status */
#define MFW_DIAG_NV_EXT_READ 1u
#define MFW_DIAG_NV_EXT_WRITE 2u
#define MFW_DIAG_SYSOPS_EDL 1u          /* 4B 65 01 00 */
#define MFW_DIAG_SPC_LEN 6u
#define MFW_DIAG_PASSWORD_LEN 8u
#define MFW_DIAG_VERNO_LEN 55u         /* full answer; shorter ones are decoded as far as they go */

const char *mfw_diag_cmd_name(uint8_t cmd);
/* "inactive" etc.; "unknown" beyond the table. */
const char *mfw_nv_status_name(uint16_t status);
/* Library error for an NV status (0 for DONE). */
int mfw_nv_status_err(uint16_t status);

/* Error responses (0x13 0x14 0x15 0x16 0x18 0x42 0x47 0x95): is this one, and what it maps to. */
bool mfw_diag_is_error_rsp(uint8_t cmd);
int mfw_diag_error_err(uint8_t cmd);
/* Log, message and event packets another client's masks produce: a session skips them. */
bool mfw_diag_is_unsolicited(uint8_t cmd);

enum mfw_diag_match {
	MFW_DIAG_MATCH_NONE = 0,      /* some other packet: skip it */
	MFW_DIAG_MATCH_RSP,           /* the answer to req */
	MFW_DIAG_MATCH_ERROR,         /* an error packet refusing req */
	MFW_DIAG_MATCH_UNSOLICITED,   /* log/message/event: skip it */
};
/*
 * Does rsp answer req? First byte equal; for subsystem commands also the
 * subsystem id and command code. An error packet counts when it is empty
 * after its code or echoes req's first byte.
 */
enum mfw_diag_match mfw_diag_match(const uint8_t *req, size_t req_len, const uint8_t *rsp,
				   size_t rsp_len);

/* ---- requests ---- */
int mfw_diag_build_verno(uint8_t *out, size_t cap);
/* cmd MFW_DIAG_NV_READ or MFW_DIAG_NV_WRITE; data may be NULL (zeros), len <= 128. */
int mfw_diag_build_nv(uint8_t cmd, uint16_t item, const uint8_t *data, size_t len, uint8_t *out,
		      size_t cap);
/* op MFW_DIAG_NV_EXT_READ / _WRITE. */
int mfw_diag_build_nv_ext(uint8_t op, uint16_t item, uint16_t index, const uint8_t *data,
			  size_t len, uint8_t *out, size_t cap);
int mfw_diag_build_spc(const char *code, uint8_t *out, size_t cap);
int mfw_diag_build_password(const uint8_t pw[MFW_DIAG_PASSWORD_LEN], uint8_t *out, size_t cap);
int mfw_diag_build_control(uint16_t mode, uint8_t *out, size_t cap);
int mfw_diag_build_edl(uint8_t *out, size_t cap);

/* ---- responses ---- */
int mfw_diag_parse_verno(const uint8_t *rsp, size_t len, struct mfw_diag_version *out);
/* Plain NV answer (0x26/0x27): rec->index = 0. */
int mfw_diag_parse_nv(uint8_t cmd, const uint8_t *rsp, size_t len, struct mfw_nv_record *rec);
int mfw_diag_parse_nv_ext(uint8_t op, const uint8_t *rsp, size_t len, struct mfw_nv_record *rec);
/* SPC / PASSWORD answer: 1 accepted, 0 rejected, MFW_E_PROTO when malformed. */
int mfw_diag_parse_ack(uint8_t cmd, const uint8_t *rsp, size_t len);

/* ---- EFS2 subsystem (4B 13|3E u16 cmd ...) ---- */
enum mfw_efs_cmd {
	MFW_EFS_HELLO = 0,
	MFW_EFS_QUERY = 1,
	MFW_EFS_OPEN = 2,
	MFW_EFS_CLOSE = 3,
	MFW_EFS_READ = 4,
	MFW_EFS_WRITE = 5,
	MFW_EFS_SYMLINK = 6,
	MFW_EFS_READLINK = 7,
	MFW_EFS_UNLINK = 8,
	MFW_EFS_MKDIR = 9,
	MFW_EFS_RMDIR = 10,
	MFW_EFS_OPENDIR = 11,
	MFW_EFS_READDIR = 12,
	MFW_EFS_CLOSEDIR = 13,
	MFW_EFS_RENAME = 14,
	MFW_EFS_STAT = 15,
};

#define MFW_EFS_HDR_LEN 4u
/* HELLO window sizes and versions all tools propose (reference §4.2). */
#define MFW_EFS_HELLO_WINDOW 0x100000u
#define MFW_EFS_HELLO_VERSION 1u
#define MFW_EFS_HELLO_FEATURES 0xFFFFFFFFu

struct mfw_efs_hello {
	uint32_t targ_pkt_window, targ_byte_window;
	uint32_t host_pkt_window, host_byte_window;
	uint32_t iter_pkt_window, iter_byte_window;
	uint32_t version, min_version, max_version;
	uint32_t features;
};

struct mfw_efs_rsp {
	uint16_t cmd;
	int32_t err;              /* device errno (0 = fine) */
	union {
		struct mfw_efs_hello hello;
		struct { int32_t fd; } open;
		struct {
			int32_t fd;
			uint32_t offset;
			int32_t bytes;
			const uint8_t *data; /* into rsp; bytes long (0 <= bytes <= what came) */
		} read;
		struct { int32_t fd; uint32_t offset; int32_t bytes; } write;
		struct mfw_efs_stat stat;
		struct { uint32_t dirp; } opendir;
		struct {
			uint32_t dirp;
			int32_t seq;
			struct mfw_efs_dirent ent; /* name "" = end of directory */
		} readdir;
	} u;
};

const char *mfw_efs_cmd_name(uint16_t cmd);
/* "ENOENT", "FS_DIAG_INVALID_PATH", ...; "errno" beyond the table. */
const char *mfw_efs_errno_name(int32_t err);
/* Library error for a device errno. */
int mfw_efs_errno_err(int32_t err);

int mfw_efs_build_hello(uint8_t ss, uint8_t *out, size_t cap);
int mfw_efs_build_open(uint8_t ss, const char *path, int32_t oflag, int32_t mode, uint8_t *out,
		       size_t cap);
int mfw_efs_build_read(uint8_t ss, int32_t fd, uint32_t nbytes, uint32_t offset, uint8_t *out,
		       size_t cap);
int mfw_efs_build_write(uint8_t ss, int32_t fd, uint32_t offset, const void *data, size_t len,
			uint8_t *out, size_t cap);
/* CLOSE (fd) and CLOSEDIR (dirp): one 32-bit handle. */
int mfw_efs_build_handle(uint8_t ss, uint16_t cmd, uint32_t handle, uint8_t *out, size_t cap);
/* STAT, OPENDIR, UNLINK, RMDIR: a path only. */
int mfw_efs_build_path(uint8_t ss, uint16_t cmd, const char *path, uint8_t *out, size_t cap);
int mfw_efs_build_mkdir(uint8_t ss, uint16_t mode, const char *path, uint8_t *out, size_t cap);
int mfw_efs_build_readdir(uint8_t ss, uint32_t dirp, int32_t seq, uint8_t *out, size_t cap);

/* Parse an EFS2 answer to cmd on subsystem ss. */
int mfw_efs_parse(uint8_t ss, uint16_t cmd, const uint8_t *rsp, size_t len,
		  struct mfw_efs_rsp *out);

#endif
