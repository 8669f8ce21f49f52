/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power-cut enumeration driver for a realistic update.
 *
 *   dfota-powercut --pkg update.zip --root DIR --partitions DIR --cache DIR
 *                  [--build SRC_TF DST_TF] [--preserve PATH]... [--prop K=V]...
 *                  [--sample N --seed S | --all [--shard K/N]] [--json] [-v]
 *   dfota-powercut ... --eio PATH | --cache-quota BYTES   (one faulty run, then reruns)
 *   dfota-powercut --self [--files N] ...       (a generated model instead)
 *
 * Loads the module (root tree, partitions, cache) from host directories
 * into the simulated power-cut backend, applies the package once uncut
 * (the reference target), then for each chosen cut point N: clone the
 * source module, cut power at the updater's N-th mutating operation (the
 * last write dropped / kept / torn by N mod 3), rerun up to the retry
 * limit, and classify the durable result: target, source (with an error
 * code) or other. Preserved paths must be unchanged in every outcome.
 * Prints the counts; exit status 1 when any outcome is "other".
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enum.h"

#define MAX_LIST 64

struct preserve {
	const char *paths[MAX_LIST];
	uint8_t digest[MAX_LIST][32];
	size_t n;
};

static bool preserved_ok(struct mfw_dfio *io, void *user)
{
	struct preserve *p = user;
	for (size_t i = 0; i < p->n; i++) {
		uint8_t d[32];
		if (mfw_dfio_tree_digest(io, p->paths[i], NULL, d, NULL, NULL) < 0 ||
		    memcmp(d, p->digest[i], 32))
			return false;
	}
	return true;
}

/* Copy a host tree (through the POSIX backend) into the simulated one. */
static int copy_tree(struct mfw_dfio *from, struct mfw_dfio *to, const char *dir, unsigned depth);

struct names {
	char **v;
	size_t n;
};

static int add_name(void *user, const char *name)
{
	struct names *ns = user;
	char **v = realloc(ns->v, (ns->n + 1) * sizeof(*v));
	if (!v)
		return MFW_E_NOMEM;
	ns->v = v;
	ns->v[ns->n] = strdup(name);
	return ns->v[ns->n++] ? 0 : MFW_E_NOMEM;
}

static int copy_file(struct mfw_dfio *from, struct mfw_dfio *to, const char *path, uint32_t mode)
{
	uint8_t buf[65536];
	uint64_t off = 0;
	int in, out, r;

	r = mfw_dfio_open(from, path, MFW_DFIO_RDONLY, 0, &in);
	if (r < 0)
		return r;
	r = mfw_dfio_open(to, path, MFW_DFIO_WRITE | MFW_DFIO_TRUNC, mode, &out);
	if (r < 0) {
		mfw_dfio_close(from, in);
		return r;
	}
	for (;;) {
		size_t got = 0;
		r = mfw_dfio_pread(from, in, buf, sizeof(buf), off, &got);
		if (r < 0 || !got)
			break;
		r = mfw_dfio_pwrite(to, out, buf, got, off);
		if (r < 0)
			break;
		off += got;
	}
	mfw_dfio_close(from, in);
	mfw_dfio_close(to, out);
	return r;
}

