/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_RAWPROGRAM_H
#define MFW_FMT_RAWPROGRAM_H

/*
 * rawprogram*.xml (<data> root: <program>, <erase>, other elements kept
 * with their tag) and patch*.xml (<patches> root: <patch>) manifests.
 * Pure: bytes in, structs out (libxml2 without network, entities or DTD).
 *
 * Every element keeps ALL its attributes verbatim in document order: the
 * host forwards them to the programmer unchanged (reference §4.1, fwupd
 * #8382), except num_partition_sectors which it may recompute
 * (mfw_rp_attrs_replace()). The convenience fields below are parsed from
 * those attributes and validated; expressions (start_sector, value) stay
 * text and are evaluated elsewhere (proto/expr.h).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/firehose.h"

struct mfw_ctx;

/* Bounds for hostile manifests. */
#define MFW_RP_MAX_FILE (8u * 1024u * 1024u) /* bytes of XML */
#define MFW_RP_MAX_ELEMS 8192
#define MFW_RP_MAX_ATTRS 64                  /* per element */
#define MFW_RP_MAX_VALUE 4096                /* bytes per attribute value */

enum mfw_rp_doc {
	MFW_RP_DOC_RAWPROGRAM, /* <data> root */
	MFW_RP_DOC_PATCH,      /* <patches> root */
};

enum mfw_rp_kind {
	MFW_RP_PROGRAM,
	MFW_RP_ERASE,
	MFW_RP_PATCH,
	MFW_RP_OTHER, /* <read>, <zeroout>, ...: kept with their tag, not validated */
};

struct mfw_rp_elem {
	enum mfw_rp_kind kind;
	char *tag;                   /* element name as written */
	size_t nattr;
	struct mfw_fh_attr *attrs;   /* verbatim, document order */
	unsigned line;               /* source line of the element */

	/* Convenience fields (pointers point into attrs or are owned below). */
	uint32_t sector_size;        /* SECTOR_SIZE_IN_BYTES; 0 when absent (OTHER only) */
	uint32_t physical_partition_number; /* 0 when absent (NAND erase omits it) */
	const char *start_sector;    /* text, may be an expression; NULL when absent */
	bool has_num_partition_sectors;
	uint64_t num_partition_sectors;
	uint64_t file_sector_offset; /* 0 when absent */
	char *filename;              /* normalised ('\' -> '/'), owned; "" = no file */
	const char *label;           /* "" when absent */
	bool sparse;                 /* sparse="true" */
	uint32_t pages_per_block;    /* PAGES_PER_BLOCK; 0 when absent */
	bool has_last_sector;
	uint64_t last_sector;

	/* <patch> only */
	uint64_t byte_offset;
	uint32_t size_in_bytes;      /* 1..8 */
	const char *value;           /* expression text */
	const char *what;            /* "" when absent */
};

struct mfw_rp_file {
	enum mfw_rp_doc doc;
	char *name;                  /* as given to the parser, for messages */
	size_t nelem;
	struct mfw_rp_elem *elems;   /* document order */
};

/*
 * Parse one manifest; the root element decides the kind. name is used in
 * detail sentences ("rawprogram0.xml line 12: <program> attribute
 * 'num_partition_sectors' is not a number: 'x'"). MFW_E_FORMAT on
 * malformed XML, unknown root, missing required attributes, non-numeric
 * numbers; MFW_E_RANGE when the bounds above are exceeded; MFW_E_NOMEM.
 * Required: program/erase: SECTOR_SIZE_IN_BYTES, start_sector,
 * num_partition_sectors (program also filename, possibly empty);
 * patch: SECTOR_SIZE_IN_BYTES, byte_offset, filename, size_in_bytes,
 * start_sector, value. On failure *out is left empty.
 */
int mfw_rp_parse(struct mfw_ctx *ctx, const char *name, const void *xml, size_t len,
		 struct mfw_rp_file *out);
/* Read a file from disk (at most MFW_RP_MAX_FILE bytes) and parse it. */
int mfw_rp_load(struct mfw_ctx *ctx, const char *path, struct mfw_rp_file *out);
void mfw_rp_file_free(struct mfw_rp_file *f);

/* Attribute value by exact name first, then case-insensitively; NULL when absent. */
const char *mfw_rp_attr(const struct mfw_rp_elem *e, const char *name);

/*
 * Copy an attribute list with the value of one attribute (matched
 * case-insensitively, first occurrence) replaced; appended at the end when
 * absent. Order and every other pair are kept verbatim. Free the copy with
 * mfw_rp_attrs_free(). MFW_E_NOMEM.
 */
int mfw_rp_attrs_replace(const struct mfw_fh_attr *attrs, size_t nattr, const char *name,
			 const char *value, struct mfw_fh_attr **out, size_t *nout);
void mfw_rp_attrs_free(struct mfw_fh_attr *attrs, size_t nattr);

/* Windows separators to '/' in place ("..\\tz.mbn" -> "../tz.mbn"); nothing else changes. */
void mfw_rp_path_normalise(char *path);

#endif
