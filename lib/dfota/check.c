/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * DFOTA package checker: prove a package against its source before it
 * ships. Zip consistency and every entry's CRC, the signature, the version
 * pre-check, every apply_patch_check hash against the source targetfiles,
 * then the script run on a model of the source (metadata and hashes; file
 * contents are streamed only where a patch needs them) and the result
 * compared with the expected target.
 *
 * The run here is a small interpreter of the edify subset the builder
 * emits, independent of the device updater (lib/dfota/updater*.c): it has
 * no I/O layer, no journal and no power-cut logic, and needs none, since it
 * only answers "does this package turn SRC into DST".
 */
#include "dfota/build.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <modemfw/delta.h>

#include "core/core.h"
#include "fmt/package.h"
#include "util/hash.h"

#define CHK_SCRIPT_MAX (16u << 20)
#define CHK_META_MAX (64u << 10)
#define CHK_DEPTH_MAX 64
#define CHK_ARGS_MAX 1024
#define CHK_CHUNK (64u << 10)

#define SCRIPT_NAME "META-INF/com/google/android/updater-script"
#define METADATA_NAME "META-INF/com/android/metadata"
#define SIGNATURE_NAME "META-INF/com/modemfw/signature"

/* A zip entry as read and CRC-checked. */
struct pentry {
	char *name;
	zip_uint64_t index;
	uint64_t size;
	uint8_t sha1[20];
	bool dir;
};

/* A node of the device model during the run. */
struct node {
	char *path;
	enum mfw_tf_type type;
	uint32_t mode, uid, gid;
	uint64_t size;
	uint8_t sha1[20];
	char *link;
	const struct mfw_tf_entry *origin; /* the source entry whose bytes these are, or */
	const struct pentry *pe;           /* the package entry they were extracted from */
	bool gone;
};

struct dpart {
	const struct mfw_tf_part *origin;
	char name[64];
	uint64_t size;
	uint8_t sha1[20];
	bool present;
	bool written;
};

struct checker {
	struct mfw_ctx *ctx;
	struct mfw_dfota_check_result *res;
	zip_t *za;
	const char *pkg_path;
	struct pentry *ent;
	size_t nent;
	struct mfw_tf *src;
	struct node *node;
	size_t nnode, cap;
	bool sorted;
	struct dpart *part;
	size_t npart;
	char work[PATH_MAX];
	unsigned nwork;
	uint64_t max_part, max_file;   /* largest partition and file patched (cache need) */
	bool ignore_owner;             /* comparing a tree written without root: no chown */
};

/* ---- verdicts ---- */

static int verdict(struct checker *c, int code, const char *what, const char *fmt, ...)
	MFW_PRINTF(4, 5);

static int verdict(struct checker *c, int code, const char *what, const char *fmt, ...)
{
	va_list ap;

	if (c->res->code)
		return c->res->code;
	c->res->code = code;
	snprintf(c->res->what, sizeof(c->res->what), "%s", what ? what : "");
	va_start(ap, fmt);
	vsnprintf(c->res->message, sizeof(c->res->message), fmt, ap);
	va_end(ap);
	return code;
}

/* ---- zip pass ---- */

static int cmp_pentry(const void *a, const void *b)
{
	return strcmp(((const struct pentry *)a)->name, ((const struct pentry *)b)->name);
}

static const struct pentry *pentry_find(const struct checker *c, const char *name)
{
	struct pentry key = { .name = (char *)name };

	return c->nent ? bsearch(&key, c->ent, c->nent, sizeof(*c->ent), cmp_pentry) : NULL;
}

/*
 * Read every entry to its end (libzip checks the CRC there), hash it, keep
 * the small META-INF texts, and feed the signature digest in zip order.
 */
static int read_entries(struct checker *c, char **script, size_t *slen, char **meta, size_t *mlen,
			char **sig, size_t *siglen, uint8_t digest[32])
{
	zip_int64_t count = zip_get_num_entries(c->za, 0);
	struct mfw_hash dh;
	uint8_t *buf;
	int r;

	buf = malloc(CHK_CHUNK);
	if (!buf)
		return MFW_E_NOMEM;
	c->ent = calloc(count > 0 ? (size_t)count : 1, sizeof(*c->ent));
	if (!c->ent) {
		free(buf);
		return MFW_E_NOMEM;
	}
	r = mfw_hash_init(&dh, MFW_HASH_SHA256);
	if (r < 0)
		goto free_buf;
	for (zip_int64_t i = 0; i < count; i++) {
		struct pentry *e = &c->ent[c->nent];
		char **keep = NULL;
		size_t *keep_len = NULL, keep_max = 0, got_total = 0;
		struct mfw_hash h;
		zip_file_t *zf;
		zip_stat_t st;
		bool is_sig;

		zip_stat_init(&st);
		if (zip_stat_index(c->za, (zip_uint64_t)i, 0, &st) < 0 || !(st.valid & ZIP_STAT_NAME)) {
			r = verdict(c, MFW_DFOTA_CHECK_DAMAGED, NULL, "zip member %lld is unreadable",
				    (long long)i);
			goto free_hash;
		}
		e->name = strdup(st.name);
		if (!e->name) {
			r = MFW_E_NOMEM;
			goto free_hash;
		}
		e->index = (zip_uint64_t)i;
		e->dir = st.name[0] && st.name[strlen(st.name) - 1] == '/';
		c->nent++;
		is_sig = !strcmp(st.name, SIGNATURE_NAME);
		if (!is_sig) {
			r = mfw_hash_update(&dh, st.name, strlen(st.name));
			if (r < 0)
				goto free_hash;
		}
		if (!strcmp(st.name, SCRIPT_NAME)) {
			keep = script, keep_len = slen, keep_max = CHK_SCRIPT_MAX;
		} else if (!strcmp(st.name, METADATA_NAME)) {
			keep = meta, keep_len = mlen, keep_max = CHK_META_MAX;
		} else if (is_sig) {
			keep = sig, keep_len = siglen, keep_max = 1024;
		}
		if (keep) {
			if ((st.valid & ZIP_STAT_SIZE) && st.size > keep_max) {
				r = verdict(c, MFW_DFOTA_CHECK_DAMAGED, st.name, "'%s' is larger than %zu bytes",
					    st.name, keep_max);
				goto free_hash;
			}
			free(*keep);
			*keep = malloc(keep_max + 1);
			if (!*keep) {
				r = MFW_E_NOMEM;
				goto free_hash;
			}
		}
		zf = zip_fopen_index(c->za, (zip_uint64_t)i, 0);
		if (!zf) {
			r = verdict(c, MFW_DFOTA_CHECK_DAMAGED, st.name, "cannot open '%s' in the zip: %s",
				    st.name, zip_strerror(c->za));
			goto free_hash;
		}
		r = mfw_hash_init(&h, MFW_HASH_SHA1);
		if (r < 0) {
			zip_fclose(zf);
			goto free_hash;
		}
		for (;;) {
			zip_int64_t n = zip_fread(zf, buf, CHK_CHUNK);

			if (n < 0) {
				r = verdict(c, MFW_DFOTA_CHECK_DAMAGED, st.name, "'%s' is damaged: %s", st.name,
					    zip_error_strerror(zip_file_get_error(zf)));
				break;
			}
			if (!n)
				break;
			if (keep) {
				if (got_total + (size_t)n > keep_max) {
					r = verdict(c, MFW_DFOTA_CHECK_DAMAGED, st.name, "'%s' is too large", st.name);
					break;
				}
				memcpy(*keep + got_total, buf, (size_t)n);
			}
			got_total += (size_t)n;
			if (mfw_hash_update(&h, buf, (size_t)n) < 0 ||
			    (!is_sig && mfw_hash_update(&dh, buf, (size_t)n) < 0)) {
				r = MFW_E_IO;
				break;
			}
		}
		zip_fclose(zf);
		if (r != 0) {
			mfw_hash_free(&h);
			goto free_hash;
		}
		mfw_hash_final(&h, e->sha1, 20);
		e->size = got_total;
		if (keep) {
			(*keep)[got_total] = '\0';
			*keep_len = got_total;
		}
		mfw_progress(c->ctx, "check", st.name, (uint64_t)i + 1, (uint64_t)count);
	}
	r = mfw_hash_final(&dh, digest, 32);
	r = r < 0 ? r : 0;
	c->res->entries = c->nent;
	if (c->nent)
		qsort(c->ent, c->nent, sizeof(*c->ent), cmp_pentry);
	goto free_buf;
free_hash:
	mfw_hash_free(&dh);
free_buf:
	free(buf);
	return r;
}

