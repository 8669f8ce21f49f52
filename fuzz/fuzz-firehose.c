/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Firehose splitter + parser + log scanners on arbitrary bytes. The first
 * byte chooses the read size so documents get split at every position; the
 * rest is the stream a hostile device could send. Invariants checked:
 * handed-out documents are within the limit, and whatever the parser
 * returns survives build -> parse unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/firehose.h"

static void check_roundtrip(const struct mfw_fh_elem *e)
{
	static char buf[2 * MFW_FH_MAX_DOC + 1024];
	struct mfw_fh_msg again;
	int n = mfw_fh_build(buf, sizeof(buf), e->tag, e->attrs, e->nattr);

	/* names outside the ASCII subset or control characters: refused, fine */
	if (n < 0)
		return;
	if (mfw_fh_parse(NULL, buf, (size_t)n, &again) < 0) {
		/* duplicate attribute names are legal to build, not to parse */
		for (size_t i = 0; i < e->nattr; i++)
			for (size_t j = i + 1; j < e->nattr; j++)
				if (strcmp(e->attrs[i].name, e->attrs[j].name) == 0)
					return;
		if ((size_t)n > MFW_FH_MAX_DOC)
			return;
		abort();
	}
	if (again.nelem != 1 || strcmp(again.elems[0].tag, e->tag) != 0 ||
	    again.elems[0].nattr != e->nattr)
		abort();
	for (size_t i = 0; i < e->nattr; i++)
		if (strcmp(again.elems[0].attrs[i].name, e->attrs[i].name) != 0 ||
		    strcmp(again.elems[0].attrs[i].value, e->attrs[i].value) != 0)
			abort();
	mfw_fh_msg_free(&again);
}

static void use_doc(const char *doc, size_t len, struct mfw_fh_funcs *f,
		    struct mfw_fh_storage_info *si)
{
	struct mfw_fh_msg m;
	uint8_t digest[32];
	uint64_t v;

	if (len > MFW_FH_MAX_DOC)
		abort();
	if (mfw_fh_parse(NULL, doc, len, &m) < 0)
		return;
	for (size_t i = 0; i < m.nelem; i++) {
		const struct mfw_fh_elem *e = &m.elems[i];
		const char *val = mfw_fh_attr_get(e, "value");

		if (val) {
			mfw_fh_funcs_feed(f, val);
			mfw_fh_storage_info_feed(si, val);
			mfw_fh_find_digest(val, digest);
		}
		for (size_t k = 0; k < e->nattr; k++)
			mfw_fh_parse_u64(e->attrs[k].value, &v);
		check_roundtrip(e);
	}
	(void)mfw_fh_msg_find(&m, "response");
	mfw_fh_msg_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_fh_splitter sp;
	struct mfw_fh_funcs f;
	struct mfw_fh_storage_info si;
	size_t step, pos = 1;
	uint8_t raw[64];

	if (!size)
		return 0;
	step = 1 + data[0] % 64;
	if (data[0] & 0x80)
		step = size; /* one big read, too */
	mfw_fh_splitter_init(&sp);
	mfw_fh_funcs_init(&f);
	memset(&si, 0, sizeof(si));
	while (pos < size) {
		size_t k = size - pos < step ? size - pos : step;
		const char *doc;
		size_t len;
		int r;

		if (mfw_fh_splitter_push(&sp, data + pos, k) < 0)
			break;
		pos += k;
		while ((r = mfw_fh_splitter_next(&sp, &doc, &len)) == 1)
			use_doc(doc, len, &f, &si);
		if (mfw_fh_splitter_pending(&sp) > MFW_FH_MAX_DOC + step)
			abort();
		/* now and then treat what is left as raw data */
		if (data[0] & 0x40)
			mfw_fh_splitter_take_raw(&sp, raw, sizeof(raw));
	}
	mfw_fh_splitter_free(&sp);
	(void)mfw_fh_funcs_has(&f, "program");

	/* the whole input as one document and as one log line */
	if (size <= MFW_FH_MAX_DOC) {
		char *s = malloc(size + 1);
		uint8_t digest[32];

		if (!s)
			return 0;
		memcpy(s, data, size);
		s[size] = '\0';
		use_doc(s, size, &f, &si);
		mfw_fh_funcs_feed(&f, s);
		mfw_fh_storage_info_feed(&si, s);
		mfw_fh_find_digest(s, digest);
		free(s);
	}
	return 0;
}
