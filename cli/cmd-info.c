/* SPDX-License-Identifier: BSD-3-Clause */
#include "cli.h"
#include "port.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

int cmd_info(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mfw_edl_info info;
	struct cli_port port;
	const char *spec = "auto";
	char pk[129] = "";
	int c, r;

	while ((c = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		if (c == 'p') {
			spec = optarg;
		} else {
			printf("usage: modemfw info [-p PORT]\n\nShow what a module in EDL says about "
			       "itself (Sahara command mode: serial, MSM HW id, OEM PK hash);\n"
			       "in normal mode, over its AT port: model (ATI), firmware (AT+QGMR), "
			       "IMEI (AT+GSN).\n");
			return c == 'h' ? 0 : EXIT_USAGE;
		}
	}
	/* issue 7: a module in normal mode answers over its AT port (cli/cmd-at.c) */
	r = cli_info_normal(cli, spec);
	if (r >= 0)
		return r;
	r = cli_port_open(cli, spec, true, &port);
	if (r < 0)
		return cli_report_error(cli, r, spec);
	r = mfw_edl_info(cli->ctx, port.t, &info);
	cli_port_close(&port);
	if (r < 0)
		return cli_report_error(cli, r, "info");
	for (size_t i = 0; i < info.pk_hash_len && i < 64; i++)
		snprintf(pk + 2 * i, 3, "%02x", info.pk_hash[i]);
	if (cli->json) {
		cli_json_event(cli, "info",
			       "\"mode\":\"%s\",\"sahara_version\":%u,\"serial\":%s%08x%s,"
			       "\"hw_id\":%s%016" PRIx64 "%s,\"pk_hash\":\"%s\"",
			       info.firehose_running ? "firehose" : "sahara", info.sahara_version,
			       info.have_serial ? "\"" : "null", info.have_serial ? info.serial : 0,
			       info.have_serial ? "\"" : "", info.have_hw_id ? "\"" : "null",
			       info.have_hw_id ? info.hw_id : 0, info.have_hw_id ? "\"" : "", pk);
		return 0;
	}
	if (info.firehose_running) {
		printf("mode:     EDL, Firehose programmer already running\n"
		       "          (Sahara identity is only readable before a programmer starts;\n"
		       "           power-cycle the module to read it)\n");
		return 0;
	}
	printf("mode:     EDL (Sahara v%u)\n", info.sahara_version);
	if (info.have_serial)
		printf("serial:   0x%08x\n", info.serial);
	else
		printf("serial:   (not answered)\n");
	if (info.have_hw_id)
		printf("hw id:    0x%016" PRIx64 " (msm 0x%08x, oem 0x%04x, model 0x%04x)\n", info.hw_id,
		       (unsigned)(info.hw_id >> 32), (unsigned)((info.hw_id >> 16) & 0xffff),
		       (unsigned)(info.hw_id & 0xffff));
	else
		printf("hw id:    (not answered)\n");
	printf("pk hash:  %s\n", info.pk_hash_len ? pk : "(not answered)");
	return 0;
}
