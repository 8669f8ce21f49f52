/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Firehose XML codec: stream splitter, libxml2 parser, builder and the
 * small text scanners for answers that programmers put into <log> lines.
 * Everything here is pure: bytes in, structs or bytes out.
 */
#include "proto/firehose.h"
#include "core/core.h"
#include <modemfw/error.h>

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* ------------------------------------------------------------------ */
/* splitter                                                            */
/* ------------------------------------------------------------------ */

enum scan_result {
	SCAN_NONE,    /* no document start at all; everything is garbage */
	SCAN_PARTIAL, /* a document starts at *start but is not complete */
	SCAN_DOC,     /* a complete document at [*start, *end) */
	SCAN_TOOBIG,  /* the document at *start exceeds MFW_FH_MAX_DOC */
};

enum match { MATCH_NO, MATCH_YES, MATCH_MAYBE };

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/* Literal at p? MAYBE when the buffer ends inside a matching prefix. */
static enum match match_lit(const uint8_t *p, size_t n, const char *lit, size_t litlen)
{
	size_t k = n < litlen ? n : litlen;

	if (memcmp(p, lit, k) != 0)
		return MATCH_NO;
	return n < litlen ? MATCH_MAYBE : MATCH_YES;
}

/* "<data" as a whole tag name, not "<database". */
static enum match match_data_tag(const uint8_t *p, size_t n)
{
	enum match m = match_lit(p, n, "<data", 5);

	if (m != MATCH_YES)
		return m;
	if (n == 5)
		return MATCH_MAYBE;
	return (is_blank(p[5]) || p[5] == '>' || p[5] == '/') ? MATCH_YES : MATCH_NO;
}

static enum match match_xml_decl(const uint8_t *p, size_t n)
{
	return match_lit(p, n, "<?xml", 5);
}

enum end_result { END_PARTIAL, END_DOC, END_RESTART };

/*
 * From the "<data" start tag at d, find the end of the document. A new
 * "<?xml" before the end means the current document was cut short (device
 * reset, line noise): report a restart there so the stream resynchronises.
 */
static enum end_result find_data_end(const uint8_t *p, size_t n, size_t d, size_t *pos)
{
	size_t i;
	uint8_t quote = 0;

	for (i = d + 5; i < n; i++) {
		uint8_t c = p[i];

		if (quote) {
			if (c == quote)
				quote = 0;
		} else if (c == '"' || c == '\'') {
			quote = c;
		} else if (c == '>') {
			break;
		}
	}
	if (i >= n)
		return END_PARTIAL;
	if (p[i - 1] == '/') {
		*pos = i + 1;
		return END_DOC;
	}
	for (i = i + 1; i < n; i++) {
		enum match m;
		size_t k;

		if (p[i] != '<')
			continue;
		m = match_xml_decl(p + i, n - i);
		if (m == MATCH_YES) {
			*pos = i;
			return END_RESTART;
		}
		m = match_lit(p + i, n - i, "</data", 6);
		if (m == MATCH_MAYBE)
			return END_PARTIAL;
		if (m == MATCH_NO)
			continue;
		for (k = i + 6; k < n && is_blank(p[k]); k++)
			;
		if (k == n)
			return END_PARTIAL;
		if (p[k] == '>') {
			*pos = k + 1;
			return END_DOC;
		}
	}
	return END_PARTIAL;
}

/* From a document start at s (either "<?xml" or "<data"), find its end. */
static enum end_result find_doc_end(const uint8_t *p, size_t n, size_t s, size_t *pos)
{
	size_t i;

	if (match_data_tag(p + s, n - s) == MATCH_YES)
		return find_data_end(p, n, s, pos);
	/* prolog: skip to the <data> start tag, past comments or PIs */
	for (i = s + 5; i < n; i++) {
		enum match m;

		if (p[i] != '<')
			continue;
		m = match_xml_decl(p + i, n - i);
		if (m == MATCH_YES) {
			*pos = i;
			return END_RESTART;
		}
		if (m == MATCH_MAYBE)
			return END_PARTIAL;
		m = match_data_tag(p + i, n - i);
		if (m == MATCH_YES)
			return find_data_end(p, n, i, pos);
		if (m == MATCH_MAYBE)
			return END_PARTIAL;
	}
	return END_PARTIAL;
}