static int parse_metadata(struct checker *c, const char *meta)
{
	const char *p = meta;
	bool pre = false, post = false;

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[512];
		char *eq;

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (n && line[n - 1] == '\r')
				line[n - 1] = '\0';
			eq = strchr(line, '=');
			if (eq) {
				*eq++ = '\0';
				if (!strcmp(line, "pre-version")) {
					snprintf(c->res->pre_version, sizeof(c->res->pre_version), "%s", eq);
					pre = true;
				} else if (!strcmp(line, "post-version")) {
					snprintf(c->res->post_version, sizeof(c->res->post_version), "%s", eq);
					post = true;
				} else if (!strcmp(line, "scope")) {
					snprintf(c->res->scope, sizeof(c->res->scope), "%s", eq);
				} else if (!strcmp(line, "required-cache")) {
					c->res->required_cache = strtoull(eq, NULL, 10);
				} else if (!strcmp(line, "required-root")) {
					c->res->required_root = strtoull(eq, NULL, 10);
				}
			}
		}
		p += n;
		if (*p)
			p++;
	}
	if (!pre || !post)
		return verdict(c, MFW_DFOTA_CHECK_DAMAGED, METADATA_NAME,
			       "'%s' lacks pre-version or post-version", METADATA_NAME);
	return 0;
}

/* ---- device model ---- */

static int cmp_node(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->path, ((const struct node *)b)->path);
}

static void sort_nodes(struct checker *c)
{
	if (!c->sorted && c->nnode)
		qsort(c->node, c->nnode, sizeof(*c->node), cmp_node);
	c->sorted = true;
}

static struct node *node_find(struct checker *c, const char *path)
{
	struct node key = { .path = (char *)path };
	struct node *n;

	sort_nodes(c);
	n = c->nnode ? bsearch(&key, c->node, c->nnode, sizeof(*c->node), cmp_node) : NULL;
	return n && !n->gone ? n : NULL;
}

/* The node for path, created (type unset) when absent or gone. */
static int node_get(struct checker *c, const char *path, struct node **out)
{
	struct node key = { .path = (char *)path };
	struct node *n;

	sort_nodes(c);
	n = c->nnode ? bsearch(&key, c->node, c->nnode, sizeof(*c->node), cmp_node) : NULL;
	if (n) {
		if (n->gone) {
			free(n->link);
			n->link = NULL;
			n->origin = NULL;
			n->pe = NULL;
			n->gone = false;
		}
		*out = n;
		return 0;
	}
	if (c->nnode == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 256;
		struct node *nv = realloc(c->node, ncap * sizeof(*nv));

		if (!nv)
			return MFW_E_NOMEM;
		c->node = nv;
		c->cap = ncap;
	}
	n = &c->node[c->nnode];
	memset(n, 0, sizeof(*n));
	n->path = strdup(path);
	if (!n->path)
		return MFW_E_NOMEM;
	c->nnode++;
	c->sorted = false;
	/* re-sort now: callers hold pointers only until the next node_get */
	sort_nodes(c);
	*out = node_find(c, path);
	return 0;
}

static void node_unlink(struct node *n)
{
	n->gone = true;
	free(n->link);
	n->link = NULL;
	n->origin = NULL;
	n->pe = NULL;
}

static int load_source(struct checker *c)
{
	c->node = calloc(c->src->nent + 1, sizeof(*c->node));
	if (!c->node)
		return MFW_E_NOMEM;
	c->cap = c->src->nent + 1;
	for (size_t i = 0; i < c->src->nent; i++) {
		const struct mfw_tf_entry *e = &c->src->ent[i];
		struct node *n = &c->node[c->nnode];

		n->path = strdup(e->path);
		n->link = e->link ? strdup(e->link) : NULL;
		if (!n->path || (e->link && !n->link))
			return MFW_E_NOMEM;
		c->nnode++;
		n->type = e->type;
		n->mode = e->mode;
		n->uid = e->uid;
		n->gid = e->gid;
		n->size = e->size;
		memcpy(n->sha1, e->sha1, 20);
		n->origin = e->type == MFW_TF_FILE ? e : NULL;
	}
	c->sorted = true;
	c->part = calloc(c->src->npart + 64, sizeof(*c->part));
	if (!c->part)
		return MFW_E_NOMEM;
	for (size_t i = 0; i < c->src->npart; i++) {
		struct dpart *p = &c->part[c->npart++];

		p->origin = &c->src->part[i];
		snprintf(p->name, sizeof(p->name), "%s", c->src->part[i].name);
		p->size = c->src->part[i].size;
		memcpy(p->sha1, c->src->part[i].sha1, 20);
		p->present = true;
	}
	return 0;
}

static struct dpart *part_get(struct checker *c, const char *name, bool create)
{
	for (size_t i = 0; i < c->npart; i++)
		if (!strcmp(c->part[i].name, name))
			return &c->part[i];
	if (!create || c->npart >= c->src->npart + 64 ||
	    strlen(name) >= sizeof(c->part[c->npart].name))
		return NULL;
	memcpy(c->part[c->npart].name, name, strlen(name) + 1);
	return &c->part[c->npart++];
}

/* "/a/b" -> "a/b"; NULL for anything not under '/' or escaping it. */
static const char *root_rel(const char *abs, char *buf, size_t cap)
{
	if (abs[0] != '/')
		return NULL;
	while (*abs == '/')
		abs++;
	if (!*abs || mfw_pkg_path_clean(abs, buf, cap) < 0)
		return NULL;
	return buf;
}

/* ---- edify subset: lexer and parser ---- */

enum tok {
	T_EOF, T_STR, T_WORD, T_LP, T_RP, T_COMMA, T_SEMI, T_OR, T_AND, T_EQ, T_NE, T_NOT, T_PLUS,
};

enum akind { A_STR, A_CALL, A_OR, A_AND, A_EQ, A_NE, A_NOT, A_CONCAT };

struct ast {
	enum akind kind;
	char *s;              /* string value or function name */
	struct ast **kid;
	size_t n;
	unsigned line;
};

struct lexer {
	struct checker *c;
	const char *p, *end;
	unsigned line;
	enum tok t;
	char *s;              /* T_STR / T_WORD text */
	unsigned tline;
};

static int syntax(struct lexer *lx, const char *what)
{
	return mfw_fail(lx->c->ctx, MFW_E_FORMAT, "updater-script line %u: %s", lx->tline, what);
}

static int lex_string(struct lexer *lx)
{
	struct mfw_sbuf b = { 0 };

	lx->p++;
	mfw_sbuf_put(&b, "");
	while (lx->p < lx->end && *lx->p != '"') {
		char ch = *lx->p++;

		if (ch == '\n')
			lx->line++;
		if (ch == '\\') {
			if (lx->p >= lx->end)
				break;
			ch = *lx->p++;
			switch (ch) {
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'x':
				if (lx->end - lx->p < 2 || !isxdigit((unsigned char)lx->p[0]) ||
				    !isxdigit((unsigned char)lx->p[1])) {
					free(b.p);
					return syntax(lx, "bad \\x escape");
				}
				{
					char hex[3] = { lx->p[0], lx->p[1], 0 };

					ch = (char)strtoul(hex, NULL, 16);
					lx->p += 2;
				}
				break;
			default:
				break;
			}
		}
		if (!ch) {
			free(b.p);
			return syntax(lx, "NUL in a string");
		}
		{
			char one[2] = { ch, 0 };

			mfw_sbuf_put(&b, one);
		}
	}
	if (lx->p >= lx->end) {
		free(b.p);
		return syntax(lx, "unterminated string");
	}
	lx->p++;
	if (b.oom) {
		free(b.p);
		return MFW_E_NOMEM;
	}
	lx->s = b.p;
	lx->t = T_STR;
	return 0;
}

static bool word_char(char ch)
{
	return isalnum((unsigned char)ch) || strchr("_:/.-", ch);
}

static int lex(struct lexer *lx)
{
	free(lx->s);
	lx->s = NULL;
	for (;;) {
		while (lx->p < lx->end && isspace((unsigned char)*lx->p)) {
			if (*lx->p == '\n')
				lx->line++;
			lx->p++;
		}
		if (lx->p < lx->end && *lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
			continue;
		}
		break;
	}
	lx->tline = lx->line;
	if (lx->p >= lx->end) {
		lx->t = T_EOF;
		return 0;
	}
	switch (*lx->p) {
	case '"':
		return lex_string(lx);
	case '(': lx->t = T_LP; lx->p++; return 0;
	case ')': lx->t = T_RP; lx->p++; return 0;
	case ',': lx->t = T_COMMA; lx->p++; return 0;
	case ';': lx->t = T_SEMI; lx->p++; return 0;
	case '+': lx->t = T_PLUS; lx->p++; return 0;
	default:
		break;
	}
	if (lx->end - lx->p >= 2) {
		static const struct { const char *s; enum tok t; } two[] = {
			{ "||", T_OR }, { "&&", T_AND }, { "==", T_EQ }, { "!=", T_NE },
		};

		for (size_t i = 0; i < MFW_ARRAY_SIZE(two); i++) {
			if (!memcmp(lx->p, two[i].s, 2)) {
				lx->t = two[i].t;
				lx->p += 2;
				return 0;
			}
		}
	}
	if (*lx->p == '!') {
		lx->t = T_NOT;
		lx->p++;
		return 0;
	}
	if (word_char(*lx->p)) {
		const char *s = lx->p;

		while (lx->p < lx->end && word_char(*lx->p))
			lx->p++;
		lx->s = strndup(s, (size_t)(lx->p - s));
		if (!lx->s)
			return MFW_E_NOMEM;
		lx->t = T_WORD;
		if (!strcmp(lx->s, "if") || !strcmp(lx->s, "then") || !strcmp(lx->s, "else") ||
		    !strcmp(lx->s, "endif"))
			return mfw_fail(lx->c->ctx, MFW_E_UNSUPPORTED,
					"updater-script line %u: 'if' is not used by the builder and not run by the checker",
					lx->tline);
		return 0;
	}
	return syntax(lx, "unexpected character");
}

