/* SPDX-License-Identifier: BSD-3-Clause */
/* Built without libusbredirparser: usbredir: specs are refused with a hint. */
#include "emu-internal.h"

int emu_usbredir_open(struct mfw_emu *emu, const char *spec, struct emu_usbredir **ret)
{
	(void)ret;
	return mfw_fail(emu->ctx, MFW_E_UNSUPPORTED,
			"'%s': this modemfw was built without libusbredirparser (install libusbredirparser-dev and rebuild)",
			spec);
}

int emu_usbredir_accept(struct emu_usbredir *u, mfw_deadline_t deadline,
			struct mfw_transport **ret)
{
	(void)u;
	(void)deadline;
	(void)ret;
	return MFW_E_UNSUPPORTED;
}

void emu_usbredir_close(struct emu_usbredir *u)
{
	(void)u;
}

const char *emu_usbredir_name(const struct emu_usbredir *u)
{
	(void)u;
	return "";
}

int emu_usbredir_port(struct emu_usbredir *u, int iface, mfw_deadline_t deadline,
		      struct mfw_transport **ret)
{
	(void)u;
	(void)iface;
	(void)deadline;
	(void)ret;
	return MFW_E_UNSUPPORTED;
}

void emu_usbredir_unplug(struct emu_usbredir *u)
{
	(void)u;
}

int emu_usbredir_halt(struct mfw_transport *t)
{
	(void)t;
	return MFW_E_UNSUPPORTED;
}