static enum scan_result scan(const uint8_t *p, size_t n, size_t *start, size_t *end)
{
	size_t i = 0;

	for (;;) {
		enum end_result r;
		size_t s, pos = 0;

		for (; i < n; i++) {
			enum match a, b;

			if (p[i] != '<')
				continue;
			a = match_xml_decl(p + i, n - i);
			b = match_data_tag(p + i, n - i);
			if (a == MATCH_YES || b == MATCH_YES)
				break;
			if (a == MATCH_MAYBE || b == MATCH_MAYBE) {
				/* may become a start once more bytes arrive */
				*start = i;
				return SCAN_PARTIAL;
			}
		}
		if (i >= n) {
			*start = n;
			return SCAN_NONE;
		}
		s = i;
		r = find_doc_end(p, n, s, &pos);
		if (r == END_RESTART) {
			i = pos;
			continue;
		}
		*start = s;
		if (r == END_DOC) {
			*end = pos;
			return pos - s > MFW_FH_MAX_DOC ? SCAN_TOOBIG : SCAN_DOC;
		}
		*end = n;
		return n - s > MFW_FH_MAX_DOC ? SCAN_TOOBIG : SCAN_PARTIAL;
	}
}

void mfw_fh_splitter_init(struct mfw_fh_splitter *sp)
{
	memset(sp, 0, sizeof(*sp));
}

void mfw_fh_splitter_free(struct mfw_fh_splitter *sp)
{
	free(sp->buf);
	memset(sp, 0, sizeof(*sp));
}

/* Remove the first n bytes; anything but blanks counts as skipped garbage. */
static void drop_front(struct mfw_fh_splitter *sp, size_t n, bool count)
{
	if (!n)
		return;
	if (count) {
		for (size_t i = 0; i < n; i++)
			if (!is_blank(sp->buf[i]))
				sp->skipped++;
	}
	memmove(sp->buf, sp->buf + n, sp->len - n);
	sp->len -= n;
	sp->scanned = sp->scanned > n ? sp->scanned - n : 0;
}

int mfw_fh_splitter_push(struct mfw_fh_splitter *sp, const void *data, size_t len)
{
	size_t old = sp->len;

	if (!len)
		return 0;
	if (len > SIZE_MAX / 2 - sp->len)
		return MFW_E_NOMEM;
	if (sp->len + len > sp->cap) {
		size_t cap = sp->cap ? sp->cap : 512;
		uint8_t *nb;

		while (cap < sp->len + len)
			cap *= 2;
		nb = realloc(sp->buf, cap);
		if (!nb)
			return MFW_E_NOMEM;
		sp->buf = nb;
		sp->cap = cap;
	}
	memcpy(sp->buf + sp->len, data, len);
	sp->len += len;

	if (sp->len - sp->doc_end > MFW_FH_MAX_DOC) {
		size_t s, e;

		/* only a complete first document justifies holding this much */
		if (scan(sp->buf + sp->doc_end, sp->len - sp->doc_end, &s, &e) != SCAN_DOC) {
			sp->len = old;
			return MFW_E_PROTO;
		}
	}
	return 0;
}

int mfw_fh_splitter_next(struct mfw_fh_splitter *sp, const char **doc, size_t *len)
{
	enum scan_result r;
	size_t s = 0, e = 0;

	/* the document handed out last is consumed now */
	drop_front(sp, sp->doc_end, false);
	sp->doc_end = 0;
	*doc = NULL;
	*len = 0;
	if (!sp->len)
		return 0;
	/*
	 * Every document ends in '>': when none arrived since the last
	 * fruitless scan the answer cannot have changed. Keeps byte-by-byte
	 * delivery over a tty linear instead of quadratic.
	 */
	if (sp->scanned && sp->scanned <= sp->len && sp->len <= MFW_FH_MAX_DOC &&
	    !memchr(sp->buf + sp->scanned, '>', sp->len - sp->scanned)) {
		sp->scanned = sp->len;
		return 0;
	}

	r = scan(sp->buf, sp->len, &s, &e);
	switch (r) {
	case SCAN_DOC:
		drop_front(sp, s, true);
		sp->doc_end = e - s;
		sp->scanned = 0;
		*doc = (const char *)sp->buf;
		*len = e - s;
		return 1;
	case SCAN_TOOBIG:
		/* drop it so a caller that carries on can resynchronise */
		drop_front(sp, e, true);
		sp->scanned = 0;
		return MFW_E_PROTO;
	case SCAN_NONE:
	case SCAN_PARTIAL:
	default:
		drop_front(sp, s, true);
		sp->scanned = sp->len;
		return 0;
	}
}

