/* SPDX-License-Identifier: BSD-3-Clause */
#include "cli.h"

#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_exit_for(int err)
{
	switch (err) {
	case MFW_OK:
		return EXIT_OK_;
	case MFW_E_FORMAT:
	case MFW_E_RANGE:
	case MFW_E_NOENT:
		return EXIT_BAD_INPUT;
	case MFW_E_NODEV:
	case MFW_E_BUSY:
		return EXIT_NODEV;
	case MFW_E_TIMEOUT:
		return EXIT_TIMEOUT;
	case MFW_E_PROTECTED:
	case MFW_E_MISMATCH:
		return EXIT_REFUSED;
	case MFW_E_VERIFY:
		return EXIT_VERIFY;
	case MFW_E_CANCELLED:
		return EXIT_CANCELLED;
	case MFW_E_INVAL:
		return EXIT_USAGE;
	default:
		return EXIT_FAILURE_;
	}
}

const char *cli_json_str(char *buf, size_t cap, const char *s)
{
	size_t o = 0;
	if (cap < 3) {
		if (cap)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (; s && *s && o + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

void cli_json_event(struct cli *cli, const char *event, const char *extra_fmt, ...)
{
	char extra[4096] = "";
	va_list ap;
	(void)cli;
	if (extra_fmt) {
		va_start(ap, extra_fmt);
		vsnprintf(extra, sizeof(extra), extra_fmt, ap);
		va_end(ap);
	}
	printf("{\"event\":\"%s\"%s%s}\n", event, extra[0] ? "," : "", extra);
	fflush(stdout);
}

int cli_report_error(struct cli *cli, int err, const char *what)
{
	const char *detail = mfw_ctx_detail(cli->ctx);
	int code = cli_exit_for(err);
	char a[512], b[2048];
	if (!what)
		what = "auto";
	if (!detail || !detail[0])
		detail = mfw_strerror(err);
	if (cli->json) {
		cli_json_event(cli, "error", "\"what\":%s,\"error\":\"%s\",\"detail\":%s,\"exit\":%d",
			       cli_json_str(a, sizeof(a), what), mfw_error_name(err),
			       cli_json_str(b, sizeof(b), detail), code);
	} else {
		if (cli->tty)
			fputs("\r\033[K", stderr);
		fprintf(stderr, "modemfw: %s: %s\n", what, detail);
	}
	return code;
}

const char *cli_bytes(char *buf, size_t cap, double bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024.0 && u < 4) {
		bytes /= 1024.0;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
	return buf;
}

static struct mfw_ctx *signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_ctx) {
		mfw_ctx_cancel(signal_ctx);
		/* a second Ctrl-C forces: leave now, the journal is already on disk */
		if (mfw_ctx_cancel_count(signal_ctx) >= 2)
			_exit(EXIT_CANCELLED);
	}
}

void cli_install_signals(struct cli *cli)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	signal_ctx = cli->ctx;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