static void ast_free(struct ast *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		ast_free(a->kid[i]);
	free(a->kid);
	free(a->s);
	free(a);
}

static struct ast *ast_new(enum akind kind, unsigned line)
{
	struct ast *a = calloc(1, sizeof(*a));

	if (a) {
		a->kind = kind;
		a->line = line;
	}
	return a;
}

static int ast_add(struct ast *a, struct ast *kid)
{
	struct ast **nv;

	if (a->n >= CHK_ARGS_MAX)
		return MFW_E_RANGE;
	nv = realloc(a->kid, (a->n + 1) * sizeof(*nv));
	if (!nv)
		return MFW_E_NOMEM;
	a->kid = nv;
	nv[a->n++] = kid;
	return 0;
}

static int parse_expr(struct lexer *lx, unsigned depth, struct ast **out);

static int parse_primary(struct lexer *lx, unsigned depth, struct ast **out)
{
	struct ast *a;
	int r;

	if (depth > CHK_DEPTH_MAX)
		return syntax(lx, "nested too deeply");
	if (lx->t == T_NOT) {
		a = ast_new(A_NOT, lx->tline);
		if (!a)
			return MFW_E_NOMEM;
		r = lex(lx);
		if (r >= 0) {
			struct ast *k = NULL;

			r = parse_primary(lx, depth + 1, &k);
			if (r >= 0 && (r = ast_add(a, k)) < 0)
				ast_free(k);
		}
		if (r < 0) {
			ast_free(a);
			return r;
		}
		*out = a;
		return 0;
	}
	if (lx->t == T_LP) {
		r = lex(lx);
		if (r >= 0)
			r = parse_expr(lx, depth + 1, out);
		if (r >= 0 && lx->t != T_RP) {
			ast_free(*out);
			return syntax(lx, "')' expected");
		}
		return r < 0 ? r : lex(lx);
	}
	if (lx->t != T_STR && lx->t != T_WORD)
		return syntax(lx, "a string or a call expected");
	a = ast_new(A_STR, lx->tline);
	if (!a)
		return MFW_E_NOMEM;
	a->s = lx->s;
	lx->s = NULL;
	if (lx->t == T_WORD) {
		r = lex(lx);
		if (r >= 0 && lx->t == T_LP) {
			a->kind = A_CALL;
			r = lex(lx);
			while (r >= 0 && lx->t != T_RP) {
				struct ast *k = NULL;

				r = parse_expr(lx, depth + 1, &k);
				if (r >= 0 && (r = ast_add(a, k)) < 0)
					ast_free(k);
				if (r >= 0 && lx->t == T_COMMA)
					r = lex(lx);
				else if (r >= 0 && lx->t != T_RP)
					r = syntax(lx, "',' or ')' expected in a call");
			}
			if (r >= 0)
				r = lex(lx);
		}
	} else {
		r = lex(lx);
	}
	if (r < 0) {
		ast_free(a);
		return r;
	}
	*out = a;
	return 0;
}

/* Binary levels, loosest first: || && (== !=) + */
static int parse_level(struct lexer *lx, unsigned depth, int level, struct ast **out)
{
	static const enum tok toks[4][2] = { { T_OR, T_OR }, { T_AND, T_AND }, { T_EQ, T_NE },
					     { T_PLUS, T_PLUS } };
	struct ast *left = NULL;
	unsigned chain = 0;
	int r;

	if (depth > CHK_DEPTH_MAX)
		return syntax(lx, "nested too deeply");
	r = level == 4 ? parse_primary(lx, depth, &left) : parse_level(lx, depth, level + 1, &left);
	if (r < 0)
		return r;
	while (level < 4 && (lx->t == toks[level][0] || lx->t == toks[level][1])) {
		static const enum akind kinds[4] = { A_OR, A_AND, A_EQ, A_CONCAT };
		enum akind k = kinds[level];
		struct ast *a, *right = NULL;

		/* a chain builds a left-deep tree that eval() recurses into: bound it */
		if (++chain > CHK_ARGS_MAX) {
			ast_free(left);
			return syntax(lx, "operator chain too long");
		}
		if (lx->t == T_NE)
			k = A_NE;
		a = ast_new(k, lx->tline);
		if (!a) {
			ast_free(left);
			return MFW_E_NOMEM;
		}
		r = lex(lx);
		if (r >= 0)
			r = parse_level(lx, depth + 1, level + 1, &right);
		if (r >= 0)
			r = ast_add(a, left);
		if (r >= 0)
			left = NULL;
		if (r >= 0 && (r = ast_add(a, right)) >= 0)
			right = NULL;
		if (r < 0) {
			ast_free(left);
			ast_free(right);
			ast_free(a);
			return r;
		}
		left = a;
	}
	*out = left;
	return 0;
}

static int parse_expr(struct lexer *lx, unsigned depth, struct ast **out)
{
	return parse_level(lx, depth, 0, out);
}

/* ---- evaluation ---- */

struct val {
	char *s;                    /* never NULL after a successful eval */
	const struct pentry *blob;  /* package_extract_file(name) with one argument */
};

static void val_free(struct val *v)
{
	free(v->s);
	v->s = NULL;
	v->blob = NULL;
}

static int val_str(struct val *v, const char *s)
{
	v->blob = NULL;
	v->s = strdup(s);
	return v->s ? 0 : MFW_E_NOMEM;
}

static int eval(struct checker *c, const struct ast *a, struct val *out);

static int work_file(struct checker *c, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s/%06u", c->work, c->nwork++) >= cap)
		return MFW_E_RANGE;
	return 0;
}

static int extract_entry(struct checker *c, const struct pentry *e, const char *dest)
{
	zip_file_t *zf = zip_fopen_index(c->za, e->index, 0);
	uint8_t *buf = malloc(CHK_CHUNK);
	int fd = -1, r = 0;

	if (!zf || !buf) {
		r = buf ? mfw_fail(c->ctx, MFW_E_IO, "cannot open '%s' in the package", e->name)
			: MFW_E_NOMEM;
		goto close_all;
	}
	fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = mfw_fail(c->ctx, MFW_E_IO, "cannot create '%s': %s", dest, strerror(errno));
		goto close_all;
	}
	for (;;) {
		zip_int64_t n = zip_fread(zf, buf, CHK_CHUNK);

		if (n <= 0) {
			if (n < 0)
				r = mfw_fail(c->ctx, MFW_E_IO, "cannot read '%s' in the package", e->name);
			break;
		}
		if (write(fd, buf, (size_t)n) != n) {
			r = mfw_fail(c->ctx, MFW_E_IO, "cannot write '%s': %s", dest, strerror(errno));
			break;
		}
	}
close_all:
	if (fd >= 0)
		close(fd);
	if (zf)
		zip_fclose(zf);
	free(buf);
	return r;
}

struct fd_reader {
	int fd;
};

static int fd_read(void *user, uint64_t off, void *buf, size_t len)
{
	struct fd_reader *fr = user;
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fr->fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MFW_E_IO;
		if (!n)
			return MFW_E_RANGE;
		done += (size_t)n;
	}
	return 0;
}

struct hash_writer {
	struct mfw_hash h;
	uint64_t n;
};

static int hash_write(void *user, const void *buf, size_t len)
{
	struct hash_writer *hw = user;

	hw->n += len;
	return mfw_hash_update(&hw->h, buf, len);
}

static int open_reader(struct checker *c, const char *path, struct fd_reader *fr,
		       struct mfw_delta_reader *rd)
{
	off_t end;

	fr->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fr->fd < 0)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot open '%s': %s", path, strerror(errno));
	end = lseek(fr->fd, 0, SEEK_END);
	rd->read = fd_read;
	rd->user = fr;
	rd->size = end < 0 ? 0 : (uint64_t)end;
	return 0;
}

/*
 * Run patch over the bytes of old_rel in the source targetfiles, hashing the
 * output instead of keeping it: bounded memory whatever the sizes.
 */
