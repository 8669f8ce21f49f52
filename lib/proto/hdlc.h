/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_PROTO_HDLC_H
#define MFW_PROTO_HDLC_H

/*
 * "Async HDLC" framing of DIAG packets (reference/diag.md §1). Pure: no I/O.
 *
 * On the wire a frame is payload ‖ CRC-16/X-25 (little-endian), with every
 * 0x7E and 0x7D of payload and CRC escaped as 0x7D, byte ^ 0x20, and one
 * trailing 0x7E. A leading 0x7E is optional; the host may send one so the
 * target drops half-received AT text.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFW_HDLC_FLAG 0x7Eu
#define MFW_HDLC_ESC 0x7Du
#define MFW_HDLC_ESC_XOR 0x20u
#define MFW_HDLC_CRC_LEN 2u

/* Largest request a target accepts: DIAG_MAX_REQ_SIZE in the Qualcomm kernel (16 KiB). */
#define MFW_HDLC_MAX_REQUEST (16u * 1024u)
/*
 * Largest response payload we accept. The same 16 KiB cap applies on the
 * target side; we keep 4x margin for firmware that batches log packets.
 */
#define MFW_HDLC_MAX_FRAME (64u * 1024u)

/* Worst-case encoded size of a payload of len bytes (everything escaped, two flags). */
static inline size_t mfw_hdlc_encoded_max(size_t len)
{
	return 2 * (len + MFW_HDLC_CRC_LEN) + 2;
}

/*
 * Frame payload[0..len) into out. leading_flag puts a 0x7E in front.
 * Returns the bytes written, MFW_E_RANGE when cap is too small.
 */
int mfw_hdlc_encode(const uint8_t *payload, size_t len, bool leading_flag, uint8_t *out,
		    size_t cap);

/*
 * Streaming deframer. Feed it whatever the port returned; it hands back
 * whole frames (payload only, CRC checked and stripped). Partial data is
 * kept across feeds. Bad frames are dropped and counted, never fatal.
 */
struct mfw_hdlc_deframer {
	size_t max;          /* payload bound (<= MFW_HDLC_MAX_FRAME) */
	size_t len;          /* bytes collected for the current frame (payload + CRC) */
	bool escape;         /* last byte was 0x7D */
	bool overflow;       /* current frame exceeded max: discard until the next flag */
	uint64_t frames;     /* good frames returned */
	uint64_t crc_errors; /* dropped: CRC mismatch */
	uint64_t runts;      /* dropped: flag before 3 bytes (malformed), bad escape */
	uint64_t oversize;   /* dropped: longer than max */
	uint8_t buf[MFW_HDLC_MAX_FRAME + MFW_HDLC_CRC_LEN];
};

/* max 0 = MFW_HDLC_MAX_FRAME; larger values are clamped to it. */
void mfw_hdlc_deframer_init(struct mfw_hdlc_deframer *d, size_t max);
/* Forget a partial frame (after a port reopen); counters stay. */
void mfw_hdlc_deframer_reset(struct mfw_hdlc_deframer *d);

/*
 * Consume bytes from data[0..len) until a good frame is complete or the
 * input is used up. *consumed is set to the bytes used. Returns 1 with
 * *frame / *frame_len set (pointing into d->buf, valid until the next
 * feed), or 0 when all input was consumed without completing a frame.
 */
int mfw_hdlc_feed(struct mfw_hdlc_deframer *d, const uint8_t *data, size_t len, size_t *consumed,
		  const uint8_t **frame, size_t *frame_len);

#endif
