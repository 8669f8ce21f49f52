/* SPDX-License-Identifier: BSD-3-Clause */
#include "ops/conn.h"
#include "core/core.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_PAYLOAD (1024u * 1024u)

void mfw_conn_close(struct mfw_conn *c)
{
	if (c->fh_open)
		mfw_fh_session_free(&c->fh);
	c->fh_open = false;
}

static int configure(struct mfw_conn *c, const struct mfw_conn_opts *o)
{
	uint32_t payload = o->max_payload ? o->max_payload : DEFAULT_PAYLOAD;
	const char *memory = o->memory ? o->memory : "emmc";
	int r = mfw_fh_configure(&c->fh, memory, payload);
	/*
	 * Without a package saying what the storage is, the device's NAK names
	 * it (libqmi sees MemoryName="NAND" this way): follow it once.
	 */
	if (r == MFW_E_MISMATCH && !o->memory) {
		memory = strcasecmp(memory, "emmc") ? "emmc" : "nand";
		mfw_ctx_clear_detail(c->ctx);
		r = mfw_fh_configure(&c->fh, memory, payload);
	}
	if (r == 0)
		snprintf(c->memory, sizeof(c->memory), "%s", memory);
	return r;
}

int mfw_conn_open(struct mfw_conn *c, struct mfw_ctx *ctx, struct mfw_transport *t,
		  const struct mfw_conn_opts *o)
{
	struct mfw_edl edl;
	int r;

	mfw_conn_close(c);
	c->ctx = ctx;
	c->t = t;
	if (!c->identity_known)
		snprintf(c->device_key, sizeof(c->device_key), "unknown");
	mfw_edl_init(&edl, ctx, t);
	r = mfw_edl_connect(&edl);
	if (r < 0)
		return r;
	/*
	 * Identity: Sahara command mode works only before a programmer runs.
	 * A programmer already running keeps the identity this conn learnt
	 * earlier (reconnect in the same run) or leaves it unknown.
	 */
	if (edl.hello_pending) {
		struct mfw_edl_identity id;
		r = mfw_edl_identify(&edl, &id);
		if (r < 0)
			return r;
		/*
		 * The chip serial is the key (unique per chip; the HW id only names
		 * the model): a running programmer announces it too, so the key is
		 * the same whichever way it was learnt.
		 */
		if (id.have_serial) {
			c->id = id;
			c->identity_known = true;
			snprintf(c->device_key, sizeof(c->device_key), "%08x", id.serial);
		}
	}
	c->programmer_uploaded = !edl.firehose_running;
	if (!edl.firehose_running && !o->programmer)
		return mfw_fail(ctx, MFW_E_INVAL,
				"the device waits for a Firehose programmer: give one with "
				"--programmer FILE or --package DIR");
	if (!edl.firehose_running) {
		r = mfw_edl_load_programmer(&edl, o->programmer, o->programmer_len,
					    o->programmer_name ? o->programmer_name : "programmer");
		if (r < 0)
			return r;
	} else {
		mfw_notice(ctx, "a Firehose programmer is already running; not uploading one");
	}
	r = mfw_fh_session_init(&c->fh, ctx, t, edl.rx, edl.rx_len);
	if (r < 0)
		return r;
	c->fh_open = true;
	if (o->stall_ms > 0)
		c->fh.stall_ms = o->stall_ms;
	/* start-up logs carry the supported functions; a running programmer repeats them on <nop/> */
	r = mfw_fh_drain(&c->fh, MFW_FH_QUIET_MS, mfw_deadline_in(mfw_ctx_ms(ctx, MFW_FH_STARTUP_DRAIN_MS)));
	if (r < 0)
		return r;
	if (edl.firehose_running && !c->fh.funcs.complete) {
		r = mfw_fh_nop(&c->fh);
		if (r < 0)
			return r;
		mfw_fh_drain(&c->fh, MFW_FH_QUIET_MS, mfw_deadline_in(mfw_ctx_ms(ctx, 1000)));
	}
	if (!c->identity_known && c->fh.have_serial) {
		c->id.have_serial = true;
		c->id.serial = c->fh.serial;
		c->identity_known = true;
		snprintf(c->device_key, sizeof(c->device_key), "%08x", c->fh.serial);
		mfw_dbg(ctx, "device identity from the programmer's log: serial %s", c->device_key);
	}
	return configure(c, o);
}