static int run_patch(struct checker *c, const char *old_rel, const struct pentry *patch,
		     uint8_t sha1[20], uint64_t *size)
{
	char otmp[PATH_MAX], old[PATH_MAX], ptmp[PATH_MAX];
	struct fd_reader ofr = { -1 }, pfr = { -1 };
	struct mfw_delta_reader ord, prd;
	struct mfw_delta_writer wr;
	struct hash_writer hw = { .n = 0 };
	int r;

	r = work_file(c, otmp, sizeof(otmp));
	if (r >= 0)
		r = work_file(c, ptmp, sizeof(ptmp));
	if (r >= 0)
		r = mfw_tf_local_path(c->ctx, c->src, old_rel, otmp, old, sizeof(old));
	if (r >= 0)
		r = extract_entry(c, patch, ptmp);
	if (r >= 0)
		r = open_reader(c, old, &ofr, &ord);
	if (r >= 0)
		r = open_reader(c, ptmp, &pfr, &prd);
	if (r >= 0)
		r = mfw_hash_init(&hw.h, MFW_HASH_SHA1);
	if (r >= 0) {
		wr.write = hash_write;
		wr.user = &hw;
		r = mfw_delta_apply_io(c->ctx, &ord, &prd, &wr, NULL, NULL);
		if (r >= 0) {
			r = mfw_hash_final(&hw.h, sha1, 20);
			r = r < 0 ? r : 0;
			*size = hw.n;
		} else {
			mfw_hash_free(&hw.h);
		}
	}
	if (ofr.fd >= 0)
		close(ofr.fd);
	if (pfr.fd >= 0)
		close(pfr.fd);
	unlink(otmp);
	unlink(ptmp);
	return r;
}

static bool hex_is(const uint8_t sha1[20], const char *hex)
{
	char h[41];

	mfw_hex_encode(sha1, 20, h);
	return !strcasecmp(h, hex);
}

struct mtd {
	char name[64];
	uint64_t size[2];
	char sha[2][41];
	int n;
};

static int parse_mtd(const char *s, struct mtd *m)
{
	char buf[256];
	char *save = NULL, *t;
	int field = 0;

	memset(m, 0, sizeof(*m));
	if (strncmp(s, "MTD:", 4) || strlen(s) >= sizeof(buf))
		return MFW_E_FORMAT;
	snprintf(buf, sizeof(buf), "%s", s + 4);
	for (t = strtok_r(buf, ":", &save); t; t = strtok_r(NULL, ":", &save), field++) {
		if (field == 0) {
			snprintf(m->name, sizeof(m->name), "%s", t);
		} else if (field <= 4) {
			int k = (field - 1) / 2;

			if ((field - 1) % 2 == 0) {
				m->size[k] = strtoull(t, NULL, 10);
			} else {
				if (strlen(t) != 40)
					return MFW_E_FORMAT;
				memcpy(m->sha[k], t, 41);
				m->n = k + 1;
			}
		} else {
			return MFW_E_FORMAT;
		}
	}
	return m->n ? 0 : MFW_E_FORMAT;
}

/* apply_patch_check: true when the file or partition holds one of the hashes. */
static int fn_apply_patch_check(struct checker *c, const struct val *v, size_t n, struct val *out)
{
	bool ok = false;

	if (!strncmp(v[0].s, "MTD:", 4)) {
		struct mtd m;
		struct dpart *p;

		if (parse_mtd(v[0].s, &m) < 0)
			return mfw_fail(c->ctx, MFW_E_FORMAT, "bad partition name '%s'", v[0].s);
		p = part_get(c, m.name, false);
		for (int k = 0; p && p->present && k < m.n; k++)
			if (p->size == m.size[k] && hex_is(p->sha1, m.sha[k]))
				ok = true;
		for (size_t i = 1; p && p->present && i < n; i++)
			if (hex_is(p->sha1, v[i].s))
				ok = true;
	} else {
		char rel[MFW_TF_PATH_MAX];
		const char *path = root_rel(v[0].s, rel, sizeof(rel));
		struct node *nd = path ? node_find(c, path) : NULL;

		for (size_t i = 1; nd && nd->type == MFW_TF_FILE && i < n; i++)
			if (hex_is(nd->sha1, v[i].s))
				ok = true;
		if (nd && nd->type == MFW_TF_FILE && n == 1)
			ok = true;
	}
	return val_str(out, ok ? "t" : "");
}

static int fn_apply_patch(struct checker *c, const struct val *v, size_t n, struct val *out)
{
	const char *tsha = v[2].s;
	uint64_t tsize = strtoull(v[3].s, NULL, 10), size = 0;
	char old_rel[MFW_TF_PATH_MAX + 16];
	const struct pentry *patch = NULL;
	uint8_t sha1[20];
	int r;

	if (n < 6 || n % 2)
		return mfw_fail(c->ctx, MFW_E_FORMAT, "apply_patch needs src, tgt, sha1, size and (sha1, patch) pairs");
	if (strcmp(v[1].s, "-"))
		return mfw_fail(c->ctx, MFW_E_UNSUPPORTED, "apply_patch to another target than '-' is not run by the checker");
	if (!strncmp(v[0].s, "MTD:", 4)) {
		struct mtd m;
		struct dpart *p;

		if (parse_mtd(v[0].s, &m) < 0)
			return mfw_fail(c->ctx, MFW_E_FORMAT, "bad partition name '%s'", v[0].s);
		p = part_get(c, m.name, false);
		if (!p || !p->present)
			return verdict(c, MFW_DFOTA_CHECK_SOURCE, m.name, "partition '%s' is not in the source",
				       m.name);
		if (hex_is(p->sha1, tsha))
			return val_str(out, "t");
		for (size_t i = 4; i + 1 < n; i += 2)
			if (hex_is(p->sha1, v[i].s))
				patch = v[i + 1].blob;
		if (!patch || !p->origin)
			return verdict(c, MFW_DFOTA_CHECK_SOURCE, m.name,
				       "partition '%s' matches neither the source nor the target hash", m.name);
		r = run_patch(c, p->origin->rel, patch, sha1, &size);
		if (r < 0)
			return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, m.name, "patching partition '%s' failed: %s",
				       m.name, mfw_ctx_detail(c->ctx));
		if (size != tsize || !hex_is(sha1, tsha))
			return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, m.name,
				       "patching partition '%s' did not give the target hash", m.name);
		if (p->size > c->max_part || size > c->max_part)
			c->max_part = p->size > size ? p->size : size;
		p->size = size;
		memcpy(p->sha1, sha1, 20);
		p->origin = NULL;
		p->written = true;
	} else {
		char rel[MFW_TF_PATH_MAX];
		const char *path = root_rel(v[0].s, rel, sizeof(rel));
		struct node *nd = path ? node_find(c, path) : NULL;

		if (!nd || nd->type != MFW_TF_FILE)
			return verdict(c, MFW_DFOTA_CHECK_SOURCE, v[0].s, "'%s' is missing", v[0].s);
		if (hex_is(nd->sha1, tsha))
			return val_str(out, "t");
		for (size_t i = 4; i + 1 < n; i += 2)
			if (hex_is(nd->sha1, v[i].s))
				patch = v[i + 1].blob;
		if (!patch)
			return verdict(c, MFW_DFOTA_CHECK_SOURCE, v[0].s,
				       "'%s' matches neither the source nor the target hash", v[0].s);
		if (!nd->origin)
			return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, v[0].s,
				       "'%s' is patched after it was rewritten by the package", v[0].s);
		mfw_tf_entry_rel(nd->origin, old_rel, sizeof(old_rel));
		r = run_patch(c, old_rel, patch, sha1, &size);
		if (r < 0)
			return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, v[0].s, "patching '%s' failed: %s", v[0].s,
				       mfw_ctx_detail(c->ctx));
		if (size != tsize || !hex_is(sha1, tsha))
			return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, v[0].s,
				       "patching '%s' did not give the target hash", v[0].s);
		if (nd->size > c->max_file || size > c->max_file)
			c->max_file = nd->size > size ? nd->size : size;
		nd->size = size;
		memcpy(nd->sha1, sha1, 20);
		nd->origin = NULL;
	}
	c->res->patches_applied++;
	return val_str(out, "t");
}

/* Parent directories of path that do not exist yet, as the extractors make them. */
static int make_parents(struct checker *c, const char *path)
{
	char buf[MFW_TF_PATH_MAX];

	for (const char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		struct node *nd;
		int r;

		snprintf(buf, sizeof(buf), "%.*s", (int)(s - path), path);
		if (node_find(c, buf))
			continue;
		r = node_get(c, buf, &nd);
		if (r < 0)
			return r;
		nd->type = MFW_TF_DIR;
		nd->mode = 0755;
		nd->uid = nd->gid = 0;
	}
	return 0;
}

static int put_file(struct checker *c, const char *path, const struct pentry *e)
{
	struct node *nd;
	int r = make_parents(c, path);

	if (r >= 0)
		r = node_get(c, path, &nd);
	if (r < 0)
		return r;
	/* a fresh file, as the updater writes it (temp + rename); set_metadata follows */
	nd->mode = 0644;
	nd->uid = nd->gid = 0;
	nd->type = MFW_TF_FILE;
	nd->size = e->size;
	memcpy(nd->sha1, e->sha1, 20);
	free(nd->link);
	nd->link = NULL;
	nd->origin = NULL;
	nd->pe = e;
	return 0;
}

