/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What stands between modemfw and a module's ports, each turned into one
 * sentence: ModemManager (found in /proc; inhibited over D-Bus for the
 * length of an operation), a tty driver on the EDL interface libusb needs,
 * USB autosuspend, a port another process holds open, a platform without
 * DIAG/Firehose. Reference: quectel-at-usb.md sections 4 and 5.
 */
#include "device/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef MFW_HAVE_SDBUS
#include <systemd/sd-bus.h>
#endif

void mfw_dev_add_conflict(struct mfw_modem *m, enum mfw_conflict_kind kind, const char *port,
			  long pid, const char *fmt, ...)
{
	struct mfw_modem_conflict *c;
	va_list ap;

	if (m->n_conflicts >= MFW_MODEM_MAX_CONFLICTS)
		return;
	c = &m->conflicts[m->n_conflicts++];
	c->kind = kind;
	c->pid = pid;
	str_copy(c->port, sizeof(c->port), port ? port : "");
	va_start(ap, fmt);
	vsnprintf(c->what, sizeof(c->what), fmt, ap);
	va_end(ap);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static bool has_conflict(const struct mfw_modem *m, enum mfw_conflict_kind kind, const char *port,
			 long pid)
{
	for (size_t i = 0; i < m->n_conflicts; i++)
		if (m->conflicts[i].kind == kind && m->conflicts[i].pid == pid &&
		    !strcmp(m->conflicts[i].port, port))
			return true;
	return false;
}

/* An fd link target ("/dev/ttyUSB2") against the ports of every modem. */
static void match_holder(const struct mfw_device_opts *o, struct mfw_modem *v, size_t n,
			 const char *target, long pid, const char *comm)
{
	const char *dev_dir = mfw_dev_dir(o);
	size_t dl = strlen(dev_dir);
	const char *name;

	if (!strncmp(target, "/dev/", 5))
		name = target + 5;
	else if (!strncmp(target, dev_dir, dl) && target[dl] == '/')
		name = target + dl + 1;
	else
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < v[i].n_ports; k++) {
			const struct mfw_modem_port *p = &v[i].ports[k];
			bool mm = !strcmp(comm, "ModemManager");

			if (!p->dev[0] || (strcmp(p->dev, target) && strcmp(p->name, name)))
				continue;
			if (has_conflict(&v[i], MFW_CONFLICT_HELD, p->name, pid))
				continue;
			mfw_dev_add_conflict(&v[i], MFW_CONFLICT_HELD, p->name, pid,
					     "%s is open in pid %ld (%s): modemfw opens ports exclusively "
					     "and would find it busy; %s",
					     p->dev, pid, comm[0] ? comm : "?",
					     mm ? "inhibiting ModemManager, which modemfw does for each "
						  "operation, makes it close the port"
						: "close that program first");
		}
	}
}

/*
 * One pass over <root>/proc: the ModemManager pid (comm is exactly
 * "ModemManager") and, when v is given, the processes holding a port open
 * (their fd links). Processes we may not look into are skipped.
 */
static long scan_proc(const struct mfw_device_opts *o, struct mfw_modem *v, size_t n)
{
	const char *root = mfw_dev_root(o);
	char base[PATH_MAX];
	struct dirent *de;
	long mm = 0, self = root[0] ? -1 : (long)getpid();
	DIR *d;

	if (mfw_dev_path(base, sizeof(base), "%s/proc", root) < 0)
		return 0;
	d = opendir(base);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char dir[PATH_MAX], comm[64], fddir[PATH_MAX];
		struct dirent *fe;
		long pid;
		DIR *fdd;

		if (!all_digits(de->d_name))
			continue;
		pid = strtol(de->d_name, NULL, 10);
		if (pid == self || mfw_dev_path(dir, sizeof(dir), "%s/%s", base, de->d_name) < 0)
			continue;
		if (mfw_dev_read_attr(dir, "comm", comm, sizeof(comm)) < 0)
			continue;
		if (!strcmp(comm, "ModemManager") && !mm)
			mm = pid;
		if (!n || mfw_dev_path(fddir, sizeof(fddir), "%s/fd", dir) < 0)
			continue;
		fdd = opendir(fddir);
		if (!fdd)
			continue;
		while ((fe = readdir(fdd)) != NULL) {
			char link[PATH_MAX], target[PATH_MAX];
			ssize_t l;

			if (fe->d_name[0] == '.' ||
			    mfw_dev_path(link, sizeof(link), "%s/%s", fddir, fe->d_name) < 0)
				continue;
			l = readlink(link, target, sizeof(target) - 1);
			if (l <= 0)
				continue;
			target[l] = '\0';
			match_holder(o, v, n, target, pid, comm);
		}
		closedir(fdd);
	}
	closedir(d);
	return mm;
}

