/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_ERROR_H
#define MODEMFW_ERROR_H

/*
 * Every function that can fail returns int: >= 0 is success, a negative
 * enum mfw_err is failure. The values are stable: scripts and bindings may
 * rely on them. The sentence that says what exactly failed lives on the
 * context (mfw_ctx_detail()).
 */
enum mfw_err {
	MFW_OK = 0,
	MFW_E_IO = -1,          /* read/write/system call failed */
	MFW_E_TIMEOUT = -2,     /* a deadline passed */
	MFW_E_NODEV = -3,       /* device absent or gone (unplugged, closed) */
	MFW_E_BUSY = -4,        /* held by someone else */
	MFW_E_PROTO = -5,       /* peer broke the protocol */
	MFW_E_NAK = -6,         /* peer refused the request */
	MFW_E_FORMAT = -7,      /* malformed input file or message */
	MFW_E_VERIFY = -8,      /* data read back does not match */
	MFW_E_NOMEM = -9,
	MFW_E_CANCELLED = -10,  /* user asked to stop */
	MFW_E_UNSUPPORTED = -11,
	MFW_E_INVAL = -12,      /* bad argument from the caller */
	MFW_E_NOENT = -13,      /* file or item not found */
	MFW_E_EXIST = -14,
	MFW_E_NOSPC = -15,      /* no space left (host disk or device storage) */
	MFW_E_RANGE = -16,      /* value out of bounds (patch lengths, offsets) */
	MFW_E_PROTECTED = -17,  /* refused: protected partition */
	MFW_E_MISMATCH = -18,   /* input is for another device or geometry */
	MFW_E_AGAIN = -19,      /* try again (internal: need more bytes) */
};

/* Short constant name such as "MFW_E_TIMEOUT"; never NULL. */
const char *mfw_error_name(int err);
/* Lower-case description such as "timed out"; never NULL. */
const char *mfw_strerror(int err);

#endif