static int fn_extract_file(struct checker *c, const struct val *v, size_t n, struct val *out)
{
	const struct pentry *e = pentry_find(c, v[0].s);
	char rel[MFW_TF_PATH_MAX];
	const char *path;
	int r;

	if (!e || e->dir)
		return verdict(c, MFW_DFOTA_CHECK_DAMAGED, v[0].s, "the package has no entry '%s'", v[0].s);
	if (n == 1) {
		out->s = strdup("");
		out->blob = e;
		return out->s ? 0 : MFW_E_NOMEM;
	}
	path = root_rel(v[1].s, rel, sizeof(rel));
	if (!path)
		return mfw_fail(c->ctx, MFW_E_FORMAT, "package_extract_file destination '%s' is not under '/'",
				v[1].s);
	r = put_file(c, path, e);
	return r < 0 ? r : val_str(out, "t");
}

static int fn_extract_dir(struct checker *c, const struct val *v, size_t n, struct val *out)
{
	char rel[MFW_TF_PATH_MAX], prefix[MFW_TF_PATH_MAX + 1];
	const char *dest = root_rel(v[1].s, rel, sizeof(rel));
	size_t plen;
	struct node *nd;
	int r;

	(void)n;
	if (!dest)
		return mfw_fail(c->ctx, MFW_E_FORMAT, "package_extract_dir destination '%s' is not under '/'",
				v[1].s);
	snprintf(prefix, sizeof(prefix), "%s/", v[0].s);
	plen = strlen(prefix);
	r = make_parents(c, dest);
	if (r >= 0 && !node_find(c, dest)) {
		r = node_get(c, dest, &nd);
		if (r >= 0) {
			nd->type = MFW_TF_DIR;
			nd->mode = 0755;
		}
	}
	for (size_t i = 0; i < c->nent && r >= 0; i++) {
		const struct pentry *e = &c->ent[i];
		char path[2 * MFW_TF_PATH_MAX];
		size_t len;

		if (strncmp(e->name, prefix, plen) || !e->name[plen])
			continue;
		snprintf(path, sizeof(path), "%s/%s", dest, e->name + plen);
		len = strlen(path);
		if (e->dir) {
			path[len - 1] = '\0';
			r = make_parents(c, path);
			if (r >= 0 && !node_find(c, path)) {
				r = node_get(c, path, &nd);
				if (r >= 0) {
					nd->type = MFW_TF_DIR;
					nd->mode = 0755;
				}
			}
		} else {
			r = put_file(c, path, e);
		}
	}
	return r < 0 ? r : val_str(out, "t");
}

static int fn_delete(struct checker *c, const struct val *v, size_t n, bool recursive, struct val *out)
{
	for (size_t i = 0; i < n; i++) {
		char rel[MFW_TF_PATH_MAX];
		const char *path = root_rel(v[i].s, rel, sizeof(rel));
		struct node *nd = path ? node_find(c, path) : NULL;
		size_t len;

		if (!nd)
			continue;
		if (nd->type == MFW_TF_DIR && !recursive)
			continue;   /* delete() leaves directories alone, as unlink() does */
		node_unlink(nd);
		if (!recursive)
			continue;
		len = strlen(path);
		for (size_t k = 0; k < c->nnode; k++)
			if (!strncmp(c->node[k].path, path, len) && c->node[k].path[len] == '/')
				node_unlink(&c->node[k]);
	}
	return val_str(out, "t");
}

static int fn_symlink(struct checker *c, const struct val *v, size_t n, struct val *out)
{
	for (size_t i = 1; i < n; i++) {
		char rel[MFW_TF_PATH_MAX];
		const char *path = root_rel(v[i].s, rel, sizeof(rel));
		struct node *nd;
		int r;

		if (!path)
			return mfw_fail(c->ctx, MFW_E_FORMAT, "symlink '%s' is not under '/'", v[i].s);
		r = make_parents(c, path);
		if (r >= 0)
			r = node_get(c, path, &nd);
		if (r < 0)
			return r;
		free(nd->link);
		nd->link = strdup(v[0].s);
		if (!nd->link)
			return MFW_E_NOMEM;
		nd->type = MFW_TF_SYMLINK;
		nd->mode = 0777;
		nd->uid = nd->gid = 0;
		nd->size = 0;
		nd->origin = NULL;
		nd->pe = NULL;
	}
	return val_str(out, "t");
}

static int parse_mode(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 8);

	if (!*s || *end || v > 07777)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int set_meta_one(struct checker *c, struct node *nd, const struct val *v, size_t n,
			bool recursive)
{
	for (size_t i = 1; i + 1 < n; i += 2) {
		const char *k = v[i].s, *val = v[i + 1].s;
		uint32_t x;

		if (!strcmp(k, "uid") || !strcmp(k, "gid")) {
			char *end;
			unsigned long id = strtoul(val, &end, 10);

			if (!*val || *end)
				return mfw_fail(c->ctx, MFW_E_FORMAT, "set_metadata: bad %s '%s'", k, val);
			if (nd->type == MFW_TF_SYMLINK)
				continue;
			if (!strcmp(k, "uid"))
				nd->uid = (uint32_t)id;
			else
				nd->gid = (uint32_t)id;
		} else if (!strcmp(k, "mode") || !strcmp(k, "dmode") || !strcmp(k, "fmode")) {
			if (parse_mode(val, &x) < 0)
				return mfw_fail(c->ctx, MFW_E_FORMAT, "set_metadata: bad %s '%s'", k, val);
			if (nd->type == MFW_TF_SYMLINK)
				continue;
			if (!recursive || (!strcmp(k, "dmode") && nd->type == MFW_TF_DIR) ||
			    (!strcmp(k, "fmode") && nd->type == MFW_TF_FILE))
				nd->mode = x;
		} else if (strcmp(k, "capabilities") && strcmp(k, "selabel")) {
			return mfw_fail(c->ctx, MFW_E_FORMAT, "set_metadata: unknown key '%s'", k);
		}
	}
	return 0;
}

static int fn_set_metadata(struct checker *c, const struct val *v, size_t n, bool recursive,
			   struct val *out)
{
	char rel[MFW_TF_PATH_MAX];
	const char *path = root_rel(v[0].s, rel, sizeof(rel));
	struct node *nd = path ? node_find(c, path) : NULL;
	size_t len;
	int r;

	if (n % 2 == 0)
		return mfw_fail(c->ctx, MFW_E_FORMAT, "set_metadata needs key/value pairs");
	if (!nd)
		return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, v[0].s, "set_metadata on missing '%s'", v[0].s);
	r = set_meta_one(c, nd, v, n, recursive);
	if (r < 0 || !recursive)
		return r < 0 ? r : val_str(out, "t");
	len = strlen(path);
	for (size_t k = 0; k < c->nnode && r >= 0; k++)
		if (!c->node[k].gone && !strncmp(c->node[k].path, path, len) && c->node[k].path[len] == '/')
			r = set_meta_one(c, &c->node[k], v, n, true);
	return r < 0 ? r : val_str(out, "t");
}

static int fn_file_getprop(struct checker *c, const struct val *v, struct val *out)
{
	char rel[MFW_TF_PATH_MAX], srel[MFW_TF_PATH_MAX + 16];
	const char *path = root_rel(v[0].s, rel, sizeof(rel));
	struct node *nd = path ? node_find(c, path) : NULL;
	struct mfw_tf_file *f = NULL;
	char *text, *p;
	size_t n = 0, klen = strlen(v[1].s);
	int r = 0;

	if (!nd || nd->type != MFW_TF_FILE || nd->size > CHK_META_MAX)
		return val_str(out, "");
	text = malloc(nd->size + 1);
	if (!text)
		return MFW_E_NOMEM;
	if (nd->origin) {
		mfw_tf_entry_rel(nd->origin, srel, sizeof(srel));
		r = mfw_tf_file_open(c->ctx, c->src, srel, &f);
		while (r >= 0 && n < nd->size) {
			size_t got;

			r = mfw_tf_file_read(c->ctx, f, text + n, nd->size - n, &got);
			if (!got)
				break;
			n += got;
		}
		mfw_tf_file_close(f);
	} else if (nd->pe) {
		zip_file_t *zf = zip_fopen_index(c->za, nd->pe->index, 0);
		zip_int64_t got = zf ? zip_fread(zf, text, nd->size) : -1;

		if (zf)
			zip_fclose(zf);
		if (got < 0)
			r = MFW_E_IO;
		else
			n = (size_t)got;
	}
	if (r < 0) {
		free(text);
		return r;
	}
	text[n] = '\0';
	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, v[1].s, klen) && p[klen] == '=') {
			char *e = p + klen + 1, *end = strchr(e, '\n');

			if (end)
				*end = '\0';
			r = val_str(out, e);
			free(text);
			return r;
		}
	}
	free(text);
	return val_str(out, "");
}

static int abort_code(const char *msg)
{
	if (msg[0] == 'E' && isdigit((unsigned char)msg[1])) {
		long code = strtol(msg + 1, NULL, 10);

		if (code > 0 && code < 1000)
			return (int)code;
	}
	return MFW_DFOTA_CHECK_UNEXPECTED;
}

