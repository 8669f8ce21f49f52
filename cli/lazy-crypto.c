/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lean front's libcrypto, loaded on first use (docs/cli.md, "Two programs").
 *
 * lib/util/hash.c calls eight OpenSSL EVP functions; of the delta commands only
 * the MFWZ container hashes anything (SHA-256). Loading libcrypto at start costs
 * about 1.7 MB of RSS and a millisecond of relocations, more than the rest of
 * the front's libraries together, and BSDIFF40 diff and apply never use it. So
 * the front is not linked against libcrypto: these definitions of the eight
 * functions satisfy hash.c at link time and open libcrypto with dlopen() the
 * first time one of them is called (from any thread: pthread_once). When it
 * cannot be opened, EVP_sha256() and friends return NULL and hash.c reports
 * MFW_E_UNSUPPORTED, as it does for a digest libcrypto lacks.
 *
 * The full tool (modemfw-tool) links libcrypto as usual and never sees this file.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef MODEMFW_LIBCRYPTO_SONAME
#define MODEMFW_LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

static struct {
	EVP_MD_CTX *(*ctx_new)(void);
	void (*ctx_free)(EVP_MD_CTX *c);
	int (*init)(EVP_MD_CTX *c, const EVP_MD *md, ENGINE *e);
	int (*update)(EVP_MD_CTX *c, const void *d, size_t n);
	int (*final)(EVP_MD_CTX *c, unsigned char *out, unsigned int *n);
	const EVP_MD *(*md5)(void);
	const EVP_MD *(*sha1)(void);
	const EVP_MD *(*sha256)(void);
} fn;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;

/* dlsym() into a function pointer without converting void * to it (not ISO C) */
static bool sym(void *lib, const char *name, void *fnptr, size_t size)
{
	void *p = dlsym(lib, name);
	if (!p)
		return false;
	memcpy(fnptr, &p, size);
	return true;
}

#define SYM(lib, name, field) sym(lib, name, &fn.field, sizeof(fn.field))

static void load(void)
{
	void *lib = dlopen(MODEMFW_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!lib) {
		fprintf(stderr, "modemfw: cannot load " MODEMFW_LIBCRYPTO_SONAME ": %s\n", dlerror());
		return;
	}
	if (!SYM(lib, "EVP_MD_CTX_new", ctx_new) || !SYM(lib, "EVP_MD_CTX_free", ctx_free) ||
	    !SYM(lib, "EVP_DigestInit_ex", init) || !SYM(lib, "EVP_DigestUpdate", update) ||
	    !SYM(lib, "EVP_DigestFinal_ex", final) || !SYM(lib, "EVP_md5", md5) ||
	    !SYM(lib, "EVP_sha1", sha1) || !SYM(lib, "EVP_sha256", sha256)) {
		fprintf(stderr, "modemfw: " MODEMFW_LIBCRYPTO_SONAME " lacks the EVP digest functions\n");
		dlclose(lib);
		return;
	}
	loaded = true;
}

static bool ready(void)
{
	pthread_once(&once, load);
	return loaded;
}

EVP_MD_CTX *EVP_MD_CTX_new(void)
{
	return ready() ? fn.ctx_new() : NULL;
}

void EVP_MD_CTX_free(EVP_MD_CTX *c)
{
	if (c && ready())
		fn.ctx_free(c);
}

int EVP_DigestInit_ex(EVP_MD_CTX *c, const EVP_MD *md, ENGINE *e)
{
	return ready() ? fn.init(c, md, e) : 0;
}

int EVP_DigestUpdate(EVP_MD_CTX *c, const void *d, size_t n)
{
	return ready() ? fn.update(c, d, n) : 0;
}

int EVP_DigestFinal_ex(EVP_MD_CTX *c, unsigned char *out, unsigned int *n)
{
	return ready() ? fn.final(c, out, n) : 0;
}

const EVP_MD *EVP_md5(void)
{
	return ready() ? fn.md5() : NULL;
}

const EVP_MD *EVP_sha1(void)
{
	return ready() ? fn.sha1() : NULL;
}

const EVP_MD *EVP_sha256(void)
{
	return ready() ? fn.sha256() : NULL;
}
