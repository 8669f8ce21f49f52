/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Discovery from sysfs alone: no udev database, no daemon. USB devices
 * come from <root>/sys/bus/usb/devices (devices have idVendor/idProduct,
 * their interfaces are the "N-P:C.I" children), PCIe functions from
 * <root>/sys/bus/pci/devices, their MHI ports from <root>/sys/class/wwan.
 */
#include "device/catalog.h"
#include "device/internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A host with more than this many modems is not one we were built for. */
#define MAX_MODEMS 64

const char *mfw_dev_root(const struct mfw_device_opts *o)
{
	return o && o->root && o->root[0] ? o->root : "";
}

const char *mfw_dev_dir(const struct mfw_device_opts *o)
{
	return o && o->dev_dir && o->dev_dir[0] ? o->dev_dir : "/dev";
}

int mfw_dev_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int mfw_dev_read_attr(const char *dir, const char *name, char *buf, size_t cap)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	if (cap == 0 || mfw_dev_path(path, sizeof(path), "%s/%s", dir, name) < 0)
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (int)n;
}

static bool read_hex(const char *dir, const char *name, unsigned long *out)
{
	char buf[32], *end;

	if (mfw_dev_read_attr(dir, name, buf, sizeof(buf)) <= 0)
		return false;
	errno = 0;
	*out = strtoul(buf, &end, 16);
	return errno == 0 && end != buf;
}

/* Basename of a symlink's target ("driver" -> ".../drivers/option" gives "option"). */
static void link_base(const char *dir, const char *name, char *out, size_t cap)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;
	const char *slash;

	out[0] = '\0';
	if (mfw_dev_path(path, sizeof(path), "%s/%s", dir, name) < 0)
		return;
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	slash = strrchr(target, '/');
	str_copy(out, cap, slash ? slash + 1 : target);
}

/*
 * The real sysfs path of dir with the root prefix taken off:
 * "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1". Recorded trees keep
 * their symlinks relative, so realpath() stays inside the tree.
 */
static int sys_realpath(const char *root_real, const char *dir, char *out, size_t cap)
{
	char real[PATH_MAX];
	size_t rl = strlen(root_real);

	if (!realpath(dir, real))
		return -1;
	if (rl && strncmp(real, root_real, rl) == 0 && real[rl] == '/')
		return mfw_dev_path(out, cap, "%s", real + rl) < 0 ? -1 : 0;
	return mfw_dev_path(out, cap, "%s", real) < 0 ? -1 : 0;
}

/* The host controller part of a sysfs path: everything before "/usbN/" (USB) or the PCI function. */
static void host_of(const char *syspath, enum mfw_modem_bus bus, char *out, size_t cap)
{
	const char *p = syspath, *cut = NULL;

	if (bus == MFW_BUS_USB) {
		while ((p = strstr(p, "/usb")) != NULL) {
			if (isdigit((unsigned char)p[4])) {
				cut = p;
				break;
			}
			p += 4;
		}
	} else {
		cut = strrchr(syspath, '/');
	}
	if (!cut)
		cut = syspath + strlen(syspath);
	snprintf(out, cap, "%.*s", (int)(cut - syspath), syspath);
}

static struct mfw_modem_port *add_port(struct mfw_modem *m)
{
	struct mfw_modem_port *p;

	if (m->n_ports >= MFW_MODEM_MAX_PORTS)
		return NULL;
	p = &m->ports[m->n_ports++];
	memset(p, 0, sizeof(*p));
	p->interface = -1;
	return p;
}

static bool has_port_named(const struct mfw_modem *m, const char *name)
{
	for (size_t i = 0; i < m->n_ports; i++)
		if (!strcmp(m->ports[i].name, name))
			return true;
	return false;
}

static bool name_has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* The node a kernel name gets: DEVNAME from uevent when present, else the name itself. */
static void dev_node(const struct mfw_device_opts *o, const char *sysdir, const char *name,
		     char *out, size_t cap)
{
	char uevent[1024], *p;
	const char *devname = name;

	if (sysdir && mfw_dev_read_attr(sysdir, "uevent", uevent, sizeof(uevent)) > 0) {
		p = strstr(uevent, "DEVNAME=");
		if (p) {
			devname = p + 8;
			p = strchr(p, '\n');
			if (p)
				*p = '\0';
		}
	}
	if (mfw_dev_path(out, cap, "%s/%s", mfw_dev_dir(o), devname) < 0)
		out[0] = '\0';
}

