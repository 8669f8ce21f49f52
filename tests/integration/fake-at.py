#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A module's AT port on a pty, for the ModemManager tests.

fake-at.py LINK LOG ANSWERS [--unknown silent|error] [--mm-log FILE] [--seconds N]

LINK becomes a symlink to the pty's slave side (what modemfw opens as the
AT port). ANSWERS is a JSON object: command (without CR) -> the exact reply,
echo included when the port echoes. A command not in it gets no answer
(silent: a hung module) or "ERROR". LOG gets "ready", then one line per
command: "cmd <command>", followed by "held" or "NOT-HELD" with --mm-log,
which says whether the fake ModemManager's log shows the modem inhibited
(an inhibit, no release yet) when the command arrived.
"""
import argparse, json, os, pty, select, time

ap = argparse.ArgumentParser()
ap.add_argument("link")
ap.add_argument("log")
ap.add_argument("answers")
ap.add_argument("--unknown", choices=("silent", "error"), default="silent")
ap.add_argument("--mm-log")
ap.add_argument("--seconds", type=float, default=100)
a = ap.parse_args()
answers = {k.encode(): v.encode() for k, v in json.load(open(a.answers)).items()}


def held():
    try:
        t = open(a.mm_log).read()
    except OSError:
        return False
    return " true " in t and " false " not in t


master, slave = pty.openpty()
os.symlink(os.ttyname(slave), a.link)
buf = b""
end = time.time() + a.seconds
with open(a.log, "a", buffering=1) as lf:
    lf.write("ready\n")
    while time.time() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if not r:
            continue
        try:
            buf += os.read(master, 256)
        except OSError:
            time.sleep(0.05)  # the host closed the slave; we keep ours open
            continue
        while b"\r" in buf:
            cmd, buf = buf.split(b"\r", 1)
            note = (" held" if held() else " NOT-HELD") if a.mm_log else ""
            lf.write("cmd %s%s\n" % (cmd.decode(errors="replace"), note))
            if cmd in answers:
                os.write(master, answers[cmd])
            elif a.unknown == "error":
                os.write(master, b"\r\nERROR\r\n")
