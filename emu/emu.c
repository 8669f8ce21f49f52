/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The virtual modem object: storage, device state that outlives a host
 * connection, and the two ways to reach it (a listener served in the
 * caller's thread, or an in-process transport pair served in a thread).
 */
#include "emu-internal.h"
#include "fota.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often a waiting device looks at its stop/cancel flags (the tool promises 200 ms). */
#define EMU_POLL_MS 100
/*
 * How long a device write may wait for the host to take bytes. A USB host
 * that stops reading for this long has gone away in practice; qdl's
 * longest read wait is 120 s, but it always keeps a read queued.
 */
#define EMU_TX_MS 30000

#define EMU_DEFAULT_IMEI "356938035643809"
#define EMU_DEFAULT_SERIAL 0x0DE1F00Du
/* MSM id in the high word as Sahara exec 0x02 reports it; a made-up value (docs/emulator.md). */
#define EMU_DEFAULT_HW_ID (0x0009F0E1ull << 32)

void mfw_emu_config_defaults(struct mfw_emu_config *cfg, enum mfw_emu_storage storage)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->storage = storage;
	cfg->size = storage == MFW_EMU_NAND ? 512ull << 20 : 4ull << 30;
	cfg->page_size = 4096;
	cfg->block_size = 256 * 1024;
	cfg->sector_size = 512;
	cfg->max_payload = 1024 * 1024;
	cfg->serial = EMU_DEFAULT_SERIAL;
	cfg->hw_id = EMU_DEFAULT_HW_ID;
	cfg->imei = EMU_DEFAULT_IMEI;
	/* normal mode: now and then a log/event packet before a DIAG answer (2 %) */
	cfg->diag_noise_permille = 20;
}

bool emu_stopping(const struct mfw_emu *emu)
{
	return atomic_load(&emu->stop);
}