static int copy_tree(struct mfw_dfio *from, struct mfw_dfio *to, const char *dir, unsigned depth)
{
	struct names ns = { 0 };
	int r;

	if (depth > 64)
		return MFW_E_RANGE;
	r = mfw_dfio_list(from, dir, add_name, &ns);
	for (size_t i = 0; i < ns.n && r == 0; i++) {
		char path[MFW_DFIO_PATH_MAX], link[MFW_DFIO_PATH_MAX];
		struct mfw_dfio_stat st;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", strcmp(dir, "/") ? dir : "",
				     ns.v[i]) >= sizeof(path)) {
			r = MFW_E_RANGE;
			break;
		}
		r = mfw_dfio_lstat(from, path, &st);
		if (r < 0)
			break;
		switch (st.type) {
		case MFW_DFIO_DIR:
			r = mfw_dfio_mkdir(to, path, st.mode);
			if (r == MFW_E_EXIST)
				r = 0;
			if (r == 0)
				r = copy_tree(from, to, path, depth + 1);
			break;
		case MFW_DFIO_LNK:
			r = mfw_dfio_readlink(from, path, link, sizeof(link));
			if (r == 0)
				r = mfw_dfio_symlink(to, link, path);
			break;
		case MFW_DFIO_REG:
			r = copy_file(from, to, path, st.mode);
			break;
		default:
			fprintf(stderr, "skipping special file %s\n", path);
			break;
		}
		if (r == 0 && st.type != MFW_DFIO_LNK)
			r = mfw_dfio_chmod(to, path, st.mode);
		if (r == 0)
			r = mfw_dfio_chown(to, path, st.uid, st.gid);
		if (r < 0)
			fprintf(stderr, "copying %s: %s\n", path, mfw_strerror(r));
	}
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i]);
	free(ns.v);
	return r;
}

static int load_host(struct mfw_dfio *sim, const char *root, const char *parts, const char *cache)
{
	struct mfw_dfio *px;
	int r = mfw_dfio_posix_new(root, cache, parts, &px);
	if (r < 0)
		return r;
	mfw_dfio_mkdir(sim, "/cache", 0755);
	mfw_dfio_mkdir(sim, MFW_DFIO_PART_DIR, 0755);
	/* the root tree minus its own cache/.part names, then the two areas */
	r = copy_tree(px, sim, "/", 0);
	if (r == 0)
		r = copy_tree(px, sim, "/cache", 0);
	if (r == 0)
		r = copy_tree(px, sim, MFW_DFIO_PART_DIR, 0);
	mfw_dfio_free(px);
	mfw_dfio_sim_sync_all(sim);
	return r;
}

static const char *state_name(const struct pc_setup *s, struct mfw_dfio *io)
{
	struct fx_digest d;
	if (fx_digest(io, &d) < 0)
		return "unreadable";
	if (fx_digest_eq(&d, &s->src))
		return "source";
	if (fx_digest_eq(&d, &s->dst))
		return "target";
	return "partial";
}

/*
 * One faulty run (EIO once on a path: read, write and fsync; or a byte
 * quota on /cache), then the faults go away (as otafault's on retry) and
 * the updater is rerun. A refused run must leave the source; the reruns
 * must reach the target. Exit 0 when both hold.
 */
