# SPDX-License-Identifier: BSD-3-Clause
"""Deterministic inputs for the delta tests: a banded "old" file and an edited copy.

banded(r, n, spread, band, bands, step): n bytes, r.randrange(spread) plus
step times the band (i // band % bands): areas of different statistics, like
code and data.

edited(r, old, every, insert, delete, change, insert_max, delete_max,
       run_max, step): old with random edits. At each point one draw of
r.randrange(every) decides: below insert, up to insert_max random bytes are
inserted (then a run is copied); below delete, up to delete_max bytes of old
are skipped; below change, one byte is copied plus step; otherwise a run of
1..run_max bytes is copied.
"""


def banded(r, n, spread, band, bands, step):
    return bytes(r.randrange(spread) + (i // band % bands) * step for i in range(n))


def edited(r, old, every, insert, delete, change, insert_max, delete_max, run_max, step):
    new = bytearray()
    i = 0
    while i < len(old):
        x = r.randrange(every)
        if x < insert:
            new += bytes(r.randrange(256) for _ in range(r.randrange(insert_max)))
        elif x < delete:
            i += r.randrange(delete_max)
            continue
        elif x < change:
            new.append((old[i] + step) & 255)
            i += 1
            continue
        n = 1 + r.randrange(run_max)
        new += old[i:i + n]
        i += n
    return new