/* Node-bearing children of one interface: ttyUSBn, tty/ttyACMn, usbmisc/cdc-wdmN, net/wwan0. */
static void scan_iface_children(const struct mfw_device_opts *o, struct mfw_modem *m,
				const char *ifdir, const struct mfw_usb_iface *ifc,
				enum mfw_port_role role, const char *usb_class)
{
	static const char *const subdirs[] = { "", "tty", "usbmisc", "net" };
	bool any = false;

	for (size_t s = 0; s < MFW_ARRAY_SIZE(subdirs); s++) {
		char dir[PATH_MAX];
		struct dirent *de;
		DIR *d;

		if (mfw_dev_path(dir, sizeof(dir), "%s%s%s", ifdir, subdirs[s][0] ? "/" : "",
				 subdirs[s]) < 0)
			continue;
		d = opendir(dir);
		if (!d)
			continue;
		while ((de = readdir(d)) != NULL) {
			const char *n = de->d_name;
			bool is_net = s == 3;
			struct mfw_modem_port *p;
			char child[PATH_MAX];

			if (n[0] == '.')
				continue;
			if (s == 0 && !name_has_prefix(n, "ttyUSB"))
				continue;
			if (s == 1 && !name_has_prefix(n, "tty"))
				continue;
			if (has_port_named(m, n) || !(p = add_port(m)))
				continue;
			any = true;
			p->role = role;
			p->interface = ifc->number;
			p->net = is_net;
			str_copy(p->name, sizeof(p->name), n);
			str_copy(p->driver, sizeof(p->driver), ifc->driver);
			str_copy(p->usb_class, sizeof(p->usb_class), usb_class);
			if (!is_net) {
				/* usb-serial ports keep the class device one level down: ttyUSB0/tty/ttyUSB0 */
				if (s == 0 && mfw_dev_path(child, sizeof(child), "%s/%s/tty/%s", dir, n,
							   n) >= 0 && access(child, F_OK) == 0)
					dev_node(o, child, n, p->dev, sizeof(p->dev));
				else if (mfw_dev_path(child, sizeof(child), "%s/%s", dir, n) >= 0)
					dev_node(o, child, n, p->dev, sizeof(p->dev));
			}
		}
		closedir(d);
	}
	if (!any) {
		/* an interface without a node still tells the user what is there (EDL without a driver) */
		struct mfw_modem_port *p = add_port(m);

		if (!p)
			return;
		p->role = role;
		p->interface = ifc->number;
		str_copy(p->driver, sizeof(p->driver), ifc->driver);
		str_copy(p->usb_class, sizeof(p->usb_class), usb_class);
	}
}

static void scan_usb_interfaces(const struct mfw_device_opts *o, struct mfw_modem *m,
				const char *devdir, const struct mfw_catalog_entry *e)
{
	struct dirent *de;
	DIR *d = opendir(devdir);
	size_t plen = strlen(m->path);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char ifdir[PATH_MAX], drv[32], cls[12];
		unsigned long num, c, sc, pr, eps;
		struct mfw_usb_iface ifc;
		enum mfw_port_role role;

		/* interfaces are "<path>:<config>.<n>" */
		if (strncmp(de->d_name, m->path, plen) || de->d_name[plen] != ':')
			continue;
		if (mfw_dev_path(ifdir, sizeof(ifdir), "%s/%s", devdir, de->d_name) < 0)
			continue;
		if (!read_hex(ifdir, "bInterfaceNumber", &num) || !read_hex(ifdir, "bInterfaceClass", &c))
			continue;
		if (!read_hex(ifdir, "bInterfaceSubClass", &sc))
			sc = 0;
		if (!read_hex(ifdir, "bInterfaceProtocol", &pr))
			pr = 0;
		link_base(ifdir, "driver", drv, sizeof(drv));
		ifc.number = (int)num;
		ifc.cls = (uint8_t)c;
		ifc.sub = (uint8_t)sc;
		ifc.proto = (uint8_t)pr;
		ifc.n_endpoints = read_hex(ifdir, "bNumEndpoints", &eps) ? (int)eps : -1;
		ifc.driver = drv;
		role = mfw_catalog_iface_role(e, m->mode, &ifc);
		snprintf(cls, sizeof(cls), "%02x/%02x/%02x", ifc.cls, ifc.sub, ifc.proto);
		scan_iface_children(o, m, ifdir, &ifc, role, cls);
	}
	closedir(d);
}

