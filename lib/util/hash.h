/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_UTIL_HASH_H
#define MFW_UTIL_HASH_H

/*
 * Streaming MD5 / SHA-1 / SHA-256 over OpenSSL EVP, plus hex helpers.
 * MD5 is here only because vendor packages ship md5.txt; it is never used
 * for anything where collisions matter.
 */
#include <stddef.h>
#include <stdint.h>

enum mfw_hash_algo {
	MFW_HASH_MD5,
	MFW_HASH_SHA1,
	MFW_HASH_SHA256,
};

#define MFW_HASH_MD5_LEN 16
#define MFW_HASH_SHA1_LEN 20
#define MFW_HASH_SHA256_LEN 32
#define MFW_HASH_MAX_LEN 32

struct mfw_hash {
	void *evp;                 /* EVP_MD_CTX *, NULL when not initialised */
	enum mfw_hash_algo algo;
};

/* Digest length in bytes (0 for an unknown algo). */
size_t mfw_hash_len(enum mfw_hash_algo algo);
/* "md5", "sha1", "sha256" ("?" for an unknown algo). */
const char *mfw_hash_name(enum mfw_hash_algo algo);

/* MFW_E_NOMEM, MFW_E_UNSUPPORTED (algo unknown or missing in libcrypto). */
int mfw_hash_init(struct mfw_hash *h, enum mfw_hash_algo algo);
/* MFW_E_INVAL when h is not initialised, MFW_E_IO when libcrypto fails. */
int mfw_hash_update(struct mfw_hash *h, const void *data, size_t len);
/*
 * Write the digest to out (cap >= mfw_hash_len()) and release h. Returns
 * the digest length, MFW_E_RANGE when cap is too small (h is released anyway).
 */
int mfw_hash_final(struct mfw_hash *h, uint8_t *out, size_t cap);
/* Release without a digest; safe on a zeroed, finalised or freed h. */
void mfw_hash_free(struct mfw_hash *h);

/* One shot: digest of data into out (mfw_hash_len(algo) bytes). Returns the length or a negative error. */
int mfw_hash_buf(enum mfw_hash_algo algo, const void *data, size_t len, uint8_t *out);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void mfw_hex_encode(const uint8_t *in, size_t len, char *out);
/*
 * Decode exactly 2 * outlen hex digits (either case) from hex[0..hexlen).
 * MFW_E_FORMAT when hexlen != 2 * outlen or a non-hex character appears.
 */
int mfw_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outlen);

#endif
