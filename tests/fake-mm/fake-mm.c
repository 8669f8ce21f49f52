/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A stand-in for ModemManager on a private D-Bus, for tests: owns
 * org.freedesktop.ModemManager1, lists one modem whose Device property is
 * --device, implements InhibitDevice(s uid, b inhibit) the way the real
 * daemon behaves (unknown uid: an error; an inhibition ends when its caller
 * says so or leaves the bus) and writes one line per event to --log:
 *   ready
 *   inhibit UID true SENDER | inhibit UID false SENDER
 *   released UID SENDER-left-the-bus
 *   refused UID (why)
 * Runs until SIGTERM or --timeout seconds (default 120) pass.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-bus.h>

#define MM_NAME "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MODEM_PATH MM_PATH "/Modem/0"
#define MAX_INHIBIT 8

static const char *device_uid;
static bool refuse;
static FILE *log_f;
static volatile sig_atomic_t stop;

static struct {
	char uid[256];
	char sender[64];
} held[MAX_INHIBIT];

static void logline(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(log_f, fmt, ap);
	va_end(ap);
	fputc('\n', log_f);
	fflush(log_f);
}

static int method_inhibit(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	const char *uid, *sender = sd_bus_message_get_sender(m);
	int on, r;

	(void)userdata;
	r = sd_bus_message_read(m, "sb", &uid, &on);
	if (r < 0)
		return r;
	if (refuse) {
		logline("refused %s (told to refuse)", uid);
		return sd_bus_error_set(err, MM_NAME ".Error.Core.Unauthorized", "inhibition not allowed");
	}
	if (strcmp(uid, device_uid)) {
		logline("refused %s (unknown uid)", uid);
		return sd_bus_error_setf(err, MM_NAME ".Error.Core.NotFound", "No device found with uid '%s'",
					 uid);
	}
	logline("inhibit %s %s %s", uid, on ? "true" : "false", sender ? sender : "?");
	for (int i = 0; i < MAX_INHIBIT; i++) {
		if (on && !held[i].uid[0]) {
			snprintf(held[i].uid, sizeof(held[i].uid), "%s", uid);
			snprintf(held[i].sender, sizeof(held[i].sender), "%s", sender ? sender : "");
			break;
		}
		if (!on && !strcmp(held[i].uid, uid) && sender && !strcmp(held[i].sender, sender)) {
			held[i].uid[0] = '\0';
			break;
		}
	}
	return sd_bus_reply_method_return(m, "");
}

static int on_name_owner(sd_bus_message *m, void *userdata, sd_bus_error *err)
{
	const char *name, *old_owner, *new_owner;

	(void)userdata;
	(void)err;
	if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0)
		return 0;
	if (new_owner[0])
		return 0;
	for (int i = 0; i < MAX_INHIBIT; i++) {
		if (held[i].uid[0] && !strcmp(held[i].sender, name)) {
			logline("released %s %s-left-the-bus", held[i].uid, name);
			held[i].uid[0] = '\0';
		}
	}
	return 0;
}

static int get_device(sd_bus *bus, const char *path, const char *iface, const char *prop,
		      sd_bus_message *reply, void *userdata, sd_bus_error *err)
{
	(void)bus;
	(void)path;
	(void)iface;
	(void)prop;
	(void)userdata;
	(void)err;
	return sd_bus_message_append(reply, "s", device_uid);
}

static const sd_bus_vtable manager_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("InhibitDevice", "sb", "", method_inhibit, SD_BUS_VTABLE_UNPRIVILEGED),
	SD_BUS_VTABLE_END,
};

static const sd_bus_vtable modem_vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_PROPERTY("Device", "s", get_device, 0, SD_BUS_VTABLE_PROPERTY_CONST),
	SD_BUS_VTABLE_END,
};

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *address = NULL, *log_path = NULL;
	sd_bus *bus = NULL;
	long timeout_s = 120;
	time_t end;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--address") && i + 1 < argc)
			address = argv[++i];
		else if (!strcmp(argv[i], "--device") && i + 1 < argc)
			device_uid = argv[++i];
		else if (!strcmp(argv[i], "--log") && i + 1 < argc)
			log_path = argv[++i];
		else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout_s = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--refuse"))
			refuse = true;
		else {
			fprintf(stderr, "usage: fake-mm --address ADDR --device UID --log FILE "
					"[--timeout S] [--refuse]\n");
			return 2;
		}
	}
	if (!address || !device_uid || !log_path) {
		fprintf(stderr, "fake-mm: --address, --device and --log are required\n");
		return 2;
	}
	log_f = fopen(log_path, "a");
	if (!log_f) {
		perror(log_path);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, address)) < 0 ||
	    (r = sd_bus_set_bus_client(bus, 1)) < 0 || (r = sd_bus_start(bus)) < 0) {
		fprintf(stderr, "fake-mm: cannot connect to %s: %s\n", address, strerror(-r));
		return 1;
	}
	if ((r = sd_bus_add_object_vtable(bus, NULL, MM_PATH, MM_NAME, manager_vtable, NULL)) < 0 ||
	    (r = sd_bus_add_object_vtable(bus, NULL, MODEM_PATH, MM_NAME ".Modem", modem_vtable,
					  NULL)) < 0 ||
	    (r = sd_bus_add_object_manager(bus, NULL, MM_PATH)) < 0 ||
	    (r = sd_bus_match_signal(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
				     "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner,
				     NULL)) < 0 ||
	    (r = sd_bus_request_name(bus, MM_NAME, 0)) < 0) {
		fprintf(stderr, "fake-mm: setup failed: %s\n", strerror(-r));
		return 1;
	}
	logline("ready");
	end = time(NULL) + timeout_s;
	while (!stop && time(NULL) < end) {
		r = sd_bus_process(bus, NULL);
		if (r < 0) {
			fprintf(stderr, "fake-mm: %s\n", strerror(-r));
			break;
		}
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, 500 * 1000ULL);
		if (r < 0 && r != -EINTR)
			break;
	}
	sd_bus_flush_close_unref(bus);
	fclose(log_f);
	return 0;
}