static int cmp_port(const void *a, const void *b)
{
	const struct mfw_modem_port *x = a, *y = b;

	if (x->interface != y->interface)
		return x->interface < y->interface ? -1 : 1;
	if (x->net != y->net)
		return x->net ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void fill_from_catalog(struct mfw_modem *m, const struct mfw_catalog_entry *e)
{
	if (!e) {
		snprintf(m->platform, sizeof(m->platform), "%s",
			 m->vid == 0x05c6 || m->vid == 0x2c7c || m->vid == 0x17cb ? "qualcomm" : "other");
		m->flashable = !strcmp(m->platform, "qualcomm");
		return;
	}
	m->known = true;
	m->mode = e->mode;
	str_copy(m->model, sizeof(m->model), e->model);
	str_copy(m->chip, sizeof(m->chip), e->chip);
	str_copy(m->platform, sizeof(m->platform), mfw_platform_name(e->platform));
	m->flashable = e->platform == MFW_PLATFORM_QCOM;
}

/* Mode of a device the catalog does not know, from the roles found. */
static void guess_mode(struct mfw_modem *m)
{
	if (m->mode != MFW_MODE_UNKNOWN)
		return;
	if (mfw_modem_port(m, MFW_ROLE_AT) || mfw_modem_port(m, MFW_ROLE_DIAG) ||
	    mfw_modem_port(m, MFW_ROLE_MBIM) || mfw_modem_port(m, MFW_ROLE_QMI))
		m->mode = MFW_MODE_NORMAL;
	else if (mfw_modem_port(m, MFW_ROLE_EDL))
		m->mode = MFW_MODE_EDL;
	else if (mfw_modem_port(m, MFW_ROLE_FASTBOOT))
		m->mode = MFW_MODE_FASTBOOT;
}

struct scan {
	struct mfw_ctx *ctx;
	const struct mfw_device_opts *o;
	char root_real[PATH_MAX];
	struct mfw_modem *v;
	size_t n, cap;
};

static struct mfw_modem *scan_add(struct scan *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		struct mfw_modem *nv;

		if (cap > MAX_MODEMS)
			return NULL;
		nv = realloc(s->v, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = cap;
	}
	memset(&s->v[s->n], 0, sizeof(s->v[s->n]));
	return &s->v[s->n++];
}

/* A USB device we do not catalogue is still a modem when it has a DIAG- or EDL-shaped interface. */
static bool usb_vendor_of_interest(uint16_t vid)
{
	return vid == 0x2c7c || vid == 0x05c6;
}

static int scan_usb(struct scan *s)
{
	char base[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (mfw_dev_path(base, sizeof(base), "%s/sys/bus/usb/devices", mfw_dev_root(s->o)) < 0)
		return mfw_fail(s->ctx, MFW_E_INVAL, "sysfs root '%s' is too long", mfw_dev_root(s->o));
	d = opendir(base);
	if (!d) {
		/* no USB at all (a container, a PCIe-only box): nothing to find here */
		mfw_dbg(s->ctx, "cannot read '%s' (%s), no USB devices", base, strerror(errno));
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		const struct mfw_catalog_entry *e;
		unsigned long vid, pid;
		char dir[PATH_MAX], buf[64];
		struct mfw_modem *m;

		/* devices only: interfaces have a ':', root hubs are usbN */
		if (de->d_name[0] == '.' || strchr(de->d_name, ':') || !strncmp(de->d_name, "usb", 3))
			continue;
		if (mfw_dev_path(dir, sizeof(dir), "%s/%s", base, de->d_name) < 0)
			continue;
		if (!read_hex(dir, "idVendor", &vid) || !read_hex(dir, "idProduct", &pid))
			continue;
		e = mfw_catalog_lookup(MFW_BUS_USB, (uint16_t)vid, (uint16_t)pid);
		if (!e && !usb_vendor_of_interest((uint16_t)vid))
			continue;
		m = scan_add(s);
		if (!m) {
			closedir(d);
			return mfw_fail(s->ctx, MFW_E_NOMEM, "too many modems (more than %d)", MAX_MODEMS);
		}
		m->bus = MFW_BUS_USB;
		m->vid = (uint16_t)vid;
		m->pid = (uint16_t)pid;
		str_copy(m->path, sizeof(m->path), de->d_name);
		if (sys_realpath(s->root_real, dir, m->syspath, sizeof(m->syspath)) < 0)
			mfw_dev_path(m->syspath, sizeof(m->syspath), "/sys/bus/usb/devices/%s", de->d_name);
		host_of(m->syspath, MFW_BUS_USB, m->host, sizeof(m->host));
		fill_from_catalog(m, e);
		if (!m->model[0] && mfw_dev_read_attr(dir, "product", buf, sizeof(buf)) > 0)
			str_copy(m->model, sizeof(m->model), buf);
		mfw_dev_read_attr(dir, "serial", m->serial, sizeof(m->serial));
		if (mfw_dev_read_attr(dir, "speed", buf, sizeof(buf)) > 0)
			m->speed_mbps = atoi(buf);
		mfw_dev_read_attr(dir, "power/control", m->power_control, sizeof(m->power_control));
		scan_usb_interfaces(s->o, m, dir, e);
		guess_mode(m);
		if (!e && m->mode == MFW_MODE_UNKNOWN) {
			/* a Quectel/Qualcomm id with nothing modem-shaped (a hub, a headset): not ours */
			s->n--;
			continue;
		}
	}
	closedir(d);
	return 0;
}

/* The MHI port type ("AT", "QCDM", ...): the sysfs attribute, or the name suffix on Linux 5.13. */
static enum mfw_port_role wwan_role(const char *dir, const char *name)
{
	static const struct {
		const char *type;
		enum mfw_port_role role;
	} map[] = {
		{ "AT", MFW_ROLE_AT },		 { "QCDM", MFW_ROLE_DIAG },
		{ "MBIM", MFW_ROLE_MBIM },	 { "QMI", MFW_ROLE_QMI },
		{ "FIREHOSE", MFW_ROLE_EDL },	 { "FASTBOOT", MFW_ROLE_FASTBOOT },
		{ "NMEA", MFW_ROLE_NMEA },	 { "ADB", MFW_ROLE_ADB },
	};
	char type[32];

	if (mfw_dev_read_attr(dir, "type", type, sizeof(type)) <= 0) {
		/* wwan0at0 -> "at": the letters between the device number and the port number */
		const char *p = name;
		size_t i = 0;

		while (*p && !isdigit((unsigned char)*p))
			p++;
		while (isdigit((unsigned char)*p))
			p++;
		while (*p && !isdigit((unsigned char)*p) && i + 1 < sizeof(type))
			type[i++] = (char)toupper((unsigned char)*p++);
		type[i] = '\0';
	}
	for (size_t i = 0; i < MFW_ARRAY_SIZE(map); i++)
		if (!strcmp(type, map[i].type))
			return map[i].role;
	return MFW_ROLE_UNKNOWN;
}

/* "wwan0": the WWAN device that groups the ports, not a port itself. */
static bool is_wwan_device(const char *name)
{
	size_t k = 4;

	if (strncmp(name, "wwan", 4) || !isdigit((unsigned char)name[4]))
		return false;
	while (isdigit((unsigned char)name[k]))
		k++;
	return name[k] == '\0';
}

/*
 * WWAN ports (/sys/class/wwan) and network interfaces (/sys/class/net)
 * that live below a modem's sysfs path belong to it: MHI ports on PCIe,
 * and the ports newer kernels create for USB modems too.
 */
static void attach_class(struct scan *s, const char *klass)
{
	char base[PATH_MAX];
	struct dirent *de;
	DIR *d;
	bool net = !strcmp(klass, "net");

	if (mfw_dev_path(base, sizeof(base), "%s/sys/class/%s", mfw_dev_root(s->o), klass) < 0)
		return;
	d = opendir(base);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		char dir[PATH_MAX], sp[256];

		if (de->d_name[0] == '.')
			continue;
		if (mfw_dev_path(dir, sizeof(dir), "%s/%s", base, de->d_name) < 0 ||
		    sys_realpath(s->root_real, dir, sp, sizeof(sp)) < 0)
			continue;
		for (size_t i = 0; i < s->n; i++) {
			struct mfw_modem *m = &s->v[i];
			size_t l = strlen(m->syspath);
			struct mfw_modem_port *p;
			enum mfw_port_role role;

			if (strncmp(sp, m->syspath, l) || sp[l] != '/' || has_port_named(m, de->d_name))
				continue;
			if (m->bus == MFW_BUS_USB && net)
				break; /* USB network interfaces were found through their interface */
			if (!net && is_wwan_device(de->d_name))
				break; /* "wwan0" itself is the WWAN device, not a port */
			role = net ? MFW_ROLE_NET : wwan_role(dir, de->d_name);
			p = add_port(m);
			if (!p)
				break;
			p->role = role;
			p->net = net;
			str_copy(p->name, sizeof(p->name), de->d_name);
			if (!net)
				dev_node(s->o, dir, de->d_name, p->dev, sizeof(p->dev));
			if (m->bus == MFW_BUS_PCIE)
				/* the port devices have no driver link: the MHI client drivers create them */
				str_copy(p->driver, sizeof(p->driver), net ? "mhi_net" : "mhi_wwan_ctrl");
			break;
		}
	}
	closedir(d);
}

static int scan_pci(struct scan *s)
{
	char base[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (mfw_dev_path(base, sizeof(base), "%s/sys/bus/pci/devices", mfw_dev_root(s->o)) < 0)
		return 0;
	d = opendir(base);
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		const struct mfw_catalog_entry *e;
		unsigned long vid, pid;
		char dir[PATH_MAX], drv[32];
		struct mfw_modem *m;

		if (de->d_name[0] == '.')
			continue;
		if (mfw_dev_path(dir, sizeof(dir), "%s/%s", base, de->d_name) < 0)
			continue;
		if (!read_hex(dir, "vendor", &vid) || !read_hex(dir, "device", &pid))
			continue;
		link_base(dir, "driver", drv, sizeof(drv));
		e = mfw_catalog_lookup(MFW_BUS_PCIE, (uint16_t)vid, (uint16_t)pid);
		/* an uncatalogued PCIe modem still shows itself by the MHI driver bound to it */
		if (!e && strcmp(drv, "mhi-pci-generic") && strcmp(drv, "mhi_pci_generic"))
			continue;
		m = scan_add(s);
		if (!m) {
			closedir(d);
			return mfw_fail(s->ctx, MFW_E_NOMEM, "too many modems (more than %d)", MAX_MODEMS);
		}
		m->bus = MFW_BUS_PCIE;
		m->vid = (uint16_t)vid;
		m->pid = (uint16_t)pid;
		str_copy(m->path, sizeof(m->path), de->d_name);
		if (sys_realpath(s->root_real, dir, m->syspath, sizeof(m->syspath)) < 0)
			mfw_dev_path(m->syspath, sizeof(m->syspath), "/sys/bus/pci/devices/%s", de->d_name);
		host_of(m->syspath, MFW_BUS_PCIE, m->host, sizeof(m->host));
		fill_from_catalog(m, e);
		if (!m->model[0])
			snprintf(m->model, sizeof(m->model), "PCIe modem %04lx:%04lx", vid, pid);
		str_copy(m->driver, sizeof(m->driver), drv);
		m->mode = MFW_MODE_UNKNOWN;
	}
	closedir(d);
	return 0;
}

/* PCIe mode from the MHI ports: a FIREHOSE port without AT/DIAG is the EDL (SBL) stage. */
static void pci_modes(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct mfw_modem *m = &s->v[i];

		if (m->bus != MFW_BUS_PCIE)
			continue;
		if (mfw_modem_port(m, MFW_ROLE_EDL) && !mfw_modem_port(m, MFW_ROLE_AT) &&
		    !mfw_modem_port(m, MFW_ROLE_DIAG))
			m->mode = MFW_MODE_EDL;
		else if (mfw_modem_port(m, MFW_ROLE_AT) || mfw_modem_port(m, MFW_ROLE_DIAG) ||
			 mfw_modem_port(m, MFW_ROLE_MBIM) || mfw_modem_port(m, MFW_ROLE_QMI))
			m->mode = MFW_MODE_NORMAL;
	}
}

