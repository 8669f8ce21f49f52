/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Discovery (lib/device) on the recorded sysfs trees in tests/data/sysfs:
 * modes, roles, drivers and conflicts of each; -p auto picking; finding a
 * port's module; waiting for a re-enumerated EDL device; and the whole
 * normal -> EDL switch against a fake DIAG device on a pty.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <modemfw/device.h>
#include "core/core.h"
#include "device/catalog.h"

#ifndef MFW_SYSFS_DATA
#error "MFW_SYSFS_DATA must name tests/data/sysfs"
#endif

struct found {
	struct mfw_ctx *ctx;
	struct mfw_modem *v;
	size_t n;
};

static void discover(struct found *f, const char *tree, const char *dev_dir)
{
	struct mfw_device_opts o = { 0 };
	char root[512];

	snprintf(root, sizeof(root), "%s/%s", MFW_SYSFS_DATA, tree);
	o.root = root;
	o.dev_dir = dev_dir;
	assert_int_equal(mfw_ctx_new(&f->ctx), 0);
	assert_int_equal(mfw_discover(f->ctx, &o, &f->v, &f->n), 0);
}

static void found_free(struct found *f)
{
	mfw_modems_free(f->v);
	mfw_ctx_free(f->ctx);
}

static const struct mfw_modem_port *port_named(const struct mfw_modem *m, const char *name)
{
	for (size_t i = 0; i < m->n_ports; i++)
		if (!strcmp(m->ports[i].name, name))
			return &m->ports[i];
	fail_msg("no port '%s'", name);
	return NULL;
}

static void check_port(const struct mfw_modem *m, const char *name, enum mfw_port_role role,
		       const char *dev, const char *driver, int iface, const char *cls)
{
	const struct mfw_modem_port *p = port_named(m, name);

	assert_string_equal(mfw_port_role_name(p->role), mfw_port_role_name(role));
	assert_string_equal(p->dev, dev);
	assert_string_equal(p->driver, driver);
	assert_int_equal(p->interface, iface);
	assert_string_equal(p->usb_class, cls);
}

static size_t count_conflicts(const struct mfw_modem *m, enum mfw_conflict_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_conflicts; i++)
		n += m->conflicts[i].kind == kind;
	return n;
}

static const struct mfw_modem_conflict *conflict_on(const struct mfw_modem *m,
						    enum mfw_conflict_kind kind, const char *port)
{
	for (size_t i = 0; i < m->n_conflicts; i++)
		if (m->conflicts[i].kind == kind && !strcmp(m->conflicts[i].port, port))
			return &m->conflicts[i];
	fail_msg("no %s conflict on '%s'", mfw_conflict_kind_name(kind), port);
	return NULL;
}