int mfw_mm_running_pid(const struct mfw_device_opts *o)
{
	return (int)scan_proc(o, NULL, 0);
}

static bool is_tty_driver(const char *drv)
{
	return !strcmp(drv, "qcserial") || !strcmp(drv, "option") || !strcmp(drv, "usb_serial_simple") ||
	       !strcmp(drv, "qcaux");
}

static void driver_conflicts(struct mfw_modem *m)
{
	for (size_t k = 0; k < m->n_ports; k++) {
		const struct mfw_modem_port *p = &m->ports[k];

		if ((p->role == MFW_ROLE_EDL || p->role == MFW_ROLE_DUMP) && m->bus == MFW_BUS_USB &&
		    is_tty_driver(p->driver)) {
			mfw_dev_add_conflict(m, MFW_CONFLICT_DRIVER, p->name, 0,
					     "'%s' is bound to the %s interface%s%s: with -p usb:%s (what "
					     "auto picks) libusb detaches it for the operation (the tty "
					     "disappears meanwhile) and re-attaches it afterwards; -p %s "
					     "uses the tty and leaves the driver bound",
					     p->driver, p->role == MFW_ROLE_EDL ? "EDL" : "crash-dump",
					     p->name[0] ? " as " : "", p->name, m->path,
					     p->dev[0] ? p->dev : "/dev/ttyUSBn");
			continue;
		}
		if (m->mode == MFW_MODE_NORMAL && m->bus == MFW_BUS_USB &&
		    (p->role == MFW_ROLE_DIAG || p->role == MFW_ROLE_AT) && !p->driver[0] &&
		    !p->dev[0])
			mfw_dev_add_conflict(m, MFW_CONFLICT_DRIVER, "", 0,
					     "no driver is bound to the %s interface %d, so it has no "
					     "/dev node: the kernel's option driver does not know "
					     "%04x:%04x; bind it with 'echo %04x %04x > "
					     "/sys/bus/usb-serial/drivers/option1/new_id'",
					     mfw_port_role_name(p->role), p->interface, m->vid, m->pid,
					     m->vid, m->pid);
	}
}

/* By kind, keeping the order within a kind: ModemManager first, as it explains the "held" lines. */
static void sort_conflicts(struct mfw_modem *m)
{
	for (size_t i = 1; i < m->n_conflicts; i++) {
		struct mfw_modem_conflict c = m->conflicts[i];
		size_t k = i;

		while (k > 0 && m->conflicts[k - 1].kind > c.kind) {
			m->conflicts[k] = m->conflicts[k - 1];
			k--;
		}
		m->conflicts[k] = c;
	}
}

void mfw_dev_find_conflicts(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			    struct mfw_modem *v, size_t n)
{
	long mm;

	if (!n)
		return;
	mm = scan_proc(o, v, n);
	for (size_t i = 0; i < n; i++) {
		struct mfw_modem *m = &v[i];

		/* ModemManager ignores 9008/900e (ID_MM_DEVICE_IGNORE); it probes running modules */
		if (mm && m->mode == MFW_MODE_NORMAL)
			mfw_dev_add_conflict(m, MFW_CONFLICT_MODEMMANAGER, "", mm,
					     "ModemManager (pid %ld) is running and probes the AT, DIAG "
					     "and QMI ports of running modules: modemfw inhibits this "
					     "device over D-Bus (InhibitDevice) for each operation and "
					     "releases it at the end",
					     mm);
		driver_conflicts(m);
		if (!strcmp(m->power_control, "auto"))
			mfw_dev_add_conflict(m, MFW_CONFLICT_AUTOSUSPEND, "", 0,
					     "USB autosuspend is on for %s (power/control is 'auto'): "
					     "ports stay awake while modemfw holds them open, but the "
					     "module may suspend between steps; modemfw leaves the "
					     "setting alone: to turn it off run 'echo on > "
					     "/sys/bus/usb/devices/%s/power/control'",
					     m->path, m->path);
		if (!m->flashable)
			mfw_dev_add_conflict(m, MFW_CONFLICT_PLATFORM, "", 0,
					     "%s is a %s part: it has no DIAG and no Sahara/Firehose, so "
					     "modemfw cannot flash or back it up; it needs its vendor's "
					     "download tool",
					     m->model, m->platform);
	}
	for (size_t i = 0; i < n; i++)
		sort_conflicts(&v[i]);
	mfw_dbg(ctx, "conflicts: ModemManager %s", mm ? "running" : "not running");
}

/* ---- ModemManager over D-Bus ---- */

#define MM_NAME "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MM_DEFAULT_BUS "unix:path=/run/dbus/system_bus_socket"
/*
 * InhibitDevice makes ModemManager close every port of the modem before it
 * answers; a port in the middle of a probe takes a few seconds (its QCDM
 * probe alone waits 3 s, plus one retry). 15 s leaves room without letting
 * a wedged daemon hold an operation for long.
 */
