/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_QCOM_FIREHOSE_H
#define MFW_QCOM_FIREHOSE_H

/*
 * Host side of a Firehose session over a transport. Every command has a
 * named deadline; every wait drains logs; a NAK or a stall becomes a
 * sentence that names the command, the partition, the byte offset and the
 * device's last log line.
 */
#include "proto/firehose.h"
#include "transport/transport.h"

#include <stdbool.h>
#include <stdint.h>

/* Deadlines (ms); sources in reference/sahara-firehose.md §7. */
#define MFW_FH_STARTUP_DRAIN_MS 3000   /* QFirehose: 3 s for start-up logs ... */
#define MFW_FH_QUIET_MS 300            /* ... then a quiet period ends the drain */
#define MFW_FH_CONFIGURE_MS 5000       /* fwupd: 5 s for configure */
#define MFW_FH_COMMAND_WRITE_MS 2500   /* fwupd/qdl: 2.5 s per XML write; on timeout drain logs and retry */
#define MFW_FH_SETUP_ACK_MS 10000      /* qdl: 10 s for the rawmode ACK of program/read */
#define MFW_FH_FINAL_ACK_MS 120000     /* qdl 32f0d67: final program ACK up to 120 s */
#define MFW_FH_ERASE_MS 30000          /* QFirehose raised erase to 15 s; large NAND erases need more */
#define MFW_FH_PATCH_MS 15000          /* QFirehose: 15 s for erase/patch */
#define MFW_FH_OTHER_MS 6000           /* QFirehose: 3-6 s for other commands */
#define MFW_FH_DIGEST_MS 120000        /* digest of a large range reads it all */
#define MFW_FH_STALL_MS 20000          /* default: no raw progress for this long = stalled */

struct mfw_fh_session {
	struct mfw_ctx *ctx;
	struct mfw_transport *t;
	struct mfw_fh_splitter sp;
	struct mfw_fh_funcs funcs;
	char last_log[512];
	char memory[16];          /* "nand", "emmc", "ufs" as configured */
	uint32_t max_payload;     /* negotiated MaxPayloadSizeToTargetInBytes */
	uint32_t max_payload_from_target;
	bool configured;
	int stall_ms;             /* no raw progress for this long ends a transfer */
	unsigned log_count;
	/* per-command hook: sees every log line of the running command */
	void (*hook)(void *user, const char *line);
	void *hook_user;
	bool have_serial;         /* "Chip serial num: N" seen in a log */
	uint32_t serial;
	uint8_t *chunk;           /* raw transfer buffer, max_payload bytes */
	size_t chunk_cap;
};

/* A command's answer: ACK/NAK, rawmode and the response's attributes. */
struct mfw_fh_reply {
	bool ack;
	int rawmode;                 /* -1 absent, 0 false, 1 true */
	struct mfw_fh_msg msg;       /* the document holding <response>; free with mfw_fh_reply_free */
	const struct mfw_fh_elem *response;
};

/* Called for every log line the device sends (on top of the debug log). */
typedef void (*mfw_fh_log_fn)(void *user, const char *line);

int mfw_fh_session_init(struct mfw_fh_session *s, struct mfw_ctx *ctx, struct mfw_transport *t,
			const uint8_t *pending, size_t npending);
void mfw_fh_session_free(struct mfw_fh_session *s);

/* Read and log everything until quiet_ms of silence or the deadline. */
int mfw_fh_drain(struct mfw_fh_session *s, int quiet_ms, mfw_deadline_t deadline);

/*
 * configure with the given memory name and payload proposal; follows a NAK
 * carrying the device's size (and memory name), and raises to a larger
 * MaxPayloadSizeToTargetInBytesSupported once.
 */
int mfw_fh_configure(struct mfw_fh_session *s, const char *memory, uint32_t proposal);

/* Send one command and wait for its response (logs handled). NAK → MFW_E_NAK with the device's log in the detail. */
int mfw_fh_command(struct mfw_fh_session *s, const char *tag, const struct mfw_fh_attr *attrs,
		   size_t nattr, int timeout_ms, struct mfw_fh_reply *reply);
void mfw_fh_reply_free(struct mfw_fh_reply *reply);

/* Raw data source for program: fill exactly len bytes. */
typedef int (*mfw_fh_source_fn)(void *user, uint8_t *buf, size_t len);
/*
 * Zero-copy source. The program loop hands it a chunk with data = buf and
 * file = -1; the source either fills buf, or points data at the next len
 * bytes (kept valid until the next call), or, when file_ok says the
 * transport sends files itself, names them as bytes [off, off + len) of
 * the open file `file`. Either way the bytes go to the transport as they
 * are, never copied in user space.
 */
struct mfw_fh_chunk {
	const uint8_t *data;
	int file;
	uint64_t off;
	bool file_ok;
};
typedef int (*mfw_fh_view_fn)(void *user, uint8_t *buf, size_t len, struct mfw_fh_chunk *c);
/* Raw data sink for read. */
typedef int (*mfw_fh_sink_fn)(void *user, const uint8_t *buf, size_t len);

/*
 * program: attrs are sent verbatim and in order (the caller put the right
 * num_partition_sectors in). total bytes = sectors × sector size are pulled
 * from src in chunks ≤ the negotiated payload. label/offset name the
 * transfer in progress and stall messages.
 */
int mfw_fh_program(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		   uint64_t total, mfw_fh_source_fn src, void *user, const char *label);
int mfw_fh_program_view(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
			uint64_t total, mfw_fh_view_fn view, void *user, const char *label);
int mfw_fh_read(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		uint64_t total, mfw_fh_sink_fn sink, void *user, const char *label);
int mfw_fh_erase(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		 const char *label);
int mfw_fh_patch(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr);
int mfw_fh_storage_info(struct mfw_fh_session *s, unsigned lun, struct mfw_fh_storage_info *si);
int mfw_fh_sha256(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
		  uint8_t digest[32]);
/*
 * SHA-256 of a range as the device holds it: the device's own digest
 * (getsha256digest) when use_digest, else the range read back and hashed
 * here. Used to verify writes and to prove backups.
 */
int mfw_fh_range_sha256(struct mfw_fh_session *s, const struct mfw_fh_attr *attrs, size_t nattr,
			uint64_t bytes, bool use_digest, const char *label, uint8_t out[32]);
int mfw_fh_power(struct mfw_fh_session *s, const char *value, unsigned delay_s);
int mfw_fh_nop(struct mfw_fh_session *s);

#endif