static void test_ec25(void **state)
{
	struct found f;
	const struct mfw_modem *m;

	(void)state;
	discover(&f, "ec25", NULL);
	assert_int_equal(f.n, 1);
	m = &f.v[0];
	assert_int_equal(m->bus, MFW_BUS_USB);
	assert_string_equal(m->path, "1-1");
	assert_string_equal(m->syspath, "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1");
	assert_string_equal(m->host, "/sys/devices/pci0000:00/0000:00:14.0");
	assert_int_equal(m->vid, 0x2c7c);
	assert_int_equal(m->pid, 0x0125);
	assert_string_equal(m->model, "EC25/EG25-G");
	assert_string_equal(m->chip, "MDM9x07");
	assert_string_equal(m->platform, "qualcomm");
	assert_true(m->known);
	assert_true(m->flashable);
	assert_int_equal(m->mode, MFW_MODE_NORMAL);
	assert_int_equal(m->speed_mbps, 480);
	assert_string_equal(m->power_control, "auto");
	assert_int_equal(m->n_ports, 6);
	check_port(m, "ttyUSB0", MFW_ROLE_DIAG, "/dev/ttyUSB0", "option", 0, "ff/ff/ff");
	check_port(m, "ttyUSB1", MFW_ROLE_NMEA, "/dev/ttyUSB1", "option", 1, "ff/00/00");
	check_port(m, "ttyUSB2", MFW_ROLE_AT, "/dev/ttyUSB2", "option", 2, "ff/00/00");
	check_port(m, "ttyUSB3", MFW_ROLE_MODEM, "/dev/ttyUSB3", "option", 3, "ff/00/00");
	check_port(m, "cdc-wdm0", MFW_ROLE_QMI, "/dev/cdc-wdm0", "qmi_wwan", 4, "ff/ff/ff");
	check_port(m, "wwan0", MFW_ROLE_QMI, "", "qmi_wwan", 4, "ff/ff/ff");
	assert_true(port_named(m, "wwan0")->net);
	assert_string_equal(mfw_modem_port(m, MFW_ROLE_QMI)->name, "cdc-wdm0");

	/* ModemManager (613) holds the AT port and the QMI node, minicom (2000) the modem port */
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_MODEMMANAGER), 1);
	assert_int_equal(m->conflicts[0].kind, MFW_CONFLICT_MODEMMANAGER); /* it explains the rest */
	assert_int_equal(m->conflicts[0].pid, 613);
	assert_non_null(strstr(m->conflicts[0].what, "InhibitDevice"));
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_HELD), 3);
	assert_int_equal(conflict_on(m, MFW_CONFLICT_HELD, "ttyUSB2")->pid, 613);
	assert_int_equal(conflict_on(m, MFW_CONFLICT_HELD, "cdc-wdm0")->pid, 613);
	assert_int_equal(conflict_on(m, MFW_CONFLICT_HELD, "ttyUSB3")->pid, 2000);
	assert_non_null(strstr(conflict_on(m, MFW_CONFLICT_HELD, "ttyUSB3")->what, "minicom"));
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_AUTOSUSPEND), 1);
	assert_non_null(strstr(conflict_on(m, MFW_CONFLICT_AUTOSUSPEND, "")->what,
			       "echo on > /sys/bus/usb/devices/1-1/power/control"));
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_DRIVER), 0);
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_PLATFORM), 0);
	found_free(&f);
}

static void test_rm520n(void **state)
{
	struct found f;
	const struct mfw_modem *m;

	(void)state;
	discover(&f, "rm520n", NULL);
	assert_int_equal(f.n, 1);
	m = &f.v[0];
	assert_string_equal(m->path, "2-1");
	assert_int_equal(m->pid, 0x0801);
	assert_string_equal(m->model, "RM520N");
	assert_string_equal(m->chip, "SDX62");
	assert_int_equal(m->mode, MFW_MODE_NORMAL);
	assert_int_equal(m->speed_mbps, 5000);
	check_port(m, "ttyUSB0", MFW_ROLE_DIAG, "/dev/ttyUSB0", "option", 0, "ff/ff/30");
	check_port(m, "ttyUSB1", MFW_ROLE_NMEA, "/dev/ttyUSB1", "option", 1, "ff/00/40");
	check_port(m, "ttyUSB2", MFW_ROLE_AT, "/dev/ttyUSB2", "option", 2, "ff/00/00");
	check_port(m, "ttyUSB3", MFW_ROLE_MODEM, "/dev/ttyUSB3", "option", 3, "ff/00/00");
	check_port(m, "cdc-wdm0", MFW_ROLE_QMI, "/dev/cdc-wdm0", "qmi_wwan", 4, "ff/ff/50");
	/* autosuspend off, no ModemManager, nobody holding a port */
	assert_int_equal(m->n_conflicts, 0);
	found_free(&f);
}

static void test_pcie(void **state)
{
	struct found f;
	const struct mfw_modem *m;

	(void)state;
	discover(&f, "pcie-rm520n", NULL);
	assert_int_equal(f.n, 1); /* the PCIe root port next to it is not a modem */
	m = &f.v[0];
	assert_int_equal(m->bus, MFW_BUS_PCIE);
	assert_string_equal(m->path, "0000:01:00.0");
	assert_string_equal(m->syspath, "/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0");
	assert_int_equal(m->vid, 0x1eac);
	assert_int_equal(m->pid, 0x1007);
	assert_string_equal(m->model, "RM520N-GL");
	assert_string_equal(m->driver, "mhi-pci-generic");
	assert_int_equal(m->mode, MFW_MODE_NORMAL);
	assert_int_equal(m->n_ports, 5); /* wwan0 itself is the WWAN device, not a port */
	check_port(m, "wwan0at0", MFW_ROLE_AT, "/dev/wwan0at0", "mhi_wwan_ctrl", -1, "");
	check_port(m, "wwan0qcdm0", MFW_ROLE_DIAG, "/dev/wwan0qcdm0", "mhi_wwan_ctrl", -1, "");
	check_port(m, "wwan0mbim0", MFW_ROLE_MBIM, "/dev/wwan0mbim0", "mhi_wwan_ctrl", -1, "");
	check_port(m, "wwan0nmea0", MFW_ROLE_NMEA, "/dev/wwan0nmea0", "mhi_wwan_ctrl", -1, "");
	check_port(m, "mhi_hwip0", MFW_ROLE_NET, "", "mhi_net", -1, "");
	assert_int_equal(m->n_conflicts, 0);
	found_free(&f);
}