#define MM_CALL_TIMEOUT_US (15ULL * 1000 * 1000)

#ifdef MFW_HAVE_SDBUS

struct mfw_mm_inhibit {
	struct mfw_ctx *ctx;
	sd_bus *bus;
	char uid[256];
};

static bool same_device(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t l = la < lb ? la : lb;

	if (strncmp(a, b, l))
		return false;
	return la == lb || (la > lb ? a[l] : b[l]) == '/';
}

/* Skip to the modem's Device property in GetManagedObjects: a{oa{sa{sv}}}. */
static int find_uid(sd_bus *bus, const char *syspath, char *uid, size_t cap)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int r, found = 0, near = 0;

	r = sd_bus_call_method(bus, MM_NAME, MM_PATH, "org.freedesktop.DBus.ObjectManager",
			       "GetManagedObjects", &err, &reply, "");
	sd_bus_error_free(&err);
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && !found && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
		const char *obj;

		if ((r = sd_bus_message_read(reply, "o", &obj)) < 0 ||
		    (r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}")) < 0)
			break;
		while (!found && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
			const char *iface;

			if ((r = sd_bus_message_read(reply, "s", &iface)) < 0)
				break;
			if (strcmp(iface, MM_NAME ".Modem")) {
				r = sd_bus_message_skip(reply, "a{sv}");
			} else if ((r = sd_bus_message_enter_container(reply, 'a', "{sv}")) >= 0) {
				while (!found && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
					const char *key, *val;

					if ((r = sd_bus_message_read(reply, "s", &key)) < 0)
						break;
					if (!strcmp(key, "Device") &&
					    sd_bus_message_read(reply, "v", "s", &val) >= 0) {
						if (!strcmp(val, syspath)) {
							str_copy(uid, cap, val);
							found = 1;
						} else if (!near && same_device(val, syspath)) {
							/* an internal hub: Device is a parent or child of our path */
							str_copy(uid, cap, val);
							near = 1;
						}
					} else {
						r = sd_bus_message_skip(reply, "v");
					}
					if (found)
						break;
					sd_bus_message_exit_container(reply);
				}
				if (!found && r >= 0)
					r = sd_bus_message_exit_container(reply);
			}
			if (found || r < 0)
				break;
			sd_bus_message_exit_container(reply);
		}
		if (found || r < 0)
			break;
		sd_bus_message_exit_container(reply);
		sd_bus_message_exit_container(reply);
	}
	sd_bus_message_unref(reply);
	return found || near ? 1 : (r < 0 ? r : 0);
}

static int bus_open(struct mfw_ctx *ctx, const char *address, sd_bus **ret)
{
	const char *addr = address && address[0] ? address : MM_DEFAULT_BUS;
	sd_bus *bus = NULL;
	int r;

	r = sd_bus_new(&bus);
	if (r < 0)
		return mfw_fail(ctx, MFW_E_NOMEM, "cannot allocate a D-Bus connection: %s", strerror(-r));
	if ((r = sd_bus_set_address(bus, addr)) < 0 || (r = sd_bus_set_bus_client(bus, 1)) < 0 ||
	    (r = sd_bus_set_method_call_timeout(bus, MM_CALL_TIMEOUT_US)) < 0 ||
	    (r = sd_bus_start(bus)) < 0) {
		sd_bus_unref(bus);
		return mfw_fail(ctx, MFW_E_IO, "cannot connect to the D-Bus system bus at '%s': %s",
				addr, strerror(-r));
	}
	*ret = bus;
	return 0;
}

/* 1 when ModemManager owns its name on the bus, 0 when not. */
static int mm_on_bus(sd_bus *bus)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	int has = 0, r;

	r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
			       "org.freedesktop.DBus", "NameHasOwner", &err, &reply, "s", MM_NAME);
	sd_bus_error_free(&err);
	if (r >= 0 && sd_bus_message_read(reply, "b", &has) < 0)
		has = 0;
	sd_bus_message_unref(reply);
	return r < 0 ? r : has;
}

static int call_inhibit(sd_bus *bus, const char *uid, int on, char *why, size_t cap)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	r = sd_bus_call_method(bus, MM_NAME, MM_PATH, MM_NAME, "InhibitDevice", &err, NULL, "sb",
			       uid, on);
	if (r < 0)
		str_copy(why, cap, err.message ? err.message : strerror(-r));
	sd_bus_error_free(&err);
	return r;
}

