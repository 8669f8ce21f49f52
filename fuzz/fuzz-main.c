/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stand-in for libFuzzer's main: runs LLVMFuzzerTestOneInput over every file
 * of the corpus directories given as arguments, then over a fixed number of
 * deterministic mutations of each (bit flips, truncations, length-field
 * smashing), so the parsers see hostile input in every `make test` run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mutate_and_run(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 16);
	if (!buf)
		return;
	for (int round = 0; round < 200; round++) {
		size_t n = size;
		memcpy(buf, data, size);
		switch (round % 4) {
		case 0: /* flip a few bits */
			for (int k = 0; k < 1 + round % 7 && n; k++)
				buf[next_rand() % n] ^= (uint8_t)(1u << (next_rand() % 8));
			break;
		case 1: /* truncate */
			n = n ? next_rand() % n : 0;
			break;
		case 2: /* smash bytes with extreme values */
			for (int k = 0; k < 4 && n; k++)
				buf[next_rand() % n] = (next_rand() & 1) ? 0xFF : 0x80;
			break;
		case 3: /* extend with noise */
			for (int k = 0; k < 16; k++)
				buf[n++] = (uint8_t)next_rand();
			break;
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	free(buf);
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc(size > 0 ? (size_t)size : 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	mutate_and_run(data, (size_t)size);
	free(data);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *de;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "fuzz: cannot stat %s\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			files += run_file(argv[i]) == 0;
			continue;
		}
		d = opendir(argv[i]);
		while (d && (de = readdir(d))) {
			char path[4096];
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			files += run_file(path) == 0;
		}
		if (d)
			closedir(d);
	}
	printf("ran %d corpus files (+200 mutations each)\n", files);
	return files > 0 ? 0 : 1;
}