size_t mfw_fh_splitter_pending(const struct mfw_fh_splitter *sp)
{
	return sp->len - sp->doc_end;
}

size_t mfw_fh_splitter_take_raw(struct mfw_fh_splitter *sp, void *buf, size_t cap)
{
	size_t avail = sp->len - sp->doc_end;
	size_t n = cap < avail ? cap : avail;

	if (!n)
		return 0;
	memcpy(buf, sp->buf + sp->doc_end, n);
	memmove(sp->buf + sp->doc_end, sp->buf + sp->doc_end + n, avail - n);
	sp->len -= n;
	sp->scanned = 0;
	return n;
}

/* ------------------------------------------------------------------ */
/* parser                                                              */
/* ------------------------------------------------------------------ */

static void elem_free(struct mfw_fh_elem *e)
{
	for (size_t i = 0; i < e->nattr; i++) {
		free(e->attrs[i].name);
		free(e->attrs[i].value);
	}
	free(e->attrs);
	free(e->tag);
	memset(e, 0, sizeof(*e));
}

void mfw_fh_msg_free(struct mfw_fh_msg *msg)
{
	if (!msg)
		return;
	for (size_t i = 0; i < msg->nelem; i++)
		elem_free(&msg->elems[i]);
	free(msg->elems);
	msg->elems = NULL;
	msg->nelem = 0;
}

static int elem_from_node(xmlDocPtr xdoc, xmlNodePtr node, struct mfw_fh_elem *e)
{
	size_t n = 0;
	xmlAttrPtr a;

	e->tag = strdup((const char *)node->name);
	if (!e->tag)
		return MFW_E_NOMEM;
	for (a = node->properties; a; a = a->next)
		n++;
	if (!n)
		return 0;
	e->attrs = calloc(n, sizeof(*e->attrs));
	if (!e->attrs)
		return MFW_E_NOMEM;
	for (a = node->properties; a; a = a->next) {
		struct mfw_fh_attr *at = &e->attrs[e->nattr];
		/* inLine=1: the decoded text (&quot; -> "), as the peer meant it */
		xmlChar *v = xmlNodeListGetString(xdoc, a->children, 1);

		at->name = strdup((const char *)a->name);
		at->value = strdup(v ? (const char *)v : "");
		xmlFree(v);
		if (!at->name || !at->value) {
			free(at->name);
			free(at->value);
			at->name = at->value = NULL;
			return MFW_E_NOMEM;
		}
		e->nattr++;
	}
	return 0;
}

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/*
 * libxml2 2.9 initialises its globals lazily and not thread-safely; the host
 * session and the virtual modem parse from different threads.
 */
static void xml_init(void)
{
	xmlInitParser();
}