int mfw_mm_inhibit(struct mfw_ctx *ctx, const char *dbus_address, const char *syspath,
		   struct mfw_mm_inhibit **ret)
{
	struct mfw_mm_inhibit *h;
	char why[256];
	int r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	h->ctx = ctx;
	r = bus_open(ctx, dbus_address, &h->bus);
	if (r < 0)
		goto out_free;
	r = mm_on_bus(h->bus);
	if (r <= 0) {
		r = mfw_fail(ctx, MFW_E_NOENT, "ModemManager is not on the D-Bus system bus");
		goto out_close;
	}
	if (find_uid(h->bus, syspath, h->uid, sizeof(h->uid)) <= 0)
		/* not listed (yet): ModemManager keys devices by their sysfs path */
		str_copy(h->uid, sizeof(h->uid), syspath);
	r = call_inhibit(h->bus, h->uid, 1, why, sizeof(why));
	if (r < 0) {
		r = mfw_fail(ctx, MFW_E_IO, "ModemManager refused to inhibit '%s': %s", h->uid, why);
		goto out_close;
	}
	mfw_dbg(ctx, "ModemManager: inhibited '%s'", h->uid);
	*ret = h;
	return 0;

out_close:
	sd_bus_flush_close_unref(h->bus);
out_free:
	free(h);
	return r;
}

void mfw_mm_uninhibit(struct mfw_mm_inhibit *h)
{
	char why[256];

	if (!h)
		return;
	/* closing the connection alone would also release it; saying so is faster and explicit */
	if (call_inhibit(h->bus, h->uid, 0, why, sizeof(why)) < 0)
		mfw_dbg(h->ctx, "ModemManager: uninhibit '%s' failed (%s); closing the connection releases it",
			h->uid, why);
	sd_bus_flush_close_unref(h->bus);
	free(h);
}

const char *mfw_mm_inhibit_uid(const struct mfw_mm_inhibit *h)
{
	return h ? h->uid : "";
}

#else /* !MFW_HAVE_SDBUS */

struct mfw_mm_inhibit {
	char uid[1];
};

int mfw_mm_inhibit(struct mfw_ctx *ctx, const char *dbus_address, const char *syspath,
		   struct mfw_mm_inhibit **ret)
{
	(void)dbus_address;
	(void)syspath;
	(void)ret;
	return mfw_fail(ctx, MFW_E_UNSUPPORTED, "built without D-Bus support (libsystemd)");
}

void mfw_mm_uninhibit(struct mfw_mm_inhibit *h)
{
	(void)h;
}

const char *mfw_mm_inhibit_uid(const struct mfw_mm_inhibit *h)
{
	(void)h;
	return "";
}

#endif

/* ---- guard for one operation ---- */

struct mfw_device_guard {
	struct mfw_ctx *ctx;
	struct mfw_mm_inhibit *mm;
	char path[32];
};

#define MM_FALLBACK                                                                          \
	"stop it for the operation ('systemctl stop ModemManager') or make it ignore the "   \
	"module with a udev rule setting ENV{ID_MM_DEVICE_IGNORE}=\"1\""

int mfw_device_prepare(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
		       const struct mfw_modem *m, struct mfw_device_guard **ret)
{
	struct mfw_device_guard *g;
	long pid;
	int r;

	g = calloc(1, sizeof(*g));
	if (!g)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	g->ctx = ctx;
	str_copy(g->path, sizeof(g->path), m->path);
	*ret = g;
	/* ModemManager leaves EDL and crash-dump devices alone (ID_MM_DEVICE_IGNORE) */
	if (m->mode != MFW_MODE_NORMAL)
		return 0;
	pid = mfw_mm_running_pid(o);
	if (o && o->no_inhibit) {
		if (pid)
			mfw_warn(ctx, "ModemManager (pid %ld) is running and --no-inhibit was given: it "
				      "may probe %s's ports during the operation",
				 pid, m->path);
		return 0;
	}
	r = mfw_mm_inhibit(ctx, o ? o->dbus_address : NULL, m->syspath, &g->mm);
	if (r == 0) {
		mfw_notice(ctx, "ModemManager manages %s: inhibited it over D-Bus (InhibitDevice "
				"'%s') so it closes the ports for this operation; it gets the modem "
				"back when modemfw is done",
			   m->path, mfw_mm_inhibit_uid(g->mm));
		return 0;
	}
	if (pid)
		mfw_warn(ctx, "ModemManager (pid %ld) is running but could not be inhibited (%s): it "
			      "may probe the ports and corrupt the exchange; " MM_FALLBACK,
			 pid, mfw_ctx_detail(ctx));
	else
		mfw_dbg(ctx, "ModemManager not reachable (%s), nothing to inhibit", mfw_ctx_detail(ctx));
	mfw_ctx_clear_detail(ctx);
	return 0;
}

void mfw_device_release(struct mfw_device_guard *g)
{
	if (!g)
		return;
	if (g->mm) {
		mfw_mm_uninhibit(g->mm);
		mfw_notice(g->ctx, "released the ModemManager inhibition of %s", g->path);
	}
	free(g);
}
