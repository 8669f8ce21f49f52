/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * modemfw emu: run the virtual modem on a socket or pty until Ctrl-C.
 * Prints one line when it listens (with the real port for tcp port 0) so
 * scripts and tests can connect; -v shows connects, disconnects and every
 * command.
 */
#include "cli.h"

#include <modemfw/emu.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_BAD_BLOCKS 4096
#define MAX_FAULTS 32

enum {
	OPT_PAGE_SIZE = 256,
	OPT_BLOCK_SIZE,
	OPT_BAD_BLOCKS,
	OPT_MAX_PAYLOAD,
	OPT_SERIAL,
	OPT_IMEI,
	OPT_FINAL_ACK_DELAY,
	OPT_LOG_FLOOD,
	OPT_READ_DATA_32,
	OPT_SPARSE_ERASED,
	OPT_FAULT,
	OPT_LINK,
	OPT_MODE,
	OPT_LISTEN_AT,
	OPT_LISTEN_DIAG,
	OPT_DIAG_NOISE,
	OPT_ROOTFS,
	OPT_PARTITIONS,
	OPT_UFS_SIZE,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: modemfw emu --listen SPEC [--storage nand|emmc] [--image FILE] [options]\n"
		"\n"
		"Run the virtual modem (boot ROM + Firehose programmer) until Ctrl-C.\n"
		"\n"
		"  --listen SPEC          tcp:HOST:PORT (port 0 picks one), unix:PATH or pty:LINK;\n"
		"                         usbredir:PATH|HOST:PORT: a USB device on QEMU's usb-redir\n"
		"  --storage nand|emmc    storage type (default nand)\n"
		"  --image FILE           flash image, created sparse when missing (default: temporary)\n"
		"  --size N               storage size, K/M/G suffixes (NAND 512M, eMMC 4G;\n"
		"                         an existing image keeps its size)\n"
		"  --page-size N          NAND page = Firehose sector (default 4096)\n"
		"  --block-size N         NAND erase block (default 256K)\n"
		"  --bad-blocks LIST      NAND factory bad blocks, comma separated block numbers\n"
		"  --max-payload N        largest MaxPayloadSizeToTargetInBytes accepted (default 1M)\n"
		"  --serial N             Sahara serial number (decimal or 0x hex)\n"
		"  --imei IMEI            IMEI of a new image's NV store (default 356938035643809)\n"
		"  --final-ack-delay MS   quirk: wait before a program's final ACK\n"
		"  --log-flood N          quirk: N extra log lines after every response\n"
		"  --read-data-32         boot ROM requests with READ_DATA instead of READ_DATA_64\n"
		"  --sparse-erased        NAND: keep erased pages as file holes (fast, no disk; the\n"
		"                         file then reads 0x00 where the flash reads 0xFF)\n"
		"  --fault SPEC           inject a fault, repeatable: KIND[@TRIGGER][,param=value...]\n"
		"                         kinds: stall silence drop corrupt disconnect flood nak\n"
		"                         slowack badblock nohello halt (USB: STALL an endpoint);\n"
		"                         triggers: bytes=N (from hosts),\n"
		"                         op=N (N-th Firehose command), random[=bytes|op],seed=S,\n"
		"                         range=LO-HI, always; e.g. disconnect@bytes=20M,delay=1500\n"
		"                         nak@op=3,cmd=program  slowack@op=1,cmd=program,ms=65000\n"
		"  --link usb2|usb3|none  bus speed and latency model, with NAND program/erase\n"
		"                         times (default none: as fast as the transport)\n"
		"\n"
		"  --mode edl|normal      edl (default): the boot ROM on --listen; normal: the\n"
		"                         firmware runs with AT and DIAG ports, and the DIAG switch\n"
		"                         to EDL brings up the boot ROM on --listen (--listen diag:\n"
		"                         where the DIAG port was, as a USB path stays the same)\n"
		"  --listen-at SPEC       normal mode: the AT port\n"
		"  --listen-diag SPEC     normal mode: the DIAG port\n"
		"                         (usbredir for both: interfaces of a USB EC25, 2c7c:0125)\n"
		"  --diag-noise N         normal mode: unsolicited log/event packets before N of\n"
		"                         1000 DIAG answers (default 20; 0 = none)\n"
		"  --rootfs DIR           normal mode, DFOTA: the module's root file system, updated\n"
		"                         in place by AT+QFOTADL (default IMAGE.rootfs/)\n"
		"  --partitions DIR       ... and its partitions, one file each (IMAGE.partitions/)\n"
		"  --ufs-size N           user file system for AT+QFUPL (IMAGE.ufs/, default 64M)\n"
		"  --fault fota-powercut@op=N | fota-powercut@random,seed=S[,range=LO-HI]\n"
		"                         power lost at the updater's N-th I/O operation (repeatable:\n"
		"                         one per recovery run); fota-nospace[,bytes=N]: cache full\n"
		"\n"
		"docs/emulator.md describes the device and its fidelity choices.\n");
}

