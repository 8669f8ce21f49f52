/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_PROTO_FIREHOSE_H
#define MFW_PROTO_FIREHOSE_H

/*
 * Firehose XML codec. Pure: no I/O. Three parts:
 *  - a stream-safe splitter that turns arbitrary byte chunks into whole
 *    "<?xml ...?><data>...</data>" documents (documents may be split across
 *    reads or packed several into one read) and hands back any bytes that
 *    follow the last document (raw data after a read ACK);
 *  - a parser (libxml2) from one document to a list of elements with their
 *    attributes in document order;
 *  - a builder that serialises one command element with attributes in the
 *    given order, XML-escaping values.
 * Used by the host session (lib/qcom/firehose.c) and the virtual modem's
 * programmer (emu/).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mfw_ctx;

/* Largest document accepted; bigger ones are a protocol error (hostile peer). */
#define MFW_FH_MAX_DOC (64u * 1024u)

struct mfw_fh_attr {
	char *name;
	char *value;
};

struct mfw_fh_elem {
	char *tag;               /* "response", "log", "program", "configure", ... */
	size_t nattr;
	struct mfw_fh_attr *attrs; /* document order */
};

struct mfw_fh_msg {
	size_t nelem;
	struct mfw_fh_elem *elems; /* children of <data>, document order */
};

/* ---- splitter ---- */
struct mfw_fh_splitter {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t doc_end; /* internal: end of the document handed out last */
	size_t scanned; /* internal: buffer length at the last fruitless scan */
	uint64_t skipped; /* stats: garbage bytes dropped before documents */
};

void mfw_fh_splitter_init(struct mfw_fh_splitter *sp);
void mfw_fh_splitter_free(struct mfw_fh_splitter *sp);
/*
 * Append received bytes. MFW_E_NOMEM, or MFW_E_PROTO when the buffered text
 * exceeds MFW_FH_MAX_DOC with no complete document (nothing is appended
 * then, so a hostile peer cannot make the buffer grow). Push XML only: once
 * a rawmode="true" ACK was handed out, drain take_raw() and read raw data
 * directly instead of pushing it here.
 */
int mfw_fh_splitter_push(struct mfw_fh_splitter *sp, const void *data, size_t len);
/*
 * Hand out the next complete document (from the first '<' up to and
 * including "</data>", or a self-closing "<data/>"). Returns 1 and sets
 * *doc and *len (valid until the next call on sp), 0 when no complete document
 * is buffered, MFW_E_PROTO when the next document is larger than
 * MFW_FH_MAX_DOC. Bytes before the document that are whitespace or NULs are
 * skipped; any other leading garbage is skipped up to the next "<?xml" or
 * "<data" and counted in sp->skipped only. A document cut short by a new
 * "<?xml" is dropped as garbage (resynchronisation after line noise).
 */
int mfw_fh_splitter_next(struct mfw_fh_splitter *sp, const char **doc, size_t *len);
/* Bytes buffered that are not part of a handed-out document. */
size_t mfw_fh_splitter_pending(const struct mfw_fh_splitter *sp);
/*
 * Take up to cap buffered bytes as raw data (after a rawmode="true" ACK the
 * pipe carries raw bytes; some may already sit in the splitter). Returns
 * the number moved into buf.
 */
size_t mfw_fh_splitter_take_raw(struct mfw_fh_splitter *sp, void *buf, size_t cap);

/* ---- parser ---- */
/*
 * Parse one document. MFW_E_FORMAT on malformed XML, a root other than
 * <data>, a DOCTYPE (never loaded, never expanded) or a document larger than
 * MFW_FH_MAX_DOC. ctx may be NULL; detail says what was wrong. Attribute
 * values are decoded (&quot; -> "). On failure *out is empty.
 */
int mfw_fh_parse(struct mfw_ctx *ctx, const char *doc, size_t len, struct mfw_fh_msg *out);
void mfw_fh_msg_free(struct mfw_fh_msg *msg);
/* Attribute value by name, case-insensitive (programmers vary in case); NULL when absent. */
const char *mfw_fh_attr_get(const struct mfw_fh_elem *e, const char *name);
/* First element with this tag, or NULL. */
const struct mfw_fh_elem *mfw_fh_msg_find(const struct mfw_fh_msg *msg, const char *tag);
/* Parse an unsigned decimal or 0x-hex attribute value; MFW_E_FORMAT otherwise. */
int mfw_fh_parse_u64(const char *s, uint64_t *out);

/* ---- builder ---- */
/*
 * Write "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><data><TAG a=\"v\" b=\"w\" /></data>"
 * into buf. Returns the length (without NUL; buf is NUL-terminated), or
 * MFW_E_RANGE when cap is too small, MFW_E_INVAL for a tag or attribute name
 * that is not a plain XML name, a NULL value, or a control character other
 * than tab/CR/LF in a value (XML 1.0 cannot carry it). Values are escaped
 * (& < > " ' and tab/CR/LF as character references).
 */
int mfw_fh_build(char *buf, size_t cap, const char *tag, const struct mfw_fh_attr *attrs,
		 size_t nattr);
/* Device side helpers used by the virtual modem. */
int mfw_fh_build_log(char *buf, size_t cap, const char *text);
/* rawmode: -1 = omit the attribute, 0 = "false", 1 = "true"; extra attributes follow. */
int mfw_fh_build_response(char *buf, size_t cap, bool ack, int rawmode,
			  const struct mfw_fh_attr *extra, size_t nextra);

/* ---- start-up log: supported functions ---- */
/*
 * Programmers announce their functions either as a list of log lines
 * ("INFO: Supported Functions (15):", one name per line, "INFO: End of
 * supported functions 15") or on one line ("Supported Functions: a b c").
 * Feed every log line; the set fills as names arrive.
 */
struct mfw_fh_funcs {
	bool in_list;   /* internal: inside a multi-line list */
	bool complete;  /* the end marker or a one-line list was seen */
	size_t n;
	char names[64][32];
};
void mfw_fh_funcs_init(struct mfw_fh_funcs *f);
void mfw_fh_funcs_feed(struct mfw_fh_funcs *f, const char *log_line);
bool mfw_fh_funcs_has(const struct mfw_fh_funcs *f, const char *name);

/* ---- answers carried in logs (docs/formats.md) ---- */
struct mfw_fh_storage_info {
	uint64_t total_blocks; /* NAND: erase blocks; eMMC/UFS: sectors */
	uint32_t block_size;   /* bytes */
	uint32_t page_size;    /* bytes */
	uint32_t num_physical;
	char mem_type[16];     /* "NAND", "eMMC", "UFS" or "" */
	char prod_name[64];
	unsigned have;         /* bit mask of MFW_FH_SI_* fields seen */
};
#define MFW_FH_SI_TOTAL_BLOCKS 1u
#define MFW_FH_SI_BLOCK_SIZE 2u
#define MFW_FH_SI_PAGE_SIZE 4u
#define MFW_FH_SI_NUM_PHYSICAL 8u
/*
 * Feed every log line of a getstorageinfo answer (JSON-in-log or key/value
 * lines) into a zeroed *si. Keys are matched case-insensitively; numeric
 * fields take decimal or 0x-hex only (anything else leaves them unset);
 * unknown keys are ignored.
 */
void mfw_fh_storage_info_feed(struct mfw_fh_storage_info *si, const char *log_line);

/*
 * Find a SHA-256 digest (exactly 64 hex digits after the word "digest", any
 * case, separated by blanks, ':' or '=' and an optional "0x") in text.
 * Returns 1 when found, 0 otherwise.
 */
int mfw_fh_find_digest(const char *text, uint8_t out[32]);

#endif