static void test_edl_qcserial(void **state)
{
	struct found f;
	const struct mfw_modem *m;
	const struct mfw_modem_conflict *c;

	(void)state;
	discover(&f, "edl-qcserial", NULL);
	assert_int_equal(f.n, 1);
	m = &f.v[0];
	assert_string_equal(m->path, "1-2");
	assert_int_equal(m->vid, 0x05c6);
	assert_int_equal(m->pid, 0x9008);
	assert_int_equal(m->mode, MFW_MODE_EDL);
	assert_int_equal(m->n_ports, 1);
	check_port(m, "ttyUSB0", MFW_ROLE_EDL, "/dev/ttyUSB0", "qcserial", 0, "ff/ff/ff");
	/* ModemManager runs, but leaves EDL devices alone: no conflict for it */
	assert_int_equal(count_conflicts(m, MFW_CONFLICT_MODEMMANAGER), 0);
	assert_int_equal(m->n_conflicts, 1);
	c = conflict_on(m, MFW_CONFLICT_DRIVER, "ttyUSB0");
	assert_non_null(strstr(c->what, "'qcserial'"));
	assert_non_null(strstr(c->what, "libusb detaches it"));
	assert_non_null(strstr(c->what, "-p /dev/ttyUSB0"));
	found_free(&f);
}

static void test_dump(void **state)
{
	struct found f;
	const struct mfw_modem *m;

	(void)state;
	discover(&f, "dump-900e", NULL);
	assert_int_equal(f.n, 1);
	m = &f.v[0];
	assert_int_equal(m->pid, 0x900e);
	assert_int_equal(m->mode, MFW_MODE_DUMP);
	assert_int_equal(m->n_ports, 1);
	assert_int_equal(m->ports[0].role, MFW_ROLE_DUMP);
	assert_string_equal(m->ports[0].driver, "");
	assert_string_equal(m->ports[0].dev, "");
	assert_int_equal(m->n_conflicts, 0);
	found_free(&f);
}

static void test_empty(void **state)
{
	struct found f;

	(void)state;
	discover(&f, "empty", NULL);
	assert_int_equal(f.n, 0); /* the keyboard and the root hub are not modems */
	assert_null(f.v);
	found_free(&f);
}

static void test_missing_root(void **state)
{
	struct mfw_device_opts o = { .root = "/nonexistent/sysfs/root" };
	struct mfw_modem *v = (void *)1;
	struct mfw_ctx *ctx;
	size_t n = 7;

	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_discover(ctx, &o, &v, &n), MFW_E_NOENT);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "/nonexistent/sysfs/root"));
	mfw_ctx_free(ctx);
}

static void test_dev_dir(void **state)
{
	struct found f;

	(void)state;
	discover(&f, "ec25", "/tmp/mfw-dev");
	assert_string_equal(port_named(&f.v[0], "ttyUSB2")->dev, "/tmp/mfw-dev/ttyUSB2");
	found_free(&f);
}

static int pick(const char *tree, enum mfw_port_role role, char *spec, size_t cap,
		struct mfw_ctx *ctx)
{
	struct mfw_device_opts o = { 0 };
	char root[512];

	snprintf(root, sizeof(root), "%s/%s", MFW_SYSFS_DATA, tree);
	o.root = root;
	return mfw_discover_pick(ctx, &o, role, spec, cap);
}