static int cmp_modem(const void *a, const void *b)
{
	const struct mfw_modem *x = a, *y = b;

	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	return strcmp(x->path, y->path);
}

/*
 * conflicts: also scan /proc for ModemManager and port holders. Lookups
 * (pick, find, the EDL wait that re-scans every 250 ms) skip it: reading
 * every process's fd table is the expensive part and they do not need it.
 */
static int discover(struct mfw_ctx *ctx, const struct mfw_device_opts *o, bool conflicts,
		    struct mfw_modem **ret, size_t *n)
{
	struct scan s = { .ctx = ctx, .o = o };
	const char *root = mfw_dev_root(o);
	int r;

	*ret = NULL;
	*n = 0;
	if (root[0] && !realpath(root, s.root_real))
		return mfw_fail(ctx, MFW_E_NOENT, "sysfs root '%s' does not exist", root);
	r = scan_usb(&s);
	if (r == 0)
		r = scan_pci(&s);
	if (r < 0) {
		free(s.v);
		return r;
	}
	attach_class(&s, "wwan");
	attach_class(&s, "net");
	pci_modes(&s);
	for (size_t i = 0; i < s.n; i++)
		qsort(s.v[i].ports, s.v[i].n_ports, sizeof(s.v[i].ports[0]), cmp_port);
	if (s.n)
		qsort(s.v, s.n, sizeof(s.v[0]), cmp_modem);
	if (conflicts)
		mfw_dev_find_conflicts(ctx, o, s.v, s.n);
	mfw_trace(ctx, "discovery under '%s/sys': %zu modem(s)", root, s.n);
	if (s.n == 0) {
		free(s.v);
		s.v = NULL;
	}
	*ret = s.v;
	*n = s.n;
	return 0;
}

