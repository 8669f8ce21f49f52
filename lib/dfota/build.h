/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_BUILD_H
#define MFW_DFOTA_BUILD_H

/*
 * Builder internals: the plan (what changes between two targetfiles models)
 * and its rendering as updater-script and metadata text. Kept apart from
 * the patch generation so tests can render a plan for a hand-made model.
 */
#include <modemfw/dfota.h>

#include "dfota/targetfiles.h"

enum {
	MFW_DFOTA_DELETE = 1u << 0,        /* delete() a file or symlink */
	MFW_DFOTA_DELETE_DIR = 1u << 1,    /* delete_recursive() a directory */
	MFW_DFOTA_PATCH = 1u << 2,         /* apply_patch() from patch/<path>.p */
	MFW_DFOTA_EXTRACT = 1u << 3,       /* package_extract_file(system/<path>) */
	MFW_DFOTA_EXTRACT_DIR = 1u << 4,   /* package_extract_dir(system/<path>): a new subtree */
	MFW_DFOTA_IN_NEW_DIR = 1u << 5,    /* created by an ancestor's EXTRACT_DIR */
	MFW_DFOTA_SYMLINK = 1u << 6,
	MFW_DFOTA_META = 1u << 7,          /* set_metadata() */
	MFW_DFOTA_PRESERVED = 1u << 8,     /* differs, left alone (preserve list) */
	MFW_DFOTA_FULL = 1u << 9,          /* changed and shipped whole */
	MFW_DFOTA_COVERED = 1u << 10,      /* removed by an ancestor's delete_recursive */
};

struct mfw_dfota_item {
	const char *path;
	const struct mfw_tf_entry *s;   /* NULL when new */
	const struct mfw_tf_entry *d;   /* NULL when removed */
	unsigned flags;
};

struct mfw_dfota_pitem {
	const struct mfw_tf_part *s;    /* NULL when the partition is new */
	const struct mfw_tf_part *d;
	bool whole;                     /* write_raw_image(<name>.img) instead of a patch */
};

struct mfw_dfota_plan {
	enum mfw_dfota_scope scope;
	char pre[MFW_TF_VERSION_MAX], post[MFW_TF_VERSION_MAX];
	struct mfw_dfota_item *item;    /* sorted by path */
	size_t nitem;
	struct mfw_dfota_pitem *pitem;  /* sorted by name */
	size_t npitem;
	const struct mfw_tf_entry **rec; /* RECOVERY/ files new or changed in dst */
	size_t nrec;
	uint64_t required_cache, required_root;
};

/*
 * Diff two models. full/preserve are the lists in force (the command line's
 * or the target's). Items that need no action are not in the plan.
 */
int mfw_dfota_plan_make(struct mfw_ctx *ctx, const struct mfw_tf *src, const struct mfw_tf *dst,
			enum mfw_dfota_scope scope, const struct mfw_tf_paths *full,
			const struct mfw_tf_paths *preserve, struct mfw_dfota_plan *plan);
void mfw_dfota_plan_free(struct mfw_dfota_plan *plan);
/* Recompute required_cache / required_root after patch-or-whole decisions. */
void mfw_dfota_plan_space(struct mfw_dfota_plan *plan);

/* The updater-script (docs/dfota-format.md "Script shape"); *text is malloc()ed. */
int mfw_dfota_plan_script(const struct mfw_dfota_plan *plan, char **text, size_t *len);
/* META-INF/com/android/metadata. */
int mfw_dfota_plan_metadata(const struct mfw_dfota_plan *plan, char **text, size_t *len);

/* "MTD:<name>:<size1>:<sha1_1>:<size2>:<sha1_2>" (source first, then target). */
int mfw_dfota_mtd_name(const struct mfw_tf_part *s, const struct mfw_tf_part *d, char *out,
		       size_t cap);
/* Append s to a string buffer as an edify string literal (quotes and escapes). */
struct mfw_sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};
void mfw_sbuf_put(struct mfw_sbuf *b, const char *s);
void mfw_sbuf_printf(struct mfw_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mfw_sbuf_quote(struct mfw_sbuf *b, const char *s);

/* Ed25519 over a 32-byte digest with a PEM private key: "ed25519 <hex pub> <hex sig>". */
int mfw_dfota_sign(struct mfw_ctx *ctx, const char *key_pem, const uint8_t digest[32], char *out,
		   size_t cap);
/* Verify such a line; pubkey_pem NULL = trust the key in the line (integrity only). */
int mfw_dfota_verify_sig(struct mfw_ctx *ctx, const char *pubkey_pem, const uint8_t digest[32],
			 const char *line, size_t len);

#endif
