/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_EMU_NORMAL_H
#define MFW_EMU_NORMAL_H

/*
 * The virtual modem in normal mode: firmware running, an AT port (at.c)
 * and a DIAG port (diag.c), each served by its own thread, over the NV
 * store (nvstore.c) loaded from the efs2 region at boot. normal.c boots,
 * tears the ports down for the switch to EDL and boots again after a
 * reset from EDL.
 */
#include "emu-internal.h"
#include "nvstore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct emu_diag;

/* One boot of the firmware: what the port threads share. */
struct emu_normal {
	struct mfw_emu *emu;
	/* the NV store and the storage under it: the AT thread reads while DIAG writes */
	pthread_mutex_t lock;
	struct emu_nvstore nv;
	atomic_bool down;        /* the ports are going away: end sessions */
	atomic_bool switch_edl;  /* the host sent the DIAG switch: reboot into the PBL */
	/* AT port state, owned by the AT thread */
	bool at_echo;
	bool at_rdy_sent;        /* RDY went to the first host after boot */
	uint8_t at_cmee;
	/* DIAG device state (open files, SPC, ...), owned by the DIAG thread */
	struct emu_diag *diag;
};

/*
 * Port I/O for the normal-mode threads: a read returns as soon as bytes
 * came, MFW_E_TIMEOUT at the deadline, MFW_E_CANCELLED once the ports go
 * down or the tool is stopped (looked at every poll slice), MFW_E_NODEV
 * when the host left. A write gives the host EMU_PORT_TX_MS to take it.
 */
int emu_port_read(struct emu_normal *nm, struct mfw_transport *t, void *buf, size_t cap,
		  mfw_deadline_t deadline);
int emu_port_write(struct emu_normal *nm, struct mfw_transport *t, const void *buf, size_t len);
bool emu_normal_down(const struct emu_normal *nm);

/* diag.c */
int emu_diag_new(struct emu_normal *nm, struct emu_diag **ret);
void emu_diag_free(struct emu_diag *d);
/*
 * Serve one host on the DIAG port until it leaves (MFW_E_NODEV), the
 * ports go down (MFW_E_CANCELLED) or it switches the module to EDL
 * (returns 1 after the echo went out).
 */
int emu_diag_session(struct emu_diag *d, struct mfw_transport *t);

/* at.c: serve one host on the AT port until it leaves or the ports go down. */
int emu_at_session(struct emu_normal *nm, struct mfw_transport *t);

#endif
