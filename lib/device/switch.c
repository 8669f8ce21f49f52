/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Normal mode -> EDL for flash: find the module, hold ModemManager off,
 * send the DIAG switch (4B 65 01 00) on its DIAG port and wait for the
 * 9008 device by re-scanning sysfs (sahara-firehose.md section 1: the
 * path may change, QFirehose waits 30 s).
 */
#include "device/internal.h"
#include "qcom/diag.h"
#include "transport/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int copy_spec(struct mfw_ctx *ctx, const char *spec, char *out, size_t cap)
{
	if (mfw_dev_path(out, cap, "%s", spec) < 0)
		return mfw_fail(ctx, MFW_E_INVAL, "port spec '%s' is too long", spec);
	return 0;
}

static int send_switch(struct mfw_ctx *ctx, const struct mfw_modem *m, const char *diag_dev)
{
	struct mfw_transport *t;
	struct mfw_diag *d;
	int r;

	r = mfw_transport_open(ctx, diag_dev, &t);
	if (r < 0)
		return r;
	r = mfw_diag_open(ctx, t, &d);
	if (r == 0) {
		r = mfw_diag_switch_to_edl(d);
		mfw_diag_close(d);
	}
	mfw_transport_close(t);
	if (r < 0)
		return mfw_fail_keep(ctx, r, "%s did not take the switch to EDL on %s",
				     m ? m->path : "the module", diag_dev);
	return 0;
}

static int switch_one(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
		      const struct mfw_modem *m, char *spec_out, size_t cap,
		      struct mfw_device_guard **guard_out)
{
	const struct mfw_modem_port *diag = mfw_modem_port(m, MFW_ROLE_DIAG);
	struct mfw_device_guard *g = NULL;
	struct mfw_modem *before = NULL;
	size_t n_before = 0;
	int r;

	if (!m->flashable)
		return mfw_fail(ctx, MFW_E_UNSUPPORTED,
				"%s (%04x:%04x) is a %s part: it has no DIAG switch and no EDL", m->model,
				m->vid, m->pid, m->platform);
	if (!diag || !diag->dev[0])
		return mfw_fail(ctx, MFW_E_NODEV,
				"%s at %s is in normal mode but has no DIAG port to switch it with (no "
				"driver bound, or a composition without DIAG); hardware fallback: hold "
				"its USB_BOOT strap while powering it on",
				m->model, m->path);
	/* EDL devices already present are not the one we are waiting for */
	r = mfw_discover(ctx, o, &before, &n_before);
	if (r < 0)
		return r;
	r = mfw_device_prepare(ctx, o, m, &g);
	if (r < 0)
		goto out_free_before;
	mfw_notice(ctx, "%s at %s is in normal mode: switching it to EDL over its DIAG port %s",
		   m->model, m->path, diag->dev);
	r = send_switch(ctx, m, diag->dev);
	if (r < 0)
		goto out_release;
	mfw_notice(ctx, "waiting up to %d s for the module to come back as 05c6:9008",
		   MFW_EDL_APPEAR_TIMEOUT_MS / 1000);
	r = mfw_discover_wait_edl(ctx, o, m, before, n_before,
				  mfw_deadline_in(MFW_EDL_APPEAR_TIMEOUT_MS), spec_out, cap);
	if (r < 0)
		goto out_release;
	if (guard_out) {
		*guard_out = g;
		g = NULL;
	}
out_release:
	mfw_device_release(g);
out_free_before:
	mfw_modems_free(before);
	return r;
}