bool emu_link_stopping(const struct emu_link *l)
{
	return emu_stopping(l->emu) || (l->cancel_ctx && mfw_cancelled(l->cancel_ctx));
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int emu_link_read(struct emu_link *l, void *buf, size_t cap, mfw_deadline_t deadline)
{
	for (;;) {
		mfw_deadline_t slice = mfw_deadline_min(deadline, mfw_deadline_in(EMU_POLL_MS));
		int64_t t0;
		int r;

		if (emu_link_stopping(l))
			return MFW_E_CANCELLED;
		if (l->emu->nfaults || l->emu->hang) {
			r = emu_fault_rx_gate(l, &cap);
			if (r < 0)
				return r;
		}
		/* the link model: the bytes taken last are still on the bus */
		emu_lm_wait(&l->emu->lm);
		t0 = l->emu->lm.on ? emu_lm_now() : 0;
		r = mfw_transport_read(l->t, buf, cap, slice);
		if (r > 0) {
			uint64_t pos = atomic_fetch_add(&l->emu->in_bytes, (uint64_t)r);

			emu_lm_rx(&l->emu->lm, (size_t)r, l->emu->lm.on ? emu_lm_now() - t0 : 0);
			if (l->emu->nfaults)
				r = (int)emu_fault_rx_bytes(l->emu, buf, (size_t)r, pos);
			if (r == 0)
				continue; /* the only byte was dropped */
		}
		if (r != MFW_E_TIMEOUT)
			return r;
		if (mfw_deadline_passed(deadline))
			return MFW_E_TIMEOUT;
	}
}

int emu_link_read_full(struct emu_link *l, void *buf, size_t len, mfw_deadline_t deadline)
{
	uint8_t *p = buf;

	while (len) {
		int r = emu_link_read(l, p, len, deadline);
		if (r < 0)
			return r;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int link_write(struct emu_link *l, const void *buf, size_t len);

int emu_link_write(struct emu_link *l, const void *buf, size_t len)
{
	struct mfw_emu *emu = l->emu;
	const uint8_t *p = buf;
	uint8_t mask = 0;
	bool drop = false;
	ssize_t k;
	int r;

	emu_lm_tx(&emu->lm, len);
	if (!emu->nfaults)
		return link_write(l, buf, len);
	/* an outgoing byte fault: the bytes before it, the byte (flipped or lost), the rest */
	k = emu_fault_tx_byte(emu, emu->out_bytes, len, &mask, &drop);
	emu->out_bytes += len;
	if (k < 0)
		return link_write(l, buf, len);
	r = link_write(l, p, (size_t)k);
	if (r == 0 && !drop) {
		uint8_t b = p[k] ^ mask;
		r = link_write(l, &b, 1);
	}
	if (r == 0)
		r = link_write(l, p + k + 1, len - (size_t)k - 1);
	return r;
}

static int link_write(struct emu_link *l, const void *buf, size_t len)
{
	mfw_deadline_t deadline = mfw_deadline_in(EMU_TX_MS);
	const uint8_t *p = buf;

	while (len) {
		mfw_deadline_t slice = mfw_deadline_min(deadline, mfw_deadline_in(EMU_POLL_MS));
		size_t w = 0;
		int r;

		if (emu_link_stopping(l))
			return MFW_E_CANCELLED;
		r = mfw_transport_write(l->t, p, len, slice, &w);
		p += w;
		len -= w;
		if (r == MFW_E_TIMEOUT && !mfw_deadline_passed(deadline))
			continue;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Device-thread log records go to the owner's context, which decides what to show. */
static void forward_log(void *user, enum mfw_log_level level, const char *msg)
{
	struct mfw_emu *emu = user;
	mfw_log(emu->ctx, level, "%s", msg);
}

int mfw_emu_new(struct mfw_ctx *ctx, const struct mfw_emu_config *cfg, struct mfw_emu **ret)
{
	struct mfw_emu *emu;
	bool created = false;
	uint8_t probe[128];
	int r;

	if (!cfg || !ret)
		return mfw_fail(ctx, MFW_E_INVAL, "virtual modem: no configuration");
	if (cfg->max_payload < 4096 || cfg->max_payload > (64u << 20))
		return mfw_fail(ctx, MFW_E_INVAL, "max payload %u is outside 4096..64 MiB",
				cfg->max_payload);
	if (cfg->imei && emu_nv_imei_encode(cfg->imei, probe) < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "IMEI '%s' is not 15 digits", cfg->imei);
	emu = calloc(1, sizeof(*emu));
	if (!emu)
		return mfw_fail(ctx, MFW_E_NOMEM, "no memory for the virtual modem");
	emu->ctx = ctx;
	emu->cfg = *cfg;
	if (!emu->cfg.imei)
		emu->cfg.imei = EMU_DEFAULT_IMEI;
	emu->cfg.bad_blocks = NULL;
	emu->cfg.n_bad_blocks = 0;
	emu->cfg.faults = NULL;
	emu->cfg.nfaults = 0;
	emu->imei = strdup(emu->cfg.imei);
	emu->image_path = cfg->image_path ? strdup(cfg->image_path) : NULL;
	if (!emu->imei || (cfg->image_path && !emu->image_path)) {
		r = mfw_fail(ctx, MFW_E_NOMEM, "no memory for the virtual modem");
		goto out_free;
	}
	emu->cfg.imei = emu->imei;
	emu->cfg.image_path = emu->image_path;
	r = emu_faults_build(ctx, cfg, &emu->faults, &emu->nfaults);
	if (r < 0)
		goto out_free;
	r = emu_fota_new(ctx, cfg, &emu->fota);
	if (r < 0)
		goto out_free;
	r = emu_lm_init(&emu->lm, cfg->link, cfg->storage == MFW_EMU_NAND, cfg->page_size);
	if (r < 0) {
		r = mfw_fail(ctx, r, "unknown link model %d", (int)cfg->link);
		goto out_free;
	}
	r = mfw_ctx_new(&emu->dctx);
	if (r < 0)
		goto out_free;
	mfw_ctx_set_log(emu->dctx, forward_log, emu);
	mfw_ctx_set_log_level(emu->dctx, MFW_LOG_TRACE);
	atomic_init(&emu->state, EMU_ST_FRESH);
	atomic_init(&emu->stop, false);

	r = emu_store_open(ctx, cfg, &emu->st, &created);
	if (r < 0)
		goto out_free_dctx;
	if (created) {
		r = emu_factory_build(ctx, &emu->st, &emu->cfg);
		if (r < 0)
			goto out_close_store;
		r = emu_store_flush(&emu->st);
		if (r < 0) {
			r = mfw_fail(ctx, r, "cannot flush the new image: %s", mfw_strerror(r));
			goto out_close_store;
		}
		mfw_dbg(ctx, "virtual modem: new factory image%s%s", emu->image_path ? " " : "",
			emu->image_path ? emu->image_path : "");
	}
	*ret = emu;
	return 0;

out_close_store:
	emu_store_close(&emu->st);
	if (created && emu->image_path) {
		remove(emu->image_path);
		if (emu->st.nand) {
			char bb[4200];
			snprintf(bb, sizeof(bb), "%s.badblocks", emu->image_path);
			remove(bb);
		}
	}
out_free_dctx:
	mfw_ctx_free(emu->dctx);
out_free:
	emu_fota_free(emu->fota);
	free(emu->faults);
	free(emu->imei);
	free(emu->image_path);
	free(emu);
	return r;
}

enum mfw_emu_state mfw_emu_state(const struct mfw_emu *emu)
{
	switch (atomic_load(&emu->state)) {
	case EMU_ST_PBL:
		return MFW_EMU_STATE_PBL;
	case EMU_ST_PROGRAMMER:
		return MFW_EMU_STATE_PROGRAMMER;
	default:
		return MFW_EMU_STATE_FRESH;
	}
}

int mfw_emu_mark_bad(struct mfw_emu *emu, uint32_t block)
{
	int r = emu_store_mark_bad(&emu->st, block);

	if (r < 0)
		return mfw_fail(emu->ctx, r, "cannot mark block %u bad: %s", block, mfw_strerror(r));
	return 0;
}

int mfw_emu_flush(struct mfw_emu *emu)
{
	int r = emu_store_flush(&emu->st);

	if (r < 0)
		return mfw_fail(emu->ctx, r, "cannot flush image '%s'",
				emu->image_path ? emu->image_path : "(temporary)");
	return 0;
}

/* One host connection, from connect to disconnect/reset/stop. */
static void run_session(struct mfw_emu *emu, struct mfw_transport *t, struct mfw_ctx *cancel_ctx,
			enum emu_end *end)
{
	struct emu_link l = { .emu = emu, .t = t, .cancel_ctx = cancel_ctx };
	int r = 0;

	*end = EMU_END_DISCONNECT;
	mfw_dbg(emu->ctx, "host connected (%s)", t->name);
	if (emu->hang) {
		/* a hung module stays hung for every new host until its power is cycled */
		r = emu_fault_hang(&l);
		goto end_session;
	}
	if (atomic_load(&emu->state) != EMU_ST_PROGRAMMER) {
		r = emu_pbl_run(&l, end);
		if (r < 0 || *end == EMU_END_RESET ||
		    atomic_load(&emu->state) != EMU_ST_PROGRAMMER)
			goto end_session;
	}
	r = emu_programmer_run(&l, end);
end_session:
	if (r == MFW_E_CANCELLED)
		*end = EMU_END_STOP;
	if (emu->unplugged) {
		/* the disconnect fault: like a cable pull plus power cycle */
		*end = EMU_END_RESET;
	}
	if (*end == EMU_END_RESET) {
		/* a reset module re-enumerates: the host's link drops, the PBL starts over */
		emu_store_flush(&emu->st);
		atomic_store(&emu->state, EMU_ST_FRESH);
		emu->configured = false;
		mfw_dbg(emu->ctx, "device reset: link dropped, back to the boot ROM");
	} else if (r < 0 && r != MFW_E_NODEV && r != MFW_E_CANCELLED) {
		mfw_dbg(emu->ctx, "session ended: %s (%s)", mfw_strerror(r), mfw_ctx_detail(emu->dctx));
	}
	emu_lm_report(emu);
	mfw_dbg(emu->ctx, "host disconnected (%s)", t->name);
}

int mfw_emu_listen(struct mfw_emu *emu, const char *listen_spec, char *bound, size_t cap)
{
	struct mfw_listener *l;
	int r;

	if (emu->usbredir && !strcmp(listen_spec, emu_usbredir_name(emu->usbredir))) {
		/* normal mode's switch to EDL: the same USB connection, re-enumerated */
		if (bound && cap)
			snprintf(bound, cap, "%s", listen_spec);
		return 0;
	}
	if (emu->listener || emu->usbredir)
		return mfw_fail(emu->ctx, MFW_E_BUSY, "the virtual modem already listens");
	if (!strncmp(listen_spec, "usbredir:", 9)) {
		/* a USB device behind QEMU's usb-redir (usbredir.c) */
		r = emu_usbredir_open(emu, listen_spec, &emu->usbredir);
		if (r == 0 && bound && cap)
			snprintf(bound, cap, "%s", listen_spec);
		return r;
	}
	r = mfw_listener_open(emu->ctx, listen_spec, &l);
	if (r < 0)
		return r;
	emu->listener = l;
	if (bound && cap) {
		if (!strncmp(listen_spec, "pty:", 4))
			snprintf(bound, cap, "%s (%s)", listen_spec, mfw_listener_name(l));
		else
			snprintf(bound, cap, "%s", mfw_listener_name(l));
	}
	return 0;
}

/*
 * A reset module leaves the bus and comes back: the host's port goes away.
 * A pty cannot vanish, so the device ignores the old opener until it
 * closes the port; the next opener is the "re-enumerated" host and gets
 * a fresh HELLO.
 */
static void wait_pty_close(struct mfw_emu *emu, struct mfw_transport *t)
{
	struct emu_link l = { .emu = emu, .t = t, .cancel_ctx = emu->ctx };
	uint8_t buf[4096];

	mfw_dbg(emu->ctx, "waiting for the host to close %s (re-enumeration)", t->name);
	while (emu_link_read(&l, buf, sizeof(buf), MFW_DEADLINE_NONE) >= 0)
		;
}

/* Off the bus for the fault's delay: hosts that connect meanwhile wait in the backlog. */
static void unplugged_wait(struct mfw_emu *emu)
{
	mfw_deadline_t back = mfw_deadline_in(emu->unplug_ms);

	mfw_dbg(emu->ctx, "fault: off the bus for %u ms", emu->unplug_ms);
	while (!mfw_deadline_passed(back) && !mfw_cancelled(emu->ctx) && !emu_stopping(emu)) {
		int left = mfw_deadline_left(back);
		sleep_ms(left < EMU_POLL_MS ? left : EMU_POLL_MS);
	}
}

int mfw_emu_serve(struct mfw_emu *emu, const char *listen_spec)
{
	int r;

	/* a module in normal mode opens its EDL port only after the DIAG switch (normal.c) */
	if (emu->cfg.mode == MFW_EMU_MODE_NORMAL && !emu->edl_phase)
		return emu_normal_serve(emu, listen_spec);
	if (listen_spec) {
		r = mfw_emu_listen(emu, listen_spec, NULL, 0);
		if (r < 0)
			return r;
	} else if (!emu->listener && !emu->usbredir) {
		return mfw_fail(emu->ctx, MFW_E_INVAL, "the virtual modem has no listener");
	}
	for (;;) {
		struct mfw_transport *t;
		enum emu_end end;

		if (mfw_cancelled(emu->ctx) || emu_stopping(emu)) {
			r = 0;
			break;
		}
		if (emu->usbredir)
			r = emu_usbredir_accept(emu->usbredir, mfw_deadline_in(EMU_POLL_MS), &t);
		else
			r = mfw_listener_accept(emu->listener, mfw_deadline_in(EMU_POLL_MS), &t);
		if (r == MFW_E_TIMEOUT)
			continue;
		if (r < 0)
			break;
		run_session(emu, t, emu->ctx, &end);
		if (end == EMU_END_RESET && emu->listener && mfw_listener_slave(emu->listener))
			wait_pty_close(emu, t);
		mfw_transport_close(t);
		if (emu->unplugged) {
			unplugged_wait(emu);
			emu->unplugged = false;
		}
		if (end == EMU_END_STOP) {
			r = 0;
			break;
		}
		if (end == EMU_END_RESET && emu->edl_phase) {
			/* normal mode: a reset boots the firmware again, the EDL port goes away */
			r = 0;
			break;
		}
	}
	if (emu->listener)
		mfw_listener_close(emu->listener);
	emu->listener = NULL;
	if (!emu->edl_phase) {
		/* normal mode keeps the USB connection for the firmware's next boot */
		emu_usbredir_close(emu->usbredir);
		emu->usbredir = NULL;
	}
	/* stopping is the normal way out: report only a failure to keep the data */
	{
		int f = mfw_emu_flush(emu);
		if (r == 0)
			r = f;
	}
	return r;
}

struct attach_arg {
	struct mfw_emu *emu;
	struct mfw_transport *dev;
};

static void *attach_thread(void *p)
{
	struct attach_arg *a = p;
	enum emu_end end;

	run_session(a->emu, a->dev, NULL, &end);
	/* closing our end is what the host sees as the device leaving the bus */
	mfw_transport_close(a->dev);
	if (a->emu->unplugged) {
		unplugged_wait(a->emu);
		a->emu->unplugged = false;
	}
	free(a);
	return NULL;
}

static void stop_thread(struct mfw_emu *emu)
{
	if (!emu->thread_running)
		return;
	atomic_store(&emu->stop, true);
	pthread_join(emu->thread, NULL);
	emu->thread_running = false;
	atomic_store(&emu->stop, false);
}

int mfw_emu_attach(struct mfw_emu *emu, struct mfw_transport **host_end)
{
	struct attach_arg *a;
	struct mfw_transport *host, *dev;
	int r;

	/* one host at a time, like one USB cable: a new attach replaces the old session */
	stop_thread(emu);
	r = mfw_transport_pair(emu->ctx, 0, &host, &dev);
	if (r < 0)
		return r;
	mfw_transport_set_ctx(dev, emu->dctx);
	snprintf(dev->name, sizeof(dev->name), "in-process");
	a = malloc(sizeof(*a));
	if (!a) {
		r = mfw_fail(emu->ctx, MFW_E_NOMEM, "no memory for the device thread");
		goto out_close_pair;
	}
	a->emu = emu;
	a->dev = dev;
	if (pthread_create(&emu->thread, NULL, attach_thread, a) != 0) {
		free(a);
		r = mfw_fail(emu->ctx, MFW_E_NOMEM, "cannot start the device thread");
		goto out_close_pair;
	}
	emu->thread_running = true;
	*host_end = host;
	return 0;

out_close_pair:
	mfw_transport_close(dev);
	mfw_transport_close(host);
	return r;
}

void mfw_emu_free(struct mfw_emu *emu)
{
	if (!emu)
		return;
	stop_thread(emu);
	if (emu->listener)
		mfw_listener_close(emu->listener);
	emu_usbredir_close(emu->usbredir);
	emu_store_flush(&emu->st);
	emu_store_close(&emu->st);
	mfw_ctx_free(emu->dctx);
	emu_fota_free(emu->fota);
	free(emu->faults);
	free(emu->imei);
	free(emu->image_path);
	free(emu);
}