int mfw_discover(struct mfw_ctx *ctx, const struct mfw_device_opts *o, struct mfw_modem **ret,
		 size_t *n)
{
	return discover(ctx, o, true, ret, n);
}

void mfw_modems_free(struct mfw_modem *m)
{
	free(m);
}

const struct mfw_modem_port *mfw_modem_port(const struct mfw_modem *m, enum mfw_port_role role)
{
	/* a node to open beats a network interface or a node-less interface of the same role */
	const struct mfw_modem_port *fallback = NULL;

	for (size_t i = 0; i < m->n_ports; i++) {
		if (m->ports[i].role != role)
			continue;
		if (m->ports[i].dev[0])
			return &m->ports[i];
		if (!fallback)
			fallback = &m->ports[i];
	}
	return fallback;
}

const char *mfw_modem_mode_name(enum mfw_modem_mode mode)
{
	switch (mode) {
	case MFW_MODE_NORMAL:
		return "normal";
	case MFW_MODE_EDL:
		return "edl";
	case MFW_MODE_DUMP:
		return "dump";
	case MFW_MODE_FASTBOOT:
		return "fastboot";
	case MFW_MODE_UNKNOWN:
		break;
	}
	return "unknown";
}

const char *mfw_port_role_name(enum mfw_port_role role)
{
	static const char *const names[] = {
		[MFW_ROLE_UNKNOWN] = "unknown", [MFW_ROLE_AT] = "at",	    [MFW_ROLE_DIAG] = "diag",
		[MFW_ROLE_NMEA] = "nmea",	[MFW_ROLE_MODEM] = "modem", [MFW_ROLE_QMI] = "qmi",
		[MFW_ROLE_MBIM] = "mbim",	[MFW_ROLE_NET] = "net",	    [MFW_ROLE_EDL] = "edl",
		[MFW_ROLE_DUMP] = "dump",	[MFW_ROLE_ADB] = "adb",	    [MFW_ROLE_FASTBOOT] = "fastboot",
	};

	if ((size_t)role < MFW_ARRAY_SIZE(names) && names[role])
		return names[role];
	return "unknown";
}

