/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Edify subset: every construct, precedence, string escapes, comments,
 * errors with line:col, the depth/size bounds, binding, evaluation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dfota/edify.h"

static struct mfw_ctx *ctx;
static char trace[1024];

/* A tiny function table: concat(args...), log(x) appends to trace, fail() errors, blob() */
static int f_log(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	char *s;
	int r = mfw_ed_arg_str(ev, call, 0, &s, NULL);
	if (r < 0)
		return r;
	strncat(trace, s, sizeof(trace) - strlen(trace) - 2);
	strcat(trace, ";");
	r = mfw_ed_val_set(out, s, strlen(s));
	free(s);
	return r;
}

static int f_fail(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	(void)ev;
	(void)call;
	(void)out;
	return MFW_E_IO;
}

static int f_blob(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	(void)ev;
	(void)call;
	memset(out, 0, sizeof(*out));
	out->type = MFW_ED_VBLOB;
	out->blob = 42;
	return 0;
}

static int f_count(struct mfw_ed_eval *ev, const struct mfw_ed_node *call, struct mfw_ed_val *out)
{
	char buf[16];
	(void)ev;
	snprintf(buf, sizeof(buf), "%zu", call->nkids);
	return mfw_ed_val_set(out, buf, strlen(buf));
}

static const struct mfw_ed_func table[] = {
	{ "log", 1, 1, 0, f_log },
	{ "fail", 0, 0, 1, f_fail },
	{ "blob", 0, 0, 0, f_blob },
	{ "count", 0, -1, 0, f_count },
};

static int eval_src(const char *src, char *out, size_t cap)
{
	struct mfw_ed_script *s;
	struct mfw_ed_val v;
	struct mfw_ed_eval ev = { .ctx = ctx, .funcs = table, .nfuncs = 4 };
	int r = mfw_ed_parse(ctx, src, strlen(src), &s, NULL);
	if (r < 0)
		return r;
	r = mfw_ed_bind(ctx, s, table, 4, NULL);
	if (r == 0) {
		ev.script = s;
		trace[0] = 0;
		r = mfw_ed_eval(&ev, s->root, &v);
		if (r == 0) {
			snprintf(out, cap, "%s", v.type == MFW_ED_VBLOB ? "<blob>" : v.s);
			mfw_ed_val_free(&v);
		}
	}
	mfw_ed_free(s);
	return r;
}

static void expect(const char *src, const char *want)
{
	char out[256];
	int r = eval_src(src, out, sizeof(out));
	if (r < 0)
		print_error("'%s': %s\n", src, mfw_ctx_detail(ctx));
	assert_int_equal(r, 0);
	if (strcmp(out, want))
		print_error("'%s' gave '%s', want '%s'\n", src, out, want);
	assert_string_equal(out, want);
}

static void expect_err(const char *src, int err, unsigned line, unsigned col, const char *msg)
{
	struct mfw_ed_script *s = NULL;
	struct mfw_ed_error e;
	int r = mfw_ed_parse(ctx, src, strlen(src), &s, &e);
	if (r == 0) {
		r = mfw_ed_bind(ctx, s, table, 4, &e);
		mfw_ed_free(s);
	}
	assert_int_equal(r, err);
	if (e.line != line || e.col != col || !strstr(e.msg, msg))
		print_error("'%s': %u:%u %s\n", src, e.line, e.col, e.msg);
	assert_int_equal(e.line, line);
	assert_int_equal(e.col, col);
	assert_non_null(strstr(e.msg, msg));
	assert_non_null(strstr(mfw_ctx_detail(ctx), msg));
}

static void test_values(void **state)
{
	(void)state;
	expect("\"hello\"", "hello");
	expect("bare/word:1.5-x_y", "bare/word:1.5-x_y");
	expect("\"a\\n\\t\\\"\\\\\\x41\"", "a\n\t\"\\A");
	expect("", "");
	expect("# only a comment\n", "");
	expect("\"a\" + \"b\" + c", "abc");
	expect("count()", "0");
	expect("count(a, b, c)", "3");
	expect("blob()", "<blob>");
}

static void test_operators(void **state)
{
	(void)state;
	expect("a == a", "t");
	expect("a == b", "");
	expect("a != b", "t");
	expect("!\"\"", "t");
	expect("!x", "");
	expect("\"\" || x", "t");
	expect("\"\" || \"\"", "");
	expect("x && \"\"", "");
	expect("x && y", "t");
	/* precedence: + over ==, == over &&, && over || */
	expect("\"a\" + \"b\" == \"ab\"", "t");
	expect("a == a && b == c || d == d", "t");
	expect("a == b && (x || y)", "");
	expect("!a == \"\"", "t");
	/* short circuit */
	expect("x || log(no); log(yes)", "yes");
	assert_string_equal(trace, "yes;");
	expect("\"\" && log(no)", "");
	assert_string_equal(trace, "");
	/* sequences: the last value; empty statements allowed */
	expect("log(a); log(b);; log(c);", "c");
	assert_string_equal(trace, "a;b;c;");
	expect("(log(a); log(b))", "b");
}

static void test_if(void **state)
{
	(void)state;
	expect("if x then a else b endif", "a");
	expect("if \"\" then a else b endif", "b");
	expect("if \"\" then a endif", "");
	expect("if a == a then log(1); log(2) else log(3) endif", "2");
	assert_string_equal(trace, "1;2;");
	expect("if x then if \"\" then a else b endif endif", "b");
}