static int call(struct checker *c, const struct ast *a, struct val *out)
{
	const char *fn = a->s;
	struct val *v;
	size_t n = a->n;
	int r = 0;

	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return MFW_E_NOMEM;
	for (size_t i = 0; i < n && r == 0; i++)
		r = eval(c, a->kid[i], &v[i]);
	if (r != 0)
		goto free_vals;
#define NEED(lo) do { if (n < (lo)) { r = mfw_fail(c->ctx, MFW_E_FORMAT, \
	"updater-script line %u: '%s' needs at least %d arguments", a->line, fn, (lo)); goto free_vals; } } while (0)
	if (!strcmp(fn, "ui_print") || !strcmp(fn, "show_progress") || !strcmp(fn, "set_progress")) {
		r = val_str(out, "");
	} else if (!strcmp(fn, "abort")) {
		const char *msg = n ? v[0].s : "";

		r = verdict(c, abort_code(msg), NULL, "the script aborted: %s", msg);
	} else if (!strcmp(fn, "assert")) {
		for (size_t i = 0; i < n && !r; i++)
			if (!v[i].s[0])
				r = verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, NULL,
					    "assert failed at updater-script line %u", a->line);
		if (!r)
			r = val_str(out, "t");
	} else if (!strcmp(fn, "getprop")) {
		r = val_str(out, "");
	} else if (!strcmp(fn, "file_getprop")) {
		NEED(2);
		r = fn_file_getprop(c, v, out);
	} else if (!strcmp(fn, "apply_patch_check")) {
		NEED(1);
		r = fn_apply_patch_check(c, v, n, out);
	} else if (!strcmp(fn, "apply_patch_space")) {
		NEED(1);
		r = val_str(out, "t");
	} else if (!strcmp(fn, "apply_patch")) {
		NEED(6);
		r = fn_apply_patch(c, v, n, out);
	} else if (!strcmp(fn, "package_extract_file")) {
		NEED(1);
		r = fn_extract_file(c, v, n, out);
	} else if (!strcmp(fn, "package_extract_dir")) {
		NEED(2);
		r = fn_extract_dir(c, v, n, out);
	} else if (!strcmp(fn, "delete") || !strcmp(fn, "delete_recursive")) {
		r = fn_delete(c, v, n, fn[6] == '_', out);
	} else if (!strcmp(fn, "symlink")) {
		NEED(2);
		r = fn_symlink(c, v, n, out);
	} else if (!strcmp(fn, "set_metadata") || !strcmp(fn, "set_metadata_recursive")) {
		NEED(3);
		r = fn_set_metadata(c, v, n, fn[12] == '_', out);
	} else if (!strcmp(fn, "write_raw_image")) {
		struct dpart *p;

		NEED(2);
		p = part_get(c, v[1].s, true);
		if (!v[0].blob || !p) {
			r = mfw_fail(c->ctx, MFW_E_FORMAT, "write_raw_image needs a package entry and a partition");
		} else {
			p->size = v[0].blob->size;
			memcpy(p->sha1, v[0].blob->sha1, 20);
			p->present = true;
			p->written = true;
			p->origin = NULL;
			r = val_str(out, "t");
		}
	} else if (!strcmp(fn, "sha1_check")) {
		NEED(1);
		if (!v[0].blob) {
			r = mfw_fail(c->ctx, MFW_E_UNSUPPORTED, "sha1_check is run by the checker on package blobs only");
		} else {
			bool ok = n == 1;

			for (size_t i = 1; i < n; i++)
				ok = ok || hex_is(v[0].blob->sha1, v[i].s);
			if (ok) {
				char hex[41];

				mfw_hex_encode(v[0].blob->sha1, 20, hex);
				r = val_str(out, hex);
			} else {
				r = val_str(out, "");
			}
		}
	} else {
		r = mfw_fail(c->ctx, MFW_E_UNSUPPORTED, "updater-script line %u: '%s' is not run by the checker",
			     a->line, fn);
	}
#undef NEED
free_vals:
	for (size_t i = 0; i < n; i++)
		val_free(&v[i]);
	free(v);
	return r;
}

static int eval(struct checker *c, const struct ast *a, struct val *out)
{
	struct val l = { 0 }, rv = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	switch (a->kind) {
	case A_STR:
		return val_str(out, a->s);
	case A_CALL:
		return call(c, a, out);
	case A_NOT:
		r = eval(c, a->kid[0], &l);
		if (r == 0)
			r = val_str(out, l.s[0] ? "" : "t");
		val_free(&l);
		return r;
	case A_OR:
	case A_AND:
		r = eval(c, a->kid[0], &l);
		if (r != 0)
			return r;
		if ((a->kind == A_OR) == (l.s[0] != 0)) {
			r = val_str(out, l.s[0] ? "t" : "");
			val_free(&l);
			return r;
		}
		val_free(&l);
		r = eval(c, a->kid[1], &rv);
		if (r == 0)
			r = val_str(out, rv.s[0] ? "t" : "");
		val_free(&rv);
		return r;
	default:
		break;
	}
	r = eval(c, a->kid[0], &l);
	if (r == 0)
		r = eval(c, a->kid[1], &rv);
	if (r == 0) {
		if (a->kind == A_EQ || a->kind == A_NE) {
			bool eq = !strcmp(l.s, rv.s);

			r = val_str(out, (a->kind == A_EQ) == eq ? "t" : "");
		} else {
			size_t n1 = strlen(l.s), n2 = strlen(rv.s);

			out->s = malloc(n1 + n2 + 1);
			if (!out->s) {
				r = MFW_E_NOMEM;
			} else {
				memcpy(out->s, l.s, n1);
				memcpy(out->s + n1, rv.s, n2 + 1);
			}
		}
	}
	val_free(&l);
	val_free(&rv);
	return r;
}

/*
 * Parse and run the script statement by statement: a statement is parsed
 * only when the one before it has run, so memory holds one statement's tree.
 */
static int run_script(struct checker *c, const char *script, size_t len)
{
	struct lexer lx = { .c = c, .p = script, .end = script + len, .line = 1 };
	int r = lex(&lx);

	while (r == 0 && lx.t != T_EOF) {
		struct ast *a = NULL;
		struct val v = { 0 };

		if (lx.t == T_SEMI) {
			r = lex(&lx);
			continue;
		}
		r = parse_expr(&lx, 0, &a);
		if (r < 0)
			break;
		if (lx.t != T_SEMI && lx.t != T_EOF) {
			ast_free(a);
			r = syntax(&lx, "';' expected");
			break;
		}
		r = eval(c, a, &v);
		val_free(&v);
		ast_free(a);
		c->res->statements++;
		if (r != 0)
			break;
		if (mfw_cancelled(c->ctx)) {
			r = MFW_E_CANCELLED;
			break;
		}
	}
	free(lx.s);
	return r;
}

/* ---- comparison with the expected target ---- */

static bool same_as(const struct node *n, const struct mfw_tf_entry *e, bool owners, char *why,
		    size_t cap)
{
	if (!n && !e)
		return true;
	if (!n) {
		snprintf(why, cap, "is missing");
		return false;
	}
	if (!e) {
		snprintf(why, cap, "should not exist");
		return false;
	}
	if (n->type != e->type) {
		snprintf(why, cap, "has another type");
		return false;
	}
	if (n->type == MFW_TF_FILE && (n->size != e->size || memcmp(n->sha1, e->sha1, 20))) {
		snprintf(why, cap, "has other contents (%llu bytes, expected %llu)",
			 (unsigned long long)n->size, (unsigned long long)e->size);
		return false;
	}
	if (n->type == MFW_TF_SYMLINK) {
		if (strcmp(n->link, e->link)) {
			snprintf(why, cap, "points to '%s', expected '%s'", n->link, e->link);
			return false;
		}
		return true;
	}
	if (n->mode != e->mode || (owners && (n->uid != e->uid || n->gid != e->gid))) {
		snprintf(why, cap, "has mode %04o uid %u gid %u, expected %04o %u %u", n->mode, n->uid,
			 n->gid, e->mode, e->uid, e->gid);
		return false;
	}
	return true;
}

static int compare_tree(struct checker *c, const struct mfw_tf *dst, const struct mfw_tf_paths *preserve)
{
	size_t i = 0, j = 0;

	sort_nodes(c);
	while (i < c->nnode || j < dst->nent) {
		const struct node *n = NULL;
		const struct mfw_tf_entry *d = NULL;
		const char *path;
		char why[600], abs[MFW_TF_PATH_MAX + 2];
		int k;

		if (i < c->nnode && c->node[i].gone) {
			i++;
			continue;
		}
		if (i == c->nnode)
			k = 1;
		else if (j == dst->nent)
			k = -1;
		else
			k = strcmp(c->node[i].path, dst->ent[j].path);
		if (k <= 0)
			n = &c->node[i++];
		if (k >= 0)
			d = &dst->ent[j++];
		path = n ? n->path : d->path;
		if (same_as(n, d, !c->ignore_owner, why, sizeof(why)))
			continue;
		if (mfw_tf_paths_match(preserve, path)) {
			char why2[256];

			if (same_as(n, mfw_tf_find(c->src, path), !c->ignore_owner, why2, sizeof(why2)))
				continue;
			snprintf(why, sizeof(why), "is preserved but %s", why2);
		}
		snprintf(abs, sizeof(abs), "/%s", path);
		return verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, abs, "after the update '%s' %s", abs, why);
	}
	return 0;
}

