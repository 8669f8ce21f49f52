/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_EDIFY_H
#define MFW_DFOTA_EDIFY_H

/*
 * The edify subset of docs/dfota-format.md: a tokenizer and parser to an
 * AST with bounded depth and size, and an evaluator over a caller-given
 * function table. Values are strings (may hold NUL bytes) or blobs (an
 * opaque handle the functions define, e.g. a zip entry).
 *
 * Grammar, loosest first: `;` (sequence), `||`, `&&`, `==` `!=`, `+`
 * (concatenation), `!`, then primaries: "string", bareword (letters,
 * digits, _ : / . -), call `name(args)`, `( ... )`,
 * `if c then a [else b] endif`. `#` comments to end of line.
 * Logical operators yield "t" or "".
 */
#include <modemfw/context.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFW_ED_MAX_DEPTH 64        /* nesting of parentheses, calls, if, ! and == chains */
#define MFW_ED_MAX_NODES 400000    /* AST nodes in one script */
#define MFW_ED_MAX_ARGS 1024       /* arguments of one call */
#define MFW_ED_MAX_SRC (8u << 20)  /* script bytes */

enum mfw_ed_kind {
	MFW_ED_STR,
	MFW_ED_CALL,
	MFW_ED_SEQ,
	MFW_ED_IF,      /* kids: cond, then[, else] */
	MFW_ED_OR,
	MFW_ED_AND,
	MFW_ED_NOT,
	MFW_ED_EQ,
	MFW_ED_NE,
	MFW_ED_CONCAT,
};

struct mfw_ed_node {
	enum mfw_ed_kind kind;
	uint32_t line, col;          /* 1-based position of the first token */
	uint32_t start, end;         /* byte span in the source */
	char *str;                   /* STR value or CALL name (NUL-terminated) */
	size_t len;                  /* bytes of str */
	struct mfw_ed_node **kids;
	size_t nkids;
	int fn;                      /* CALL: index in the function table, -1 unresolved */
};

struct mfw_ed_script {
	struct mfw_ed_node *root;    /* always a SEQ: its kids are the top-level statements */
	char *src;
	size_t src_len;
	size_t nodes;
};

struct mfw_ed_error {
	unsigned line, col;
	char msg[160];
};

/*
 * Parse src. MFW_E_FORMAT with err (may be NULL) filled and a detail
 * "updater-script L:C: what" on ctx; MFW_E_RANGE when a bound is exceeded;
 * MFW_E_NOMEM.
 */
int mfw_ed_parse(struct mfw_ctx *ctx, const char *src, size_t len, struct mfw_ed_script **out,
		 struct mfw_ed_error *err);
void mfw_ed_free(struct mfw_ed_script *script);

enum mfw_ed_vtype {
	MFW_ED_VSTRING = 0,
	MFW_ED_VBLOB,
};

struct mfw_ed_val {
	enum mfw_ed_vtype type;
	char *s;          /* STRING: malloc'ed, NUL-terminated */
	size_t len;
	uint64_t blob;    /* BLOB: handle defined by the functions */
	uint64_t blob_size;
};

struct mfw_ed_eval;

/*
 * A function: called with its call node (arguments unevaluated, so that
 * assert can quote them and lazy forms are possible). Sets *out and
 * returns 0, or returns a negative error that ends the evaluation.
 */
typedef int (*mfw_ed_fn)(struct mfw_ed_eval *ev, const struct mfw_ed_node *call,
			 struct mfw_ed_val *out);

struct mfw_ed_func {
	const char *name;
	int min_args;
	int max_args;      /* -1: no limit (up to MFW_ED_MAX_ARGS) */
	unsigned flags;    /* free for the caller (the updater marks mutating functions) */
	mfw_ed_fn fn;
};

struct mfw_ed_eval {
	struct mfw_ctx *ctx;
	const struct mfw_ed_script *script;
	const struct mfw_ed_func *funcs;
	size_t nfuncs;
	void *user;
	unsigned depth;
};

/*
 * Bind every call to the table: MFW_E_FORMAT "L:C: unknown function 'x'"
 * or "L:C: 'f' takes N..M arguments, got K" before anything runs.
 */
int mfw_ed_bind(struct mfw_ctx *ctx, struct mfw_ed_script *script, const struct mfw_ed_func *funcs,
		size_t nfuncs, struct mfw_ed_error *err);
/* Evaluate a node (out must be freed with mfw_ed_val_free on success). */
int mfw_ed_eval(struct mfw_ed_eval *ev, const struct mfw_ed_node *node, struct mfw_ed_val *out);
/* Evaluate argument i of a call as a string (MFW_E_FORMAT for a blob). */
int mfw_ed_arg_str(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, size_t i, char **out,
		   size_t *len);
void mfw_ed_val_free(struct mfw_ed_val *v);
/* Set a string value; MFW_E_NOMEM. */
int mfw_ed_val_set(struct mfw_ed_val *v, const char *s, size_t len);
bool mfw_ed_truthy(const struct mfw_ed_val *v);
/* True if the function (by table index) appears in the subtree. */
bool mfw_ed_uses(const struct mfw_ed_node *node, const struct mfw_ed_func *funcs, unsigned flag);

#endif