static int fault_run(const struct pc_setup *s, const char *eio, uint64_t quota)
{
	struct mfw_dfota_apply_result res;
	struct mfw_dfio *io;
	const char *st;
	int r, runs = 0, bad = 0;

	if (mfw_dfio_sim_clone(s->base, &io) < 0)
		return 99;
	if (eio)
		mfw_dfio_sim_inject_eio(io, eio, MFW_DFIO_FAULT_READ | MFW_DFIO_FAULT_WRITE |
					 MFW_DFIO_FAULT_FSYNC, 1);
	mfw_dfio_sim_set_cache_quota(io, quota);
	r = pc_run(s, io, &res);
	mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	st = state_name(s, io);
	printf("fault run (%s%s): code %d, state %s: %s\n", eio ? "EIO on " : "cache quota",
	       eio ? eio : "", res.code, st, res.message);
	if (r == 0 || !res.code)
		bad = 1, fprintf(stderr, "the fault went unnoticed\n");
	if (!strcmp(st, "target") || (quota && strcmp(st, "source")))
		bad = 1, fprintf(stderr, "a refused run must leave the source\n");
	if (!preserved_ok(io, s->user))
		bad = 1, fprintf(stderr, "a preserved path changed\n");
	mfw_dfio_sim_inject_eio(io, NULL, 0, 0);
	mfw_dfio_sim_set_cache_quota(io, 0);
	do {
		r = pc_run(s, io, &res);
		mfw_dfio_sim_power_cycle(io, MFW_DFIO_TEAR_DROP);
	} while (r < 0 && ++runs < 4);
	st = state_name(s, io);
	printf("after the fault: code %d, state %s\n", res.code, st);
	if (r < 0 || strcmp(st, "target") || !preserved_ok(io, s->user))
		bad = 1;
	mfw_dfio_free(io);
	return bad;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dfota-powercut --pkg ZIP --root DIR --partitions DIR --cache DIR\n"
		   "         [--build SRC_TF DST_TF] [--preserve PATH]... [--prop K=V]...\n"
		   "         [--sample N --seed S | --all [--shard K/N]] [--json] [-v]\n"
		   "       dfota-powercut --self [--files N] [--sample N --seed S | --all]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "pkg", required_argument, NULL, 'k' },
		{ "root", required_argument, NULL, 'r' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "cache", required_argument, NULL, 'c' },
		{ "build", required_argument, NULL, 'b' },
		{ "preserve", required_argument, NULL, 'P' },
		{ "prop", required_argument, NULL, 'o' },
		{ "sample", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "all", no_argument, NULL, 'a' },
		{ "self", no_argument, NULL, 'g' },
		{ "files", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "shard", required_argument, NULL, 'H' },
		{ "eio", required_argument, NULL, 'E' },
		{ "cache-quota", required_argument, NULL, 'Q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *eio = NULL;
	uint64_t quota = 0;
	const char *pkg = NULL, *root = NULL, *parts = NULL, *cache = NULL, *bsrc = NULL, *bdst = NULL;
	const char *props[MAX_LIST + 1] = { 0 };
	struct preserve pres = { 0 };
	struct pc_setup s = { 0 };
	struct pc_stats st;
	struct mfw_ctx *ctx;
	struct fx_image src = { 0 }, dst = { 0 };
	uint64_t sample = 40, seed = 1;
	size_t nprops = 0;
	unsigned files = 320;
	bool json = false, self = false;
	char self_pkg[64] = "";
	int c, r, rc, verbose = 0;
	clock_t t0;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		switch (c) {
		case 'k': pkg = optarg; break;
		case 'r': root = optarg; break;
		case 'p': parts = optarg; break;
		case 'c': cache = optarg; break;
		case 'b':
			bsrc = optarg;
			if (optind >= argc) {
				usage(stderr);
				return 2;
			}
			bdst = argv[optind++];
			break;
		case 'P':
			if (pres.n < MAX_LIST)
				pres.paths[pres.n++] = optarg;
			break;
		case 'o':
			if (nprops < MAX_LIST)
				props[nprops++] = optarg;
			break;
		case 's': sample = strtoull(optarg, NULL, 10); break;
		case 'S': seed = strtoull(optarg, NULL, 10); break;
		case 'a': sample = 0; break;
		case 'g': self = true; break;
		case 'f': files = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'j': json = true; break;
		case 'E': eio = optarg; break;
		case 'Q': quota = strtoull(optarg, NULL, 10); break;
		case 'H':
			if (sscanf(optarg, "%u/%u", &s.shard, &s.nshards) != 2 || !s.nshards ||
			    s.shard >= s.nshards) {
				usage(stderr);
				return 2;
			}
			break;
		case 'v': verbose++; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!self && (!pkg || !root || !parts || !cache)) {
		usage(stderr);
		return 2;
	}
	if (mfw_ctx_new(&ctx) < 0)
		return 99;
	s.ctx = ctx;
	s.props = props;
	s.verbose = verbose;
	if (mfw_dfio_sim_new(&s.base) < 0)
		return 99;
	if (self) {
		struct fx_opts o = { .seed = (unsigned)seed, .files = files, .boot_size = 200000,
				     .modem_size = 1500000, .preserved = 8 };
		struct mfw_dfio *t;
		int fd;
		snprintf(self_pkg, sizeof(self_pkg), "/tmp/mfw-pcdrv-XXXXXX");
		fd = mkstemp(self_pkg);
		if (fd < 0)
			return 99;
		close(fd);
		pkg = self_pkg;
		fx_generate(&o, &src, &dst);
		if (fx_build(ctx, &o, &src, &dst, pkg) < 0 || fx_load(s.base, &src) < 0)
			return 99;
		pres.paths[pres.n++] = "/data/user";
		if (mfw_dfio_sim_new(&t) < 0 || fx_load(t, &dst) < 0 || fx_digest(t, &s.dst) < 0)
			return 99;
		mfw_dfio_free(t);
	} else {
		if (bsrc) {
			struct mfw_dfota_build_opts bo = { 0 };
			struct mfw_dfota_build_stats bs;
			r = mfw_dfota_build(ctx, bsrc, bdst, pkg, &bo, &bs);
			if (r < 0) {
				fprintf(stderr, "build: %s: %s\n", mfw_strerror(r), mfw_ctx_detail(ctx));
				return 1;
			}
			fprintf(stderr, "package: %zu patched, %zu added, %zu full, %zu removed, %zu partitions\n",
				bs.patched, bs.added, bs.full, bs.removed, bs.partitions);
		}
		r = load_host(s.base, root, parts, cache);
		if (r < 0) {
			fprintf(stderr, "loading the module: %s\n", mfw_strerror(r));
			return 1;
		}
	}
	for (size_t i = 0; i < pres.n; i++)
		if (mfw_dfio_tree_digest(s.base, pres.paths[i], NULL, pres.digest[i], NULL, NULL) < 0) {
			fprintf(stderr, "preserved path %s not found\n", pres.paths[i]);
			return 1;
		}
	s.pkg = pkg;
	s.preserved_ok = preserved_ok;
	s.user = &pres;
	if (fx_digest(s.base, &s.src) < 0)
		return 1;
	if (!self) {
		/* the reference target: one uncut run (tests/integration compares it with DST) */
		struct mfw_dfota_apply_result res;
		struct mfw_dfio *t;
		if (mfw_dfio_sim_clone(s.base, &t) < 0)
			return 99;
		r = pc_run(&s, t, &res);
		if (r < 0) {
			fprintf(stderr, "uncut run failed with code %d: %s\n", res.code, res.message);
			return 1;
		}
		mfw_dfio_sim_power_cycle(t, MFW_DFIO_TEAR_DROP);
		fx_digest(t, &s.dst);
		if (!preserved_ok(t, &pres)) {
			fprintf(stderr, "the uncut run changed a preserved path\n");
			return 1;
		}
		fprintf(stderr, "uncut run: %zu patched, %zu written, %zu statements\n", res.patched,
			res.extracted, res.statements);
		mfw_dfio_free(t);
	}
	if (eio || quota) {
		rc = fault_run(&s, eio, quota);
		goto free_all;
	}
	t0 = clock();
	r = pc_enumerate(&s, sample, seed, &st);
	if (r < 0) {
		fprintf(stderr, "enumeration failed: %s\n", mfw_strerror(r));
		return 1;
	}
	if (json)
		printf("{\"ops\":%llu,\"tried\":%llu,\"target\":%llu,\"source\":%llu,\"other\":%llu,"
		       "\"reruns\":%llu,\"cpu_seconds\":%.1f}\n",
		       (unsigned long long)st.total_ops, (unsigned long long)st.tried,
		       (unsigned long long)st.target, (unsigned long long)st.source,
		       (unsigned long long)st.other, (unsigned long long)st.reruns,
		       (double)(clock() - t0) / CLOCKS_PER_SEC);
	else
		printf("mutating operations in one run: %llu\ncut points tried: %llu\n"
		       "recovered to target: %llu\nrolled back to source: %llu\nother: %llu\n",
		       (unsigned long long)st.total_ops, (unsigned long long)st.tried,
		       (unsigned long long)st.target, (unsigned long long)st.source,
		       (unsigned long long)st.other);
	rc = st.other ? 1 : 0;
free_all:
	mfw_dfio_free(s.base);
	fx_free(&src);
	fx_free(&dst);
	if (self_pkg[0])
		unlink(self_pkg);
	mfw_ctx_free(ctx);
	return rc;
}
