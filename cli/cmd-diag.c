/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw diag: one DIAG operation on a running module's diagnostic port
 * (version, IMEI, NV items, EFS2 files). Also the DIAG port helper the
 * edl, backup and restore commands share.
 */
#include "cli.h"
#include "port.h"

#include <modemfw/diag.h>
#include <modemfw/device.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cli_diag_port_open(struct cli *cli, const char *spec, struct cli_port *port)
{
	char found[256];
	if (!spec || !strcmp(spec, "auto")) {
		/* the DIAG port of the only module sysfs shows (issue 7's discovery) */
		struct mfw_device_opts o;
		int r;
		cli_device_opts(cli, &o, NULL, NULL, false);
		r = mfw_discover_pick(cli->ctx, &o, MFW_ROLE_DIAG, found, sizeof(found));
		if (r < 0)
			return r;
		spec = found;
	}
	if (!strcmp(spec, "emu")) {
		fprintf(stderr, "modemfw: the in-process virtual modem serves EDL only; run "
				"'modemfw emu --mode normal --listen-diag SPEC ...' and pass that SPEC\n");
		return EXIT_USAGE;
	}
	return cli_port_open(cli, spec, false, port);
}

static void diag_usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw diag COMMAND -p PORT [options]\n\n"
		"Talk DIAG (QCDM) to a running module's diagnostic port.\n\n"
		"commands:\n"
		"  version                  firmware build dates and model (VERNO)\n"
		"  imei                     IMEI(s) from NV item 550 (and index 1, the second SIM)\n"
		"  nv-read ITEM             one numbered NV item (128 bytes, hex)\n"
		"  nv-write ITEM HEX        write up to 128 bytes (the rest is zero)\n"
		"  efs-ls PATH              list an EFS2 directory (-r: the whole tree below it)\n"
		"  efs-get PATH OUT         copy an EFS2 file to the host\n"
		"  efs-put IN PATH          copy a host file into EFS2\n\n"
		"options:\n"
		"  -p, --port PORT          the DIAG port: /dev/ttyUSBn, /dev/wwan0qcdm0, tcp:HOST:PORT\n"
		"      --index N            NV subscription index (dual SIM; 1 = second SIM)\n"
		"      --spc CODE           send the 6-digit service programming code first\n"
		"  -r, --recursive          efs-ls: walk the tree\n"
		"      --timeout MS         per-answer deadline (default 5000)\n"
		"      --i-own-this-imei    allow nv-write to item 550 (the IMEI)\n\n"
		"Writing an IMEI is only lawful to restore the unit's own original IMEI.\n");
}

/* Hex digits, optionally separated by spaces or colons. Returns the byte count or -1. */
static int parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		int v;
		if (*s == ' ' || *s == ':')
			continue;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if ((*s | 0x20) >= 'a' && (*s | 0x20) <= 'f')
			v = (*s | 0x20) - 'a' + 10;
		else
			return -1;
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n >= cap)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	return hi < 0 ? (int)n : -1;
}

bool cli_parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	*out = strtoul(s, &end, 0);
	return !errno && end != s && !*end && *out <= max && s[0] != '-';
}

static void print_hex(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		printf("  %04zx:", i);
		for (size_t k = i; k < i + 16 && k < n; k++)
			printf(" %02x", d[k]);
		printf("\n");
	}
}

static int do_version(struct cli *cli, struct mfw_diag *d)
{
	struct mfw_diag_version v;
	char a[64], b[64], c[64];
	int r = mfw_diag_version(d, &v);
	if (r < 0)
		return cli_report_error(cli, r, "version");
	if (cli->json) {
		cli_json_event(cli, "version",
			       "\"comp_date\":%s,\"comp_time\":\"%s\",\"rel_date\":%s,\"rel_time\":\"%s\","
			       "\"ver_dir\":%s,\"model\":%u,\"firm_rev\":%u,\"msm\":\"%u.%u\"",
			       cli_json_str(a, sizeof(a), v.comp_date), v.comp_time,
			       cli_json_str(b, sizeof(b), v.rel_date), v.rel_time,
			       cli_json_str(c, sizeof(c), v.ver_dir), v.model, v.firm_rev, v.hw_major,
			       v.hw_minor);
		return 0;
	}
	printf("compiled:  %s %s\n", v.comp_date, v.comp_time);
	printf("released:  %s %s\n", v.rel_date, v.rel_time);
	printf("build dir: %s\n", v.ver_dir);
	printf("model:     %u, firmware rev %u, MSM %u.%u\n", v.model, v.firm_rev, v.hw_major,
	       v.hw_minor);
	if (v.fields < 12)
		printf("(short answer: %u of 12 fields)\n", v.fields);
	return 0;
}

