/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Manifest expressions (reference §4.3) by a hand-written recursive-descent
 * parser over a fixed grammar. The text comes from vendor XML and, in the
 * tools we learnt from, was handed to eval(); here it is only ever matched
 * against the few known forms.
 *
 *   expr    := ws* (crc32 | sectors | blocks | literal) ws* END
 *   crc32   := "CRC32" ws* "(" ws* (sectors | literal) ws* "," ws* literal ws* ")"
 *   sectors := "NUM_DISK_SECTORS" [ws* ("+" | "-") ws* literal]
 *   blocks  := "NUM_DISK_BLOCKS" [ws* ("+" | "-") ws* literal]
 *   literal := digit+ ["."]
 */
#include "proto/expr.h"
#include "core/core.h"
#include <modemfw/error.h>

#include <string.h>

struct cursor {
	struct mfw_ctx *ctx;
	const char *text;
	const char *p;
};

/* Longest piece of the input quoted in a detail message. */
#define EXPR_QUOTE_MAX 64

static int syntax(struct cursor *c, const char *what)
{
	return mfw_fail(c->ctx, MFW_E_FORMAT, "expression '%.*s': %s at offset %zu",
			EXPR_QUOTE_MAX, c->text, what, (size_t)(c->p - c->text));
}

static void skip_ws(struct cursor *c)
{
	while (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')
		c->p++;
}

static bool accept_word(struct cursor *c, const char *word)
{
	size_t n = strlen(word);
	char next;

	if (strncmp(c->p, word, n) != 0)
		return false;
	/* NUM_DISK_SECTORSX is not NUM_DISK_SECTORS followed by garbage we accept */
	next = c->p[n];
	if ((next >= 'A' && next <= 'Z') || (next >= 'a' && next <= 'z') || next == '_' ||
	    (next >= '0' && next <= '9'))
		return false;
	c->p += n;
	return true;
}

/* digit+ ["."]; the value must fit int64_t (the struct stores it signed). */
static int literal(struct cursor *c, int64_t *out)
{
	uint64_t v = 0;

	if (*c->p < '0' || *c->p > '9')
		return syntax(c, "expected a decimal number");
	while (*c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');

		if (v > ((uint64_t)INT64_MAX - d) / 10)
			return mfw_fail(c->ctx, MFW_E_RANGE, "expression '%.*s': number too large",
					EXPR_QUOTE_MAX, c->text);
		v = v * 10 + d;
		c->p++;
	}
	if (*c->p == '.')
		c->p++;
	*out = (int64_t)v;
	return 0;
}

/* After the NUM_DISK_* word: optional "+N" / "-N". */
static int disk_offset(struct cursor *c, int64_t *out)
{
	const char *save = c->p;
	int64_t n;
	int ret;
	char sign;

	skip_ws(c);
	sign = *c->p;
	if (sign != '+' && sign != '-') {
		/* nothing follows the word; leave trailing blanks to the caller */
		c->p = save;
		*out = 0;
		return 0;
	}
	c->p++;
	skip_ws(c);
	ret = literal(c, &n);
	if (ret < 0)
		return ret;
	*out = sign == '-' ? -n : n;
	return 0;
}

static int crc32_args(struct cursor *c, struct mfw_expr *out)
{
	int64_t len;
	int ret;

	skip_ws(c);
	if (*c->p != '(')
		return syntax(c, "expected '(' after CRC32");
	c->p++;
	skip_ws(c);
	if (accept_word(c, "NUM_DISK_SECTORS")) {
		out->crc_start_kind = MFW_EXPR_DISK_SECTORS;
		ret = disk_offset(c, &out->crc_start);
	} else {
		out->crc_start_kind = MFW_EXPR_LITERAL;
		ret = literal(c, &out->crc_start);
	}
	if (ret < 0)
		return ret;
	skip_ws(c);
	if (*c->p != ',')
		return syntax(c, "expected ',' in CRC32(start,length)");
	c->p++;
	skip_ws(c);
	ret = literal(c, &len);
	if (ret < 0)
		return ret;
	skip_ws(c);
	if (*c->p != ')')
		return syntax(c, "expected ')' closing CRC32(");
	c->p++;
	out->crc_len = (uint64_t)len;
	return 0;
}

int mfw_expr_parse(struct mfw_ctx *ctx, const char *text, struct mfw_expr *out)
{
	struct cursor c = { .ctx = ctx, .text = text ? text : "", .p = text ? text : "" };
	int ret;

	memset(out, 0, sizeof(*out));
	if (!text)
		return mfw_fail(ctx, MFW_E_FORMAT, "expression missing");
	skip_ws(&c);
	if (!*c.p)
		return syntax(&c, "empty expression");
	if (accept_word(&c, "CRC32")) {
		out->kind = MFW_EXPR_CRC32;
		ret = crc32_args(&c, out);
	} else if (accept_word(&c, "NUM_DISK_SECTORS")) {
		out->kind = MFW_EXPR_DISK_SECTORS;
		ret = disk_offset(&c, &out->value);
	} else if (accept_word(&c, "NUM_DISK_BLOCKS")) {
		out->kind = MFW_EXPR_DISK_BLOCKS;
		ret = disk_offset(&c, &out->value);
	} else if (*c.p >= '0' && *c.p <= '9') {
		out->kind = MFW_EXPR_LITERAL;
		ret = literal(&c, &out->value);
	} else {
		return syntax(&c, "expected a number, NUM_DISK_SECTORS, NUM_DISK_BLOCKS or CRC32(");
	}
	if (ret < 0)
		goto reset_out;
	skip_ws(&c);
	if (*c.p) {
		ret = syntax(&c, "unexpected text after the expression");
		goto reset_out;
	}
	return 0;

reset_out:
	memset(out, 0, sizeof(*out));
	return ret;
}

/* base + off without wrapping either way. */
static int add_offset(struct mfw_ctx *ctx, const char *name, uint64_t base, int64_t off,
		      uint64_t *out)
{
	if (off < 0) {
		/* -(INT64_MIN) cannot happen: literals are at most INT64_MAX */
		uint64_t sub = (uint64_t)(-off);

		if (sub > base)
			return mfw_fail(ctx, MFW_E_RANGE, "%s-%llu is below zero (%s = %llu)",
					name, (unsigned long long)sub, name,
					(unsigned long long)base);
		*out = base - sub;
		return 0;
	}
	if ((uint64_t)off > UINT64_MAX - base)
		return mfw_fail(ctx, MFW_E_RANGE, "%s+%lld overflows", name, (long long)off);
	*out = base + (uint64_t)off;
	return 0;
}

static int disk_sectors(struct mfw_ctx *ctx, const struct mfw_expr_env *env, int64_t off,
			uint64_t *out)
{
	if (!env || !env->num_disk_sectors)
		return mfw_fail(ctx, MFW_E_UNSUPPORTED,
				"NUM_DISK_SECTORS used but the disk size is not known");
	return add_offset(ctx, "NUM_DISK_SECTORS", env->num_disk_sectors, off, out);
}

int mfw_expr_eval(struct mfw_ctx *ctx, const struct mfw_expr *e, const struct mfw_expr_env *env,
		  uint64_t *out)
{
	uint64_t start = 0;
	uint32_t crc;
	int ret;

	switch (e->kind) {
	case MFW_EXPR_LITERAL:
		if (e->value < 0)
			return mfw_fail(ctx, MFW_E_RANGE, "negative literal %lld",
					(long long)e->value);
		*out = (uint64_t)e->value;
		return 0;
	case MFW_EXPR_DISK_SECTORS:
		return disk_sectors(ctx, env, e->value, out);
	case MFW_EXPR_DISK_BLOCKS:
		if (!env || !env->num_disk_blocks)
			return mfw_fail(ctx, MFW_E_UNSUPPORTED,
					"NUM_DISK_BLOCKS used but the storage is not NAND");
		return add_offset(ctx, "NUM_DISK_BLOCKS", env->num_disk_blocks, e->value, out);
	case MFW_EXPR_CRC32:
		if (e->crc_start_kind == MFW_EXPR_DISK_SECTORS) {
			ret = disk_sectors(ctx, env, e->crc_start, &start);
			if (ret < 0)
				return ret;
		} else if (e->crc_start_kind == MFW_EXPR_LITERAL && e->crc_start >= 0) {
			start = (uint64_t)e->crc_start;
		} else {
			return mfw_fail(ctx, MFW_E_INVAL, "CRC32 start of unknown kind");
		}
		if (!env || !env->crc32)
			return mfw_fail(ctx, MFW_E_UNSUPPORTED,
					"CRC32(%llu,%llu) needs storage access, none available",
					(unsigned long long)start, (unsigned long long)e->crc_len);
		ret = env->crc32(env->user, start, e->crc_len, &crc);
		if (ret < 0)
			return ret;
		*out = crc;
		return 0;
	default:
		return mfw_fail(ctx, MFW_E_INVAL, "expression of unknown kind %d", (int)e->kind);
	}
}

int mfw_expr_eval_text(struct mfw_ctx *ctx, const char *text, const struct mfw_expr_env *env,
		       uint64_t *out)
{
	struct mfw_expr e;
	int ret = mfw_expr_parse(ctx, text, &e);

	if (ret < 0)
		return ret;
	return mfw_expr_eval(ctx, &e, env, out);
}
