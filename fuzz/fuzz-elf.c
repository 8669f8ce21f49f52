/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ELF reader, whole-file and stepwise as a PBL reads. Invariant on
 * success: every segment with file bytes lies inside the input; its bytes
 * are touched so ASan flags a bad bound.
 */
#include <stdint.h>
#include <stdlib.h>

#include <modemfw/error.h>
#include "fmt/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mfw_elf elf;
	volatile uint8_t x = 0;

	if (mfw_elf_parse(NULL, data, size, &elf) == 0) {
		for (size_t i = 0; i < elf.nphdr; i++) {
			const struct mfw_elf_phdr *ph = &elf.phdrs[i];

			if (!ph->filesz)
				continue;
			if (ph->offset > size || ph->filesz > size - ph->offset)
				abort();
			for (uint64_t k = 0; k < ph->filesz; k += 97)
				x ^= data[ph->offset + k];
		}
	}
	/* stepwise with an unknown file size: header bytes, then the table if present */
	if (mfw_elf_parse_header(NULL, data, size, 0, &elf) == 0 && elf.phoff <= size &&
	    mfw_elf_phdrs_size(&elf) <= size - elf.phoff)
		mfw_elf_parse_phdrs(NULL, &elf, data + elf.phoff, size - elf.phoff);
	(void)x;
	return 0;
}