static bool scope_part(const char *scope, const char *name)
{
	if (!strcmp(scope, "modem"))
		return !strcmp(name, "modem");
	if (!strcmp(scope, "kernel"))
		return !strcmp(name, "boot");
	if (!strcmp(scope, "rootfs"))
		return false;
	return true;
}

static int compare_expected(struct checker *c, const struct mfw_dfota_check_opts *opts)
{
	struct mfw_tf_perms perms = { 0 };
	struct mfw_tf_paths preserve = { 0 };
	struct mfw_tf_opts topts = { 0 };
	struct mfw_tf *dst = NULL;
	const char *scope = c->res->scope[0] ? c->res->scope : "all";
	char *text;
	size_t len;
	int r;

	if (opts->perms_list) {
		r = mfw_tf_read_text(c->ctx, opts->perms_list, &text, &len);
		if (r < 0)
			return r;
		r = mfw_tf_parse_perms(c->ctx, opts->perms_list, text, len, &perms);
		free(text);
		if (r < 0)
			return r;
		topts.perms = &perms;
	}
	if (opts->preserve_list) {
		r = mfw_tf_read_text(c->ctx, opts->preserve_list, &text, &len);
		if (r < 0)
			goto free_lists;
		r = mfw_tf_parse_paths(c->ctx, opts->preserve_list, text, len, &preserve);
		free(text);
		if (r < 0)
			goto free_lists;
	}
	r = mfw_tf_open(c->ctx, opts->expect, &topts, &dst);
	if (r < 0)
		goto free_lists;
	if (strcmp(dst->version, c->res->post_version)) {
		r = verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, dst->version,
			    "the package is for version '%s', the expected target is '%s'",
			    c->res->post_version, dst->version);
		goto close_dst;
	}
	if (!strcmp(scope, "all") || !strcmp(scope, "rootfs")) {
		r = compare_tree(c, dst, opts->preserve_list ? &preserve : &dst->preserve);
		if (r)
			goto close_dst;
	}
	for (size_t i = 0; i < dst->npart; i++) {
		const struct mfw_tf_part *d = &dst->part[i];
		struct dpart *p;

		if (!scope_part(scope, d->name))
			continue;
		p = part_get(c, d->name, false);
		if (!p || !p->present || p->size != d->size || memcmp(p->sha1, d->sha1, 20)) {
			r = verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, d->name,
				    "after the update partition '%s' differs from the target", d->name);
			goto close_dst;
		}
	}
	if (!strcmp(scope, "all")) {
		for (size_t i = 0; i < dst->nrec; i++) {
			const struct mfw_tf_entry *d = &dst->rec[i];
			const struct pentry *e;
			char name[MFW_TF_PATH_MAX + 16];
			bool same = false;

			for (size_t k = 0; k < c->src->nrec; k++)
				if (!strcmp(c->src->rec[k].path, d->path) &&
				    !memcmp(c->src->rec[k].sha1, d->sha1, 20))
					same = true;
			if (same)
				continue;
			snprintf(name, sizeof(name), "recovery/%s", d->path);
			e = pentry_find(c, name);
			if (!e || memcmp(e->sha1, d->sha1, 20)) {
				r = verdict(c, MFW_DFOTA_CHECK_UNEXPECTED, name,
					    "the package lacks the target's RECOVERY/%s", d->path);
				goto close_dst;
			}
		}
	}
	c->res->expect_checked = true;
close_dst:
	mfw_tf_close(dst);
free_lists:
	mfw_tf_perms_free(&perms);
	mfw_tf_paths_free(&preserve);
	return r;
}

/* ---- the real updater on a copy of the source ---- */

#if defined(__has_include)
#if __has_include("dfota/updater.h")
#define CHK_HAVE_UPDATER 1
#endif
#endif

#ifdef CHK_HAVE_UPDATER
#include "dfota/updater.h"

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * top/SYSTEM: the source tree with the source's metadata (owners when we
 * are root), top/parts/<name>: one file per partition, top/cache: empty.
 */
static int materialize(struct checker *c, const char *top)
{
	const struct mfw_tf *src = c->src;
	bool as_root = geteuid() == 0;
	char p[PATH_MAX + MFW_TF_PATH_MAX], rel[MFW_TF_PATH_MAX + 16];
	static const char *const sub[] = { "SYSTEM", "parts", "cache" };
	int r = 0;

	for (size_t i = 0; i < MFW_ARRAY_SIZE(sub); i++) {
		snprintf(p, sizeof(p), "%s/%s", top, sub[i]);
		if (mkdir(p, 0755) < 0)
			return mfw_fail(c->ctx, MFW_E_IO, "cannot create '%s': %s", p, strerror(errno));
	}
	/* sorted: parents before children */
	for (size_t i = 0; i < src->nent && r >= 0; i++) {
		const struct mfw_tf_entry *e = &src->ent[i];

		snprintf(p, sizeof(p), "%s/SYSTEM/%s", top, e->path);
		if (e->type == MFW_TF_DIR) {
			if (mkdir(p, 0700) < 0 && errno != EEXIST)
				r = mfw_fail(c->ctx, MFW_E_IO, "cannot create '%s': %s", p, strerror(errno));
		} else if (e->type == MFW_TF_SYMLINK) {
			if (symlink(e->link, p) < 0)
				r = mfw_fail(c->ctx, MFW_E_IO, "cannot create link '%s': %s", p, strerror(errno));
		} else {
			mfw_tf_entry_rel(e, rel, sizeof(rel));
			r = mfw_tf_extract(c->ctx, c->src, rel, p);
		}
	}
	/* children before parents, so a read-only directory is made so last */
	for (size_t i = src->nent; i-- > 0 && r >= 0;) {
		const struct mfw_tf_entry *e = &src->ent[i];

		if (e->type == MFW_TF_SYMLINK)
			continue;
		snprintf(p, sizeof(p), "%s/SYSTEM/%s", top, e->path);
		if (chmod(p, e->mode) < 0 || (as_root && lchown(p, e->uid, e->gid) < 0))
			r = mfw_fail(c->ctx, MFW_E_IO, "cannot set the metadata of '%s': %s", p, strerror(errno));
	}
	for (size_t i = 0; i < src->npart && r >= 0; i++) {
		snprintf(p, sizeof(p), "%s/parts/%s", top, src->part[i].name);
		r = mfw_tf_extract(c->ctx, c->src, src->part[i].rel, p);
	}
	return r;
}

static void report_none(void *user, const char *line)
{
	(void)user;
	(void)line;
}

static int hash_host_file(struct checker *c, const char *path, uint8_t sha1[20], uint64_t *size)
{
	struct fd_reader fr = { -1 };
	struct mfw_delta_reader rd = { 0 };
	struct hash_writer hw = { .n = 0 };
	uint8_t *buf = malloc(CHK_CHUNK);
	int r;

	if (!buf)
		return MFW_E_NOMEM;
	r = open_reader(c, path, &fr, &rd);
	if (r >= 0)
		r = mfw_hash_init(&hw.h, MFW_HASH_SHA1);
	for (uint64_t off = 0; r >= 0 && off < rd.size;) {
		size_t n = rd.size - off > CHK_CHUNK ? CHK_CHUNK : (size_t)(rd.size - off);

		r = fd_read(&fr, off, buf, n);
		if (r >= 0)
			r = hash_write(&hw, buf, n);
		off += n;
	}
	if (r >= 0) {
		r = mfw_hash_final(&hw.h, sha1, 20);
		r = r < 0 ? r : 0;
		*size = hw.n;
	}
	if (fr.fd >= 0)
		close(fr.fd);
	free(buf);
	return r;
}

/* Replace the model state by what the updater left on disk. */
static int load_result(struct checker *c, const char *top, struct mfw_tf **got)
{
	struct mfw_tf_opts topts = { .disk_meta = true };
	char p[PATH_MAX + 300];
	struct mfw_tf *tf;
	DIR *d;
	struct dirent *de;
	int r;

	r = mfw_tf_open(c->ctx, top, &topts, &tf);
	if (r < 0)
		return r;
	*got = tf;
	for (size_t i = 0; i < c->nnode; i++) {
		free(c->node[i].path);
		free(c->node[i].link);
	}
	c->nnode = 0;
	for (size_t i = 0; i < tf->nent; i++) {
		const struct mfw_tf_entry *e = &tf->ent[i];
		struct node *n;

		r = node_get(c, e->path, &n);
		if (r < 0)
			return r;
		n->type = e->type;
		n->mode = e->mode;
		n->uid = e->uid;
		n->gid = e->gid;
		n->size = e->size;
		memcpy(n->sha1, e->sha1, 20);
		if (e->link && !(n->link = strdup(e->link)))
			return MFW_E_NOMEM;
	}
	c->npart = 0;
	snprintf(p, sizeof(p), "%s/parts", top);
	d = opendir(p);
	if (!d)
		return mfw_fail(c->ctx, MFW_E_IO, "cannot list '%s': %s", p, strerror(errno));
	while ((de = readdir(d)) && r >= 0) {
		struct dpart *dp;

		if (de->d_name[0] == '.')
			continue;
		dp = part_get(c, de->d_name, true);
		if (!dp)
			continue;
		snprintf(p, sizeof(p), "%s/parts/%s", top, de->d_name);
		r = hash_host_file(c, p, dp->sha1, &dp->size);
		dp->present = true;
	}
	closedir(d);
	return r;
}

