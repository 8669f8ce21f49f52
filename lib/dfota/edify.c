/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Edify subset: tokenizer, recursive-descent parser to an AST, evaluator.
 * Every bound (depth, node count, argument count, source size) is checked
 * while parsing, so a hostile script costs at most a few MiB.
 */
#include "dfota/edify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Evaluation recursion: the parser bounds nesting, this is a backstop. */
#define EVAL_MAX_DEPTH (MFW_ED_MAX_DEPTH * 4)

enum tok {
	T_EOF,
	T_STR,      /* quoted string */
	T_WORD,     /* bareword */
	T_IF, T_THEN, T_ELSE, T_ENDIF,
	T_LP, T_RP, T_COMMA, T_SEMI, T_NOT, T_PLUS, T_EQ, T_NE, T_AND, T_OR,
};

struct parser {
	struct mfw_ctx *ctx;
	const char *src;
	size_t len, pos;
	uint32_t line, col;
	/* current token */
	enum tok t;
	size_t tstart, tend;
	uint32_t tline, tcol;
	char *tval;           /* decoded string / word */
	size_t tlen;
	size_t nodes;
	unsigned depth;
	struct mfw_ed_error *err;
	int failed;
};

static int perr(struct parser *p, uint32_t line, uint32_t col, int code, const char *fmt, ...)
	MFW_PRINTF(5, 6);

static int perr(struct parser *p, uint32_t line, uint32_t col, int code, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (p->failed)
		return p->failed;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->err) {
		p->err->line = line;
		p->err->col = col;
		snprintf(p->err->msg, sizeof(p->err->msg), "%s", msg);
	}
	p->failed = code;
	return mfw_fail(p->ctx, code, "updater-script %u:%u: %s", line, col, msg);
}

/* ---- tokenizer ---- */

static void adv(struct parser *p)
{
	if (p->src[p->pos] == '\n') {
		p->line++;
		p->col = 1;
	} else {
		p->col++;
	}
	p->pos++;
}

static bool word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == ':' || c == '/' || c == '.' || c == '-';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int lex_string(struct parser *p)
{
	/* decoded bytes never outnumber source bytes */
	size_t cap = 16, n = 0;
	char *buf = malloc(cap);

	if (!buf)
		return MFW_E_NOMEM;
	adv(p); /* opening quote */
	for (;;) {
		char c;
		if (p->pos >= p->len) {
			free(buf);
			return perr(p, p->tline, p->tcol, MFW_E_FORMAT, "unterminated string");
		}
		c = p->src[p->pos];
		if (c == '"') {
			adv(p);
			break;
		}
		if (c == '\\') {
			uint32_t el = p->line, ec = p->col;
			adv(p);
			if (p->pos >= p->len)
				continue;
			c = p->src[p->pos];
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '"': case '\\': break;
			case 'x': {
				int hi, lo;
				if (p->pos + 2 >= p->len ||
				    (hi = hexval(p->src[p->pos + 1])) < 0 ||
				    (lo = hexval(p->src[p->pos + 2])) < 0) {
					free(buf);
					return perr(p, el, ec, MFW_E_FORMAT,
						    "\\x needs two hex digits");
				}
				adv(p);
				adv(p);
				c = (char)(hi * 16 + lo);
				break;
			}
			default:
				free(buf);
				return perr(p, el, ec, MFW_E_FORMAT, "unknown escape '\\%c'",
					    c >= 0x20 && c < 0x7f ? c : '?');
			}
		}
		if (n + 2 > cap) {
			char *q;
			cap *= 2;
			q = realloc(buf, cap);
			if (!q) {
				free(buf);
				return MFW_E_NOMEM;
			}
			buf = q;
		}
		buf[n++] = c;
		adv(p);
	}
	buf[n] = 0;
	p->tval = buf;
	p->tlen = n;
	p->t = T_STR;
	return 0;
}

