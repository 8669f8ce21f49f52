/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_DFOTA_TARGETFILES_H
#define MFW_DFOTA_TARGETFILES_H

/*
 * Targetfiles (docs/dfota-format.md): a directory or a .zip holding SYSTEM/
 * (the root filesystem), BOOTABLE_IMAGES/boot.img, RADIO/NON-HLOS.ubi,
 * MULTIFOTA/<partition>, RECOVERY/, OTA/ lists and META/filesystem_config.txt,
 * read into a model that holds metadata and hashes only: file contents are
 * streamed when needed, never kept.
 *
 * We do not go through mfw_pkg_open() here: it follows symlinks, drops
 * directories and caps a package at 10000 files, while a rootfs needs its
 * symlinks, its empty directories and may be larger. Names are still cleaned
 * with mfw_pkg_path_clean() so the same escape rules hold.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modemfw/context.h>

#define MFW_TF_PATH_MAX 512
#define MFW_TF_VERSION_MAX 128
#define MFW_TF_LINK_MAX 1024
/* A list or config file larger than this is refused (hostile input). */
#define MFW_TF_LIST_MAX (4u << 20)
#define MFW_TF_MAX_ENTRIES 200000

/* The property file the version pre-check reads (docs/dfota-format.md, "ours"). */
#define MFW_TF_VERSION_FILE "etc/quectel-project-version"
#define MFW_TF_VERSION_PROP "etc/quectel-project-version.prop"

enum mfw_tf_type {
	MFW_TF_FILE = 0,
	MFW_TF_DIR,
	MFW_TF_SYMLINK,
};

struct mfw_tf_entry {
	char *path;              /* relative to '/', e.g. "usr/bin/app"; never empty */
	enum mfw_tf_type type;
	uint32_t mode;           /* permission bits (07777) */
	uint32_t uid, gid;
	uint64_t size;           /* files */
	uint8_t sha1[20];        /* files */
	char *link;              /* symlinks: the target */
	/* Synthesised content (the .prop file), NULL for files read from SYSTEM/. */
	char *synth;
};

struct mfw_tf_part {
	char name[64];           /* "boot", "modem", "tz" ... */
	char rel[MFW_TF_PATH_MAX]; /* where it lives in the targetfiles */
	uint64_t size;
	uint8_t sha1[20];
};

/* A permissions rule: `path mode uid gid [dmode]` (chmod.txt) or an fs_config line. */
struct mfw_tf_perm {
	char *path;              /* cleaned, no trailing '/' */
	uint32_t mode, uid, gid, dmode;
	bool has_mode;           /* fs_config lines carry one mode for either type */
};

struct mfw_tf_paths {
	char **v;                /* cleaned; a trailing '/' marks a directory prefix */
	size_t n;
};

struct mfw_tf_perms {
	struct mfw_tf_perm *v;
	size_t n;
};

struct mfw_tf_src;

struct mfw_tf {
	struct mfw_tf_src *src;
	char *root;              /* path given to mfw_tf_open() */
	char version[MFW_TF_VERSION_MAX];
	struct mfw_tf_entry *ent; /* sorted by path (byte order) */
	size_t nent;
	struct mfw_tf_part *part; /* sorted by name */
	size_t npart;
	struct mfw_tf_entry *rec; /* RECOVERY/ files (path relative to RECOVERY/) */
	size_t nrec;
	/* Lists found under OTA/ (empty when absent). */
	struct mfw_tf_paths full, preserve;
	struct mfw_tf_perms perms;
	struct mfw_tf_perms fs_config;
};

struct mfw_tf_opts {
	/* Lists that replace OTA/chmod.txt (NULL: use the targetfiles' own). */
	const struct mfw_tf_perms *perms;
	/*
	 * Take mode/uid/gid from the file system (lstat) instead of the lists:
	 * for reading back a tree an updater wrote (the checker). Zips have no
	 * owners: uid/gid 0.
	 */
	bool disk_meta;
};

/* ---- pure list parsers (fuzzed) ---- */
/*
 * One path per line; '#' starts a comment; blank lines skipped; a leading
 * '/' is dropped; a trailing '/' is kept as the "directory prefix" mark.
 * MFW_E_FORMAT names the line.
 */
int mfw_tf_parse_paths(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
		       struct mfw_tf_paths *out);
/* chmod.txt: `path mode uid gid [dmode]`, modes in octal. */
int mfw_tf_parse_perms(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
		       struct mfw_tf_perms *out);
/* filesystem_config.txt: `path uid gid mode [key=value...]` (Android order). */
int mfw_tf_parse_fs_config(struct mfw_ctx *ctx, const char *what, const char *text, size_t len,
			   struct mfw_tf_perms *out);
void mfw_tf_paths_free(struct mfw_tf_paths *p);
void mfw_tf_perms_free(struct mfw_tf_perms *p);
/* Read a list file from the host (bounded by MFW_TF_LIST_MAX). */
int mfw_tf_read_text(struct mfw_ctx *ctx, const char *path, char **text, size_t *len);

/* path is listed, or lies under a listed "dir/" prefix (or a listed directory). */
bool mfw_tf_paths_match(const struct mfw_tf_paths *p, const char *path);
/*
 * Metadata of path per the rules: the longest rule that names path or one of
 * its parent directories (later lines win ties) gives uid/gid and mode for a
 * file, dmode for a directory. Returns false when no rule applies.
 */
bool mfw_tf_perms_lookup(const struct mfw_tf_perms *p, const char *path, bool is_dir,
			 uint32_t *mode, uint32_t *uid, uint32_t *gid);

/* ---- model ---- */
int mfw_tf_open(struct mfw_ctx *ctx, const char *path, const struct mfw_tf_opts *opts,
		struct mfw_tf **out);
void mfw_tf_close(struct mfw_tf *tf);
/* A zip targetfiles (reads share one libzip handle: not thread-safe). */
bool mfw_tf_is_zip(const struct mfw_tf *tf);

const struct mfw_tf_entry *mfw_tf_find(const struct mfw_tf *tf, const char *path);
const struct mfw_tf_part *mfw_tf_find_part(const struct mfw_tf *tf, const char *name);

/*
 * Streaming read of a member of the targetfiles (rel as stored, e.g.
 * "SYSTEM/usr/bin/app"). A synthesised entry is read through mfw_tf_entry.synth.
 */
struct mfw_tf_file;
int mfw_tf_file_open(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel,
		     struct mfw_tf_file **out);
/* *got = 0 at the end. */
int mfw_tf_file_read(struct mfw_ctx *ctx, struct mfw_tf_file *f, void *buf, size_t cap,
		     size_t *got);
void mfw_tf_file_close(struct mfw_tf_file *f);

/*
 * A host path holding the bytes of member rel: the file itself for a
 * directory targetfiles, else a copy written to tmp_path (returned in out).
 */
int mfw_tf_local_path(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel,
		      const char *tmp_path, char *out, size_t cap);
/* Copy member rel to dest (host path), streaming. */
int mfw_tf_extract(struct mfw_ctx *ctx, struct mfw_tf *tf, const char *rel, const char *dest);
/* Member name of a tree entry ("SYSTEM/<path>") and of the version property file. */
int mfw_tf_entry_rel(const struct mfw_tf_entry *e, char *out, size_t cap);

#endif
