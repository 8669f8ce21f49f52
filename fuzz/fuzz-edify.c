/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * updater-script parser: arbitrary text is parsed (bounded depth, nodes,
 * size), bound to a table with the updater's function names and evaluated
 * with side-effect-free stand-ins. Any outcome but a crash, a leak or an
 * unbounded run is fine; a successful parse must have line:col positions
 * inside the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/error.h>
#include "dfota/edify.h"

static int f_any(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	/* evaluate every argument (as the real functions do), return the last string */
	struct mfw_ed_val v = { 0 };
	for (size_t i = 0; i < call->nkids; i++) {
		int r;
		mfw_ed_val_free(&v);
		r = mfw_ed_eval(ev, call->kids[i], &v);
		if (r < 0)
			return r;
	}
	if (v.type == MFW_ED_VSTRING && v.s) {
		*out = v;
		return 0;
	}
	mfw_ed_val_free(&v);
	return mfw_ed_val_set(out, "t", 1);
}

static int f_blob(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	(void)ev;
	(void)call;
	memset(out, 0, sizeof(*out));
	out->type = MFW_ED_VBLOB;
	return 0;
}

static int f_abort(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	(void)ev;
	(void)call;
	(void)out;
	return MFW_E_CANCELLED;
}

static const struct mfw_ed_func table[] = {
	{ "abort", 0, 1, 0, f_abort },
	{ "apply_patch", 6, -1, 1, f_any },
	{ "apply_patch_check", 1, -1, 0, f_any },
	{ "apply_patch_space", 1, 1, 0, f_any },
	{ "assert", 1, -1, 0, f_any },
	{ "delete", 1, -1, 1, f_any },
	{ "file_getprop", 2, 2, 0, f_any },
	{ "getprop", 1, 1, 0, f_any },
	{ "package_extract_file", 1, 2, 1, f_blob },
	{ "set_metadata", 3, -1, 1, f_any },
	{ "sha1_check", 1, -1, 0, f_any },
	{ "symlink", 2, -1, 1, f_any },
	{ "ui_print", 0, -1, 0, f_any },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mfw_ed_script *s = NULL;
	struct mfw_ed_error err;
	struct mfw_ed_val v;
	struct mfw_ed_eval ev = { .funcs = table, .nfuncs = sizeof(table) / sizeof(table[0]) };

	if (mfw_ed_parse(NULL, (const char *)data, size, &s, &err) < 0) {
		if (err.line == 0 && err.msg[0])
			abort();
		return 0;
	}
	if (s->root->kind != MFW_ED_SEQ)
		abort();
	for (size_t i = 0; i < s->root->nkids; i++)
		if (s->root->kids[i]->end > s->src_len || s->root->kids[i]->start > s->root->kids[i]->end)
			abort();
	if (mfw_ed_bind(NULL, s, table, ev.nfuncs, &err) == 0) {
		ev.script = s;
		if (mfw_ed_eval(&ev, s->root, &v) == 0)
			mfw_ed_val_free(&v);
		if (ev.depth != 0)
			abort();
	}
	mfw_ed_free(s);
	return 0;
}