static int do_imei(struct cli *cli, struct mfw_diag *d, int index)
{
	char imei[MFW_IMEI_DIGITS + 1], imei2[MFW_IMEI_DIGITS + 1] = "";
	int r = mfw_diag_read_imei(d, index, imei);
	if (r < 0)
		return cli_report_error(cli, r, "imei");
	/* the second subscription only when asked for the first one implicitly */
	if (index < 0 && mfw_diag_read_imei(d, 1, imei2) < 0) {
		imei2[0] = 0;
		mfw_ctx_clear_detail(cli->ctx);
	}
	if (cli->json) {
		cli_json_event(cli, "imei", "\"imei\":\"%s\"%s%s%s", imei, imei2[0] ? ",\"imei2\":\"" : "",
			       imei2, imei2[0] ? "\"" : "");
		return 0;
	}
	printf("IMEI:   %s\n", imei);
	if (imei2[0])
		printf("IMEI 2: %s\n", imei2);
	return 0;
}

static int do_nv_read(struct cli *cli, struct mfw_diag *d, const char *arg, int index)
{
	uint8_t data[MFW_NV_DATA_LEN];
	char hex[2 * MFW_NV_DATA_LEN + 1];
	unsigned long item;
	uint16_t status;
	int r;

	if (!cli_parse_ulong(arg, 0xFFFF, &item)) {
		fprintf(stderr, "modemfw: NV item '%s' is not a number 0..65535\n", arg);
		return EXIT_USAGE;
	}
	r = mfw_diag_nv_read(d, (uint16_t)item, index, data, &status);
	if (r < 0)
		return cli_report_error(cli, r, "nv-read");
	if (cli->json) {
		for (size_t i = 0; i < sizeof(data); i++)
			snprintf(hex + 2 * i, 3, "%02x", data[i]);
		cli_json_event(cli, "nv", "\"item\":%lu,\"index\":%d,\"status\":%u,\"data\":\"%s\"", item,
			       index < 0 ? 0 : index, status, hex);
		return 0;
	}
	if (index >= 0)
		printf("NV item %lu, index %d:\n", item, index);
	else
		printf("NV item %lu:\n", item);
	print_hex(data, sizeof(data));
	return 0;
}

static int do_nv_write(struct cli *cli, struct mfw_diag *d, const char *arg, const char *hexarg,
		       int index, bool own_imei)
{
	uint8_t data[MFW_NV_DATA_LEN] = { 0 };
	unsigned long item;
	int n, r;

	if (!cli_parse_ulong(arg, 0xFFFF, &item)) {
		fprintf(stderr, "modemfw: NV item '%s' is not a number 0..65535\n", arg);
		return EXIT_USAGE;
	}
	n = parse_hex(hexarg, data, sizeof(data));
	if (n < 0) {
		fprintf(stderr, "modemfw: '%s' is not up to 128 hex bytes\n", hexarg);
		return EXIT_USAGE;
	}
	if (item == MFW_NV_ITEM_IMEI) {
		char imei[MFW_IMEI_DIGITS + 1];
		const char *why = NULL;
		fprintf(stderr, "warning: NV item 550 is the IMEI. Writing an IMEI is only lawful to "
				"restore the unit's own original IMEI;\n"
				"         changing it is a crime in many countries.\n");
		if (!own_imei) {
			fprintf(stderr, "modemfw: refusing to write NV item 550 without "
					"--i-own-this-imei\n");
			return EXIT_REFUSED;
		}
		if (mfw_imei_decode(data, sizeof(data), imei) < 0 || mfw_imei_check(imei, &why) < 0) {
			fprintf(stderr, "modemfw: the data is not a valid encoded IMEI (%s)\n",
				why ? why : "not BCD as NV 550 stores it");
			return EXIT_BAD_INPUT;
		}
	}
	r = mfw_diag_nv_write(d, (uint16_t)item, index, data, (size_t)n, NULL);
	if (r < 0)
		return cli_report_error(cli, r, "nv-write");
	if (cli->json)
		cli_json_event(cli, "nv-write", "\"item\":%lu,\"bytes\":%d", item, n);
	else
		printf("NV item %lu written (%d bytes, rest zero)\n", item, n);
	return 0;
}

