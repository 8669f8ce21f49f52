/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Normal mode: the module boots its firmware (NV store loaded from the
 * efs2 region), the AT and DIAG ports appear (one listener and one thread
 * each), and stay until the host sends the DIAG switch to EDL. Then the
 * ports go away, as USB interfaces do when a module re-enumerates, and the
 * boot ROM serves on the EDL spec (mfw_emu_serve() in its EDL form) until
 * a reset, after which the firmware boots again.
 */
#include "normal.h"
#include "fota.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a port thread or the boot loop looks at the stop flags (the tool promises 200 ms). */
#define NORMAL_POLL_MS 100
/* A host that takes no bytes for this long has gone (the EDL side uses the same 30 s). */
#define EMU_PORT_TX_MS 30000
#define SPEC_MAX 512

struct port {
	struct emu_normal *nm;
	const char *what;           /* "AT", "DIAG" */
	char spec[SPEC_MAX];        /* tcp port 0 becomes the port the kernel chose, once */
	char bound[SPEC_MAX];
	struct mfw_ctx *ctx;        /* the thread's own: detail sentences are per thread */
	struct mfw_listener *l;
	int usb_iface;              /* spec "usbredir": this interface of the USB device, else -1 */
	pthread_t thread;
	bool running;
};

bool emu_normal_down(const struct emu_normal *nm)
{
	return atomic_load(&nm->down) || emu_stopping(nm->emu) || mfw_cancelled(nm->emu->ctx);
}

int emu_port_read(struct emu_normal *nm, struct mfw_transport *t, void *buf, size_t cap,
		  mfw_deadline_t deadline)
{
	for (;;) {
		mfw_deadline_t slice = mfw_deadline_min(deadline, mfw_deadline_in(NORMAL_POLL_MS));
		int r;

		if (emu_normal_down(nm))
			return MFW_E_CANCELLED;
		r = mfw_transport_read(t, buf, cap, slice);
		if (r != MFW_E_TIMEOUT)
			return r;
		if (mfw_deadline_passed(deadline))
			return MFW_E_TIMEOUT;
	}
}

