/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz the streaming BSDIFF40 applier: the input is the patch, applied to
 * a fixed 4 KiB old file, byte i = (7i + 3) mod 251; the seeds are patches
 * against it (valid ones from modemfw and Debian's bsdiff, and hand-built
 * hostile ones: docs/delta.md lists them). The output goes to a counting writer, so a
 * hostile new size cannot make the harness allocate; the limit keeps each
 * run short. On success the output must be exactly the header's size, and
 * the single- and two-thread decoders must agree on accept/reject and, on
 * success, on the output bytes; and both must agree with libbz2 alone
 * (the small decoder, which bzdec.c leaves to libbz2).
 */
#include <modemfw/modemfw.h>

#include "delta/delta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OLD_SIZE 4096

static uint8_t old_data[OLD_SIZE];

/* counts the output and hashes it (FNV-1a), so the two decoders' outputs can be compared */
struct sink {
	uint64_t n, h;
};

static int count_write(void *user, const void *buf, size_t len)
{
	struct sink *k = user;
	const uint8_t *p = buf;
	k->n += len;
	for (size_t i = 0; i < len; i++)
		k->h = (k->h ^ p[i]) * 0x100000001b3ull;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mfw_ctx *ctx;
	struct mfw_delta_span oldp = { old_data, OLD_SIZE }, patchp = { data, size };
	struct mfw_delta_reader old = { mfw_delta_span_read, OLD_SIZE, &oldp };
	struct mfw_delta_reader patch = { mfw_delta_span_read, size, &patchp };
	uint64_t new_size = 0;
	struct sink sink = { 0, 0xcbf29ce484222325ull };
	struct mfw_delta_writer out = { count_write, &sink };
	struct mfw_delta_apply_opts opts = { .max_new_size = 1 << 20 };
	int r;

	if (!ctx) {
		if (mfw_ctx_new(&ctx) < 0)
			return 0;
		for (int i = 0; i < OLD_SIZE; i++)
			old_data[i] = (uint8_t)(i * 7 + 3) % 251;
	}
	r = mfw_delta_apply_io(ctx, &old, &patch, &out, &opts, NULL);
	/* the threaded decoders must reach the same verdict and output */
	{
		struct sink sink2 = { 0, 0xcbf29ce484222325ull };
		struct mfw_delta_writer out2 = { count_write, &sink2 };
		struct mfw_delta_apply_opts opts2 = opts;
		opts2.threads = 2;
		int r2 = mfw_delta_apply_io(ctx, &old, &patch, &out2, &opts2, NULL);
		/*
		 * Both must accept or both reject; the reason may differ, as the
		 * decoder thread reads ahead and can meet a corrupt bzip2 block
		 * before the main thread meets a bad control triple.
		 */
		if ((r == 0) != (r2 == 0) || (r == 0 && (sink2.n != sink.n || sink2.h != sink.h)))
			abort();
		if (r2 != 0 && r2 != MFW_E_FORMAT && r2 != MFW_E_RANGE)
			abort();
	}
	/*
	 * libbz2 alone (--small turns bzdec.c off) is the reference: same
	 * verdict, same output. The fast decoders may fail a block libbz2
	 * fails with another message, never otherwise.
	 */
	{
		struct sink sink3 = { 0, 0xcbf29ce484222325ull };
		struct mfw_delta_writer out3 = { count_write, &sink3 };
		struct mfw_delta_apply_opts opts3 = opts;
		opts3.small_decoder = true;
		int r3 = mfw_delta_apply_io(ctx, &old, &patch, &out3, &opts3, NULL);
		if ((r == 0) != (r3 == 0) || (r == 0 && (sink3.n != sink.n || sink3.h != sink.h)))
			abort();
	}
	if (r == 0) {
		if (mfw_delta_probe(ctx, data, size, &new_size) < 0 || sink.n != new_size)
			abort();
	} else if (r != MFW_E_FORMAT && r != MFW_E_RANGE) {
		abort(); /* a bad patch must be a format or range error, nothing else */
	}
	mfw_ctx_clear_detail(ctx);
	return 0;
}