static const char *type_char(const struct mfw_efs_dirent *e)
{
	switch (e->mode & MFW_EFS_S_IFMT) {
	case MFW_EFS_S_IFDIR: return "d";
	case MFW_EFS_S_IFLNK: return "l";
	case MFW_EFS_S_IFITM: return "i";
	case MFW_EFS_S_IFREG: return "-";
	default: return e->type == 1 ? "d" : "?";
	}
}

static int print_entry(void *user, const char *path, const struct mfw_efs_dirent *e)
{
	struct cli *cli = user;
	char p[2 * MFW_EFS_PATH_MAX];
	if (cli->json)
		cli_json_event(cli, "efs-entry", "\"path\":%s,\"mode\":%u,\"size\":%u",
			       cli_json_str(p, sizeof(p), path), e->mode, e->size);
	else
		printf("%s %06o %10u  %s\n", type_char(e), e->mode & 07777, e->size, path);
	return 0;
}

static int do_efs_ls(struct cli *cli, struct mfw_diag *d, const char *path, bool recursive)
{
	struct mfw_efs_dirent e;
	uint32_t dirp;
	int r, rc;

	if (recursive) {
		r = mfw_diag_efs_walk(d, path, 0, 0, print_entry, cli);
		return r < 0 ? cli_report_error(cli, r, "efs-ls") : 0;
	}
	r = mfw_diag_efs_opendir(d, path, &dirp);
	if (r < 0)
		return cli_report_error(cli, r, "efs-ls");
	for (int32_t seq = 1; seq <= 65536; seq++) {
		char child[MFW_EFS_PATH_MAX + 260];
		r = mfw_diag_efs_readdir(d, dirp, seq, &e);
		if (r <= 0)
			break;
		if (!strcmp(e.name, ".") || !strcmp(e.name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s%s%s", path,
			 path[strlen(path) - 1] == '/' ? "" : "/", e.name);
		print_entry(cli, child, &e);
	}
	rc = mfw_diag_efs_closedir(d, dirp);
	if (r == 0)
		r = rc;
	return r < 0 ? cli_report_error(cli, r, "efs-ls") : 0;
}

static int do_efs_get(struct cli *cli, struct mfw_diag *d, const char *path, const char *out)
{
	uint8_t *data;
	size_t len;
	FILE *f;
	int r = mfw_diag_efs_get(d, path, 0, &data, &len);

	if (r < 0)
		return cli_report_error(cli, r, "efs-get");
	f = fopen(out, "wb");
	if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
		fprintf(stderr, "modemfw: writing '%s' failed: %s\n", out, strerror(errno));
		free(data);
		return EXIT_FAILURE_;
	}
	free(data);
	if (cli->json)
		cli_json_event(cli, "efs-get", "\"bytes\":%zu", len);
	else
		printf("%s: %zu bytes -> %s\n", path, len, out);
	return 0;
}

static int do_efs_put(struct cli *cli, struct mfw_diag *d, const char *in, const char *path)
{
	/* EFS2 calibration files are KiB-sized; a 4 MiB bound stops accidents (an image, a log) */
	static const size_t max = 4u * 1024u * 1024u;
	uint8_t *data = malloc(max + 1);
	size_t len;
	FILE *f;
	int r;

	if (!data)
		return EXIT_FAILURE_;
	f = fopen(in, "rb");
	if (!f) {
		fprintf(stderr, "modemfw: cannot open '%s': %s\n", in, strerror(errno));
		free(data);
		return EXIT_BAD_INPUT;
	}
	len = fread(data, 1, max + 1, f);
	fclose(f);
	if (len > max) {
		fprintf(stderr, "modemfw: '%s' is larger than 4 MiB; not an EFS file\n", in);
		free(data);
		return EXIT_BAD_INPUT;
	}
	r = mfw_diag_efs_put(d, path, data, len, 0644);
	free(data);
	if (r < 0)
		return cli_report_error(cli, r, "efs-put");
	if (cli->json)
		cli_json_event(cli, "efs-put", "\"bytes\":%zu", len);
	else
		printf("%s: %zu bytes -> %s\n", in, len, path);
	return 0;
}