int emu_port_write(struct emu_normal *nm, struct mfw_transport *t, const void *buf, size_t len)
{
	mfw_deadline_t deadline = mfw_deadline_in(EMU_PORT_TX_MS);
	const uint8_t *p = buf;

	while (len) {
		mfw_deadline_t slice = mfw_deadline_min(deadline, mfw_deadline_in(NORMAL_POLL_MS));
		size_t w = 0;
		int r;

		if (emu_normal_down(nm))
			return MFW_E_CANCELLED;
		r = mfw_transport_write(t, p, len, slice, &w);
		p += w;
		len -= w;
		if (r == MFW_E_TIMEOUT && !mfw_deadline_passed(deadline))
			continue;
		if (r < 0)
			return r;
	}
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Port-thread log records go to the owner's context, which decides what to show. */
static void forward_log(void *user, enum mfw_log_level level, const char *msg)
{
	struct mfw_emu *emu = user;
	mfw_log(emu->ctx, level, "%s", msg);
}

static void *port_thread(void *arg)
{
	struct port *p = arg;
	struct emu_normal *nm = p->nm;

	while (!emu_normal_down(nm) && !atomic_load(&nm->switch_edl) &&
	       !emu_fota_pending(nm->emu->fota)) {
		struct mfw_transport *t;
		int r;

		if (p->usb_iface >= 0)
			r = emu_usbredir_port(nm->emu->usbredir, p->usb_iface,
					      mfw_deadline_in(NORMAL_POLL_MS), &t);
		else
			r = mfw_listener_accept(p->l, mfw_deadline_in(NORMAL_POLL_MS), &t);

		if (r == MFW_E_TIMEOUT)
			continue;
		if (r < 0) {
			/* a listener error is not worth a busy loop; the boot loop decides */
			mfw_dbg(p->ctx, "%s port: accept failed: %s", p->what, mfw_strerror(r));
			sleep_ms(NORMAL_POLL_MS);
			continue;
		}
		mfw_transport_set_ctx(t, p->ctx);
		mfw_dbg(p->ctx, "%s port: host connected (%s)", p->what, t->name);
		if (nm->diag && !strcmp(p->what, "DIAG"))
			r = emu_diag_session(nm->diag, t);
		else
			r = emu_at_session(nm, t);
		if (r == 1)
			atomic_store(&nm->switch_edl, true);
		mfw_transport_close(t);
		mfw_dbg(p->ctx, "%s port: host disconnected", p->what);
	}
	return NULL;
}

static int port_open(struct emu_normal *nm, struct port *p)
{
	const char *name;
	int r;

	p->usb_iface = -1;
	if (!strcmp(p->spec, "usbredir")) {
		/* an interface of the EC25 composition (usbredir.c): DIAG is 0, AT is 2 */
		if (!nm->emu->usbredir)
			return mfw_fail(nm->emu->ctx, MFW_E_INVAL,
					"%s port 'usbredir' needs --listen usbredir:...", p->what);
		p->usb_iface = strcmp(p->what, "DIAG") ? 2 : 0;
		snprintf(p->bound, sizeof(p->bound), "%s interface %d",
			 emu_usbredir_name(nm->emu->usbredir), p->usb_iface);
		return 0;
	}
	r = mfw_listener_open(p->ctx, p->spec, &p->l);
	if (r < 0)
		return mfw_fail(nm->emu->ctx, r, "%s port: %s", p->what, mfw_ctx_detail(p->ctx));
	name = mfw_listener_name(p->l);
	if (!strncmp(p->spec, "pty:", 4)) {
		/* only a display string: a very long link path just gets cut */
		if ((size_t)snprintf(p->bound, sizeof(p->bound), "%s (%s)", p->spec, name) >=
		    sizeof(p->bound))
			mfw_dbg(nm->emu->ctx, "port name '%s (%s)' shortened", p->spec, name);
	} else {
		snprintf(p->bound, sizeof(p->bound), "%s", name);
		/* the port the kernel chose stays the module's port across reboots */
		if (!strncmp(p->spec, "tcp:", 4) && strlen(name) < sizeof(p->spec))
			snprintf(p->spec, sizeof(p->spec), "%s", name);
	}
	return 0;
}

static void ports_down(struct emu_normal *nm, struct port *ports, size_t n)
{
	bool usb = false;

	atomic_store(&nm->down, true);
	for (size_t i = 0; i < n; i++) {
		if (ports[i].running)
			pthread_join(ports[i].thread, NULL);
		ports[i].running = false;
		if (ports[i].l)
			mfw_listener_close(ports[i].l);
		ports[i].l = NULL;
		usb |= ports[i].usb_iface >= 0;
	}
	/* the interfaces go with the device: it re-enumerates (usbredir.c) */
	if (usb)
		emu_usbredir_unplug(nm->emu->usbredir);
}

static void emit(struct mfw_emu *emu, enum mfw_emu_event_kind kind, const char *at,
		 const char *diag, const char *edl)
{
	struct mfw_emu_event ev = { .kind = kind, .at = at, .diag = diag, .edl = edl };

	if (emu->cfg.on_event)
		emu->cfg.on_event(emu->cfg.event_user, &ev);
}

/*
 * One boot of the firmware: load the identity, open the ports, serve until
 * the DIAG switch (returns 1), a stop (0) or a failure (< 0).
 */
static int run_firmware(struct emu_normal *nm, struct port *ports)
{
	struct mfw_emu *emu = nm->emu;
	int r;

	atomic_store(&nm->down, false);
	atomic_store(&nm->switch_edl, false);
	nm->at_echo = true;
	nm->at_rdy_sent = false;
	nm->at_cmee = 1;
	r = emu_nvstore_load(emu->dctx, &emu->st, &nm->nv);
	if (r == MFW_E_IO || r == MFW_E_NOMEM)
		return mfw_fail(emu->ctx, r, "normal mode: cannot read the NV store: %s",
				mfw_strerror(r));
	if (r < 0) {
		/* no partition table to find EFS2 in: the firmware runs without identity */
		mfw_dbg(emu->ctx, "normal mode: no efs2 region (%s)", mfw_strerror(r));
		nm->nv.capacity = 0;
	}
	r = emu_diag_new(nm, &nm->diag);
	if (r < 0)
		return mfw_fail(emu->ctx, r, "normal mode: no memory for the DIAG port");
	for (size_t i = 0; i < 2; i++) {
		r = port_open(nm, &ports[i]);
		if (r < 0)
			goto out_down;
	}
	for (size_t i = 0; i < 2; i++) {
		if (pthread_create(&ports[i].thread, NULL, port_thread, &ports[i]) != 0) {
			r = mfw_fail(emu->ctx, MFW_E_NOMEM, "cannot start the %s port thread",
				     ports[i].what);
			goto out_down;
		}
		ports[i].running = true;
	}
	mfw_dbg(emu->ctx, "normal mode: AT on %s, DIAG on %s", ports[0].bound, ports[1].bound);
	emit(emu, MFW_EMU_EVENT_NORMAL, ports[0].bound, ports[1].bound, NULL);
	/* the port threads do the work; this one only waits for the switch or a stop */
	while (!emu_normal_down(nm) && !atomic_load(&nm->switch_edl) &&
	       !emu_fota_pending(emu->fota))
		sleep_ms(20);
	/* 2: AT+QFOTADL started an update, the module reboots into its recovery (fota.c) */
	r = atomic_load(&nm->switch_edl) ? 1 : emu_fota_pending(emu->fota) ? 2 : 0;
out_down:
	ports_down(nm, ports, 2);
	emu_diag_free(nm->diag);
	nm->diag = NULL;
	emu_nvstore_free(&nm->nv);
	return r;
}

int emu_normal_serve(struct mfw_emu *emu, const char *edl_spec)
{
	struct emu_normal *nm;
	struct port ports[2];
	char edl[SPEC_MAX], bound[SPEC_MAX];
	bool follow;
	int r, f;

	if (!emu->cfg.listen_at || !emu->cfg.listen_diag || !edl_spec)
		return mfw_fail(emu->ctx, MFW_E_INVAL,
				"normal mode needs an AT, a DIAG and an EDL listen spec");
	if (strlen(emu->cfg.listen_at) >= SPEC_MAX || strlen(emu->cfg.listen_diag) >= SPEC_MAX ||
	    strlen(edl_spec) >= SPEC_MAX)
		return mfw_fail(emu->ctx, MFW_E_INVAL, "listen spec too long");
	nm = calloc(1, sizeof(*nm));
	if (!nm)
		return mfw_fail(emu->ctx, MFW_E_NOMEM, "no memory for normal mode");
	nm->emu = emu;
	pthread_mutex_init(&nm->lock, NULL);
	emu_nvstore_init(&nm->nv);
	memset(ports, 0, sizeof(ports));
	ports[0] = (struct port){ .nm = nm, .what = "AT" };
	ports[1] = (struct port){ .nm = nm, .what = "DIAG" };
	snprintf(ports[0].spec, SPEC_MAX, "%s", emu->cfg.listen_at);
	snprintf(ports[1].spec, SPEC_MAX, "%s", emu->cfg.listen_diag);
	for (size_t i = 0; i < 2; i++) {
		r = mfw_ctx_new(&ports[i].ctx);
		if (r < 0)
			goto out_free_ctx;
		mfw_ctx_set_log(ports[i].ctx, forward_log, emu);
		mfw_ctx_set_log_level(ports[i].ctx, MFW_LOG_TRACE);
	}
	snprintf(edl, sizeof(edl), "%s", edl_spec);
	/* on USB the one QEMU connection carries both personalities: open it first */
	if (!strncmp(edl_spec, "usbredir:", 9) && !emu->usbredir) {
		r = mfw_emu_listen(emu, edl_spec, NULL, 0);
		if (r < 0)
			goto out_free_ctx;
	}
	/*
	 * EDL spec "diag": the boot ROM comes up where DIAG was (its resolved
	 * port), as a re-enumerated module keeps its USB path.
	 */
	follow = !strcmp(edl_spec, "diag");

	for (;;) {
		r = run_firmware(nm, ports);
		if (r <= 0)
			break;
		if (r == 2) {
			/* the recovery brings its own AT port up on the same spec, then boots the firmware */
			r = emu_fota_recovery(emu, ports[0].spec);
			if (r < 0 || mfw_cancelled(emu->ctx) || emu_stopping(emu))
				break;
			continue;
		}
		/* the switch: flush like a reboot does, then the boot ROM starts fresh */
		emu_store_flush(&emu->st);
		atomic_store(&emu->state, EMU_ST_FRESH);
		emu->configured = false;
		if (follow)
			snprintf(edl, sizeof(edl), "%s", ports[1].spec);
		r = mfw_emu_listen(emu, edl, bound, sizeof(bound));
		if (r < 0)
			break;
		if (!strncmp(edl, "tcp:", 4))
			snprintf(edl, sizeof(edl), "%s", mfw_listener_name(emu->listener));
		mfw_dbg(emu->ctx, "switched to EDL: boot ROM on %s", bound);
		emit(emu, MFW_EMU_EVENT_EDL, NULL, NULL, bound);
		emu->edl_phase = true;
		r = mfw_emu_serve(emu, NULL);
		emu->edl_phase = false;
		if (r < 0 || mfw_cancelled(emu->ctx) || emu_stopping(emu))
			break;
		/* reset from EDL: the firmware boots again */
		atomic_store(&emu->state, EMU_ST_FRESH);
		emu->configured = false;
	}
out_free_ctx:
	for (size_t i = 0; i < 2; i++)
		mfw_ctx_free(ports[i].ctx);
	pthread_mutex_destroy(&nm->lock);
	free(nm);
	f = mfw_emu_flush(emu);
	return r < 0 ? r : f;
}
