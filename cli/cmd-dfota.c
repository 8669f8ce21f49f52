/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw dfota build --from SRC --to DST -o update.zip [--scope all|rootfs|modem|kernel]
 *                     [--full LIST] [--preserve LIST] [--perms LIST] [--key KEY.pem]
 * modemfw dfota check update.zip --against SRC [--expect DST] [--pubkey PUB.pem]
 *                     [--perms LIST] [--preserve LIST]
 * modemfw dfota apply ...      (dfota_apply_main() in cli/cmd-dfota-apply.c)
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <modemfw/dfota.h>

static void dfota_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw dfota build --from SRC --to DST -o UPDATE.zip [--scope all|rootfs|modem|kernel]\n"
		"                           [--full LIST] [--preserve LIST] [--perms LIST] [--key KEY.pem] [--work DIR]\n"
		"       modemfw dfota check UPDATE.zip --against SRC [--expect DST] [--pubkey PUB.pem]\n"
		"                           [--perms LIST] [--preserve LIST] [--model-only] [--work DIR]\n"
		"       modemfw dfota apply ...   (see 'modemfw dfota apply --help')\n"
		"       modemfw dfota send UPDATE.zip -p PORT ...   (see 'modemfw dfota send --help')\n"
		"\n"
		"SRC and DST are targetfiles (a directory or a .zip: SYSTEM/, BOOTABLE_IMAGES/boot.img,\n"
		"RADIO/NON-HLOS.ubi, MULTIFOTA/, RECOVERY/, OTA/, META/filesystem_config.txt).\n"
		"build writes the same bytes for the same inputs; --key signs with an ed25519 key.\n"
		"check proves the package against SRC before it ships: zip and CRCs, signature, version,\n"
		"every source hash, then the script run on SRC and the result compared with DST; with\n"
		"--expect the real updater also applies it to a copy of SRC (--model-only skips that).\n"
		"check results (Quectel codes): 0 ok (exit 0), 504 damaged/unsigned (exit 3),\n"
		"505 wrong version and 510 source mismatch (exit 6), 502 result differs (exit 7).\n");
}

static int do_build(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "scope", required_argument, NULL, 's' },
		{ "full", required_argument, NULL, 'F' },
		{ "preserve", required_argument, NULL, 'P' },
		{ "perms", required_argument, NULL, 'M' },
		{ "key", required_argument, NULL, 'k' },
		{ "work", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_dfota_build_opts o = { .scope = MFW_DFOTA_SCOPE_ALL };
	struct mfw_dfota_build_stats st;
	const char *from = NULL, *to = NULL, *out = NULL;
	char sz[32];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:t:o:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'o': out = optarg; break;
		case 's':
			if (mfw_dfota_scope_parse(optarg, &o.scope) < 0) {
				fprintf(stderr, "modemfw: dfota build: unknown scope '%s' (all, rootfs, modem, kernel)\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'F': o.full_list = optarg; break;
		case 'P': o.preserve_list = optarg; break;
		case 'M': o.perms_list = optarg; break;
		case 'k': o.key_pem = optarg; break;
		case 'w': o.workdir = optarg; break;
		case 'h':
			dfota_usage(stdout);
			return EXIT_OK_;
		default:
			goto bad;
		}
	}
	if (!from || !to || !out || optind != argc)
		goto bad;
	cli_progress_begin(cli);
	r = mfw_dfota_build(cli->ctx, from, to, out, &o, &st);
	cli_progress_end(cli);
	if (r < 0)
		return cli_report_error(cli, r, "dfota build");
	if (cli->json) {
		cli_json_event(cli, "dfota-build",
			       "\"patched\":%zu,\"added\":%zu,\"full\":%zu,\"removed\":%zu,\"symlinks\":%zu,"
			       "\"metadata\":%zu,\"preserved\":%zu,\"partitions\":%zu,\"recovery\":%zu,"
			       "\"required_cache\":%llu,\"required_root\":%llu,\"size\":%llu,\"signed\":%s",
			       st.patched, st.added, st.full, st.removed, st.symlinks, st.metadata,
			       st.preserved, st.partitions, st.recovery,
			       (unsigned long long)st.required_cache, (unsigned long long)st.required_root,
			       (unsigned long long)st.package_size, st.signed_ ? "true" : "false");
	} else if (!cli->quiet) {
		printf("%s: %s, %zu patched, %zu new, %zu whole, %zu removed, %zu symlinks, %zu metadata, "
		       "%zu partitions, %zu preserved%s\n",
		       out, cli_bytes(sz, sizeof(sz), (double)st.package_size), st.patched, st.added, st.full,
		       st.removed, st.symlinks, st.metadata, st.partitions, st.preserved,
		       st.signed_ ? ", signed" : "");
		printf("device needs: cache %llu bytes, root file system growth %llu bytes\n",
		       (unsigned long long)st.required_cache, (unsigned long long)st.required_root);
	}
	return EXIT_OK_;
bad:
	dfota_usage(stderr);
	return EXIT_USAGE;
}