/* "4096", "256K", "512M", "4G", "1MiB" -> bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mult = 1;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mult = 1ull << 10; break;
		case 'm': case 'M': mult = 1ull << 20; break;
		case 'g': case 'G': mult = 1ull << 30; break;
		default: return -1;
		}
		end++;
		if (*end == 'i' && end[1] == 'B')
			end += 2;
		else if (*end == 'B')
			end++;
		if (*end)
			return -1;
	}
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_size(s, &v) < 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_bad_blocks(const char *s, uint32_t *list, size_t *n)
{
	*n = 0;
	while (*s) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || v > UINT32_MAX || *n >= MAX_BAD_BLOCKS)
			return -1;
		list[(*n)++] = (uint32_t)v;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return 0;
}

static const char *geometry(char *buf, size_t cap, const struct mfw_emu_config *cfg)
{
	char size[32];

	cli_bytes(size, sizeof(size), (double)cfg->size);
	if (cfg->storage == MFW_EMU_NAND)
		snprintf(buf, cap, "NAND %s, p%uK_b%uK", size, cfg->page_size / 1024,
			 cfg->block_size / 1024);
	else
		snprintf(buf, cap, "eMMC %s, %u-byte sectors", size, cfg->sector_size);
	return buf;
}

/* Normal mode: one line per boot and per switch to EDL, so scripts can follow the ports. */
static void normal_event(void *user, const struct mfw_emu_event *ev)
{
	struct cli *cli = user;
	char e1[600], e2[600];

	if (ev->kind == MFW_EMU_EVENT_NORMAL) {
		if (cli->json)
			cli_json_event(cli, "normal", "\"at\":%s,\"diag\":%s",
				       cli_json_str(e1, sizeof(e1), ev->at),
				       cli_json_str(e2, sizeof(e2), ev->diag));
		else
			printf("normal mode: AT on %s, DIAG on %s\n", ev->at, ev->diag);
	} else {
		if (cli->json)
			cli_json_event(cli, "edl", "\"address\":%s",
				       cli_json_str(e1, sizeof(e1), ev->edl));
		else
			printf("switched to EDL: listening on %s\n", ev->edl);
	}
	fflush(stdout);
}

