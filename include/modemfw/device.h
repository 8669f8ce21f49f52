/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_DEVICE_H
#define MODEMFW_DEVICE_H

/*
 * Finding modules without a daemon: sysfs (USB and PCIe/MHI) is read
 * directly, every module gets its mode (normal, EDL, crash dump,
 * fastboot), its ports by role with the kernel driver bound to each, and
 * the conflicts that stand in the way of an operation (ModemManager,
 * kernel drivers, autosuspend, a port held by another process), each as a
 * sentence saying what is happening and what modemfw does about it.
 * docs/devices.md describes the rules.
 */
#include <modemfw/context.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_transport;

enum mfw_modem_mode {
	MFW_MODE_UNKNOWN = 0,
	MFW_MODE_NORMAL,   /* running firmware: AT, DIAG, NMEA, network */
	MFW_MODE_EDL,      /* boot ROM emergency download, 05c6:9008 (Sahara -> Firehose) */
	MFW_MODE_DUMP,     /* crash dump / memory debug, 05c6:900e */
	MFW_MODE_FASTBOOT, /* the module's Android-style bootloader */
};

enum mfw_port_role {
	MFW_ROLE_UNKNOWN = 0,
	MFW_ROLE_AT,
	MFW_ROLE_DIAG,
	MFW_ROLE_NMEA,
	MFW_ROLE_MODEM,     /* PPP / secondary AT */
	MFW_ROLE_QMI,       /* QMI control (cdc-wdm, wwan0qmi0) and its network interface */
	MFW_ROLE_MBIM,
	MFW_ROLE_NET,       /* ECM/RNDIS/raw-IP network interface without a control node */
	MFW_ROLE_EDL,       /* Sahara/Firehose: 9008 interface or MHI FIREHOSE port */
	MFW_ROLE_DUMP,      /* Sahara memory debug (900e) */
	MFW_ROLE_ADB,
	MFW_ROLE_FASTBOOT,
};

enum mfw_modem_bus {
	MFW_BUS_USB = 0,
	MFW_BUS_PCIE,
};

enum mfw_conflict_kind {
	MFW_CONFLICT_MODEMMANAGER = 1, /* ModemManager runs and may probe or hold ports */
	MFW_CONFLICT_DRIVER,           /* a tty driver is bound to the interface libusb needs */
	MFW_CONFLICT_AUTOSUSPEND,      /* USB autosuspend is on for the device */
	MFW_CONFLICT_HELD,             /* another process has a port open */
	MFW_CONFLICT_PLATFORM,         /* Unisoc/ASR part: no DIAG, no Firehose */
};

#define MFW_MODEM_MAX_PORTS 24
#define MFW_MODEM_MAX_CONFLICTS 12

struct mfw_modem_port {
	enum mfw_port_role role;
	int interface;      /* USB bInterfaceNumber; -1 on PCIe */
	char name[32];      /* "ttyUSB2", "cdc-wdm0", "wwan0", "wwan0at0" */
	char dev[128];      /* device node ("/dev/ttyUSB2"); "" for network interfaces */
	char driver[32];    /* kernel driver bound to the interface ("option"); "" when none */
	char usb_class[12]; /* "ff/ff/30" (class/subclass/protocol); "" on PCIe */
	bool net;           /* a network interface, not a node to open */
};

struct mfw_modem_conflict {
	enum mfw_conflict_kind kind;
	char port[32];      /* the port concerned, "" for the whole device */
	long pid;           /* the process concerned (MODEMMANAGER, HELD); 0 otherwise */
	char what[384];     /* one sentence: what happens and what modemfw does about it */
};

struct mfw_modem {
	enum mfw_modem_bus bus;
	char path[32];          /* USB "1-1.2" or PCI "0000:01:00.0" */
	char syspath[256];      /* "/sys/devices/..." (ModemManager's Device uid for USB) */
	char host[128];         /* host controller the device hangs off: the topology key */
	uint16_t vid, pid;
	char model[48];         /* from the catalog ("EC25/EG25-G"), else the USB product string */
	char chip[24];          /* "MDM9x07", "SDX62", "" */
	char platform[16];      /* "qualcomm", "unisoc", "asr", "other" */
	bool flashable;         /* DIAG + Firehose path exists (Qualcomm) */
	bool known;             /* VID:PID is in the catalog */
	enum mfw_modem_mode mode;
	char serial[64];        /* USB iSerial; "" when absent */
	int speed_mbps;         /* USB link speed; 0 when unknown */
	char power_control[8];  /* "auto" or "on"; "" on PCIe or when absent */
	char driver[32];        /* PCIe: driver of the function ("mhi-pci-generic"); "" on USB */
	size_t n_ports;
	struct mfw_modem_port ports[MFW_MODEM_MAX_PORTS];
	size_t n_conflicts;
	struct mfw_modem_conflict conflicts[MFW_MODEM_MAX_CONFLICTS];
};

/*
 * Where to look. Zeroed or NULL fields mean the running system. root
 * prefixes /sys and /proc ("tests/data/sysfs/ec25"); dev_dir replaces
 * "/dev" in the device nodes reported and opened; dbus_address replaces
 * the system bus (the tool passes $DBUS_SYSTEM_BUS_ADDRESS: the library
 * reads no environment).
 */
struct mfw_device_opts {
	const char *root;
	const char *dev_dir;
	const char *dbus_address;
	bool no_inhibit; /* never talk to ModemManager (--no-inhibit) */
};

/*
 * Walk sysfs and return every cellular module found (Quectel, Qualcomm
 * boot modes, catalogued PCIe functions, and any USB device with a DIAG-
 * or EDL-shaped interface). *ret is NULL and *n 0 when there is none:
 * that is success. Free with mfw_modems_free().
 */