const char *mfw_conflict_kind_name(enum mfw_conflict_kind kind)
{
	switch (kind) {
	case MFW_CONFLICT_MODEMMANAGER:
		return "modemmanager";
	case MFW_CONFLICT_DRIVER:
		return "driver";
	case MFW_CONFLICT_AUTOSUSPEND:
		return "autosuspend";
	case MFW_CONFLICT_HELD:
		return "held";
	case MFW_CONFLICT_PLATFORM:
		return "platform";
	}
	return "unknown";
}

/* ---- picking one ---- */

static void describe(const struct mfw_modem *m, char *out, size_t cap)
{
	snprintf(out, cap, "%s (%04x:%04x) at %s in %s mode", m->model[0] ? m->model : "modem",
		 m->vid, m->pid, m->path, mfw_modem_mode_name(m->mode));
}

/* The spec that opens port role of m: usb:PATH for USB EDL, else the node. */
static int spec_for(const struct mfw_modem *m, enum mfw_port_role want, char *spec, size_t cap)
{
	const struct mfw_modem_port *p = mfw_modem_port(m, want);

	if (!p)
		return -1;
	if (want == MFW_ROLE_EDL && m->bus == MFW_BUS_USB)
		return mfw_dev_path(spec, cap, "usb:%s", m->path) < 0 ? -1 : 0;
	if (!p->dev[0])
		return -1;
	return mfw_dev_path(spec, cap, "%s", p->dev) < 0 ? -1 : 0;
}