static void test_errors(void **state)
{
	char deep[600];
	(void)state;
	expect_err("log(\"a\"", MFW_E_FORMAT, 1, 8, "expected ')'");
	expect_err("\n  log(\"x)", MFW_E_FORMAT, 2, 7, "unterminated string");
	expect_err("a = b", MFW_E_FORMAT, 1, 3, "'=' is not an operator");
	expect_err("a & b", MFW_E_FORMAT, 1, 3, "'&'");
	expect_err("a | b", MFW_E_FORMAT, 1, 3, "'|'");
	expect_err("\"\\q\"", MFW_E_FORMAT, 1, 2, "unknown escape");
	expect_err("\"\\x4\"", MFW_E_FORMAT, 1, 2, "\\x needs two hex digits");
	expect_err("a $ b", MFW_E_FORMAT, 1, 3, "unexpected character '$'");
	expect_err("a\x01", MFW_E_FORMAT, 1, 2, "unexpected byte 0x01");
	expect_err("if a then b", MFW_E_FORMAT, 1, 12, "expected 'endif'");
	expect_err("if a b endif", MFW_E_FORMAT, 1, 6, "expected 'then'");
	expect_err("a )", MFW_E_FORMAT, 1, 3, "unexpected ')'");
	expect_err("log(a,)", MFW_E_FORMAT, 1, 7, "expected an expression");
	expect_err("ok;\n nosuch(1)", MFW_E_FORMAT, 2, 2, "unknown function 'nosuch'");
	expect_err("log(a, b)", MFW_E_FORMAT, 1, 1, "'log' takes 1..1 arguments, got 2");
	/* depth bound */
	memset(deep, 0, sizeof(deep));
	for (int i = 0; i < 100; i++)
		strcat(deep, "(");
	expect_err(deep, MFW_E_RANGE, 1, 65, "nesting deeper than 64");
	memset(deep, 0, sizeof(deep));
	for (int i = 0; i < 100; i++)
		strcat(deep, "!");
	strcat(deep, "a");
	expect_err(deep, MFW_E_RANGE, 1, 65, "nesting deeper");
	memset(deep, 0, sizeof(deep));
	strcat(deep, "a");
	for (int i = 0; i < 70; i++)
		strcat(deep, "==a");
	expect_err(deep, MFW_E_RANGE, 1, 194, "comparison chain");
}

static void test_eval_errors(void **state)
{
	char out[64];
	(void)state;
	assert_int_equal(eval_src("log(a); fail(); log(b)", out, sizeof(out)), MFW_E_IO);
	assert_string_equal(trace, "a;");
	assert_int_equal(eval_src("blob() == x", out, sizeof(out)), MFW_E_FORMAT);
	assert_non_null(strstr(mfw_ctx_detail(ctx), "1:1: a blob is used as a string"));
	assert_int_equal(eval_src("log(blob())", out, sizeof(out)), MFW_E_FORMAT);
	assert_int_equal(eval_src("x + blob()", out, sizeof(out)), MFW_E_FORMAT);
}

static void test_long_scripts(void **state)
{
	/* thousands of statements and a long + chain stay flat (n-ary nodes) */
	size_t cap = 200000, n = 0;
	char *src = malloc(cap), out[64];
	struct mfw_ed_script *s;
	(void)state;
	for (int i = 0; i < 5000; i++)
		n += (size_t)snprintf(src + n, cap - n, "log(\"s%d\");\n", i);
	assert_int_equal(mfw_ed_parse(ctx, src, n, &s, NULL), 0);
	assert_int_equal(s->root->nkids, 5000);
	assert_int_equal(s->root->kids[4999]->line, 5000);
	mfw_ed_free(s);
	n = 0;
	n += (size_t)snprintf(src + n, cap - n, "a");
	for (int i = 0; i < 3000; i++)
		n += (size_t)snprintf(src + n, cap - n, " + b");
	assert_int_equal(eval_src(src, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 63);
	/* the node bound */
	{
		size_t big = (size_t)MFW_ED_MAX_NODES * 2 + 10;
		char *b = malloc(big + 1);
		for (size_t i = 0; i < big; i += 2)
			memcpy(b + i, "a;", 2);
		b[big] = 0;
		assert_int_equal(mfw_ed_parse(ctx, b, big, &s, NULL), MFW_E_RANGE);
		free(b);
	}
	assert_int_equal(mfw_ed_parse(ctx, src, (size_t)MFW_ED_MAX_SRC + 1, &s, NULL), MFW_E_RANGE);
	free(src);
}

static void test_spans(void **state)
{
	struct mfw_ed_script *s;
	const char *src = "x;\n  assert(getprop(\"a\") == \"b\", c)";
	const struct mfw_ed_node *call, *arg;
	(void)state;
	assert_int_equal(mfw_ed_parse(ctx, src, strlen(src), &s, NULL), 0);
	call = s->root->kids[1];
	assert_int_equal(call->kind, MFW_ED_CALL);
	assert_int_equal(call->line, 2);
	assert_int_equal(call->col, 3);
	arg = call->kids[0];
	assert_int_equal(arg->kind, MFW_ED_EQ);
	assert_int_equal((int)(arg->end - arg->start), (int)strlen("getprop(\"a\") == \"b\""));
	assert_memory_equal(src + arg->start, "getprop(\"a\") == \"b\"", arg->end - arg->start);
	mfw_ed_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_if),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_eval_errors),
		cmocka_unit_test(test_long_scripts),
		cmocka_unit_test(test_spans),
	};
	int rc;
	mfw_ctx_new(&ctx);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	mfw_ctx_free(ctx);
	return rc;
}