static void test_pick(void **state)
{
	struct mfw_ctx *ctx;
	char spec[128];

	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(pick("ec25", MFW_ROLE_AT, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "/dev/ttyUSB2");
	assert_int_equal(pick("ec25", MFW_ROLE_DIAG, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "/dev/ttyUSB0");
	assert_int_equal(pick("ec25", MFW_ROLE_EDL, spec, sizeof(spec), ctx), MFW_E_NODEV);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "normal mode"));
	assert_non_null(strstr(mfw_ctx_detail(ctx), "modemfw edl"));
	assert_int_equal(pick("edl-qcserial", MFW_ROLE_EDL, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "usb:1-2"); /* libusb, not the qcserial tty */
	assert_int_equal(pick("pcie-rm520n", MFW_ROLE_AT, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "/dev/wwan0at0");
	assert_int_equal(pick("empty", MFW_ROLE_EDL, spec, sizeof(spec), ctx), MFW_E_NODEV);
	assert_string_equal(mfw_ctx_detail(ctx), "no modem found");
	/* two modules, each the only one with its role */
	assert_int_equal(pick("reenum", MFW_ROLE_EDL, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "usb:1-2");
	assert_int_equal(pick("reenum", MFW_ROLE_AT, spec, sizeof(spec), ctx), 0);
	assert_string_equal(spec, "/dev/ttyUSB2");
	/* too small a buffer is an error, not a cut spec */
	assert_int_equal(pick("ec25", MFW_ROLE_AT, spec, 6, ctx), MFW_E_INVAL);
	mfw_ctx_free(ctx);
}

static void test_find(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct mfw_modem *m = malloc(sizeof(*m));
	struct mfw_ctx *ctx;
	char root[512];
	int port = 99;

	(void)state;
	snprintf(root, sizeof(root), "%s/ec25", MFW_SYSFS_DATA);
	o.root = root;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_discover_find(ctx, &o, "/dev/ttyUSB2", m, &port), 0);
	assert_string_equal(m->path, "1-1");
	assert_int_equal(m->ports[port].role, MFW_ROLE_AT);
	assert_int_equal(mfw_discover_find(ctx, &o, "usb:1-1", m, &port), 0);
	assert_int_equal(port, -1);
	assert_int_equal(mfw_discover_find(ctx, &o, "/dev/ttyUSB9", m, &port), MFW_E_NOENT);
	assert_int_equal(mfw_discover_find(ctx, &o, "tcp:127.0.0.1:9", m, &port), MFW_E_NOENT);
	assert_int_equal(mfw_discover_find(ctx, &o, "usb:1-9", m, &port), MFW_E_NOENT);
	free(m);
	mfw_ctx_free(ctx);
}

static void test_catalog(void **state)
{
	const struct mfw_catalog_entry *e;
	struct mfw_usb_iface diag2 = { 0, 0xff, 0xff, 0xff, 2, "" };
	struct mfw_usb_iface qmi3 = { 4, 0xff, 0xff, 0xff, 3, "" };
	struct mfw_usb_iface mbim = { 0, 0x02, 0x0e, 0x00, 1, "cdc_mbim" };
	struct mfw_usb_iface adb = { 5, 0xff, 0x42, 0x01, 2, "" };

	(void)state;
	/* every id once, and the Unisoc/ASR parts flagged */
	for (size_t i = 0; i < mfw_catalog_size(); i++)
		for (size_t k = i + 1; k < mfw_catalog_size(); k++)
			assert_false(mfw_catalog_at(i)->bus == mfw_catalog_at(k)->bus &&
				     mfw_catalog_at(i)->vid == mfw_catalog_at(k)->vid &&
				     mfw_catalog_at(i)->pid == mfw_catalog_at(k)->pid);
	e = mfw_catalog_lookup(MFW_BUS_USB, 0x2c7c, 0x0900);
	assert_non_null(e);
	assert_int_equal(e->platform, MFW_PLATFORM_UNISOC);
	e = mfw_catalog_lookup(MFW_BUS_USB, 0x2c7c, 0x6001);
	assert_int_equal(e->platform, MFW_PLATFORM_ASR);
	for (unsigned pid = 0x9006; pid <= 0x9025; pid++) {
		e = mfw_catalog_lookup(MFW_BUS_USB, 0x05c6, (uint16_t)pid);
		if (pid == 0x9006 || pid == 0x9008 || pid == 0x901d || pid == 0x9025)
			assert_int_equal(e->mode, MFW_MODE_EDL);
		else if (pid == 0x900e)
			assert_int_equal(e->mode, MFW_MODE_DUMP);
	}
	assert_non_null(mfw_catalog_lookup(MFW_BUS_PCIE, 0x1eac, 0x1004));
	assert_null(mfw_catalog_lookup(MFW_BUS_USB, 0x1eac, 0x1004));
	/* generic shapes for a device the catalog does not know */
	assert_int_equal(mfw_catalog_iface_role(NULL, MFW_MODE_UNKNOWN, &diag2), MFW_ROLE_DIAG);
	assert_int_equal(mfw_catalog_iface_role(NULL, MFW_MODE_UNKNOWN, &qmi3), MFW_ROLE_QMI);
	assert_int_equal(mfw_catalog_iface_role(NULL, MFW_MODE_UNKNOWN, &mbim), MFW_ROLE_MBIM);
	assert_int_equal(mfw_catalog_iface_role(NULL, MFW_MODE_NORMAL, &adb), MFW_ROLE_ADB);
	/* the MBIM laptop composition: DIAG on interface 3, AT on 5 */
	e = mfw_catalog_lookup(MFW_BUS_USB, 0x2c7c, 0x030a);
	struct mfw_usb_iface if3 = { 3, 0xff, 0xff, 0x30, 2, "option" };
	struct mfw_usb_iface if5 = { 5, 0xff, 0x00, 0x00, 3, "option" };
	assert_int_equal(mfw_catalog_iface_role(e, MFW_MODE_NORMAL, &if3), MFW_ROLE_DIAG);
	assert_int_equal(mfw_catalog_iface_role(e, MFW_MODE_NORMAL, &if5), MFW_ROLE_AT);
}

/* ---- a tree that changes while we wait: copied to a temporary directory ---- */

struct tmp_tree {
	char dir[256];
	char root[300];
};

static void tree_copy(struct tmp_tree *t, const char *name)
{
	char cmd[1024];

	snprintf(t->dir, sizeof(t->dir), "/tmp/mfw-discover.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->root, sizeof(t->root), "%s/%s", t->dir, name);
	snprintf(cmd, sizeof(cmd), "cp -a '%s/%s' '%s/'", MFW_SYSFS_DATA, name, t->dir);
	assert_int_equal(system(cmd), 0);
}

static void tree_remove(struct tmp_tree *t)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	assert_int_equal(system(cmd), 0);
}

/* What the kernel does when the module comes back as 9008 on the USB2 bus. */
static int tree_add_edl(const char *root)
{
	static const char *const links[][2] = {
		{ "1-5", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-5" },
		{ "1-5:1.0", "../../../devices/pci0000:00/0000:00:14.0/usb1/1-5/1-5:1.0" },
	};
	char path[512];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/sys/bus/usb/devices/%s", root, links[i][0]);
		if (symlink(links[i][1], path) < 0)
			return -errno;
	}
	/* the normal-mode device is gone */
	snprintf(path, sizeof(path), "%s/sys/bus/usb/devices/2-1", root);
	return unlink(path) < 0 ? -errno : 0;
}

struct adder {
	const char *root;
	int delay_ms;
	int result;
};

static void *adder_main(void *arg)
{
	struct adder *a = arg;
	struct timespec ts = { a->delay_ms / 1000, (long)(a->delay_ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
	a->result = tree_add_edl(a->root);
	return NULL;
}

static const struct mfw_modem *modem_at(const struct mfw_modem *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].path, path))
			return &v[i];
	fail_msg("no modem at %s", path);
	return NULL;
}

static void test_wait_edl(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct adder a = { .delay_ms = 400 };
	struct tmp_tree t;
	struct mfw_modem *before;
	struct mfw_ctx *ctx;
	pthread_t th;
	char spec[64];
	size_t n;

	(void)state;
	tree_copy(&t, "reenum");
	o.root = t.root;
	a.root = t.root;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_discover(ctx, &o, &before, &n), 0);
	assert_int_equal(n, 2); /* RM520N at 2-1 (normal), an older 9008 at 1-2 */
	assert_int_equal(pthread_create(&th, NULL, adder_main, &a), 0);
	/* the 9008 at 1-2 was there before: only the new one at 1-5 counts */
	assert_int_equal(mfw_discover_wait_edl(ctx, &o, modem_at(before, n, "2-1"), before, n,
					       mfw_deadline_in(10000), spec, sizeof(spec)),
			 0);
	pthread_join(th, NULL);
	assert_int_equal(a.result, 0);
	assert_string_equal(spec, "usb:1-5"); /* USB3 2-1 came back as USB2 1-5 */
	mfw_modems_free(before);
	mfw_ctx_free(ctx);
	tree_remove(&t);
}