int mfw_discover(struct mfw_ctx *ctx, const struct mfw_device_opts *o, struct mfw_modem **ret,
		 size_t *n);
void mfw_modems_free(struct mfw_modem *m);

/* The first port with this role, or NULL. */
const struct mfw_modem_port *mfw_modem_port(const struct mfw_modem *m, enum mfw_port_role role);

/* "normal", "edl", "dump", "fastboot", "unknown" and "at", "diag", "nmea", ... */
const char *mfw_modem_mode_name(enum mfw_modem_mode mode);
const char *mfw_port_role_name(enum mfw_port_role role);
const char *mfw_conflict_kind_name(enum mfw_conflict_kind kind);

/*
 * -p auto: the port spec of the only module that has a port with this
 * role. MFW_ROLE_EDL gives "usb:BUS-PORTS" for a USB EDL device (libusb
 * detaches qcserial) or the /dev/wwan0firehose0 node on PCIe; other roles
 * give the device node. MFW_E_NODEV when no module has it (the detail says
 * what was found instead, e.g. a module in normal mode), MFW_E_BUSY when
 * several do (the detail lists them: "choose with -p").
 */
int mfw_discover_pick(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
		      enum mfw_port_role want, char *spec, size_t cap);

/*
 * Find the module that owns a port spec ("/dev/ttyUSB2", "usb:1-1",
 * "/dev/wwan0at0"): *ret_modem is a copy, *ret_port the index of the port
 * (-1 for a usb: spec). MFW_E_NOENT when no discovered module has it
 * (tcp:, unix:, a pty, or an unknown node).
 */
int mfw_discover_find(struct mfw_ctx *ctx, const struct mfw_device_opts *o, const char *spec,
		      struct mfw_modem *ret_modem, int *ret_port);

/*
 * After a switch to EDL: re-scan sysfs until a module in EDL appears that
 * was not among before[0..n_before) (a snapshot from mfw_discover() taken
 * before the switch; may be empty). The old path is not trusted: a USB3
 * module may come back as USB2 on another bus, so a new EDL device under
 * the same host controller as was (may be NULL) is preferred, and any
 * single new one is taken. Polls until the deadline; MFW_E_TIMEOUT with
 * the USB_BOOT hardware fallback in the detail sentence.
 */
#define MFW_EDL_APPEAR_TIMEOUT_MS 30000 /* QFirehose waits 30 s for 9008 */
int mfw_discover_wait_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const struct mfw_modem *was, const struct mfw_modem *before, size_t n_before,
			  mfw_deadline_t deadline, char *spec, size_t cap);

/*
 * Conflicts held off for the length of an operation: ModemManager is
 * inhibited over D-Bus (InhibitDevice) when it runs; released by
 * mfw_device_release() (and by ModemManager itself if we exit without it,
 * because the inhibition lives as long as our bus connection). Never
 * fails for a missing ModemManager: the guard is then empty. Each step is
 * reported with mfw_notice() in a sentence.
 */
struct mfw_device_guard;
int mfw_device_prepare(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
		       const struct mfw_modem *m, struct mfw_device_guard **ret);
void mfw_device_release(struct mfw_device_guard *g);

/*
 * For flash: make sure spec_in names a module in EDL. A module in normal
 * mode (found through sysfs, by "auto", a usb: path or any of its ports)
 * is inhibited in ModemManager, switched over its DIAG port (4B 65 01 00)
 * and waited for (MFW_EDL_APPEAR_TIMEOUT_MS); spec_out then names the new
 * EDL device ("usb:1-4"). A spec that already names an EDL device, or one
 * sysfs knows nothing about (tcp:, unix:, emu, a pty), is copied through
 * unchanged. guard (may be NULL) keeps ModemManager inhibited until the
 * caller releases it; NULL releases before returning.
 */
int mfw_device_ensure_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const char *spec_in, char *spec_out, size_t cap,
			  struct mfw_device_guard **guard);

/*
 * Switch whatever diag_spec names to EDL, for callers that know it is a
 * DIAG port: a module sysfs knows is handled as in mfw_device_ensure_edl()
 * (spec_out names the new EDL device); any other spec (tcp:, unix:, the
 * virtual modem's DIAG listener, a pty) gets the DIAG switch and spec_out
 * is "" (sysfs cannot tell where it comes back: the caller opens the EDL
 * spec it knows, with its own bounded reconnect wait).
 */
int mfw_device_switch_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const char *diag_spec, char *spec_out, size_t cap,
			  struct mfw_device_guard **guard);

/* ---- ModemManager over D-Bus (sd-bus; MFW_E_UNSUPPORTED when built without it) ---- */

/* ModemManager running? pid from <root>/proc/ * /comm; 0 when not found. */
int mfw_mm_running_pid(const struct mfw_device_opts *o);
struct mfw_mm_inhibit;
/*
 * InhibitDevice(uid, true) on org.freedesktop.ModemManager1. uid is the
 * modem's Device property; when ModemManager lists a modem whose Device
 * matches syspath (or is below it) that value is used, else syspath.
 * The inhibition lasts while the returned handle's bus connection is
 * open; mfw_mm_uninhibit() calls InhibitDevice(uid, false) and closes it.
 */
int mfw_mm_inhibit(struct mfw_ctx *ctx, const char *dbus_address, const char *syspath,
		   struct mfw_mm_inhibit **ret);
void mfw_mm_uninhibit(struct mfw_mm_inhibit *h);
/* The uid that was inhibited (for messages). */
const char *mfw_mm_inhibit_uid(const struct mfw_mm_inhibit *h);

#endif