static int no_fsync(void *be, int fd)
{
	(void)be;
	(void)fd;
	return 0;
}

static int no_fsync_path(void *be, const char *path)
{
	(void)be;
	(void)path;
	return 0;
}

/*
 * The updater on the POSIX backend with fsync made a no-op: the copy is
 * thrown away, so durability buys nothing, and a sync per file would make a
 * check of a few hundred files take seconds on a busy disk.
 */
static int apply_nosync(struct checker *c, const char *pkg_path, const struct mfw_dfota_apply_opts *ao,
			struct mfw_dfota_apply_result *ar)
{
	struct mfw_dfota_pkg pkg = { .path = pkg_path };
	struct mfw_dfio_ops ops;
	struct mfw_dfio *io, fast;
	int r;

	r = mfw_dfio_posix_new(ao->root, ao->cache, ao->partitions, &io);
	if (r < 0)
		return r;
	ops = *io->ops;
	ops.fsync = no_fsync;
	ops.fsync_path = no_fsync_path;
	fast.ops = &ops;
	fast.be = io->be;
	r = mfw_dfota_apply_io(c->ctx, &fast, &pkg, ao, ar);
	mfw_dfio_free(io);
	return r;
}

static int run_updater(struct checker *c, const struct mfw_dfota_check_opts *opts, const char *pkg_path)
{
	struct mfw_dfota_apply_opts ao = { .report = report_none };
	struct mfw_dfota_apply_result ar;
	char top[PATH_MAX], root[PATH_MAX + 16], parts[PATH_MAX + 16], cache[PATH_MAX + 16];
	struct mfw_tf *got = NULL;
	const char *tmp = opts->workdir ? opts->workdir : getenv("TMPDIR");
	int r;

	if ((size_t)snprintf(top, sizeof(top), "%s/dfota-check-dev.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
	    sizeof(top) || !mkdtemp(top))
		return mfw_fail(c->ctx, MFW_E_IO, "cannot create a scratch directory '%s'", top);
	snprintf(root, sizeof(root), "%s/SYSTEM", top);
	snprintf(parts, sizeof(parts), "%s/parts", top);
	snprintf(cache, sizeof(cache), "%s/cache", top);
	r = materialize(c, top);
	if (r < 0)
		goto remove_tree;
	ao.root = root;
	ao.partitions = parts;
	ao.cache = cache;
	memset(&ar, 0, sizeof(ar));
	r = apply_nosync(c, pkg_path, &ao, &ar);
	c->res->used_updater = true;
	if (ar.code) {
		r = verdict(c, ar.code, NULL, "the updater on a copy of the source ended with %d: %s", ar.code,
			    ar.message[0] ? ar.message : mfw_ctx_detail(c->ctx));
		goto remove_tree;
	}
	if (r < 0)
		goto remove_tree;
	r = load_result(c, top, &got);
	if (r < 0)
		goto close_got;
	/* without root the updater cannot chown: owners are compared by the model run only */
	c->ignore_owner = geteuid() != 0;
	c->res->expect_checked = false;
	r = compare_expected(c, opts);
close_got:
	mfw_tf_close(got);
remove_tree:
	rm_tree(top);
	return r;
}
#endif

static void remove_dir_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	/* scratch files are removed after each use; sweep what an error left */
	while (d && (de = readdir(d))) {
		char p[PATH_MAX + 256];

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static uint64_t live_bytes(const struct checker *c)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < c->nnode; i++)
		if (!c->node[i].gone && c->node[i].type == MFW_TF_FILE)
			sum += c->node[i].size;
	return sum;
}

/* Take the quoted name out of an abort message ('E510: "/usr/bin/x" has ...'). */
static void what_from_message(struct mfw_dfota_check_result *res)
{
	const char *q = strstr(res->message, "\"");
	const char *e = q ? strchr(q + 1, '"') : NULL;

	if (!res->what[0] && q && e)
		snprintf(res->what, sizeof(res->what), "%.*s", (int)(e - q - 1), q + 1);
}

static void checker_free(struct checker *c)
{
	for (size_t i = 0; i < c->nent; i++)
		free(c->ent[i].name);
	free(c->ent);
	for (size_t i = 0; i < c->nnode; i++) {
		free(c->node[i].path);
		free(c->node[i].link);
	}
	free(c->node);
	free(c->part);
	mfw_tf_close(c->src);
	if (c->za)
		zip_discard(c->za);
}

int mfw_dfota_check(struct mfw_ctx *ctx, const char *pkg_path, const char *src,
		    const struct mfw_dfota_check_opts *opts, struct mfw_dfota_check_result *res)
{
	static const struct mfw_dfota_check_opts defaults;
	struct checker c = { .ctx = ctx, .res = res, .pkg_path = pkg_path };
	char *script = NULL, *meta = NULL, *sig = NULL;
	size_t slen = 0, mlen = 0, siglen = 0;
	uint8_t digest[32];
	uint64_t before;
	const char *tmp;
	int ze = 0, r;

	if (!opts)
		opts = &defaults;
	memset(res, 0, sizeof(*res));
	if (access(pkg_path, R_OK) < 0)
		return mfw_fail(ctx, errno == ENOENT ? MFW_E_NOENT : MFW_E_IO, "cannot open package '%s': %s",
				pkg_path, strerror(errno));
	c.za = zip_open(pkg_path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!c.za) {
		zip_error_t zerr;

		zip_error_init_with_code(&zerr, ze);
		verdict(&c, MFW_DFOTA_CHECK_DAMAGED, pkg_path, "'%s' is not a sound zip: %s", pkg_path,
			zip_error_strerror(&zerr));
		zip_error_fini(&zerr);
		return 0;
	}
	r = read_entries(&c, &script, &slen, &meta, &mlen, &sig, &siglen, digest);
	if (r != 0)
		goto done;
	if (!script || !meta) {
		r = verdict(&c, MFW_DFOTA_CHECK_DAMAGED, script ? METADATA_NAME : SCRIPT_NAME,
			    "the package has no '%s'", script ? METADATA_NAME : SCRIPT_NAME);
		goto done;
	}
	if (sig) {
		res->is_signed = true;
		r = mfw_dfota_verify_sig(ctx, opts->pubkey_pem, digest, sig, siglen);
		if (r < 0) {
			r = verdict(&c, MFW_DFOTA_CHECK_DAMAGED, SIGNATURE_NAME, "%s", mfw_ctx_detail(ctx));
			goto done;
		}
		res->signature_checked = opts->pubkey_pem != NULL;
	} else if (opts->pubkey_pem) {
		r = verdict(&c, MFW_DFOTA_CHECK_DAMAGED, SIGNATURE_NAME, "the package is not signed");
		goto done;
	}
	r = parse_metadata(&c, meta);
	if (r != 0)
		goto done;
	r = mfw_tf_open(ctx, src, NULL, &c.src);
	if (r < 0)
		goto done;
	if (strcmp(c.src->version, res->pre_version)) {
		r = verdict(&c, MFW_DFOTA_CHECK_VERSION, c.src->version,
			    "the package updates '%s', the source is '%s'", res->pre_version, c.src->version);
		goto done;
	}
	r = load_source(&c);
	if (r < 0)
		goto done;
	before = live_bytes(&c);
	tmp = opts->workdir ? opts->workdir : getenv("TMPDIR");
	if ((size_t)snprintf(c.work, sizeof(c.work), "%s/dfota-check.XXXXXX", tmp && *tmp ? tmp : "/tmp") >=
	    sizeof(c.work) || !mkdtemp(c.work)) {
		r = mfw_fail(ctx, MFW_E_IO, "cannot create a scratch directory '%s'", c.work);
		goto done;
	}
	r = run_script(&c, script, slen);
	remove_dir_files(c.work);
	/* a script that does not parse, or calls a function wrongly, is a damaged package */
	if (r == MFW_E_FORMAT || r == MFW_E_RANGE)
		r = verdict(&c, MFW_DFOTA_CHECK_DAMAGED, SCRIPT_NAME, "%s", mfw_ctx_detail(ctx));
	if (r != 0)
		goto done;
	res->measured_cache = c.max_part + c.max_file;
	res->measured_root = live_bytes(&c) > before ? live_bytes(&c) - before : 0;
	if (opts->expect)
		r = compare_expected(&c, opts);
#ifdef CHK_HAVE_UPDATER
	if (r == 0 && opts->expect && !opts->model_only)
		r = run_updater(&c, opts, pkg_path);
#endif
done:
	if (r > 0) {
		what_from_message(res);
		r = 0;
	}
	free(script);
	free(meta);
	free(sig);
	checker_free(&c);
	return r;
}