int mfw_discover_pick(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
		      enum mfw_port_role want, char *spec, size_t cap)
{
	struct mfw_modem *v;
	size_t n, hits = 0, hit = 0;
	char list[768] = "", one[160];
	int r;

	r = discover(ctx, o, false, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		char tmp[256];

		if (spec_for(&v[i], want, tmp, sizeof(tmp)) < 0)
			continue;
		if (hits++ == 0)
			hit = i;
		describe(&v[i], one, sizeof(one));
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s (%s)",
			 hits > 1 ? "; " : "", one, tmp);
	}
	if (hits == 1) {
		r = spec_for(&v[hit], want, spec, cap);
		if (r == 0)
			mfw_dbg(ctx, "auto: %s port of %s: %s", mfw_port_role_name(want), v[hit].path,
				spec);
		else
			r = mfw_fail(ctx, MFW_E_INVAL, "port spec too long for '%s'", v[hit].path);
	} else if (hits > 1) {
		r = mfw_fail(ctx, MFW_E_BUSY, "several modems have a port in role '%s': %s; choose one with -p",
			     mfw_port_role_name(want), list);
	} else if (n == 0) {
		r = mfw_fail(ctx, MFW_E_NODEV, "no modem found");
	} else {
		for (size_t i = 0; i < n; i++) {
			describe(&v[i], one, sizeof(one));
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i ? "; " : "", one);
		}
		r = mfw_fail(ctx, MFW_E_NODEV, "no modem has a port in role '%s'; found %s%s",
			     mfw_port_role_name(want), list,
			     want == MFW_ROLE_EDL ? " (switch it with 'modemfw edl')" : "");
	}
	mfw_modems_free(v);
	return r;
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

int mfw_discover_find(struct mfw_ctx *ctx, const struct mfw_device_opts *o, const char *spec,
		      struct mfw_modem *ret_modem, int *ret_port)
{
	char real[PATH_MAX];
	const char *name = NULL;
	struct mfw_modem *v;
	size_t n;
	int r;

