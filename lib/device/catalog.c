/* SPDX-License-Identifier: BSD-3-Clause */
/* USB/PCIe id catalog and interface roles: reference quectel-at-usb.md sections 2-3. */
#include "device/catalog.h"
#include "core/core.h"

#include <string.h>

static const struct mfw_catalog_entry catalog[] = {
#define MFW_ID(bus, vid, pid, model, chip, platform, mode, layout)                             \
	{ MFW_BUS_##bus, vid, pid, model, chip, MFW_PLATFORM_##platform, MFW_MODE_##mode,     \
	  MFW_LAYOUT_##layout },
#include "device/catalog.def"
#undef MFW_ID
};

const struct mfw_catalog_entry *mfw_catalog_lookup(enum mfw_modem_bus bus, uint16_t vid,
						   uint16_t pid)
{
	for (size_t i = 0; i < MFW_ARRAY_SIZE(catalog); i++)
		if (catalog[i].bus == bus && catalog[i].vid == vid && catalog[i].pid == pid)
			return &catalog[i];
	return NULL;
}

size_t mfw_catalog_size(void)
{
	return MFW_ARRAY_SIZE(catalog);
}

const struct mfw_catalog_entry *mfw_catalog_at(size_t i)
{
	return i < MFW_ARRAY_SIZE(catalog) ? &catalog[i] : NULL;
}

const char *mfw_platform_name(enum mfw_platform p)
{
	switch (p) {
	case MFW_PLATFORM_QCOM:
		return "qualcomm";
	case MFW_PLATFORM_UNISOC:
		return "unisoc";
	case MFW_PLATFORM_ASR:
		return "asr";
	case MFW_PLATFORM_OTHER:
		break;
	}
	return "other";
}

/* Interface number -> role of the vendor-specific interfaces, per composition (section 3). */
static enum mfw_port_role layout_role(enum mfw_layout layout, int number)
{
	static const enum mfw_port_role quectel[] = {
		MFW_ROLE_DIAG, MFW_ROLE_NMEA, MFW_ROLE_AT, MFW_ROLE_MODEM, MFW_ROLE_QMI,
	};
	static const enum mfw_port_role mbim[] = {
		MFW_ROLE_MBIM, MFW_ROLE_MBIM, MFW_ROLE_UNKNOWN, MFW_ROLE_DIAG, MFW_ROLE_NMEA,
		MFW_ROLE_AT,
	};

	if (number < 0)
		return MFW_ROLE_UNKNOWN;
	switch (layout) {
	case MFW_LAYOUT_OLD:
	case MFW_LAYOUT_NEW:
		return (size_t)number < MFW_ARRAY_SIZE(quectel) ? quectel[number] : MFW_ROLE_UNKNOWN;
	case MFW_LAYOUT_MBIM:
		return (size_t)number < MFW_ARRAY_SIZE(mbim) ? mbim[number] : MFW_ROLE_UNKNOWN;
	case MFW_LAYOUT_EDL:
		return number == 0 ? MFW_ROLE_EDL : MFW_ROLE_UNKNOWN;
	case MFW_LAYOUT_DUMP:
		return number == 0 ? MFW_ROLE_DUMP : MFW_ROLE_UNKNOWN;
	case MFW_LAYOUT_NONE:
		break;
	}
	return MFW_ROLE_UNKNOWN;
}

static enum mfw_port_role driver_role(const char *drv)
{
	if (!drv || !drv[0])
		return MFW_ROLE_UNKNOWN;
	if (!strcmp(drv, "qmi_wwan") || !strcmp(drv, "qmi_wwan_q"))
		return MFW_ROLE_QMI;
	if (!strcmp(drv, "cdc_mbim"))
		return MFW_ROLE_MBIM;
	if (!strcmp(drv, "cdc_ether") || !strcmp(drv, "rndis_host") || !strcmp(drv, "cdc_ncm"))
		return MFW_ROLE_NET;
	return MFW_ROLE_UNKNOWN;
}

enum mfw_port_role mfw_catalog_iface_role(const struct mfw_catalog_entry *e,
					  enum mfw_modem_mode mode,
					  const struct mfw_usb_iface *ifc)
{
	enum mfw_layout layout = e ? e->layout : MFW_LAYOUT_NONE;
	enum mfw_port_role r;

	/* the bound network driver and the CDC classes say it whatever the composition */
	r = driver_role(ifc->driver);
	if (r != MFW_ROLE_UNKNOWN)
		return r;
	if (ifc->cls == 0x02 && ifc->sub == 0x0e)
		return MFW_ROLE_MBIM;
	if (ifc->cls == 0x0a) {
		/* CDC data: the second half of an MBIM or ECM function */
		r = layout_role(layout, ifc->number);
		return r == MFW_ROLE_MBIM ? r : MFW_ROLE_NET;
	}
	if ((ifc->cls == 0x02 && (ifc->sub == 0x06 || ifc->sub == 0x0d)) ||
	    (ifc->cls == 0xe0 && ifc->sub == 0x01 && ifc->proto == 0x03) ||
	    (ifc->cls == 0xef && ifc->sub == 0x04 && ifc->proto == 0x01))
		return MFW_ROLE_NET;
	if (ifc->cls != 0xff)
		return MFW_ROLE_UNKNOWN;

	/* vendor specific from here on */
	if (mode == MFW_MODE_EDL)
		return MFW_ROLE_EDL;
	if (mode == MFW_MODE_DUMP)
		return MFW_ROLE_DUMP;
	/* Android convention: ADB and fastboot keep their own subclass/protocol */
	if (ifc->sub == 0x42 && ifc->proto == 0x01)
		return MFW_ROLE_ADB;
	if (ifc->sub == 0x42 && ifc->proto == 0x03)
		return MFW_ROLE_FASTBOOT;
	r = layout_role(layout, ifc->number);
	if (r != MFW_ROLE_UNKNOWN)
		return r;
	/* generic shapes (QCSuper and the option driver use the same two DIAG rules) */
	if (ifc->sub == 0xff && ifc->proto == 0x30)
		return MFW_ROLE_DIAG;
	if (ifc->sub == 0xff && ifc->proto == 0xff && ifc->n_endpoints == 2)
		return MFW_ROLE_DIAG;
	if (ifc->sub == 0xff && (ifc->proto == 0xff || ifc->proto == 0x50) && ifc->n_endpoints == 3)
		return MFW_ROLE_QMI;
	if (mode == MFW_MODE_FASTBOOT)
		return MFW_ROLE_FASTBOOT;
	return MFW_ROLE_UNKNOWN;
}
