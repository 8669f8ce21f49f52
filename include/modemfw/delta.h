/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MODEMFW_DELTA_H
#define MODEMFW_DELTA_H

/*
 * Binary delta engine: BSDIFF40 patches (bsdiff 4.3 layout, three bzip2
 * streams) that every BSDIFF40 applier accepts, made by a suffix-array
 * matcher that works over the old file in blocks so its memory stays well
 * below bsdiff's, and applied by a streaming applier whose memory does not
 * grow with the file size. Beside it, a native container (MFWZ: zstd
 * segments with an index of per-segment SHA-256) whose apply resumes after
 * an interruption; docs/delta.md describes both formats.
 */
#include <modemfw/context.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mfw_delta_format {
	MFW_DELTA_BSDIFF40 = 0, /* default; bsdiff 4.3 / Debian bspatch compatible */
	MFW_DELTA_MFWZ = 1,     /* native container: zstd segments, resumable apply */
};

struct mfw_delta_opts {
	enum mfw_delta_format format;
	/*
	 * Bytes of old indexed by one suffix array at a time; 0 = automatic
	 * (a third of old above 1 MiB, so the index costs about 1.4x old
	 * instead of 4x). A value >= old size indexes the whole file at once.
	 */
	uint64_t block_size;
	/* Worker threads for matching and compression; 0 = automatic (2). */
	unsigned threads;
	/*
	 * MFWZ only: output bytes per segment, the unit an interrupted apply
	 * resumes at; 0 = 4 MiB. 1 byte to 1 GiB.
	 */
	uint64_t segment_size;
	/* MFWZ only: zstd level 1..19; 0 = 19. */
	int level;
	/*
	 * BSDIFF40 only: compress with libbz2's own encoder instead of ours
	 * (bzenc.c). Its patches are larger; for comparisons and as a
	 * reference.
	 */
	bool libbz2_encoder;
	/*
	 * BSDIFF40 only: try every block size (6k up) on every region of
	 * every stream, not only on a sample of the diff stream: patches
	 * about 1 % smaller for about twice the encoding time (docs/delta.md).
	 */
	bool best;
};

struct mfw_delta_stats {
	uint64_t old_size;
	uint64_t new_size;
	uint64_t patch_size;
	uint64_t controls;        /* control triples in the patch */
	uint64_t diff_bytes;      /* bytes taken from old (+ a difference) */
	uint64_t extra_bytes;     /* bytes taken literally from the patch */
	/*
	 * Largest amount of heap the engine itself held at once (buffers,
	 * suffix arrays, compressor and decompressor states), counted by the
	 * engine. The process's peak RSS is a little higher (code, libc).
	 */
	uint64_t peak_mem;
	/* MFWZ: segments in the patch; 0 for BSDIFF40. */
	uint64_t segments;
	/*
	 * MFWZ apply: the first segment this run decoded (the earlier ones
	 * were found complete in the output of an interrupted run), and how
	 * many it decoded.
	 */
	uint64_t resumed_from;
	uint64_t segments_applied;
};

/*
 * Make a patch that turns old_path into new_path. The patch is written to
 * a temporary file next to patch_path and renamed over it when complete.
 * opts and stats may be NULL. Progress phases: "index", "match", "encode".
 */
int mfw_delta_diff(struct mfw_ctx *ctx, const char *old_path, const char *new_path,
		   const char *patch_path, const struct mfw_delta_opts *opts,
		   struct mfw_delta_stats *stats);

/* Same on buffers; *patch is malloc()ed and owned by the caller. */
int mfw_delta_diff_buf(struct mfw_ctx *ctx, const uint8_t *old, size_t old_size,
		       const uint8_t *new_data, size_t new_size, uint8_t **patch,
		       size_t *patch_size, const struct mfw_delta_opts *opts,
		       struct mfw_delta_stats *stats);

struct mfw_delta_apply_opts {
	/* Refuse patches whose new size is above this; 0 = no limit but int64. */
	uint64_t max_new_size;
	/*
	 * Use bzip2's small-memory decoder (about 2.5 bytes per block byte
	 * instead of 4, at roughly half the speed). For very small devices.
	 */
	bool small_decoder;
	/*
	 * 2: decode the diff stream on a second thread (about 1.3x faster);
	 * the patch reader is then called from both threads at once.
	 * 0: automatic: 2 for the file and buffer forms, 1 for apply_io().
	 * MFWZ: 2 hashes old on a second thread beside the decoding (the
	 * old reader is then called from both threads at once).
	 */
	unsigned threads;
	/*
	 * File form only: skip the fsync() before the rename. For scratch
	 * outputs and like-for-like benchmarks against tools that do not sync.
	 */
	bool no_sync;
	/*
	 * File form, MFWZ only: ignore the state an interrupted apply left
	 * next to new_path and start from the first segment.
	 */
	bool restart;
};

/*
 * Random-access readers and a sequential writer, so the applier can run on
 * files, partitions or device I/O layers. read() fills exactly len bytes at
 * off and returns 0, or a negative enum mfw_err (MFW_E_RANGE past the end).
 * write() takes all len bytes and returns 0 or a negative enum mfw_err.
 */