	if (!spec)
		return mfw_fail(ctx, MFW_E_INVAL, "no port given");
	if (spec[0] == '/')
		/* /dev/serial/by-id/... links resolve to the kernel name */
		name = base_name(realpath(spec, real) ? real : spec);
	else if (strncmp(spec, "usb:", 4))
		return mfw_fail(ctx, MFW_E_NOENT, "'%s' is not a local device", spec);
	r = discover(ctx, o, false, &v, &n);
	if (r < 0)
		return r;
	r = mfw_fail(ctx, MFW_E_NOENT, "no discovered modem owns '%s'", spec);
	for (size_t i = 0; i < n && r < 0; i++) {
		if (!name) {
			if (v[i].bus == MFW_BUS_USB && !strcmp(v[i].path, spec + 4)) {
				*ret_modem = v[i];
				*ret_port = -1;
				r = 0;
			}
			continue;
		}
		for (size_t k = 0; k < v[i].n_ports; k++) {
			const struct mfw_modem_port *p = &v[i].ports[k];

			if (!p->dev[0] || (strcmp(p->dev, spec) && strcmp(p->name, name)))
				continue;
			*ret_modem = v[i];
			*ret_port = (int)k;
			r = 0;
			break;
		}
	}
	if (r == 0)
		mfw_ctx_clear_detail(ctx);
	mfw_modems_free(v);
	return r;
}

/* ---- waiting for EDL ---- */

static bool was_there(const struct mfw_modem *m, const struct mfw_modem *before, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (before[i].bus == m->bus && before[i].vid == m->vid && before[i].pid == m->pid &&
		    !strcmp(before[i].path, m->path) && before[i].mode == m->mode)
			return true;
	return false;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int mfw_discover_wait_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const struct mfw_modem *was, const struct mfw_modem *before, size_t n_before,
			  mfw_deadline_t deadline, char *spec, size_t cap)
{
	int64_t start = mfw_now_ms();
	int scans = 0;

	for (;;) {
		struct mfw_modem *v;
		size_t n, fresh = 0, same_host = 0, pick_any = 0, pick_host = 0;
		int r;

		r = discover(ctx, o, false, &v, &n);
		if (r < 0)
			return r;
		scans++;
		for (size_t i = 0; i < n; i++) {
			if (v[i].mode != MFW_MODE_EDL || !mfw_modem_port(&v[i], MFW_ROLE_EDL) ||
			    was_there(&v[i], before, n_before))
				continue;
			fresh++;
			pick_any = i;
			if (was && !strcmp(v[i].host, was->host)) {
				same_host++;
				pick_host = i;
			}
		}
		if (fresh == 1 || same_host == 1) {
			const struct mfw_modem *m = &v[same_host == 1 ? pick_host : pick_any];

			r = spec_for(m, MFW_ROLE_EDL, spec, cap);
			if (r < 0)
				r = mfw_fail(ctx, MFW_E_INVAL, "port spec too long for '%s'", m->path);
			else
				mfw_notice(ctx, "%s (%04x:%04x) appeared at %s after %lld ms%s", m->model,
					   m->vid, m->pid, m->path, (long long)(mfw_now_ms() - start),
					   was && strcmp(m->path, was->path)
						   ? " (a new USB path: the module re-enumerated)"
						   : "");
			mfw_modems_free(v);
			return r;
		}
		mfw_modems_free(v);
		if (fresh > 1)
			return mfw_fail(ctx, MFW_E_BUSY,
					"%zu new EDL devices appeared and none is under the old host controller; choose one with -p usb:PATH",
					fresh);
		if (mfw_cancelled(ctx))
			return mfw_fail(ctx, MFW_E_CANCELLED, "cancelled while waiting for EDL");
		if (mfw_deadline_passed(deadline))
			break;
		sleep_ms(mfw_deadline_left(deadline) < MFW_DEV_POLL_MS ? mfw_deadline_left(deadline)
								       : MFW_DEV_POLL_MS);
	}
	return mfw_fail(ctx, MFW_E_TIMEOUT,
			"no EDL device (05c6:9008) appeared within %lld ms (%d scans of sysfs): the firmware "
			"ignored the switch or the host did not see the new device. Hardware fallback: power "
			"the module off, set its USB_BOOT strap (on EC25-class modules: pulled up to VDD_EXT, "
			"1.8 V; see the module's hardware design guide), power it on, then release the strap "
			"once 05c6:9008 shows up",
			(long long)(mfw_now_ms() - start), scans);
}