static int check_exit(int code)
{
	switch (code) {
	case MFW_DFOTA_CHECK_OK:
		return EXIT_OK_;
	case MFW_DFOTA_CHECK_DAMAGED:
		return EXIT_BAD_INPUT;
	case MFW_DFOTA_CHECK_VERSION:
	case MFW_DFOTA_CHECK_SOURCE:
		return EXIT_REFUSED;
	case MFW_DFOTA_CHECK_UNEXPECTED:
		return EXIT_VERIFY;
	default:
		return EXIT_FAILURE_;
	}
}

static int do_check(struct cli *cli, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "against", required_argument, NULL, 'a' },
		{ "expect", required_argument, NULL, 'e' },
		{ "pubkey", required_argument, NULL, 'k' },
		{ "perms", required_argument, NULL, 'M' },
		{ "preserve", required_argument, NULL, 'P' },
		{ "work", required_argument, NULL, 'w' },
		{ "model-only", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_dfota_check_opts o = { 0 };
	struct mfw_dfota_check_result res;
	const char *against = NULL;
	char a[600], b[600];
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "a:e:h", lo, NULL)) != -1) {
		switch (c) {
		case 'a': against = optarg; break;
		case 'e': o.expect = optarg; break;
		case 'k': o.pubkey_pem = optarg; break;
		case 'M': o.perms_list = optarg; break;
		case 'P': o.preserve_list = optarg; break;
		case 'w': o.workdir = optarg; break;
		case 'm': o.model_only = true; break;
		case 'h':
			dfota_usage(stdout);
			return EXIT_OK_;
		default:
			goto bad;
		}
	}
	if (!against || argc - optind != 1)
		goto bad;
	cli_progress_begin(cli);
	r = mfw_dfota_check(cli->ctx, argv[optind], against, &o, &res);
	cli_progress_end(cli);
	if (r < 0)
		return cli_report_error(cli, r, "dfota check");
	if (cli->json) {
		cli_json_event(cli, "dfota-check",
			       "\"code\":%d,\"what\":%s,\"message\":%s,\"pre_version\":\"%s\",\"post_version\":\"%s\","
			       "\"entries\":%zu,\"statements\":%zu,\"patches\":%zu,\"signed\":%s,"
			       "\"signature_checked\":%s,\"expect_checked\":%s,\"required_cache\":%llu,"
			       "\"required_root\":%llu,\"measured_cache\":%llu,\"measured_root\":%llu,"
			       "\"updater\":%s",
			       res.code, cli_json_str(a, sizeof(a), res.what),
			       cli_json_str(b, sizeof(b), res.message), res.pre_version, res.post_version,
			       res.entries, res.statements, res.patches_applied,
			       res.is_signed ? "true" : "false", res.signature_checked ? "true" : "false",
			       res.expect_checked ? "true" : "false",
			       (unsigned long long)res.required_cache, (unsigned long long)res.required_root,
			       (unsigned long long)res.measured_cache, (unsigned long long)res.measured_root,
			       res.used_updater ? "true" : "false");
		return check_exit(res.code);
	}
	if (res.code) {
		fprintf(stderr, "modemfw: dfota check: result %d: %s\n", res.code, res.message);
		return check_exit(res.code);
	}
	if (!cli->quiet) {
		printf("result 0: %s -> %s, %zu entries intact, %zu statements run, %zu patches applied%s%s\n",
		       res.pre_version, res.post_version, res.entries, res.statements, res.patches_applied,
		       res.signature_checked ? ", signature verified" :
		       res.is_signed ? ", signed (key not checked: give --pubkey)" : ", unsigned",
		       res.expect_checked ? ", result identical to the target" : "");
		if (res.used_updater)
			printf("the updater applied it to a copy of the source: the same result\n");
		printf("device needs: cache %llu bytes (package says %llu), root file system growth %llu bytes (package says %llu)\n",
		       (unsigned long long)res.measured_cache, (unsigned long long)res.required_cache,
		       (unsigned long long)res.measured_root, (unsigned long long)res.required_root);
	}
	return EXIT_OK_;
bad:
	dfota_usage(stderr);
	return EXIT_USAGE;
}

int cmd_dfota(struct cli *cli, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		dfota_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK_;
	}
	if (!strcmp(argv[1], "build"))
		return do_build(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return do_check(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return dfota_apply_main(cli, argc - 1, argv + 1);
	if (!strcmp(argv[1], "send"))
		return dfota_send_main(cli, argc - 1, argv + 1);
	fprintf(stderr, "modemfw: dfota: unknown action '%s'\n", argv[1]);
	dfota_usage(stderr);
	return EXIT_USAGE;
}