static void test_wait_edl_timeout(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct tmp_tree t;
	struct mfw_modem *before;
	struct mfw_ctx *ctx;
	char spec[64] = "";
	int64_t start;
	size_t n;

	(void)state;
	tree_copy(&t, "reenum");
	o.root = t.root;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(mfw_discover(ctx, &o, &before, &n), 0);
	start = mfw_now_ms();
	assert_int_equal(mfw_discover_wait_edl(ctx, &o, modem_at(before, n, "2-1"), before, n,
					       mfw_deadline_in(600), spec, sizeof(spec)),
			 MFW_E_TIMEOUT);
	assert_true(mfw_now_ms() - start >= 600);
	assert_true(mfw_now_ms() - start < 5000);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "USB_BOOT"));
	assert_string_equal(spec, "");
	mfw_modems_free(before);
	mfw_ctx_free(ctx);
	tree_remove(&t);
}

/* ---- the whole switch: a fake DIAG port on a pty, then the 9008 appears ---- */

struct fake_diag {
	int master;
	const char *root;
	int requests;
	int result;
	bool answer; /* false: stay silent (a module that ignores DIAG) */
	volatile int stop;
};

static void *fake_diag_main(void *arg)
{
	struct fake_diag *f = arg;
	uint8_t buf[256];
	size_t len = 0;
	int64_t end = mfw_now_ms() + 15000;

	f->result = -ETIMEDOUT;
	while (mfw_now_ms() < end && !f->stop) {
		struct pollfd p = { f->master, POLLIN, 0 };
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = read(f->master, buf + len, sizeof(buf) - len);
		if (r <= 0)
			continue;
		len += (size_t)r;
		if (buf[len - 1] != 0x7e || len < 4)
			continue;
		f->requests++;
		/* 4B 65 01 00 (+ CRC 54 0F, flag 7E): reference diag.md worked vector */
		static const uint8_t edl[] = { 0x4b, 0x65, 0x01, 0x00, 0x54, 0x0f, 0x7e };
		const uint8_t *req = buf[0] == 0x7e ? buf + 1 : buf;
		size_t rl = len - (size_t)(req - buf);

		if (rl != sizeof(edl) || memcmp(req, edl, sizeof(edl))) {
			f->result = -EPROTO;
			return NULL;
		}
		if (!f->answer) {
			len = 0;
			continue;
		}
		/* the module echoes the request, then drops off the bus and comes back as 9008 */
		if (write(f->master, edl, sizeof(edl)) != (ssize_t)sizeof(edl)) {
			f->result = -EIO;
			return NULL;
		}
		struct timespec ts = { 0, 300 * 1000000L };
		nanosleep(&ts, NULL);
		f->result = f->root ? tree_add_edl(f->root) : 0;
		return NULL;
	}
	return NULL;
}

