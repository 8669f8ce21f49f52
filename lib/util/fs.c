/* SPDX-License-Identifier: BSD-3-Clause */
#include "util/fs.h"
#include "core/core.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

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