int mfw_fh_parse(struct mfw_ctx *ctx, const char *doc, size_t len, struct mfw_fh_msg *out)
{
	xmlParserCtxtPtr pctx;
	xmlDocPtr xdoc;
	xmlNodePtr root, n;
	size_t count = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!doc || !len)
		return mfw_fail(ctx, MFW_E_FORMAT, "empty firehose document");
	if (len > MFW_FH_MAX_DOC)
		return mfw_fail(ctx, MFW_E_FORMAT, "firehose document of %zu bytes exceeds %u",
				len, MFW_FH_MAX_DOC);

	/*
	 * Firehose never uses a DTD; one is only a vehicle for entity tricks.
	 * Refused before libxml2 sees it, so no entity is even declared.
	 */
	if (memmem(doc, len, "<!DOCTYPE", 9))
		return mfw_fail(ctx, MFW_E_FORMAT, "firehose document carries a DTD");

	pthread_once(&xml_once, xml_init);
	pctx = xmlNewParserCtxt();
	if (!pctx)
		return MFW_E_NOMEM;
	/*
	 * A hostile peer must not make us fetch, load or expand anything: no
	 * network, no DTD loading, no entity substitution (XML_PARSE_NOENT is
	 * deliberately absent); errors go to the context, not to stderr.
	 */
	xdoc = xmlCtxtReadMemory(pctx, doc, (int)len, "firehose.xml", NULL,
				 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					 XML_PARSE_NOCDATA);
	if (!xdoc) {
		const xmlError *err = xmlCtxtGetLastError(pctx);
		const char *msg = err && err->message ? err->message : "parse error";
		size_t mlen = strlen(msg);

		/* libxml2 messages end in a newline; the detail is one sentence */
		while (mlen && (msg[mlen - 1] == '\n' || msg[mlen - 1] == ' '))
			mlen--;
		ret = mfw_fail(ctx, MFW_E_FORMAT, "malformed firehose document (line %d): %.*s",
			       err ? err->line : 0, (int)mlen, msg);
		goto free_pctx;
	}
	/* belt and braces for the check above */
	if (xdoc->intSubset || xdoc->extSubset) {
		ret = mfw_fail(ctx, MFW_E_FORMAT, "firehose document carries a DTD");
		goto free_doc;
	}
	root = xmlDocGetRootElement(xdoc);
	if (!root || strcmp((const char *)root->name, "data") != 0) {
		ret = mfw_fail(ctx, MFW_E_FORMAT, "firehose document root is <%s>, expected <data>",
			       root ? (const char *)root->name : "(none)");
		goto free_doc;
	}
	for (n = root->children; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			count++;
	if (count) {
		out->elems = calloc(count, sizeof(*out->elems));
		if (!out->elems) {
			ret = MFW_E_NOMEM;
			goto free_doc;
		}
	}
	for (n = root->children; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		/* count before filling so a failure frees the partial element too */
		out->nelem++;
		ret = elem_from_node(xdoc, n, &out->elems[out->nelem - 1]);
		if (ret < 0)
			goto free_msg;
	}
	ret = 0;
	goto free_doc;

free_msg:
	mfw_fh_msg_free(out);
free_doc:
	xmlFreeDoc(xdoc);
free_pctx:
	xmlFreeParserCtxt(pctx);
	return ret;
}

const char *mfw_fh_attr_get(const struct mfw_fh_elem *e, const char *name)
{
	if (!e || !name)
		return NULL;
	for (size_t i = 0; i < e->nattr; i++)
		if (strcasecmp(e->attrs[i].name, name) == 0)
			return e->attrs[i].value;
	return NULL;
}

const struct mfw_fh_elem *mfw_fh_msg_find(const struct mfw_fh_msg *msg, const char *tag)
{
	if (!msg || !tag)
		return NULL;
	for (size_t i = 0; i < msg->nelem; i++)
		if (strcasecmp(msg->elems[i].tag, tag) == 0)
			return &msg->elems[i];
	return NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Digits of s[0..n) in base 10 or 16; false on garbage, empty or overflow. */
static bool parse_digits(const char *s, size_t n, unsigned base, uint64_t *out)
{
	uint64_t v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int d = base == 16 ? hexval((unsigned char)s[i]) :
				     (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);

		if (d < 0)
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return true;
}

int mfw_fh_parse_u64(const char *s, uint64_t *out)
{
	if (!s)
		return MFW_E_FORMAT;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		return parse_digits(s + 2, strlen(s + 2), 16, out) ? 0 : MFW_E_FORMAT;
	return parse_digits(s, strlen(s), 10, out) ? 0 : MFW_E_FORMAT;
}

/* ------------------------------------------------------------------ */
/* builder                                                             */
/* ------------------------------------------------------------------ */

#define FH_XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>"

struct sbuf {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void sb_put(struct sbuf *sb, const char *s, size_t n)
{
	if (sb->overflow)
		return;
	/* keep one byte for the NUL */
	if (n >= sb->cap - sb->len) {
		sb->overflow = true;
		return;
	}
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static void sb_str(struct sbuf *sb, const char *s)
{
	sb_put(sb, s, strlen(s));
}

/* XML name (tags and attribute names): ASCII subset, which is all Firehose uses. */
static bool valid_name(const char *s)
{
	if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_' || *p == ':' || *p == '-' ||
		      *p == '.'))
			return false;
	return true;
}

/* Escaped attribute value; false for control characters XML 1.0 cannot carry. */
static bool sb_escaped(struct sbuf *sb, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '&':
			sb_str(sb, "&amp;");
			break;
		case '<':
			sb_str(sb, "&lt;");
			break;
		case '>':
			sb_str(sb, "&gt;");
			break;
		case '"':
			sb_str(sb, "&quot;");
			break;
		case '\'':
			sb_str(sb, "&apos;");
			break;
		/* as references: a parser would turn the raw characters into spaces */
		case '\t':
			sb_str(sb, "&#9;");
			break;
		case '\n':
			sb_str(sb, "&#10;");
			break;
		case '\r':
			sb_str(sb, "&#13;");
			break;
		default:
			if (*p < 0x20)
				return false;
			sb_put(sb, (const char *)p, 1);
		}
	}
	return true;
}

