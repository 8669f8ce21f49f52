/* SPDX-License-Identifier: BSD-3-Clause */
#include "util/hash.h"

#include <openssl/evp.h>
#include <string.h>

#include <modemfw/error.h>

static const EVP_MD *algo_md(enum mfw_hash_algo algo)
{
	switch (algo) {
	case MFW_HASH_MD5:
		return EVP_md5();
	case MFW_HASH_SHA1:
		return EVP_sha1();
	case MFW_HASH_SHA256:
		return EVP_sha256();
	}
	return NULL;
}

size_t mfw_hash_len(enum mfw_hash_algo algo)
{
	switch (algo) {
	case MFW_HASH_MD5:
		return MFW_HASH_MD5_LEN;
	case MFW_HASH_SHA1:
		return MFW_HASH_SHA1_LEN;
	case MFW_HASH_SHA256:
		return MFW_HASH_SHA256_LEN;
	}
	return 0;
}

const char *mfw_hash_name(enum mfw_hash_algo algo)
{
	switch (algo) {
	case MFW_HASH_MD5:
		return "md5";
	case MFW_HASH_SHA1:
		return "sha1";
	case MFW_HASH_SHA256:
		return "sha256";
	}
	return "?";
}

int mfw_hash_init(struct mfw_hash *h, enum mfw_hash_algo algo)
{
	const EVP_MD *md = algo_md(algo);
	EVP_MD_CTX *c;

	h->evp = NULL;
	h->algo = algo;
	if (!md)
		return MFW_E_UNSUPPORTED;
	c = EVP_MD_CTX_new();
	if (!c)
		return MFW_E_NOMEM;
	/* A FIPS-only provider refuses MD5: report it as unsupported, not as I/O. */
	if (EVP_DigestInit_ex(c, md, NULL) != 1) {
		EVP_MD_CTX_free(c);
		return MFW_E_UNSUPPORTED;
	}
	h->evp = c;
	return 0;
}

int mfw_hash_update(struct mfw_hash *h, const void *data, size_t len)
{
	if (!h->evp)
		return MFW_E_INVAL;
	if (len == 0)
		return 0;
	if (EVP_DigestUpdate(h->evp, data, len) != 1)
		return MFW_E_IO;
	return 0;
}

int mfw_hash_final(struct mfw_hash *h, uint8_t *out, size_t cap)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t want = mfw_hash_len(h->algo);
	int ret;

	if (!h->evp)
		return MFW_E_INVAL;
	if (cap < want) {
		ret = MFW_E_RANGE;
		goto free_ctx;
	}
	if (EVP_DigestFinal_ex(h->evp, md, &n) != 1 || n != want) {
		ret = MFW_E_IO;
		goto free_ctx;
	}
	memcpy(out, md, n);
	ret = (int)n;
free_ctx:
	mfw_hash_free(h);
	return ret;
}

void mfw_hash_free(struct mfw_hash *h)
{
	if (h && h->evp) {
		EVP_MD_CTX_free(h->evp);
		h->evp = NULL;
	}
}

int mfw_hash_buf(enum mfw_hash_algo algo, const void *data, size_t len, uint8_t *out)
{
	struct mfw_hash h;
	int r = mfw_hash_init(&h, algo);

	if (r < 0)
		return r;
	r = mfw_hash_update(&h, data, len);
	if (r < 0) {
		mfw_hash_free(&h);
		return r;
	}
	return mfw_hash_final(&h, out, mfw_hash_len(algo));
}

void mfw_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xF];
	}
	out[2 * len] = '\0';
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mfw_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t outlen)
{
	if (outlen > SIZE_MAX / 2 || hexlen != 2 * outlen)
		return MFW_E_FORMAT;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hex_val(hex[2 * i]);
		int lo = hex_val(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return MFW_E_FORMAT;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