struct mfw_delta_reader {
	int (*read)(void *user, uint64_t off, void *buf, size_t len);
	uint64_t size;
	void *user;
};

struct mfw_delta_writer {
	int (*write)(void *user, const void *buf, size_t len);
	void *user;
};

/*
 * Apply a BSDIFF40 or MFWZ patch (told apart by the magic) with bounded memory: old is read by offset, the
 * three streams are decoded incrementally, the output is written in order.
 * Memory: three bzip2 decoder states (up to ~3.6 MB each, ~2.3 MB with
 * small_decoder) plus fixed buffers, whatever the file sizes. Every length
 * and offset taken from the patch is checked; on a malformed patch the
 * result is MFW_E_FORMAT or MFW_E_RANGE and the detail says which field.
 * The writer may have received part of the output by then.
 */
int mfw_delta_apply_io(struct mfw_ctx *ctx, const struct mfw_delta_reader *old,
		       const struct mfw_delta_reader *patch, const struct mfw_delta_writer *out,
		       const struct mfw_delta_apply_opts *opts, struct mfw_delta_stats *stats);

/*
 * File form: new_path is written as a temporary file next to it, synced
 * and renamed over new_path only when the whole patch applied cleanly.
 * BSDIFF40 uses new_path.part-<pid>. MFWZ uses new_path.part and records
 * after every segment (data synced first) how many segments are complete
 * in new_path.part.state; a later apply of the same patch checks those
 * segments' SHA-256 and continues after the last good one (see
 * opts->restart). MFWZ refuses an old file whose SHA-256 differs from the
 * one the patch was made from (MFW_E_FORMAT, "wrong old file").
 */
int mfw_delta_apply(struct mfw_ctx *ctx, const char *old_path, const char *patch_path,
		    const char *new_path, const struct mfw_delta_apply_opts *opts,
		    struct mfw_delta_stats *stats);

/* Buffer form; *new_data is malloc()ed (never NULL on success, even when empty). */
int mfw_delta_apply_buf(struct mfw_ctx *ctx, const uint8_t *old, size_t old_size,
			const uint8_t *patch, size_t patch_size, uint8_t **new_data,
			size_t *new_size, const struct mfw_delta_apply_opts *opts,
			struct mfw_delta_stats *stats);

/*
 * Read a patch header (the 32-byte BSDIFF40 header, or the 160-byte MFWZ
 * header): 0 and the new size, or MFW_E_FORMAT/MFW_E_RANGE.
 */
int mfw_delta_probe(struct mfw_ctx *ctx, const uint8_t *hdr, size_t len, uint64_t *new_size);

/* ---- MFWZ, the native container ---- */

#define MFW_DELTA_MFWZ_MAGIC "MFWDZ1\0\0" /* 8 bytes with the two NULs */
#define MFW_DELTA_MFWZ_HDR 160

struct mfw_delta_zinfo {
	uint64_t old_size;
	uint64_t new_size;
	uint64_t segment_size;
	uint64_t segments;
	uint64_t index_offset;
	unsigned window_log; /* zstd window the decoder needs, 2^window_log bytes */
	uint8_t old_sha256[32];
	uint8_t new_sha256[32];
	uint8_t header_sha256[32]; /* of the first 128 bytes: names the patch in resume state */
};

/*
 * Check an MFWZ patch's header and index (every field bounded, segments
 * contiguous and inside the patch, the index checksum) without decoding a
 * segment. Reads the index in small pieces: no allocation grows with the
 * counts in the header. MFW_E_FORMAT or MFW_E_RANGE naming the field.
 */
int mfw_delta_zprobe(struct mfw_ctx *ctx, const struct mfw_delta_reader *patch,
		     struct mfw_delta_zinfo *info);

/*
 * Where an MFWZ apply starts and what it does after each segment:
 * segments [0, first) are taken as already written (the writer continues
 * at byte first * segment_size; the whole-output SHA-256 is then the
 * caller's to check); commit(user, k + 1) runs once segment k is written
 * and its SHA-256 matched, before segment k + 1 starts (the file form
 * syncs and records its state there); a negative return stops the apply.
 */
struct mfw_delta_zresume {
	uint64_t first;
	int (*commit)(void *user, uint64_t segments_done);
	void *user;
};

/*
 * Apply an MFWZ patch: old is checked against the header's size and
 * SHA-256, then each segment is decoded on its own (zstd window capped by
 * the header, at most 4 MiB) and its output's SHA-256 checked. When a
 * segment is damaged, the rest are still decoded (nothing more is
 * written) so the error names every damaged segment. The context's cancel
 * flag is polled after each commit (MFW_E_CANCELLED). Progress: phase
 * "apply", reported once per segment after its commit, done = the output
 * bytes committed. resume may be NULL.
 */
int mfw_delta_zapply_io(struct mfw_ctx *ctx, const struct mfw_delta_reader *old,
			const struct mfw_delta_reader *patch, const struct mfw_delta_writer *out,
			const struct mfw_delta_zresume *resume, const struct mfw_delta_apply_opts *opts,
			struct mfw_delta_stats *stats);

#endif