static bool sb_attrs(struct sbuf *sb, const struct mfw_fh_attr *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!valid_name(attrs[i].name) || !attrs[i].value)
			return false;
		sb_str(sb, " ");
		sb_str(sb, attrs[i].name);
		sb_str(sb, "=\"");
		if (!sb_escaped(sb, attrs[i].value))
			return false;
		sb_str(sb, "\"");
	}
	return true;
}

static int sb_result(const struct sbuf *sb)
{
	if (sb->overflow || sb->len > INT_MAX)
		return MFW_E_RANGE;
	return (int)sb->len;
}

static void sb_init(struct sbuf *sb, char *buf, size_t cap)
{
	sb->buf = buf;
	sb->cap = cap;
	sb->len = 0;
	sb->overflow = cap == 0;
	if (cap)
		buf[0] = '\0';
}

int mfw_fh_build(char *buf, size_t cap, const char *tag, const struct mfw_fh_attr *attrs,
		 size_t nattr)
{
	struct sbuf sb;

	if (!buf || !valid_name(tag) || (nattr && !attrs))
		return MFW_E_INVAL;
	sb_init(&sb, buf, cap);
	sb_str(&sb, FH_XML_DECL "<data><");
	sb_str(&sb, tag);
	if (!sb_attrs(&sb, attrs, nattr))
		return MFW_E_INVAL;
	sb_str(&sb, " /></data>");
	return sb_result(&sb);
}

int mfw_fh_build_log(char *buf, size_t cap, const char *text)
{
	struct mfw_fh_attr a = { .name = "value", .value = (char *)(text ? text : "") };

	return mfw_fh_build(buf, cap, "log", &a, 1);
}

int mfw_fh_build_response(char *buf, size_t cap, bool ack, int rawmode,
			  const struct mfw_fh_attr *extra, size_t nextra)
{
	struct mfw_fh_attr fixed[2];
	size_t nfixed = 0;
	struct sbuf sb;

	if (!buf || (nextra && !extra))
		return MFW_E_INVAL;
	fixed[nfixed].name = "value";
	fixed[nfixed++].value = ack ? "ACK" : "NAK";
	if (rawmode >= 0) {
		fixed[nfixed].name = "rawmode";
		fixed[nfixed++].value = rawmode ? "true" : "false";
	}
	sb_init(&sb, buf, cap);
	sb_str(&sb, FH_XML_DECL "<data><response");
	if (!sb_attrs(&sb, fixed, nfixed) || !sb_attrs(&sb, extra, nextra))
		return MFW_E_INVAL;
	sb_str(&sb, " /></data>");
	return sb_result(&sb);
}

/* ------------------------------------------------------------------ */
/* supported functions                                                 */
/* ------------------------------------------------------------------ */

