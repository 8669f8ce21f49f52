/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_FMT_PACKAGE_H
#define MFW_FMT_PACKAGE_H

/*
 * A firmware package: a directory or a .zip (libzip, extracted in-process).
 * Every file is named by a normalised relative path ("update/firehose/
 * rawprogram_nand_p4K_b256K_update.xml"): '/' separators, no ".", no "..",
 * never absolute. Zip members whose names are absolute or escape the root
 * make the whole package invalid (MFW_E_FORMAT).
 *
 * Layout detection (reference §5.1) finds the Firehose programmer, the
 * rawprogram/patch manifests (choosing explicitly between *_update.xml and
 * *_factory.xml and saying why), md5.txt, contents.xml and the NAND
 * geometry; verification checks every file listed in md5.txt.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modemfw/context.h>

struct mfw_ctx;
struct mfw_pkg;
struct mfw_pkg_file;

/* Bounds for hostile packages. */
#define MFW_PKG_MAX_FILES 10000
#define MFW_PKG_PATH_MAX 512     /* bytes of a relative path incl. NUL */
#define MFW_PKG_MAX_LUNS 8

/* ---- paths ---- */
/*
 * Lexically clean a relative path into out: '\\' -> '/', repeated '/'
 * collapsed, "." dropped, "x/.." folded. MFW_E_FORMAT when the result is
 * empty, absolute ("/x", "C:x", "\\\\server") or escapes the root ("../x");
 * MFW_E_RANGE when it does not fit cap.
 */
int mfw_pkg_path_clean(const char *in, char *out, size_t cap);
/*
 * Resolve a file reference from a manifest: ref relative to the directory
 * of manifest_rel ("update/firehose/x.xml" + "..\\tz.mbn" -> "update/tz.mbn").
 * Same errors as mfw_pkg_path_clean(); ctx gets a detail naming both.
 */
int mfw_pkg_resolve(struct mfw_ctx *ctx, const char *manifest_rel, const char *ref, char *out,
		    size_t cap);

/* ---- open, list, read ---- */
/* Directory or zip file (detected by content). MFW_E_NOENT, MFW_E_FORMAT, MFW_E_IO, MFW_E_NOMEM. */
int mfw_pkg_open(struct mfw_ctx *ctx, const char *path, struct mfw_pkg **out);
void mfw_pkg_close(struct mfw_pkg *pkg);
bool mfw_pkg_is_zip(const struct mfw_pkg *pkg);
/* The path given to mfw_pkg_open(). */
const char *mfw_pkg_root(const struct mfw_pkg *pkg);

/* Regular files, sorted by path (byte order). */
size_t mfw_pkg_count(const struct mfw_pkg *pkg);
const char *mfw_pkg_name(const struct mfw_pkg *pkg, size_t i);
/* MFW_E_NOENT when rel is not a file of the package (rel is cleaned first). */
int mfw_pkg_stat(struct mfw_ctx *ctx, const struct mfw_pkg *pkg, const char *rel, uint64_t *size);
bool mfw_pkg_exists(const struct mfw_pkg *pkg, const char *rel);

/* Sequential streaming read. Several files may be open at once; a package is not thread-safe. */
int mfw_pkg_file_open(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel,
		      struct mfw_pkg_file **out);
/* Read up to cap bytes; *got = 0 at end of file. MFW_E_IO, MFW_E_VERIFY (zip CRC). */
int mfw_pkg_file_read(struct mfw_ctx *ctx, struct mfw_pkg_file *f, void *buf, size_t cap,
		      size_t *got);
/* Skip n bytes forward (file_sector_offset, resume); MFW_E_RANGE past the end. */
int mfw_pkg_file_skip(struct mfw_ctx *ctx, struct mfw_pkg_file *f, uint64_t n);
uint64_t mfw_pkg_file_size(const struct mfw_pkg_file *f);
/*
 * The whole file mapped read-only (directory packages), valid until close;
 * MFW_E_UNSUPPORTED when it cannot be (zip member, empty, too large): read
 * it instead. Only hand the bytes to the kernel (a transport write), whose
 * copy fails with EFAULT if the file shrinks; touching them in user space
 * would raise SIGBUS then.
 */
int mfw_pkg_file_map(struct mfw_pkg_file *f, const uint8_t **data);
/*
 * Claim the next n bytes for the kernel to copy itself (sendfile): *fd
 * and *off say where they are, the file position moves past them.
 * MFW_E_UNSUPPORTED for zip members (read them), MFW_E_RANGE past the end.
 */
int mfw_pkg_file_claim(struct mfw_ctx *ctx, struct mfw_pkg_file *f, uint64_t n, int *fd,
		       uint64_t *off);
void mfw_pkg_file_close(struct mfw_pkg_file *f);

/*
 * Whole file into a malloc'ed buffer with a NUL appended (not counted in
 * *len). MFW_E_RANGE when the file is larger than max (XML, programmer).
 */
int mfw_pkg_read_all(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const char *rel, size_t max,
		     void **data, size_t *len);

/* ---- layout ---- */
enum mfw_pkg_storage {
	MFW_PKG_STORAGE_UNKNOWN,
	MFW_PKG_STORAGE_NAND,  /* rawprogram_nand_*.xml or a pXK_bYK suffix */
	MFW_PKG_STORAGE_EMMC,  /* rawprogram0..N.xml (eMMC/UFS, one per LUN) */
};

