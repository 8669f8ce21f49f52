/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DEVICE_CATALOG_H
#define MFW_DEVICE_CATALOG_H

/*
 * USB/PCIe id catalog (the table is data: catalog.def) and the rules that
 * give an interface its role. Pure: no I/O.
 */
#include <modemfw/device.h>

#include <stdint.h>

enum mfw_platform {
	MFW_PLATFORM_QCOM = 0,
	MFW_PLATFORM_UNISOC,
	MFW_PLATFORM_ASR,
	MFW_PLATFORM_OTHER,
};

enum mfw_layout {
	MFW_LAYOUT_NONE = 0, /* class rules only */
	MFW_LAYOUT_OLD,      /* 0 DIAG, 1 NMEA, 2 AT, 3 modem, 4 QMI */
	MFW_LAYOUT_NEW,      /* same numbers, DIAG ff/ff/30, NMEA ff/00/40 */
	MFW_LAYOUT_MBIM,     /* 0-1 MBIM, 3 DIAG, 4 NMEA, 5 AT */
	MFW_LAYOUT_EDL,      /* 0 EDL */
	MFW_LAYOUT_DUMP,     /* 0 Sahara memory debug */
};

struct mfw_catalog_entry {
	enum mfw_modem_bus bus;
	uint16_t vid, pid;
	const char *model;
	const char *chip;
	enum mfw_platform platform;
	enum mfw_modem_mode mode;
	enum mfw_layout layout;
};

/* NULL when the id is not catalogued. */
const struct mfw_catalog_entry *mfw_catalog_lookup(enum mfw_modem_bus bus, uint16_t vid,
						   uint16_t pid);
/* Number of entries and one by index (tests walk the table). */
size_t mfw_catalog_size(void);
const struct mfw_catalog_entry *mfw_catalog_at(size_t i);
/* "qualcomm", "unisoc", "asr", "other" */
const char *mfw_platform_name(enum mfw_platform p);

/* What the kernel tells about one USB interface. */
struct mfw_usb_iface {
	int number;            /* bInterfaceNumber */
	uint8_t cls, sub, proto;
	int n_endpoints;       /* bNumEndpoints; -1 when unknown */
	const char *driver;    /* bound driver name, "" when none */
};

/*
 * Role of one interface. Order of the rules: CDC/network classes and the
 * bound network driver first (they say what the interface is whatever the
 * composition), then the per-composition number map for vendor-specific
 * (ff) interfaces, then the generic shapes: ff/ff/30 and ff/ff/ff with two
 * endpoints are DIAG, ff/ff/ff with three is QMI (the endpoint count is
 * what the kernel's option driver uses), ff/42/01 ADB, ff/42/03 fastboot.
 * In EDL/dump mode a vendor-specific interface is the Sahara pipe.
 * e may be NULL (unknown device).
 */
enum mfw_port_role mfw_catalog_iface_role(const struct mfw_catalog_entry *e,
					  enum mfw_modem_mode mode,
					  const struct mfw_usb_iface *ifc);

#endif
