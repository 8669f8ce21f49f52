# SPDX-License-Identifier: BSD-3-Clause
"""Replace one "## Title" section of a Markdown file (docs/benchmarks.md) with
new text, leaving every other section as it is; the file is re-read right
before writing (other benchmarks own the other sections) and replaced
atomically. A missing section is appended."""
import os
import re


def replace_section(md, title, section):
    text = open(md).read() if os.path.exists(md) else "# Benchmarks\n"
    m = re.search(r"(?m)^## " + re.escape(title) + r"\n", text)
    if m:
        nxt = re.search(r"(?m)^## ", text[m.end():])
        end = m.end() + nxt.start() if nxt else len(text)
        text = text[:m.start()] + section + ("\n" if nxt else "") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = "%s.%d.tmp" % (md, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, md)