static const char *skip_spaces(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* "INFO: text" -> "text"; programmers prefix every log with a level. */
static const char *strip_level(const char *s)
{
	static const char *const levels[] = { "INFO:", "DEBUG:", "WARN:", "WARNING:", "ERROR:" };

	s = skip_spaces(s);
	for (size_t i = 0; i < MFW_ARRAY_SIZE(levels); i++) {
		size_t n = strlen(levels[i]);

		if (strncasecmp(s, levels[i], n) == 0)
			return skip_spaces(s + n);
	}
	return s;
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

static void funcs_add(struct mfw_fh_funcs *f, const char *name, size_t n)
{
	if (!n || n >= sizeof(f->names[0]) || f->n >= MFW_ARRAY_SIZE(f->names))
		return;
	for (size_t i = 0; i < f->n; i++)
		if (strlen(f->names[i]) == n && strncasecmp(f->names[i], name, n) == 0)
			return;
	memcpy(f->names[f->n], name, n);
	f->names[f->n][n] = '\0';
	f->n++;
}

void mfw_fh_funcs_init(struct mfw_fh_funcs *f)
{
	memset(f, 0, sizeof(*f));
}

void mfw_fh_funcs_feed(struct mfw_fh_funcs *f, const char *log_line)
{
	static const char hdr[] = "Supported Functions";
	static const char end[] = "End of supported functions";
	const char *s;

	if (!log_line)
		return;
	s = strip_level(log_line);
	if (strncasecmp(s, hdr, sizeof(hdr) - 1) == 0) {
		const char *p = skip_spaces(s + sizeof(hdr) - 1);

		/* "(15):" count form, list follows on separate lines */
		if (*p == '(') {
			p = strchr(p, ')');
			if (!p)
				return;
			p = skip_spaces(p + 1);
		}
		if (*p == ':')
			p = skip_spaces(p + 1);
		if (!*p) {
			f->in_list = true;
			return;
		}
		/* one-line form: names separated by blanks or commas */
		while (*p) {
			const char *q = p;

			while (is_name_char(*q))
				q++;
			funcs_add(f, p, (size_t)(q - p));
			p = q;
			while (*p && !is_name_char(*p))
				p++;
		}
		f->in_list = false;
		f->complete = true;
		return;
	}
	if (!f->in_list)
		return;
	if (strncasecmp(s, end, sizeof(end) - 1) == 0) {
		f->in_list = false;
		f->complete = true;
		return;
	}
	/* one name per line; other chatter in between has blanks, skip it */
	{
		size_t n = 0;
		const char *q;

		while (is_name_char(s[n]))
			n++;
		q = skip_spaces(s + n);
		while (*q == '\r' || *q == '\n')
			q++;
		if (n && !*q)
			funcs_add(f, s, n);
	}
}

bool mfw_fh_funcs_has(const struct mfw_fh_funcs *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcasecmp(f->names[i], name) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------ */
/* storage info                                                        */
/* ------------------------------------------------------------------ */

enum si_key { SI_TOTAL_BLOCKS, SI_BLOCK_SIZE, SI_PAGE_SIZE, SI_NUM_PHYSICAL, SI_MEM_TYPE,
	      SI_PROD_NAME, SI_UNKNOWN };

static const char *const si_names[] = {
	[SI_TOTAL_BLOCKS] = "total_blocks", [SI_BLOCK_SIZE] = "block_size",
	[SI_PAGE_SIZE] = "page_size",       [SI_NUM_PHYSICAL] = "num_physical",
	[SI_MEM_TYPE] = "mem_type",         [SI_PROD_NAME] = "prod_name",
};

static bool is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static enum si_key si_lookup(const char *k, size_t n)
{
	for (size_t i = 0; i < MFW_ARRAY_SIZE(si_names); i++)
		if (strlen(si_names[i]) == n && strncasecmp(si_names[i], k, n) == 0)
			return (enum si_key)i;
	return SI_UNKNOWN;
}

/* Value after a separator: quoted or bare; returns its bounds. */
static void si_value(const char *p, const char **v, size_t *vn)
{
	if (*p == '"') {
		const char *q = strchr(p + 1, '"');

		*v = p + 1;
		*vn = q ? (size_t)(q - p - 1) : strlen(p + 1);
		return;
	}
	*v = p;
	*vn = 0;
	while (p[*vn] && p[*vn] != ',' && p[*vn] != '}' && p[*vn] != ';' && p[*vn] != ' ' &&
	       p[*vn] != '\t' && p[*vn] != '\r' && p[*vn] != '\n')
		(*vn)++;
}

static bool si_number(const char *v, size_t n, uint64_t *out)
{
	if (n > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X'))
		return parse_digits(v + 2, n - 2, 16, out);
	return parse_digits(v, n, 10, out);
}

static void si_copy(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void si_set(struct mfw_fh_storage_info *si, enum si_key key, const char *v, size_t n)
{
	uint64_t x;

	switch (key) {
	case SI_MEM_TYPE:
		si_copy(si->mem_type, sizeof(si->mem_type), v, n);
		return;
	case SI_PROD_NAME:
		si_copy(si->prod_name, sizeof(si->prod_name), v, n);
		return;
	case SI_UNKNOWN:
		return;
	default:
		break;
	}
	/* numbers only: "2048 KB" or "big" must not be taken for a size */
	if (!si_number(v, n, &x))
		return;
	switch (key) {
	case SI_TOTAL_BLOCKS:
		si->total_blocks = x;
		si->have |= MFW_FH_SI_TOTAL_BLOCKS;
		break;
	case SI_BLOCK_SIZE:
		if (x <= UINT32_MAX) {
			si->block_size = (uint32_t)x;
			si->have |= MFW_FH_SI_BLOCK_SIZE;
		}
		break;
	case SI_PAGE_SIZE:
		if (x <= UINT32_MAX) {
			si->page_size = (uint32_t)x;
			si->have |= MFW_FH_SI_PAGE_SIZE;
		}
		break;
	case SI_NUM_PHYSICAL:
		if (x <= UINT32_MAX) {
			si->num_physical = (uint32_t)x;
			si->have |= MFW_FH_SI_NUM_PHYSICAL;
		}
		break;
	default:
		break;
	}
}

/*
 * One scanner for both forms: every identifier (bare or in JSON quotes)
 * followed by ':' or '=' is a key. Only the separator is consumed after a
 * key, so "INFO: total_blocks: 2048" still finds total_blocks after the
 * "INFO" key whose value is ignored.
 */
void mfw_fh_storage_info_feed(struct mfw_fh_storage_info *si, const char *log_line)
{
	const char *p = log_line;

	if (!p)
		return;
	while (*p) {
		const char *k, *q, *v;
		size_t kn, vn;
		enum si_key key;
		bool quoted = *p == '"';

		if (!quoted && (!is_ident_char(*p) || (p > log_line && is_ident_char(p[-1])))) {
			p++;
			continue;
		}
		k = quoted ? p + 1 : p;
		for (q = k; is_ident_char(*q); q++)
			;
		kn = (size_t)(q - k);
		if (quoted) {
			if (*q != '"' || !kn) {
				p++;
				continue;
			}
			q++;
		}
		q = skip_spaces(q);
		if (*q != ':' && *q != '=') {
			p = q > p ? q : p + 1;
			continue;
		}
		q = skip_spaces(q + 1);
		si_value(q, &v, &vn);
		key = si_lookup(k, kn);
		si_set(si, key, v, vn);
		/* a known key's value is not scanned for keys ("prod_name":"a=1") */
		if (key == SI_UNKNOWN)
			p = q;
		else
			p = v + vn + (*q == '"' && v[vn] == '"');
	}
}

/* ------------------------------------------------------------------ */
/* digest                                                              */
/* ------------------------------------------------------------------ */

int mfw_fh_find_digest(const char *text, uint8_t out[32])
{
	const char *p = text;

	if (!text)
		return 0;
	while ((p = strcasestr(p, "digest")) != NULL) {
		const char *h = p + 6;
		size_t n = 0;

		p = h;
		while (*h == ' ' || *h == '\t' || *h == ':' || *h == '=')
			h++;
		if (h[0] == '0' && (h[1] == 'x' || h[1] == 'X'))
			h += 2;
		while (n < 65 && hexval((unsigned char)h[n]) >= 0)
			n++;
		/* exactly 64: a longer run is some other number, not SHA-256 */
		if (n != 64)
			continue;
		for (size_t i = 0; i < 32; i++)
			out[i] = (uint8_t)(hexval((unsigned char)h[2 * i]) << 4 |
					   hexval((unsigned char)h[2 * i + 1]));
		return 1;
	}
	return 0;
}