static int pty_as_node(const char *dev_dir, const char *name)
{
	char link[512];
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	assert_true(m >= 0);
	assert_int_equal(grantpt(m), 0);
	assert_int_equal(unlockpt(m), 0);
	snprintf(link, sizeof(link), "%s/%s", dev_dir, name);
	assert_int_equal(symlink(ptsname(m), link), 0);
	return m;
}

static void test_ensure_edl_switch(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct fake_diag f = { .answer = true };
	struct tmp_tree t;
	struct mfw_ctx *ctx;
	char dev_dir[320], spec[400], in[400];
	pthread_t th;

	(void)state;
	tree_copy(&t, "reenum");
	snprintf(dev_dir, sizeof(dev_dir), "%s/dev", t.dir);
	assert_int_equal(mkdir(dev_dir, 0700), 0);
	o.root = t.root;
	o.dev_dir = dev_dir;
	o.no_inhibit = true;
	f.root = t.root;
	f.master = pty_as_node(dev_dir, "ttyUSB0");
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_diag_main, &f), 0);
	/* -p /dev/ttyUSB2 names the AT port of the RM520N: its module is switched over DIAG */
	snprintf(in, sizeof(in), "%.300s/ttyUSB2", dev_dir);
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, in, spec, sizeof(spec), NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(f.result, 0);
	assert_int_equal(f.requests, 1);
	assert_string_equal(spec, "usb:1-5");
	close(f.master);
	mfw_ctx_free(ctx);
	tree_remove(&t);
}