static int next(struct parser *p)
{
	char c;

	free(p->tval);
	p->tval = NULL;
	p->tlen = 0;
	for (;;) {
		if (p->pos >= p->len)
			break;
		c = p->src[p->pos];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			adv(p);
		} else if (c == '#') {
			while (p->pos < p->len && p->src[p->pos] != '\n')
				adv(p);
		} else {
			break;
		}
	}
	p->tstart = p->pos;
	p->tline = p->line;
	p->tcol = p->col;
	if (p->pos >= p->len) {
		p->t = T_EOF;
		p->tend = p->pos;
		return 0;
	}
	c = p->src[p->pos];
	if (c == '"') {
		int r = lex_string(p);
		p->tend = p->pos;
		return r;
	}
	if (word_char(c)) {
		size_t s = p->pos;
		while (p->pos < p->len && word_char(p->src[p->pos]))
			adv(p);
		p->tend = p->pos;
		p->tlen = p->pos - s;
		p->tval = malloc(p->tlen + 1);
		if (!p->tval)
			return MFW_E_NOMEM;
		memcpy(p->tval, p->src + s, p->tlen);
		p->tval[p->tlen] = 0;
		p->t = T_WORD;
		if (!strcmp(p->tval, "if"))
			p->t = T_IF;
		else if (!strcmp(p->tval, "then"))
			p->t = T_THEN;
		else if (!strcmp(p->tval, "else"))
			p->t = T_ELSE;
		else if (!strcmp(p->tval, "endif"))
			p->t = T_ENDIF;
		return 0;
	}
	{
		char d = p->pos + 1 < p->len ? p->src[p->pos + 1] : 0;
		int two = 0;
		switch (c) {
		case '(': p->t = T_LP; break;
		case ')': p->t = T_RP; break;
		case ',': p->t = T_COMMA; break;
		case ';': p->t = T_SEMI; break;
		case '+': p->t = T_PLUS; break;
		case '!':
			if (d == '=') {
				p->t = T_NE;
				two = 1;
			} else {
				p->t = T_NOT;
			}
			break;
		case '=':
			if (d != '=')
				return perr(p, p->line, p->col, MFW_E_FORMAT, "'=' is not an operator (use '==')");
			p->t = T_EQ;
			two = 1;
			break;
		case '&':
			if (d != '&')
				return perr(p, p->line, p->col, MFW_E_FORMAT, "'&' is not an operator (use '&&')");
			p->t = T_AND;
			two = 1;
			break;
		case '|':
			if (d != '|')
				return perr(p, p->line, p->col, MFW_E_FORMAT, "'|' is not an operator (use '||')");
			p->t = T_OR;
			two = 1;
			break;
		default:
			if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
				return perr(p, p->line, p->col, MFW_E_FORMAT, "unexpected character '%c'", c);
			return perr(p, p->line, p->col, MFW_E_FORMAT, "unexpected byte 0x%02x",
				    (unsigned char)c);
		}
		adv(p);
		if (two)
			adv(p);
		p->tend = p->pos;
	}
	return 0;
}

static const char *tok_name(enum tok t)
{
	static const char *const n[] = {
		"end of script", "string", "word", "'if'", "'then'", "'else'", "'endif'",
		"'('", "')'", "','", "';'", "'!'", "'+'", "'=='", "'!='", "'&&'", "'||'",
	};
	return n[t];
}

/* ---- AST ---- */

