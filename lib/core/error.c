/* SPDX-License-Identifier: BSD-3-Clause */
#include <modemfw/error.h>

struct err_entry {
	int code;
	const char *name;
	const char *text;
};

static const struct err_entry errors[] = {
	{ MFW_OK, "MFW_OK", "success" },
	{ MFW_E_IO, "MFW_E_IO", "input/output error" },
	{ MFW_E_TIMEOUT, "MFW_E_TIMEOUT", "timed out" },
	{ MFW_E_NODEV, "MFW_E_NODEV", "no such device or device gone" },
	{ MFW_E_BUSY, "MFW_E_BUSY", "resource busy" },
	{ MFW_E_PROTO, "MFW_E_PROTO", "protocol error" },
	{ MFW_E_NAK, "MFW_E_NAK", "request refused by device" },
	{ MFW_E_FORMAT, "MFW_E_FORMAT", "malformed input" },
	{ MFW_E_VERIFY, "MFW_E_VERIFY", "verification failed" },
	{ MFW_E_NOMEM, "MFW_E_NOMEM", "out of memory" },
	{ MFW_E_CANCELLED, "MFW_E_CANCELLED", "cancelled" },
	{ MFW_E_UNSUPPORTED, "MFW_E_UNSUPPORTED", "not supported" },
	{ MFW_E_INVAL, "MFW_E_INVAL", "invalid argument" },
	{ MFW_E_NOENT, "MFW_E_NOENT", "not found" },
	{ MFW_E_EXIST, "MFW_E_EXIST", "already exists" },
	{ MFW_E_NOSPC, "MFW_E_NOSPC", "no space left" },
	{ MFW_E_RANGE, "MFW_E_RANGE", "value out of range" },
	{ MFW_E_PROTECTED, "MFW_E_PROTECTED", "protected partition" },
	{ MFW_E_MISMATCH, "MFW_E_MISMATCH", "does not match this device" },
	{ MFW_E_AGAIN, "MFW_E_AGAIN", "try again" },
};

static const struct err_entry *find(int err)
{
	for (unsigned i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == err)
			return &errors[i];
	return 0;
}

const char *mfw_error_name(int err)
{
	const struct err_entry *e = find(err);
	return e ? e->name : "MFW_E_UNKNOWN";
}

const char *mfw_strerror(int err)
{
	const struct err_entry *e = find(err);
	return e ? e->text : "unknown error";
}
