/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef MFW_CLI_H
#define MFW_CLI_H

/*
 * The tool: owns output (progress bars, colours, --json), confirmations and
 * exit codes. It includes only the public API (include/modemfw/).
 */
#include <modemfw/modemfw.h>
#include <stdbool.h>
#include <stdio.h>

/* Exit codes: stable, documented in docs/cli.md. */
enum cli_exit {
	EXIT_OK_ = 0,
	EXIT_FAILURE_ = 1,     /* operation failed (device, I/O, verify) */
	EXIT_USAGE = 2,        /* bad command line */
	EXIT_BAD_INPUT = 3,    /* malformed package/patch/file; nothing was changed */
	EXIT_NODEV = 4,        /* no device / port could not be opened */
	EXIT_TIMEOUT = 5,      /* device stopped answering (stall, silence) */
	EXIT_REFUSED = 6,      /* refused by policy (protected partition, wrong device) */
	EXIT_VERIFY = 7,       /* written data does not match */
	EXIT_CANCELLED = 130,  /* Ctrl-C */
};

struct cli {
	struct mfw_ctx *ctx;
	bool json;
	int verbose;   /* -v count */
	bool quiet;
	bool tty;      /* stderr is a terminal: draw bars */
	const char *prog;
};

typedef int (*cli_cmd_fn)(struct cli *cli, int argc, char **argv);

/*
 * cli/global.c, shared by the full tool and the lean front (docs/cli.md, "Two programs"):
 * take the global options (-v, --verbose, -vv, -q, --quiet, --json) from argv[1] on and
 * return the index of the first argument that is not one of them (the command, another
 * option such as --help, or argc).
 */
int cli_global_options(struct cli *cli, int argc, char **argv);
/* Create the context (log to stderr or JSON, level from -v/-q), run fn(argc, argv), free it. */
int cli_run(struct cli *cli, cli_cmd_fn fn, int argc, char **argv);

/* Map a library error to an exit code. */
int cli_exit_for(int err);
/* Print "modemfw: <what>: <detail or strerror>" (or a JSON error object) and return the exit code. */
int cli_report_error(struct cli *cli, int err, const char *what);
/* Emit one JSON line: {"event":EVENT, ...extra} where extra is already-formatted "\"k\":v" pairs (may be NULL). */
void cli_json_event(struct cli *cli, const char *event, const char *extra_fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* JSON string escaping into buf. */
const char *cli_json_str(char *buf, size_t cap, const char *s);
/* Install SIGINT/SIGTERM handlers that call mfw_ctx_cancel() (second Ctrl-C forces). */
void cli_install_signals(struct cli *cli);
/* Human byte count: "37.5 MiB". */
const char *cli_bytes(char *buf, size_t cap, double bytes);

/* Progress renderer installed on cli->ctx (bar on a tty, JSON lines with --json). */
void cli_progress_begin(struct cli *cli);
void cli_progress_end(struct cli *cli);

/* Subcommands: one file each (cli/cmd-<verb>.c). */
int cmd_flash(struct cli *cli, int argc, char **argv);
int cmd_info(struct cli *cli, int argc, char **argv);
int cmd_emu(struct cli *cli, int argc, char **argv);
int cmd_delta(struct cli *cli, int argc, char **argv);
int cmd_diag(struct cli *cli, int argc, char **argv);
int cmd_edl(struct cli *cli, int argc, char **argv);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
/* Discovery and AT (issue 7): cli/cmd-devices.c, cli/cmd-at.c. */
int cmd_devices(struct cli *cli, int argc, char **argv);
int cmd_at(struct cli *cli, int argc, char **argv);
int cmd_dfota(struct cli *cli, int argc, char **argv);
/* `modemfw dfota apply ...` (argv[0] = "apply"): cli/cmd-dfota-apply.c; cmd_dfota() dispatches. */
int dfota_apply_main(struct cli *cli, int argc, char **argv);
/* `modemfw dfota send ...` (argv[0] = "send"): cli/cmd-dfota-send.c; cmd_dfota() dispatches. */
int dfota_send_main(struct cli *cli, int argc, char **argv);
struct mfw_device_opts;
/* Fill discovery options (root/dev_dir may be NULL) and the D-Bus address from the environment. */
void cli_device_opts(struct cli *cli, struct mfw_device_opts *o, const char *root,
		     const char *dev_dir, bool no_inhibit);
/* info on a module in normal mode, over AT: the exit code, or -1 when spec is not one (EDL path). */
int cli_info_normal(struct cli *cli, const char *spec);
/*
 * modemfw edl around the DIAG switch (cli/cmd-devices.c): begin resolves -p auto to the DIAG
 * port, snapshots sysfs and inhibits ModemManager; end (always called, NULL-safe) waits for
 * 05c6:9008 (bounded) when the switch succeeded and says where it is, then releases.
 */
struct cli_edl_watch;
int cli_edl_watch_begin(struct cli *cli, const char **spec, struct cli_edl_watch **ret);
int cli_edl_watch_end(struct cli *cli, struct cli_edl_watch *w, int result);
/*
 * Open a DIAG port for diag/edl/backup/restore (cli/cmd-diag.c): 0, a
 * negative library error, or a positive exit code after a usage message
 * (no -p, or -p emu, which has no DIAG port yet).
 */
struct cli_port;
int cli_diag_port_open(struct cli *cli, const char *spec, struct cli_port *port);
/* Whole-string unsigned number (0x.. accepted) up to max; no sign. (cli/cmd-diag.c) */
bool cli_parse_ulong(const char *s, unsigned long max, unsigned long *out);

#endif