static void node_free(struct mfw_ed_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static struct mfw_ed_node *node_new(struct parser *p, enum mfw_ed_kind kind, uint32_t line,
				    uint32_t col, size_t start)
{
	struct mfw_ed_node *n;
	if (++p->nodes > MFW_ED_MAX_NODES) {
		perr(p, line, col, MFW_E_RANGE, "script has more than %u nodes", MFW_ED_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n) {
		p->failed = MFW_E_NOMEM;
		return NULL;
	}
	n->kind = kind;
	n->line = line;
	n->col = col;
	n->start = (uint32_t)start;
	n->end = (uint32_t)start;
	n->fn = -1;
	return n;
}

static int add_kid(struct parser *p, struct mfw_ed_node *n, struct mfw_ed_node *k)
{
	struct mfw_ed_node **v;
	if ((n->nkids & (n->nkids - 1)) == 0) { /* grow at powers of two */
		size_t cap = n->nkids ? n->nkids * 2 : 2;
		v = realloc(n->kids, cap * sizeof(*v));
		if (!v) {
			node_free(k);
			p->failed = MFW_E_NOMEM;
			return MFW_E_NOMEM;
		}
		n->kids = v;
	}
	n->kids[n->nkids++] = k;
	if (k->end > n->end)
		n->end = k->end;
	return 0;
}

static struct mfw_ed_node *parse_seq(struct parser *p);
static struct mfw_ed_node *parse_or(struct parser *p);

static bool enter(struct parser *p)
{
	if (++p->depth > MFW_ED_MAX_DEPTH) {
		perr(p, p->tline, p->tcol, MFW_E_RANGE, "nesting deeper than %u", MFW_ED_MAX_DEPTH);
		return false;
	}
	return true;
}

static bool expect(struct parser *p, enum tok t, const char *ctx_what)
{
	if (p->t != t) {
		perr(p, p->tline, p->tcol, MFW_E_FORMAT, "expected %s %s, found %s", tok_name(t),
		     ctx_what, tok_name(p->t));
		return false;
	}
	return next(p) == 0;
}

static struct mfw_ed_node *parse_primary(struct parser *p)
{
	struct mfw_ed_node *n = NULL, *k;
	uint32_t line = p->tline, col = p->tcol;
	size_t start = p->tstart;

	if (!enter(p))
		return NULL;
	switch (p->t) {
	case T_STR:
	case T_WORD: {
		bool word = p->t == T_WORD;
		n = node_new(p, MFW_ED_STR, line, col, start);
		if (!n)
			break;
		n->str = p->tval;
		n->len = p->tlen;
		n->end = (uint32_t)p->tend;
		p->tval = NULL;
		if (next(p) < 0)
			goto fail;
		if (!word || p->t != T_LP)
			break;
		/* a call: name(args) */
		n->kind = MFW_ED_CALL;
		if (next(p) < 0)
			goto fail;
		if (p->t != T_RP) {
			for (;;) {
				if (n->nkids >= MFW_ED_MAX_ARGS) {
					perr(p, p->tline, p->tcol, MFW_E_RANGE,
					     "more than %u arguments", MFW_ED_MAX_ARGS);
					goto fail;
				}
				k = parse_or(p);
				if (!k || add_kid(p, n, k) < 0)
					goto fail;
				if (p->t != T_COMMA)
					break;
				if (next(p) < 0)
					goto fail;
			}
		}
		n->end = (uint32_t)p->tend;
		if (!expect(p, T_RP, "to close the argument list"))
			goto fail;
		break;
	}
	case T_LP:
		if (next(p) < 0)
			break;
		n = parse_seq(p);
		if (!n)
			break;
		n->start = (uint32_t)start;
		n->end = (uint32_t)p->tend;
		if (!expect(p, T_RP, "to close '('"))
			goto fail;
		break;
	case T_IF:
		n = node_new(p, MFW_ED_IF, line, col, start);
		if (!n || next(p) < 0)
			goto fail;
		k = parse_seq(p);
		if (!k || add_kid(p, n, k) < 0 || !expect(p, T_THEN, "after the if condition"))
			goto fail;
		k = parse_seq(p);
		if (!k || add_kid(p, n, k) < 0)
			goto fail;
		if (p->t == T_ELSE) {
			if (next(p) < 0)
				goto fail;
			k = parse_seq(p);
			if (!k || add_kid(p, n, k) < 0)
				goto fail;
		}
		n->end = (uint32_t)p->tend;
		if (!expect(p, T_ENDIF, "to close 'if'"))
			goto fail;
		break;
	case T_NOT:
		n = node_new(p, MFW_ED_NOT, line, col, start);
		if (!n || next(p) < 0)
			goto fail;
		k = parse_primary(p);
		if (!k || add_kid(p, n, k) < 0)
			goto fail;
		break;
	default:
		perr(p, line, col, MFW_E_FORMAT, "expected an expression, found %s", tok_name(p->t));
		break;
	}
	p->depth--;
	return n;
fail:
	p->depth--;
	node_free(n);
	return NULL;
}

/* n-ary chain of one operator: a + b + c is one CONCAT node with three kids */
static struct mfw_ed_node *parse_chain(struct parser *p, enum tok op, enum mfw_ed_kind kind,
				       struct mfw_ed_node *(*sub)(struct parser *))
{
	struct mfw_ed_node *first = sub(p), *n, *k;
	if (!first || p->t != op)
		return first;
	n = node_new(p, kind, first->line, first->col, first->start);
	if (!n || add_kid(p, n, first) < 0) {
		if (!n)
			node_free(first);
		return NULL;
	}
	while (p->t == op) {
		if (next(p) < 0)
			goto fail;
		k = sub(p);
		if (!k || add_kid(p, n, k) < 0)
			goto fail;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

static struct mfw_ed_node *parse_concat(struct parser *p)
{
	return parse_chain(p, T_PLUS, MFW_ED_CONCAT, parse_primary);
}

static struct mfw_ed_node *parse_eq(struct parser *p)
{
	struct mfw_ed_node *l = parse_concat(p), *n, *r;
	unsigned chain = 0;

	while (l && (p->t == T_EQ || p->t == T_NE)) {
		if (++chain > MFW_ED_MAX_DEPTH) {
			perr(p, p->tline, p->tcol, MFW_E_RANGE, "comparison chain longer than %u",
			     MFW_ED_MAX_DEPTH);
			node_free(l);
			return NULL;
		}
		n = node_new(p, p->t == T_EQ ? MFW_ED_EQ : MFW_ED_NE, l->line, l->col, l->start);
		if (!n) {
			node_free(l);
			return NULL;
		}
		if (add_kid(p, n, l) < 0 || next(p) < 0) {
			node_free(n);
			return NULL;
		}
		r = parse_concat(p);
		if (!r || add_kid(p, n, r) < 0) {
			node_free(n);
			return NULL;
		}
		l = n;
	}
	return l;
}

static struct mfw_ed_node *parse_and(struct parser *p)
{
	return parse_chain(p, T_AND, MFW_ED_AND, parse_eq);
}

static struct mfw_ed_node *parse_or(struct parser *p)
{
	return parse_chain(p, T_OR, MFW_ED_OR, parse_and);
}

/* statements separated by ';' (empty statements allowed) */
static struct mfw_ed_node *parse_seq(struct parser *p)
{
	struct mfw_ed_node *n = node_new(p, MFW_ED_SEQ, p->tline, p->tcol, p->tstart), *k;
	if (!n)
		return NULL;
	for (;;) {
		while (p->t == T_SEMI)
			if (next(p) < 0)
				goto fail;
		if (p->t == T_EOF || p->t == T_RP || p->t == T_THEN || p->t == T_ELSE ||
		    p->t == T_ENDIF)
			break;
		k = parse_or(p);
		if (!k || add_kid(p, n, k) < 0)
			goto fail;
		if (p->t != T_SEMI)
			break;
	}
	return n;
fail:
	node_free(n);
	return NULL;
}

int mfw_ed_parse(struct mfw_ctx *ctx, const char *src, size_t len, struct mfw_ed_script **out,
		 struct mfw_ed_error *err)
{
	struct parser p = { .ctx = ctx, .src = src, .len = len, .line = 1, .col = 1, .err = err };
	struct mfw_ed_script *s;
	struct mfw_ed_node *root = NULL;
	int r;

	*out = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	if (len > MFW_ED_MAX_SRC)
		return perr(&p, 1, 1, MFW_E_RANGE, "script larger than %u bytes", MFW_ED_MAX_SRC);
	s = calloc(1, sizeof(*s));
	if (!s)
		return MFW_E_NOMEM;
	s->src = malloc(len + 1);
	if (!s->src) {
		free(s);
		return MFW_E_NOMEM;
	}
	memcpy(s->src, src, len);
	s->src[len] = 0;
	s->src_len = len;
	p.src = s->src;
	r = next(&p);
	if (r == 0)
		root = parse_seq(&p);
	if (root && p.t != T_EOF)
		perr(&p, p.tline, p.tcol, MFW_E_FORMAT, "unexpected %s", tok_name(p.t));
	free(p.tval);
	if (p.failed || !root || r < 0) {
		node_free(root);
		free(s->src);
		free(s);
		return p.failed ? p.failed : (r < 0 ? r : MFW_E_NOMEM);
	}
	s->root = root;
	s->nodes = p.nodes;
	*out = s;
	return 0;
}

void mfw_ed_free(struct mfw_ed_script *script)
{
	if (!script)
		return;
	node_free(script->root);
	free(script->src);
	free(script);
}

/* ---- binding ---- */

static int bind_node(struct mfw_ctx *ctx, struct mfw_ed_node *n, const struct mfw_ed_func *funcs,
		     size_t nfuncs, struct mfw_ed_error *err)
{
	if (n->kind == MFW_ED_CALL) {
		size_t i;
		for (i = 0; i < nfuncs; i++)
			if (!strcmp(funcs[i].name, n->str))
				break;
		if (i == nfuncs) {
			if (err) {
				err->line = n->line;
				err->col = n->col;
				snprintf(err->msg, sizeof(err->msg), "unknown function '%.60s'", n->str);
			}
			return mfw_fail(ctx, MFW_E_FORMAT, "updater-script %u:%u: unknown function '%.60s'",
					n->line, n->col, n->str);
		}
		if ((int)n->nkids < funcs[i].min_args ||
		    (funcs[i].max_args >= 0 && (int)n->nkids > funcs[i].max_args)) {
			if (err) {
				err->line = n->line;
				err->col = n->col;
				snprintf(err->msg, sizeof(err->msg), "'%s' takes %d..%d arguments, got %zu",
					 funcs[i].name, funcs[i].min_args, funcs[i].max_args, n->nkids);
			}
			return mfw_fail(ctx, MFW_E_FORMAT,
					"updater-script %u:%u: '%s' takes %d..%d arguments, got %zu",
					n->line, n->col, funcs[i].name, funcs[i].min_args,
					funcs[i].max_args, n->nkids);
		}
		n->fn = (int)i;
	}
	for (size_t i = 0; i < n->nkids; i++) {
		int r = bind_node(ctx, n->kids[i], funcs, nfuncs, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int mfw_ed_bind(struct mfw_ctx *ctx, struct mfw_ed_script *script, const struct mfw_ed_func *funcs,
		size_t nfuncs, struct mfw_ed_error *err)
{
	return bind_node(ctx, script->root, funcs, nfuncs, err);
}

bool mfw_ed_uses(const struct mfw_ed_node *n, const struct mfw_ed_func *funcs, unsigned flag)
{
	if (n->kind == MFW_ED_CALL && n->fn >= 0 && (funcs[n->fn].flags & flag))
		return true;
	for (size_t i = 0; i < n->nkids; i++)
		if (mfw_ed_uses(n->kids[i], funcs, flag))
			return true;
	return false;
}

/* ---- values and evaluation ---- */

void mfw_ed_val_free(struct mfw_ed_val *v)
{
	if (!v)
		return;
	free(v->s);
	memset(v, 0, sizeof(*v));
}

int mfw_ed_val_set(struct mfw_ed_val *v, const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (!d)
		return MFW_E_NOMEM;
	memcpy(d, s, len);
	d[len] = 0;
	memset(v, 0, sizeof(*v));
	v->type = MFW_ED_VSTRING;
	v->s = d;
	v->len = len;
	return 0;
}

bool mfw_ed_truthy(const struct mfw_ed_val *v)
{
	return v->type == MFW_ED_VBLOB || v->len > 0;
}

static int need_string(struct mfw_ed_eval *ev, const struct mfw_ed_node *n, struct mfw_ed_val *v)
{
	if (v->type == MFW_ED_VSTRING)
		return 0;
	mfw_ed_val_free(v);
	return mfw_fail(ev->ctx, MFW_E_FORMAT, "updater-script %u:%u: a blob is used as a string",
			n->line, n->col);
}

static int set_bool(struct mfw_ed_val *out, bool b)
{
	return mfw_ed_val_set(out, b ? "t" : "", b ? 1 : 0);
}

int mfw_ed_eval(struct mfw_ed_eval *ev, const struct mfw_ed_node *n, struct mfw_ed_val *out)
{
	struct mfw_ed_val a = { 0 }, b = { 0 };
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (++ev->depth > EVAL_MAX_DEPTH) {
		ev->depth--;
		return mfw_fail(ev->ctx, MFW_E_RANGE, "updater-script %u:%u: evaluation too deep",
				n->line, n->col);
	}
	switch (n->kind) {
	case MFW_ED_STR:
		r = mfw_ed_val_set(out, n->str, n->len);
		break;
	case MFW_ED_CALL:
		if (n->fn < 0 || (size_t)n->fn >= ev->nfuncs) {
			r = mfw_fail(ev->ctx, MFW_E_FORMAT, "updater-script %u:%u: unbound function '%s'",
				     n->line, n->col, n->str);
			break;
		}
		r = ev->funcs[n->fn].fn(ev, n, out);
		break;
	case MFW_ED_SEQ:
		r = mfw_ed_val_set(out, "", 0);
		for (size_t i = 0; i < n->nkids && r == 0; i++) {
			mfw_ed_val_free(out);
			r = mfw_ed_eval(ev, n->kids[i], out);
		}
		break;
	case MFW_ED_IF:
		r = mfw_ed_eval(ev, n->kids[0], &a);
		if (r < 0)
			break;
		if (mfw_ed_truthy(&a))
			r = mfw_ed_eval(ev, n->kids[1], out);
		else if (n->nkids > 2)
			r = mfw_ed_eval(ev, n->kids[2], out);
		else
			r = mfw_ed_val_set(out, "", 0);
		mfw_ed_val_free(&a);
		break;
	case MFW_ED_OR:
	case MFW_ED_AND: {
		bool want = n->kind == MFW_ED_OR, res = !want;
		for (size_t i = 0; i < n->nkids; i++) {
			r = mfw_ed_eval(ev, n->kids[i], &a);
			if (r < 0)
				break;
			bool t = mfw_ed_truthy(&a);
			mfw_ed_val_free(&a);
			if (t == want) {
				res = want;
				break;
			}
		}
		if (r == 0)
			r = set_bool(out, res);
		break;
	}
	case MFW_ED_NOT:
		r = mfw_ed_eval(ev, n->kids[0], &a);
		if (r == 0)
			r = set_bool(out, !mfw_ed_truthy(&a));
		mfw_ed_val_free(&a);
		break;
	case MFW_ED_EQ:
	case MFW_ED_NE:
		r = mfw_ed_eval(ev, n->kids[0], &a);
		if (r == 0)
			r = need_string(ev, n->kids[0], &a);
		if (r == 0)
			r = mfw_ed_eval(ev, n->kids[1], &b);
		if (r == 0)
			r = need_string(ev, n->kids[1], &b);
		if (r == 0) {
			bool eq = a.len == b.len && !memcmp(a.s, b.s, a.len);
			r = set_bool(out, n->kind == MFW_ED_EQ ? eq : !eq);
		}
		mfw_ed_val_free(&a);
		mfw_ed_val_free(&b);
		break;
	case MFW_ED_CONCAT: {
		size_t len = 0;
		char *s = NULL;
		for (size_t i = 0; i < n->nkids; i++) {
			char *q;
			r = mfw_ed_eval(ev, n->kids[i], &a);
			if (r == 0)
				r = need_string(ev, n->kids[i], &a);
			if (r < 0)
				break;
			if (len + a.len > MFW_ED_MAX_SRC * 2) {
				mfw_ed_val_free(&a);
				r = mfw_fail(ev->ctx, MFW_E_RANGE, "updater-script %u:%u: string too long",
					     n->line, n->col);
				break;
			}
			q = realloc(s, len + a.len + 1);
			if (!q) {
				mfw_ed_val_free(&a);
				r = MFW_E_NOMEM;
				break;
			}
			s = q;
			memcpy(s + len, a.s, a.len);
			len += a.len;
			s[len] = 0;
			mfw_ed_val_free(&a);
		}
		if (r == 0) {
			if (!s)
				s = calloc(1, 1);
			if (!s) {
				r = MFW_E_NOMEM;
				break;
			}
			out->type = MFW_ED_VSTRING;
			out->s = s;
			out->len = len;
		} else {
			free(s);
		}
		break;
	}
	}
	ev->depth--;
	if (r < 0)
		mfw_ed_val_free(out);
	return r;
}

int mfw_ed_arg_str(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, size_t i, char **out,
		   size_t *len)
{
	struct mfw_ed_val v;
	int r;

	*out = NULL;
	if (len)
		*len = 0;
	if (i >= call->nkids)
		return MFW_E_INVAL;
	r = mfw_ed_eval(ev, call->kids[i], &v);
	if (r < 0)
		return r;
	if (v.type != MFW_ED_VSTRING) {
		mfw_ed_val_free(&v);
		return mfw_fail(ev->ctx, MFW_E_FORMAT,
				"updater-script %u:%u: argument %zu of '%s' must be a string",
				call->kids[i]->line, call->kids[i]->col, i + 1, call->str);
	}
	*out = v.s;
	if (len)
		*len = v.len;
	return 0;
}
