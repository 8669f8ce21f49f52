/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Power-cut proof on a small update: cut power at every mutating I/O
 * operation of the updater (1 .. the first N at which a run completes
 * uncut), with the last write dropped, kept or torn in turn, rerun as the
 * module does, and require the target exactly (or the source exactly with
 * an error code), preserved user files intact, never anything else.
 * tests/powercut/driver.c runs the same over a realistic update.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "../powercut/enum.h"

static struct mfw_ctx *ctx;
static char pkg_path[64];

static bool preserved(struct mfw_dfio *io, void *user)
{
	return fx_preserved_ok(io, user);
}

static void enumerate(const struct fx_opts *o, uint64_t sample)
{
	struct fx_image src, dst;
	struct pc_setup s = { .ctx = ctx, .pkg = pkg_path, .preserved_ok = preserved };
	struct pc_stats st;
	struct mfw_dfio *t;

	fx_generate(o, &src, &dst);
	assert_int_equal(fx_build(ctx, o, &src, &dst, pkg_path), 0);
	assert_int_equal(mfw_dfio_sim_new(&t), 0);
	assert_int_equal(fx_load(t, &dst), 0);
	assert_int_equal(fx_digest(t, &s.dst), 0);
	mfw_dfio_free(t);
	assert_int_equal(mfw_dfio_sim_new(&s.base), 0);
	assert_int_equal(fx_load(s.base, &src), 0);
	assert_int_equal(fx_digest(s.base, &s.src), 0);
	s.user = &src;
	assert_int_equal(pc_enumerate(&s, sample, o->seed, &st), 0);
	print_message("cut points %llu (of %llu ops): target %llu, source %llu, other %llu\n",
		      (unsigned long long)st.tried, (unsigned long long)st.total_ops,
		      (unsigned long long)st.target, (unsigned long long)st.source,
		      (unsigned long long)st.other);
	assert_true(st.tried > 0);
	assert_int_equal(st.other, 0);
	assert_int_equal(st.target + st.source, st.tried);
	mfw_dfio_free(s.base);
	fx_free(&src);
	fx_free(&dst);
}

static void test_every_cut_point(void **state)
{
	const struct fx_opts o = { .seed = 3, .files = 10, .boot_size = 5000, .modem_size = 12000,
				   .preserved = 2 };
	(void)state;
	enumerate(&o, 0);
}

static void test_every_cut_point_deflated(void **state)
{
	const struct fx_opts o = { .seed = 5, .files = 6, .boot_size = 3000, .modem_size = 9000,
				   .preserved = 1, .deflate_patches = true };
	(void)state;
	enumerate(&o, 0);
}

/* A second cut during the rerun (seeded pairs over the whole run). */
static void test_double_cuts(void **state)
{
	const struct fx_opts o = { .seed = 4, .files = 8, .boot_size = 4000, .modem_size = 9000,
				   .preserved = 1 };
	struct fx_image src, dst;
	struct pc_setup s = { .ctx = ctx, .pkg = pkg_path, .preserved_ok = preserved };
	struct pc_stats st = { 0 };
	struct mfw_dfio *t;
	uint64_t total, x = 88172645463325252ull;
	(void)state;

	fx_generate(&o, &src, &dst);
	assert_int_equal(fx_build(ctx, &o, &src, &dst, pkg_path), 0);
	assert_int_equal(mfw_dfio_sim_new(&t), 0);
	assert_int_equal(fx_load(t, &dst), 0);
	assert_int_equal(fx_digest(t, &s.dst), 0);
	mfw_dfio_free(t);
	assert_int_equal(mfw_dfio_sim_new(&s.base), 0);
	assert_int_equal(fx_load(s.base, &src), 0);
	assert_int_equal(fx_digest(s.base, &s.src), 0);
	s.user = &src;
	assert_int_equal(pc_count_ops(&s, &total), 0);
	for (int i = 0; i < 80; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pc_trial2(&s, 1 + x % total, 1 + (x >> 20) % total, &st);
	}
	print_message("double cuts %llu: target %llu, source %llu, other %llu\n",
		      (unsigned long long)st.tried, (unsigned long long)st.target,
		      (unsigned long long)st.source, (unsigned long long)st.other);
	assert_int_equal(st.other, 0);
	mfw_dfio_free(s.base);
	fx_free(&src);
	fx_free(&dst);
}

/* A pre-check failure with cuts: the source stays, the code is reported. */
static void test_cut_wrong_source(void **state)
{
	const struct fx_opts o = { .seed = 9, .files = 8, .boot_size = 3000, .modem_size = 5000,
				   .preserved = 1, .wrong_source = true };
	struct fx_image src, dst;
	struct pc_setup s = { .ctx = ctx, .pkg = pkg_path };
	struct pc_stats st = { 0 };
	struct mfw_dfio *t;
	(void)state;

	fx_generate(&o, &src, &dst);
	assert_int_equal(fx_build(ctx, &o, &src, &dst, pkg_path), 0);
	assert_int_equal(mfw_dfio_sim_new(&t), 0);
	assert_int_equal(fx_load(t, &dst), 0);
	assert_int_equal(fx_digest(t, &s.dst), 0);
	mfw_dfio_free(t);
	assert_int_equal(mfw_dfio_sim_new(&s.base), 0);
	assert_int_equal(fx_load(s.base, &src), 0);
	assert_int_equal(fx_digest(s.base, &s.src), 0);
	for (uint64_t n = 1; n <= 12; n++)
		assert_int_equal(pc_trial(&s, n, &st), PC_SOURCE);
	mfw_dfio_free(s.base);
	fx_free(&src);
	fx_free(&dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cut_point),
		cmocka_unit_test(test_every_cut_point_deflated),
		cmocka_unit_test(test_double_cuts),
		cmocka_unit_test(test_cut_wrong_source),
	};
	int fd, rc;
	mfw_ctx_new(&ctx);
	snprintf(pkg_path, sizeof(pkg_path), "/tmp/mfw-pc-XXXXXX");
	fd = mkstemp(pkg_path);
	close(fd);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(pkg_path);
	mfw_ctx_free(ctx);
	return rc;
}
