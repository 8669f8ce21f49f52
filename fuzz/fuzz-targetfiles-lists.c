/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The targetfiles list parsers on hostile text: the path lists (fullota /
 * noota), the permissions list (chmod.txt) and filesystem_config.txt. The
 * same bytes go through all three; whatever a parser accepts must be clean
 * (no "..", not absolute, modes within 07777) and usable by the lookups.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "dfota/targetfiles.h"

static void check_path(const char *p)
{
	size_t n = strlen(p);

	assert(n > 0 && p[0] != '/');
	assert(!strstr(p, "/../") && strncmp(p, "../", 3) && strcmp(p, ".."));
	assert(!strstr(p, "//"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct mfw_tf_paths paths;
	struct mfw_tf_perms perms;
	uint32_t mode, uid, gid;

	if (mfw_tf_parse_paths(NULL, "fuzz", text, size, &paths) == 0) {
		for (size_t i = 0; i < paths.n; i++) {
			check_path(paths.v[i]);
			assert(mfw_tf_paths_match(&paths, paths.v[i]) ||
			       paths.v[i][strlen(paths.v[i]) - 1] == '/');
		}
		(void)mfw_tf_paths_match(&paths, "usr/bin/app");
		mfw_tf_paths_free(&paths);
	}
	if (mfw_tf_parse_perms(NULL, "fuzz", text, size, &perms) == 0) {
		for (size_t i = 0; i < perms.n; i++) {
			check_path(perms.v[i].path);
			assert(perms.v[i].mode <= 07777 && perms.v[i].dmode <= 07777);
			assert(mfw_tf_perms_lookup(&perms, perms.v[i].path, false, &mode, &uid, &gid));
			assert(mode <= 07777);
		}
		mfw_tf_perms_free(&perms);
	}
	if (mfw_tf_parse_fs_config(NULL, "fuzz", text, size, &perms) == 0) {
		for (size_t i = 0; i < perms.n; i++) {
			check_path(perms.v[i].path);
			assert(perms.v[i].mode <= 07777);
		}
		(void)mfw_tf_perms_lookup(&perms, "etc/x", true, &mode, &uid, &gid);
		mfw_tf_perms_free(&perms);
	}
	return 0;
}
