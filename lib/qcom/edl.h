/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_QCOM_EDL_H
#define MFW_QCOM_EDL_H

/*
 * Host side of an EDL pipe: Sahara (identify, programmer upload) and the
 * hand-over to Firehose. Bytes received but not consumed (for instance the
 * first "<?xml" of an already running programmer) stay in rx[] and are
 * handed to the Firehose session.
 */
#include "transport/transport.h"

#include <stdbool.h>
#include <stdint.h>

/* Timeouts (ms). Sources: reference/sahara-firehose.md §7. */
/* First HELLO after open: qdl allows 5 s for programmer detection; a tty needs ~2 s to settle. */
#define MFW_SAHARA_HELLO_TIMEOUT_MS 3000
/* After an unsolicited HELLO_RESP (past-HELLO device), how long to wait for READ_DATA. */
#define MFW_SAHARA_RESYNC_TIMEOUT_MS 2000
/* Per packet during transfer: qdl uses 1 s per read; we allow slow PBLs on busy hosts. */
#define MFW_SAHARA_PACKET_TIMEOUT_MS 5000
/* Writing one READ_DATA answer (≤ 1 MiB at USB 2.0 speed is ~25 ms; 10 s = qdl raw-chunk budget). */
#define MFW_SAHARA_WRITE_TIMEOUT_MS 10000
/* Largest single READ_DATA we serve; real PBLs ask for ≤ 1 MiB (segments are split). */
#define MFW_SAHARA_MAX_READ (16u * 1024u * 1024u)

struct mfw_edl {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	uint8_t rx[8192];
	size_t rx_len;
	/* set by mfw_edl_connect */
	bool firehose_running; /* a programmer answered with XML: skip Sahara */
	bool hello_pending;    /* a HELLO was seen and not answered yet */
	uint32_t device_version;
};

struct mfw_edl_identity {
	bool have_serial;
	uint32_t serial;
	bool have_hw_id;
	uint64_t hw_id;        /* msm_id << 32 | oem_id << 16 | model_id */
	size_t pk_hash_len;    /* 0 when not answered */
	uint8_t pk_hash[64];
	uint32_t sahara_version;
};

void mfw_edl_init(struct mfw_edl *e, struct mfw_ctx *ctx, struct mfw_transport *t);

/*
 * Find out what the device is doing: waiting with a HELLO (normal), past
 * HELLO (silence or a stray packet: answered with an unsolicited
 * HELLO_RESP later), or already running Firehose (XML). Never waits past
 * MFW_SAHARA_HELLO_TIMEOUT_MS + MFW_SAHARA_RESYNC_TIMEOUT_MS.
 */
int mfw_edl_connect(struct mfw_edl *e);

/* Sahara command mode: serial, HW id, PK hash; then SWITCH_MODE back to image transfer. */
int mfw_edl_identify(struct mfw_edl *e, struct mfw_edl_identity *id);

/*
 * Upload the programmer (image id 13) from memory, serving READ_DATA and
 * READ_DATA_64 in any order, until DONE_RESP "complete". Returns 0 when the
 * programmer runs (also when it was already running).
 */
int mfw_edl_load_programmer(struct mfw_edl *e, const uint8_t *image, size_t len,
			    const char *name);

#endif
