/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_QCOM_DIAG_H
#define MFW_QCOM_DIAG_H

/*
 * DIAG session over a transport: HDLC-framed requests, one at a time, each
 * waiting (bounded) for its matching answer. Log, message and event packets
 * another client enabled, CRC-broken frames and answers to someone else's
 * requests are skipped and counted, never fatal. The public calls are in
 * <modemfw/diag.h>; this header adds the raw request for library code.
 */
#include <modemfw/diag.h>
#include "transport/transport.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Timeouts (ms). The reference names none; QPST and qfenix wait a few
 * seconds per packet. An EFS2 write can stall behind a NAND journal flush
 * (hundreds of ms on EC25-class parts), so 5 s per answer leaves a wide
 * margin without letting a dead port hang a backup for long.
 */
#define MFW_DIAG_RSP_TIMEOUT_MS 5000
/* Writing one request: at most 2 x 16 KiB + 3 bytes even on a 115200 baud UART is ~3 s. */
#define MFW_DIAG_WRITE_TIMEOUT_MS 4000
/*
 * Unrelated frames (logs, messages, stale answers) tolerated while waiting
 * for one answer: a chatty modem with every log mask on sends a few hundred
 * per second; beyond this the port is not ours to use.
 */
#define MFW_DIAG_MAX_SKIPPED 2000
/* Switch to EDL: fwupd retries until the port disappears; we try this often, waiting this long. */
#define MFW_DIAG_EDL_ATTEMPTS 3
#define MFW_DIAG_EDL_WAIT_MS 3000
/* Largest EFS file we fetch unless the caller says otherwise (calibration files are KiB-sized). */
#define MFW_DIAG_EFS_GET_DEFAULT_MAX (4u * 1024u * 1024u)
/* Entries one directory may list before we call the device broken. */
#define MFW_DIAG_READDIR_MAX 65536

/*
 * Send req (what names it in messages, e.g. "NV_READ of item 550") and
 * wait for the answer. echo: leading bytes of req the answer must repeat
 * (1 for plain commands, 4 for subsystem commands; more to tie an answer
 * to its item). On success *rsp and *rsp_len point into the session (valid
 * until the next request). An error packet becomes a mapped error with a
 * detail sentence naming the command and the error code.
 */
int mfw_diag_request(struct mfw_diag *d, const char *what, const uint8_t *req, size_t req_len,
		     size_t echo, const uint8_t **rsp, size_t *rsp_len);

/* EFS2 subsystem the device answered HELLO on (0 before HELLO). */
uint8_t mfw_diag_efs_subsys(const struct mfw_diag *d);

#endif