/* A DIAG port sysfs does not know (the virtual modem's listener, a pty): switch only. */
static void test_switch_edl_unknown_port(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct fake_diag f = { .answer = true };
	struct tmp_tree t;
	struct mfw_ctx *ctx;
	char dev_dir[320], in[400], spec[64] = "x";
	pthread_t th;

	(void)state;
	tree_copy(&t, "empty");
	snprintf(dev_dir, sizeof(dev_dir), "%s/dev", t.dir);
	assert_int_equal(mkdir(dev_dir, 0700), 0);
	o.root = t.root;
	f.master = pty_as_node(dev_dir, "diag-link");
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_diag_main, &f), 0);
	snprintf(in, sizeof(in), "%.300s/diag-link", dev_dir);
	assert_int_equal(mfw_device_switch_edl(ctx, &o, in, spec, sizeof(spec), NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(f.result, 0);
	assert_int_equal(f.requests, 1);
	assert_string_equal(spec, ""); /* the caller knows where its EDL port appears */
	/* a module that ignores the switch: bounded retries, then a sentence */
	f = (struct fake_diag){ .answer = false, .master = f.master };
	assert_int_equal(pthread_create(&th, NULL, fake_diag_main, &f), 0);
	assert_int_equal(mfw_device_switch_edl(ctx, &o, in, spec, sizeof(spec), NULL), MFW_E_TIMEOUT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "switch to EDL"));
	f.stop = 1;
	pthread_join(th, NULL);
	close(f.master);
	assert_true(f.requests >= 1);
	mfw_ctx_free(ctx);
	tree_remove(&t);
}

static void test_ensure_edl_passthrough(void **state)
{
	struct mfw_device_opts o = { 0 };
	struct mfw_ctx *ctx;
	char root[512], spec[128];

	(void)state;
	assert_int_equal(mfw_ctx_new(&ctx), 0);
	snprintf(root, sizeof(root), "%s/edl-qcserial", MFW_SYSFS_DATA);
	o.root = root;
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, "auto", spec, sizeof(spec), NULL), 0);
	assert_string_equal(spec, "usb:1-2");
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, "/dev/ttyUSB0", spec, sizeof(spec), NULL), 0);
	assert_string_equal(spec, "/dev/ttyUSB0"); /* the user chose the qcserial tty: keep it */
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, "tcp:127.0.0.1:9008", spec, sizeof(spec), NULL),
			 0);
	assert_string_equal(spec, "tcp:127.0.0.1:9008");
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, "/tmp/emu-pty", spec, sizeof(spec), NULL), 0);
	assert_string_equal(spec, "/tmp/emu-pty");
	snprintf(root, sizeof(root), "%s/empty", MFW_SYSFS_DATA);
	assert_int_equal(mfw_device_ensure_edl(ctx, &o, NULL, spec, sizeof(spec), NULL), 0);
	assert_string_equal(spec, "auto"); /* nothing in sysfs: the caller's libusb scan decides */
	mfw_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec25),
		cmocka_unit_test(test_rm520n),
		cmocka_unit_test(test_pcie),
		cmocka_unit_test(test_edl_qcserial),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_missing_root),
		cmocka_unit_test(test_dev_dir),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_wait_edl),
		cmocka_unit_test(test_wait_edl_timeout),
		cmocka_unit_test(test_ensure_edl_switch),
		cmocka_unit_test(test_ensure_edl_passthrough),
		cmocka_unit_test(test_switch_edl_unknown_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
