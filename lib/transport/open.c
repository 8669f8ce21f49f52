/* SPDX-License-Identifier: BSD-3-Clause */
/* Port spec dispatch: the one place that knows which backend a spec names. */
#include "transport/internal.h"

#include <string.h>

int mfw_transport_open(struct mfw_ctx *ctx, const char *spec, struct mfw_transport **ret)
{
	if (!spec || !spec[0])
		return mfw_fail(ctx, MFW_E_INVAL,
				"no port given: use usb, usb:BUS-PORT[.PORT...], /dev/NODE, tcp:HOST:PORT or unix:PATH");
	if (!strncmp(spec, "tcp:", 4) || !strncmp(spec, "unix:", 5))
		return mfw_tr_connect(ctx, spec, mfw_deadline_in(MFW_TRANSPORT_OPEN_MS), ret);
	/* /dev/ttyUSB2, /dev/wwan0firehose0, or a link such as the emulator's pty:LINK */
	if (spec[0] == '/')
		return mfw_tr_open_dev(ctx, spec, ret);
	if (!strcmp(spec, "usb") || !strncmp(spec, "usb:", 4))
		return mfw_tr_usb_open(ctx, spec, ret);
	return mfw_fail(ctx, MFW_E_INVAL,
			"unknown port '%s': use usb, usb:BUS-PORT[.PORT...], /dev/NODE, tcp:HOST:PORT or unix:PATH",
			spec);
}