enum mfw_pkg_pick {
	MFW_PKG_PICK_UPDATE = 0, /* default: *_update.xml when present */
	MFW_PKG_PICK_FACTORY,    /* *_factory.xml */
	MFW_PKG_PICK_FILE,       /* opts.rawprogram names the file */
};

struct mfw_pkg_layout_opts {
	enum mfw_pkg_pick pick;
	const char *rawprogram;  /* PICK_FILE: relative path, or a base name found anywhere */
};

struct mfw_pkg_manifest {
	unsigned lun;                        /* eMMC: N of rawprogramN.xml; NAND: 0 */
	char rawprogram[MFW_PKG_PATH_MAX];
	char patch[MFW_PKG_PATH_MAX];        /* "" when the package has none */
};

struct mfw_pkg_layout {
	enum mfw_pkg_storage storage;
	char programmer[MFW_PKG_PATH_MAX];   /* "" when none found */
	char md5sum[MFW_PKG_PATH_MAX];       /* "" when none */
	char contents[MFW_PKG_PATH_MAX];     /* contents.xml, "" when none */
	size_t nmanifest;                    /* >= 1 */
	struct mfw_pkg_manifest manifests[MFW_PKG_MAX_LUNS]; /* by LUN */
	uint32_t page_size;                  /* NAND geometry from the suffix; 0 unknown */
	uint32_t block_size;
	/* Which manifest was used and why, e.g. "using rawprogram_nand_p4K_b256K_update.xml
	 * (default: update; factory manifest also present, not used)". */
	char note[512];
};

/*
 * Find programmer and manifests. Programmer: first match in the order
 * prog_nand_firehose_*.mbn, prog_emmc_firehose_*.mbn, prog_firehose_*.mbn|.elf,
 * firehose-prog*.mbn, prog_*.mbn (files in path order within one pattern).
 * MFW_E_NOENT when no rawprogram manifest (or the chosen kind) exists;
 * MFW_E_FORMAT when the choice is ambiguous (detail lists the candidates).
 * opts may be NULL (= default: update).
 */
int mfw_pkg_detect(struct mfw_ctx *ctx, const struct mfw_pkg *pkg,
		   const struct mfw_pkg_layout_opts *opts, struct mfw_pkg_layout *out);

/* "..._p4K_b256K..." -> 4096, 262144. Returns 1 when found, 0 when the name has no suffix. */
int mfw_pkg_parse_geometry(const char *name, uint32_t *page_size, uint32_t *block_size);

/* ---- md5 verification ---- */
struct mfw_pkg_verify_report {
	size_t checked;          /* files hashed and matching */
	uint64_t bytes;          /* bytes hashed */
	/* Files referenced by the manifests (resolved paths) that md5.txt does
	 * not list: a fact to show as a warning, not an error. */
	size_t nunlisted;
	char **unlisted;
};

/*
 * Hash every file listed in layout->md5sum (streaming), compare, and list
 * manifest-referenced files that md5.txt does not cover (also logged with
 * mfw_warn). Progress: fn (or the ctx callback when fn is NULL) with phase
 * "md5", label "package", and bytes done/total over all listed files (one bar).
 * MFW_E_VERIFY names the file and both hashes; MFW_E_NOENT names a listed
 * file absent from the package (or a missing md5.txt when layout names
 * none: MFW_E_NOENT too); MFW_E_CANCELLED when ctx is cancelled.
 * report may be NULL; free it with mfw_pkg_verify_report_free().
 */
int mfw_pkg_verify(struct mfw_ctx *ctx, struct mfw_pkg *pkg, const struct mfw_pkg_layout *layout,
		   mfw_progress_fn fn, void *user, struct mfw_pkg_verify_report *report);
void mfw_pkg_verify_report_free(struct mfw_pkg_verify_report *report);

/*
 * Verified-file cache for mfw_pkg_verify(): a text file (e.g. in the state
 * directory) remembering files whose md5 was checked, keyed by what changes
 * whenever a file is written: device, inode, size, mtime and ctime (ns);
 * for a zip, the zip file's own identity plus the member name. A listed file
 * whose identity is unchanged and whose expected md5 equals the remembered
 * one is not hashed again (a resumed or repeated flash of an unchanged
 * package). NULL (the default) hashes everything.
 */
void mfw_pkg_set_verify_cache(struct mfw_pkg *pkg, const char *cache_path);

/*
 * A SHA-256 over part of a package file, remembered in the same cache and
 * under the same file identity: what says which part and how it was padded
 * (caller-defined, no spaces). A flash that sends a file the host already
 * hashed, or proves a range unchanged, need not read and hash it again; the
 * device's digest is still compared with it. Without a cache nothing is
 * remembered and every lookup misses.
 */
bool mfw_pkg_cached_digest(const struct mfw_pkg *pkg, const char *rel, const char *what,
			   uint8_t out[32]);
void mfw_pkg_cache_digest(const struct mfw_pkg *pkg, const char *rel, const char *what,
			  const uint8_t digest[32]);

#endif