int cmd_emu(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "storage", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "size", required_argument, NULL, 'S' },
		{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
		{ "block-size", required_argument, NULL, OPT_BLOCK_SIZE },
		{ "bad-blocks", required_argument, NULL, OPT_BAD_BLOCKS },
		{ "max-payload", required_argument, NULL, OPT_MAX_PAYLOAD },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "imei", required_argument, NULL, OPT_IMEI },
		{ "final-ack-delay", required_argument, NULL, OPT_FINAL_ACK_DELAY },
		{ "log-flood", required_argument, NULL, OPT_LOG_FLOOD },
		{ "read-data-32", no_argument, NULL, OPT_READ_DATA_32 },
		{ "sparse-erased", no_argument, NULL, OPT_SPARSE_ERASED },
		{ "fault", required_argument, NULL, OPT_FAULT },
		{ "link", required_argument, NULL, OPT_LINK },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "listen-at", required_argument, NULL, OPT_LISTEN_AT },
		{ "listen-diag", required_argument, NULL, OPT_LISTEN_DIAG },
		{ "diag-noise", required_argument, NULL, OPT_DIAG_NOISE },
		{ "rootfs", required_argument, NULL, OPT_ROOTFS },
		{ "partitions", required_argument, NULL, OPT_PARTITIONS },
		{ "ufs-size", required_argument, NULL, OPT_UFS_SIZE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static uint32_t bad[MAX_BAD_BLOCKS];
	struct mfw_emu_config cfg;
	struct mfw_emu *emu;
	const char *listen = NULL, *image = NULL, *storage = "nand", *imei = NULL;
	const char *bad_list = NULL;
	uint64_t size = 0;
	uint32_t page = 0, block = 0, max_payload = 0, serial = 0, delay = 0, flood = 0;
	bool have_serial = false, read32 = false, sparse = false;
	bool normal = false, have_noise = false;
	const char *listen_at = NULL, *listen_diag = NULL;
	uint32_t noise = 0;
	const char *fota_rootfs = NULL, *fota_parts = NULL;
	uint64_t ufs_size = 0;
	size_t nbad = 0;
	static const char *faults[MAX_FAULTS];
	size_t nfaults = 0;
	enum mfw_emu_link link = MFW_EMU_LINK_NONE;
	char bound[256], geo[96];
	int c, r;

	while ((c = getopt_long(argc, argv, "l:s:i:h", longopts, NULL)) != -1) {
		int bad_arg = 0;

		switch (c) {
		case 'l': listen = optarg; break;
		case 's': storage = optarg; break;
		case 'i': image = optarg; break;
		case 'S': bad_arg = parse_size(optarg, &size) < 0 || !size; break;
		case OPT_PAGE_SIZE: bad_arg = parse_u32(optarg, &page) < 0; break;
		case OPT_BLOCK_SIZE: bad_arg = parse_u32(optarg, &block) < 0; break;
		case OPT_BAD_BLOCKS: bad_list = optarg; break;
		case OPT_MAX_PAYLOAD: bad_arg = parse_u32(optarg, &max_payload) < 0; break;
		case OPT_SERIAL:
			bad_arg = parse_u32(optarg, &serial) < 0;
			have_serial = true;
			break;
		case OPT_IMEI: imei = optarg; break;
		case OPT_FINAL_ACK_DELAY: bad_arg = parse_u32(optarg, &delay) < 0; break;
		case OPT_LOG_FLOOD: bad_arg = parse_u32(optarg, &flood) < 0; break;
		case OPT_READ_DATA_32: read32 = true; break;
		case OPT_SPARSE_ERASED: sparse = true; break;
		case OPT_FAULT:
			if (nfaults == MAX_FAULTS) {
				fprintf(stderr, "modemfw emu: at most %d --fault options\n", MAX_FAULTS);
				return EXIT_USAGE;
			}
			if (mfw_emu_fault_check(cli->ctx, optarg) < 0) {
				fprintf(stderr, "modemfw emu: %s\n", mfw_ctx_detail(cli->ctx));
				return EXIT_USAGE;
			}
			faults[nfaults++] = optarg;
			break;
		case OPT_LINK:
			if (!strcmp(optarg, "usb2"))
				link = MFW_EMU_LINK_USB2;
			else if (!strcmp(optarg, "usb3"))
				link = MFW_EMU_LINK_USB3;
			else if (!strcmp(optarg, "none"))
				link = MFW_EMU_LINK_NONE;
			else
				bad_arg = 1;
			break;
		case OPT_MODE:
			bad_arg = strcmp(optarg, "edl") && strcmp(optarg, "normal");
			normal = !strcmp(optarg, "normal");
			break;
		case OPT_LISTEN_AT: listen_at = optarg; break;
		case OPT_LISTEN_DIAG: listen_diag = optarg; break;
		case OPT_ROOTFS: fota_rootfs = optarg; break;
		case OPT_PARTITIONS: fota_parts = optarg; break;
		case OPT_UFS_SIZE: bad_arg = parse_size(optarg, &ufs_size) < 0 || !ufs_size; break;
		case OPT_DIAG_NOISE:
			bad_arg = parse_u32(optarg, &noise) < 0 || noise > 1000;
			have_noise = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (bad_arg) {
			fprintf(stderr, "modemfw emu: bad value '%s'\n", optarg);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !listen) {
		fprintf(stderr, "modemfw emu: %s\n",
			listen ? "unexpected argument" : "--listen SPEC is required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (normal != (listen_at && listen_diag) || (!normal && (listen_at || listen_diag))) {
		fprintf(stderr, "modemfw emu: %s\n",
			normal ? "--mode normal needs --listen-at SPEC and --listen-diag SPEC" :
				 "--listen-at and --listen-diag need --mode normal");
		return EXIT_USAGE;
	}
	if (strcasecmp(storage, "nand") && strcasecmp(storage, "emmc")) {
		fprintf(stderr, "modemfw emu: --storage must be nand or emmc, not '%s'\n", storage);
		return EXIT_USAGE;
	}
	mfw_emu_config_defaults(&cfg, strcasecmp(storage, "nand") ? MFW_EMU_EMMC : MFW_EMU_NAND);
	if (bad_list) {
		if (cfg.storage != MFW_EMU_NAND || parse_bad_blocks(bad_list, bad, &nbad) < 0) {
			fprintf(stderr, "modemfw emu: --bad-blocks takes NAND block numbers, "
				"comma separated\n");
			return EXIT_USAGE;
		}
		cfg.bad_blocks = bad;
		cfg.n_bad_blocks = nbad;
	}
	if (size) {
		cfg.size = size;
	} else if (image) {
		/* an existing image keeps its size unless told otherwise */
		struct stat sb;
		if (stat(image, &sb) == 0 && sb.st_size > 0)
			cfg.size = (uint64_t)sb.st_size;
	}
	if (page)
		cfg.page_size = page;
	if (block)
		cfg.block_size = block;
	if (max_payload)
		cfg.max_payload = max_payload;
	if (have_serial)
		cfg.serial = serial;
	if (imei)
		cfg.imei = imei;
	cfg.image_path = image;
	cfg.final_ack_delay_ms = delay;
	cfg.log_flood = flood;
	cfg.sahara_read_data_32 = read32;
	cfg.sparse_erased = sparse;
	cfg.faults = faults;
	cfg.nfaults = nfaults;
	cfg.link = link;
	if (normal) {
		cfg.mode = MFW_EMU_MODE_NORMAL;
		cfg.listen_at = listen_at;
		cfg.listen_diag = listen_diag;
		cfg.on_event = normal_event;
		cfg.event_user = cli;
	}
	if (have_noise)
		cfg.diag_noise_permille = noise;
	cfg.fota_rootfs = fota_rootfs;
	cfg.fota_partitions = fota_parts;
	cfg.ufs_size = ufs_size;

	r = mfw_emu_new(cli->ctx, &cfg, &emu);
	if (r < 0)
		return cli_report_error(cli, r, image ? image : "virtual modem");
	geometry(geo, sizeof(geo), &cfg);
	if (normal) {
		/* the ports open inside serve; normal_event prints each boot and switch */
		if (cli->json) {
			char esc1[300], esc2[200];
			cli_json_event(cli, "started", "\"storage\":%s,\"mode\":\"normal\",\"image\":%s",
				       cli_json_str(esc2, sizeof(esc2), geo),
				       image ? cli_json_str(esc1, sizeof(esc1), image) : "null");
		} else {
			printf("virtual modem (%s) in normal mode, image %s\n", geo,
			       image ? image : "(temporary)");
		}
		fflush(stdout);
		cli_install_signals(cli);
		r = mfw_emu_serve(emu, listen);
		mfw_emu_free(emu);
		if (r < 0)
			return cli_report_error(cli, r, "virtual modem");
		return 0;
	}
	r = mfw_emu_listen(emu, listen, bound, sizeof(bound));
	if (r < 0) {
		mfw_emu_free(emu);
		return cli_report_error(cli, r, listen);
	}
	if (cli->json) {
		char esc1[600], esc2[300], esc3[200];
		cli_json_event(cli, "listening", "\"storage\":%s,\"address\":%s,\"image\":%s",
			       cli_json_str(esc3, sizeof(esc3), geo),
			       cli_json_str(esc1, sizeof(esc1), bound),
			       image ? cli_json_str(esc2, sizeof(esc2), image) : "null");
	} else {
		printf("virtual modem (%s) listening on %s, image %s\n", geo, bound,
		       image ? image : "(temporary)");
	}
	fflush(stdout);
	cli_install_signals(cli);
	r = mfw_emu_serve(emu, NULL);
	mfw_emu_free(emu);
	if (r < 0)
		return cli_report_error(cli, r, "virtual modem");
	return 0;
}