/* "auto": the only module, in EDL (use it) or in normal mode with DIAG (switch it). */
static int ensure_auto(struct mfw_ctx *ctx, const struct mfw_device_opts *o, char *spec_out,
		       size_t cap, struct mfw_device_guard **guard_out)
{
	struct mfw_modem *v;
	size_t n, edl = 0, normal = 0, pick = 0;
	int r;

	r = mfw_discover(ctx, o, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (v[i].mode == MFW_MODE_EDL && mfw_modem_port(&v[i], MFW_ROLE_EDL)) {
			edl++;
			pick = i;
		} else if (v[i].mode == MFW_MODE_NORMAL && v[i].flashable &&
			   mfw_modem_port(&v[i], MFW_ROLE_DIAG)) {
			normal++;
			pick = i;
		}
	}
	if (edl + normal == 0) {
		/* sysfs shows nothing usable: let the caller's libusb scan say what it finds */
		r = copy_spec(ctx, "auto", spec_out, cap);
	} else if (edl + normal > 1) {
		r = mfw_fail(ctx, MFW_E_BUSY,
			     "%zu modems could be flashed (%zu in EDL, %zu in normal mode); choose one "
			     "with -p (see 'modemfw devices')",
			     edl + normal, edl, normal);
	} else if (edl) {
		if (v[pick].bus == MFW_BUS_PCIE)
			r = copy_spec(ctx, mfw_modem_port(&v[pick], MFW_ROLE_EDL)->dev, spec_out, cap);
		else if (mfw_dev_path(spec_out, cap, "usb:%s", v[pick].path) < 0)
			r = mfw_fail(ctx, MFW_E_INVAL, "port spec too long for '%s'", v[pick].path);
		else
			r = 0;
	} else {
		struct mfw_modem m = v[pick];

		mfw_modems_free(v);
		return switch_one(ctx, o, &m, spec_out, cap, guard_out);
	}
	mfw_modems_free(v);
	return r;
}

int mfw_device_ensure_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const char *spec_in, char *spec_out, size_t cap,
			  struct mfw_device_guard **guard)
{
	const char *spec = spec_in && spec_in[0] ? spec_in : "auto";
	struct mfw_modem *m;
	int port, r;

	if (guard)
		*guard = NULL;
	if (!spec_out || !cap)
		return mfw_fail(ctx, MFW_E_INVAL, "no room for the port spec");
	if (!strcmp(spec, "auto"))
		return ensure_auto(ctx, o, spec_out, cap, guard);
	/* only local devices can be looked up; tcp:, unix:, emu and plain "usb" pass through */
	if (spec[0] != '/' && strncmp(spec, "usb:", 4))
		return copy_spec(ctx, spec, spec_out, cap);
	m = malloc(sizeof(*m));
	if (!m)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	r = mfw_discover_find(ctx, o, spec, m, &port);
	if (r == MFW_E_NOENT) {
		/* a pty, an emulator link, a node sysfs does not list: the caller opens it as given */
		mfw_ctx_clear_detail(ctx);
		r = copy_spec(ctx, spec, spec_out, cap);
	} else if (r == 0 && m->mode == MFW_MODE_NORMAL) {
		r = switch_one(ctx, o, m, spec_out, cap, guard);
	} else if (r == 0) {
		if (m->mode != MFW_MODE_EDL)
			mfw_dbg(ctx, "'%s' belongs to %s in %s mode; passing it on as given", spec,
				m->path, mfw_modem_mode_name(m->mode));
		r = copy_spec(ctx, spec, spec_out, cap);
	}
	free(m);
	return r;
}

int mfw_device_switch_edl(struct mfw_ctx *ctx, const struct mfw_device_opts *o,
			  const char *diag_spec, char *spec_out, size_t cap,
			  struct mfw_device_guard **guard)
{
	struct mfw_modem *m;
	int port, r;

	if (guard)
		*guard = NULL;
	if (!diag_spec || !diag_spec[0] || !strcmp(diag_spec, "auto"))
		return mfw_device_ensure_edl(ctx, o, "auto", spec_out, cap, guard);
	if (!spec_out || !cap)
		return mfw_fail(ctx, MFW_E_INVAL, "no room for the port spec");
	m = malloc(sizeof(*m));
	if (!m)
		return mfw_fail(ctx, MFW_E_NOMEM, "out of memory");
	r = mfw_discover_find(ctx, o, diag_spec, m, &port);
	if (r == 0 && m->mode == MFW_MODE_NORMAL) {
		r = switch_one(ctx, o, m, spec_out, cap, guard);
	} else if (r == 0) {
		r = mfw_fail(ctx, MFW_E_INVAL, "'%s' belongs to %s, which is in %s mode, not normal mode",
			     diag_spec, m->path, mfw_modem_mode_name(m->mode));
	} else if (r == MFW_E_NOENT) {
		mfw_ctx_clear_detail(ctx);
		spec_out[0] = '\0';
		mfw_notice(ctx, "switching %s to EDL over DIAG", diag_spec);
		r = send_switch(ctx, NULL, diag_spec);
	}
	free(m);
	return r;
}
