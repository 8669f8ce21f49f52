/* SPDX-License-Identifier: BSD-3-Clause */
#include "util/fs.h"
#include "core/core.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mfw_mkdir_p(struct mfw_ctx *ctx, const char *dir, mode_t mode)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (!n || n >= sizeof(tmp))
		return mfw_fail(ctx, MFW_E_RANGE, "directory path too long or empty: '%s'", dir);
	memcpy(tmp, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return mfw_fail(ctx, MFW_E_IO, "cannot create directory '%s': %s", tmp,
					strerror(errno));
		tmp[i] = i < n ? '/' : '\0';
	}
	return 0;
}

int mfw_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return MFW_E_IO;
		if (n == 0)
			return MFW_E_RANGE;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int mfw_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ENOSPC ? MFW_E_NOSPC : MFW_E_IO;
		p += (size_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int mfw_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ENOSPC ? MFW_E_NOSPC : MFW_E_IO;
		if (n == 0)
			return MFW_E_NOSPC;
		p += (size_t)n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}
