/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_OPS_CONN_H
#define MFW_OPS_CONN_H

/*
 * An EDL connection brought up to a configured Firehose session: Sahara
 * (identity in command mode when the device offers a fresh HELLO, then the
 * programmer), start-up logs, configure. Shared by flash, backup, restore.
 */
#include "qcom/edl.h"
#include "qcom/firehose.h"

struct mfw_conn {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	struct mfw_fh_session fh;
	bool fh_open;
	bool identity_known;
	struct mfw_edl_identity id;
	char device_key[64];       /* "serial-hwid", or "unknown" */
	bool programmer_uploaded;
	char memory[16];           /* configured memory name */
};

struct mfw_conn_opts {
	const uint8_t *programmer; /* NULL: only a running programmer will do */
	size_t programmer_len;
	const char *programmer_name;
	const char *memory;        /* "nand"/"emmc"; NULL: take the device's word */
	uint32_t max_payload;      /* 0: 1 MiB */
	int stall_ms;              /* 0: default */
};

/* Bring the session up. Identity is kept across calls on the same conn (reconnects). */
int mfw_conn_open(struct mfw_conn *c, struct mfw_ctx *ctx, struct mfw_transport *t,
		  const struct mfw_conn_opts *o);
void mfw_conn_close(struct mfw_conn *c);

#endif
