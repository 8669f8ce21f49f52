/* SPDX-License-Identifier: BSD-3-Clause */
#include "proto/hdlc.h"
#include "util/crc.h"
#include <modemfw/error.h>

#include <string.h>

static size_t put_escaped(uint8_t *out, size_t pos, uint8_t b)
{
	if (b == MFW_HDLC_FLAG || b == MFW_HDLC_ESC) {
		out[pos++] = MFW_HDLC_ESC;
		out[pos++] = (uint8_t)(b ^ MFW_HDLC_ESC_XOR);
	} else {
		out[pos++] = b;
	}
	return pos;
}

int mfw_hdlc_encode(const uint8_t *payload, size_t len, bool leading_flag, uint8_t *out,
		    size_t cap)
{
	uint16_t crc = mfw_crc16_x25(payload, len);
	size_t need = (leading_flag ? 1 : 0) + 1 + MFW_HDLC_CRC_LEN, pos = 0;

	/* exact size first, so a too-small buffer is refused before anything is written */
	for (size_t i = 0; i < len; i++)
		need += (payload[i] == MFW_HDLC_FLAG || payload[i] == MFW_HDLC_ESC) ? 2 : 1;
	need += ((crc & 0xff) == MFW_HDLC_FLAG || (crc & 0xff) == MFW_HDLC_ESC) ? 1 : 0;
	need += ((crc >> 8) == MFW_HDLC_FLAG || (crc >> 8) == MFW_HDLC_ESC) ? 1 : 0;
	if (need > cap)
		return MFW_E_RANGE;
	if (leading_flag)
		out[pos++] = MFW_HDLC_FLAG;
	for (size_t i = 0; i < len; i++)
		pos = put_escaped(out, pos, payload[i]);
	pos = put_escaped(out, pos, (uint8_t)(crc & 0xff));
	pos = put_escaped(out, pos, (uint8_t)(crc >> 8));
	out[pos++] = MFW_HDLC_FLAG;
	return (int)pos;
}

void mfw_hdlc_deframer_init(struct mfw_hdlc_deframer *d, size_t max)
{
	memset(d, 0, offsetof(struct mfw_hdlc_deframer, buf));
	d->max = (max == 0 || max > MFW_HDLC_MAX_FRAME) ? MFW_HDLC_MAX_FRAME : max;
}

void mfw_hdlc_deframer_reset(struct mfw_hdlc_deframer *d)
{
	d->len = 0;
	d->escape = false;
	d->overflow = false;
}

/* A flag arrived: decide about the collected bytes. Returns true for a good frame. */
static bool end_frame(struct mfw_hdlc_deframer *d)
{
	uint16_t want;

	if (d->overflow) {
		d->oversize++;
		return false;
	}
	if (d->len == 0 && !d->escape)
		return false; /* leading flag or back-to-back flags: an empty frame */
	if (d->escape || d->len < 1 + MFW_HDLC_CRC_LEN) {
		/* "7D 7E" aborts a frame; a flag before byte 3 is a malformed frame */
		d->runts++;
		return false;
	}
	want = (uint16_t)(d->buf[d->len - 2] | d->buf[d->len - 1] << 8);
	if (mfw_crc16_x25(d->buf, d->len - MFW_HDLC_CRC_LEN) != want) {
		d->crc_errors++;
		return false;
	}
	d->frames++;
	return true;
}

int mfw_hdlc_feed(struct mfw_hdlc_deframer *d, const uint8_t *data, size_t len, size_t *consumed,
		  const uint8_t **frame, size_t *frame_len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = data[i];

		if (b == MFW_HDLC_FLAG) {
			bool good = end_frame(d);
			size_t n = d->len;

			mfw_hdlc_deframer_reset(d);
			if (good) {
				*consumed = i + 1;
				*frame = d->buf;
				*frame_len = n - MFW_HDLC_CRC_LEN;
				return 1;
			}
			continue;
		}
		if (d->overflow)
			continue;
		if (b == MFW_HDLC_ESC && !d->escape) {
			d->escape = true;
			continue;
		}
		if (d->escape) {
			b ^= MFW_HDLC_ESC_XOR;
			d->escape = false;
		}
		if (d->len >= d->max + MFW_HDLC_CRC_LEN) {
			/* hostile or runaway stream: drop the frame, resync on the next flag */
			d->overflow = true;
			continue;
		}
		d->buf[d->len++] = b;
	}
	*consumed = len;
	return 0;
}