int cmd_diag(struct cli *cli, int argc, char **argv)
{
	enum { OPT_INDEX = 256, OPT_SPC, OPT_TIMEOUT, OPT_OWN_IMEI };
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "index", required_argument, NULL, OPT_INDEX },
		{ "spc", required_argument, NULL, OPT_SPC },
		{ "recursive", no_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "i-own-this-imei", no_argument, NULL, OPT_OWN_IMEI },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *spec = NULL, *spc = NULL, *sub;
	unsigned long v;
	bool recursive = false, own_imei = false;
	int index = -1, timeout = 0, c, r, npos;
	struct cli_port port;
	struct mfw_diag *d;
	char **pos;

	while ((c = getopt_long(argc, argv, "p:rh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': spec = optarg; break;
		case 'r': recursive = true; break;
		case OPT_SPC: spc = optarg; break;
		case OPT_OWN_IMEI: own_imei = true; break;
		case OPT_INDEX:
			if (!cli_parse_ulong(optarg, 0xFFFF, &v)) {
				fprintf(stderr, "modemfw: --index wants 0..65535\n");
				return EXIT_USAGE;
			}
			index = (int)v;
			break;
		case OPT_TIMEOUT:
			if (!cli_parse_ulong(optarg, 600000, &v) || v == 0) {
				fprintf(stderr, "modemfw: --timeout wants 1..600000 ms\n");
				return EXIT_USAGE;
			}
			timeout = (int)v;
			break;
		case 'h':
			diag_usage(stdout);
			return 0;
		default:
			diag_usage(stderr);
			return EXIT_USAGE;
		}
	}
	pos = argv + optind;
	npos = argc - optind;
	if (npos < 1) {
		diag_usage(stderr);
		return EXIT_USAGE;
	}
	sub = pos[0];
	{
		static const struct { const char *name; int args; } subs[] = {
			{ "version", 0 }, { "imei", 0 }, { "nv-read", 1 }, { "nv-write", 2 },
			{ "efs-ls", 1 }, { "efs-get", 2 }, { "efs-put", 2 },
		};
		size_t i;
		for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
			if (!strcmp(sub, subs[i].name))
				break;
		if (i == sizeof(subs) / sizeof(subs[0]) || npos - 1 != subs[i].args) {
			fprintf(stderr, "modemfw: diag %s: unknown command or wrong number of arguments\n",
				sub);
			diag_usage(stderr);
			return EXIT_USAGE;
		}
	}
	r = cli_diag_port_open(cli, spec, &port);
	if (r > 0)
		return r;
	if (r < 0)
		return cli_report_error(cli, r, spec);
	r = mfw_diag_open(cli->ctx, port.t, &d);
	if (r < 0) {
		cli_port_close(&port);
		return cli_report_error(cli, r, "diag");
	}
	mfw_diag_set_timeout(d, timeout);
	if (spc && (r = mfw_diag_spc(d, spc)) < 0) {
		r = cli_report_error(cli, r, "spc");
		goto close_diag;
	}
	if (!strcmp(sub, "version"))
		r = do_version(cli, d);
	else if (!strcmp(sub, "imei"))
		r = do_imei(cli, d, index);
	else if (!strcmp(sub, "nv-read"))
		r = do_nv_read(cli, d, pos[1], index);
	else if (!strcmp(sub, "nv-write"))
		r = do_nv_write(cli, d, pos[1], pos[2], index, own_imei);
	else if (!strcmp(sub, "efs-ls"))
		r = do_efs_ls(cli, d, pos[1], recursive);
	else if (!strcmp(sub, "efs-get"))
		r = do_efs_get(cli, d, pos[1], pos[2]);
	else
		r = do_efs_put(cli, d, pos[1], pos[2]);
close_diag:
	mfw_diag_close(d);
	cli_port_close(&port);
	return r;
}
