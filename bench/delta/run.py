#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Delta benchmark: modemfw (BSDIFF40), modemfw-best (BSDIFF40, --best), modemfw-z (modemfw's MFWZ container:
zstd segments, resumable apply) beside bsdiff 4.3, xdelta3 -9 and zstd -19
--patch-from, in the same run, on the corpus fetched by fetch-corpus.sh. The
targets (second table) are judged on the BSDIFF40 row.

For every pair and tool: patch size, diff wall time and peak RSS, apply wall
time and peak RSS (GNU time), CPU time; every apply is checked byte for byte
against new. Each step runs 7 times on inputs below 16 MiB, 3 times below
64 MiB, once above, and the fastest run is kept, as the machine may be shared;
the runs go round the tools (modemfw, bsdiff, ..., modemfw, bsdiff, ...) so
that a change of machine speed during a pair weighs on every tool alike.

  sudo sh bench/delta/fetch-corpus.sh
  nice python3 bench/delta/run.py [--pairs esbuild,libcrypto,image,modules]
                                  [--tools modemfw,modemfw-best,modemfw-z,bsdiff,xdelta3,zstd]
                                  [--modemfw PATH] [--out bench/delta/work] [--repeat N]

Writes OUT/results.json and OUT/results.md (the table in docs/benchmarks.md).
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PAIRS = ['esbuild', 'libcrypto', 'image', 'modules']
DESC = {
    'esbuild': '@esbuild/linux-arm 0.25.0 → 0.25.1 bin/esbuild',
    'libcrypto': 'libssl3 armhf 3.0.17 → 3.0.20 libcrypto.so.3',
    'image': 'linux-image 6.1.0-47 → -50 armmp, decompressed Image',
    'modules': 'same, tar of lib/modules/<ver>',
}


def run(argv, out_dir):
    """Run argv under GNU time; return (exit status, wall s, peak RSS bytes, CPU s).

    Not wait4() from here: Python starts children with vfork(), and the
    kernel then charges this interpreter's own peak RSS to the child.
    """
    tf = os.path.join(out_dir, 'time.txt')
    t0 = time.monotonic()
    p = subprocess.run(['/usr/bin/time', '-f', '%e %M %U %S', '-o', tf] + argv,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    engine = None
    for line in p.stdout.decode(errors='replace').splitlines():
        if line.startswith('{') and '"seconds"' in line:
            engine = json.loads(line).get('seconds')
    dt = time.monotonic() - t0
    if p.returncode != 0:
        sys.stderr.write('  %s: exit %d: %s\n' % (' '.join(argv), p.returncode,
                                                  p.stderr.decode(errors='replace').strip()[-300:]))
    with open(tf) as f:
        last = f.read().strip().splitlines()[-1].split()
    return p.returncode, dt, int(last[1]) * 1024, float(last[2]) + float(last[3]), engine


def tools(modemfw):
    # (diff argv, apply argv) builders: o=old, n=new, p=patch, r=result
    return {
        # --json: the last line reports the engine's own time (without process start)
        'modemfw': (lambda o, n, p: [modemfw, '--json', 'delta', 'diff', o, n, p],
                    # --no-sync: like the other tools (modemfw syncs by default)
                    lambda o, p, r: [modemfw, '--json', 'delta', 'apply', '--no-sync', o, p, r]),
        # every bzip2 block size on every region: smaller, slower (not the default the targets judge)
        'modemfw-best': (lambda o, n, p: [modemfw, '--json', 'delta', 'diff', '--best', o, n, p],
                         lambda o, p, r: [modemfw, '--json', 'delta', 'apply', '--no-sync', o, p, r]),
        # the native container, default segment size and level; apply detects it by its magic
        'modemfw-z': (lambda o, n, p: [modemfw, '--json', 'delta', 'diff', '--format', 'mfwz', o, n, p],
                      lambda o, p, r: [modemfw, '--json', 'delta', 'apply', '--no-sync', o, p, r]),
        'bsdiff': (lambda o, n, p: ['bsdiff', o, n, p],
                   lambda o, p, r: ['bspatch', o, r, p]),
        'xdelta3': (lambda o, n, p: ['xdelta3', '-9', '-f', '-e', '-s', o, n, p],
                    lambda o, p, r: ['xdelta3', '-f', '-d', '-s', o, p, r]),
        # --long=31 on decode only raises the accepted window (the modules tar needs 2^28)
        'zstd': (lambda o, n, p: ['zstd', '-q', '-f', '-19', '--patch-from=' + o, n, '-o', p],
                 lambda o, p, r: ['zstd', '-q', '-f', '-d', '--long=31', '--patch-from=' + o, p, '-o', r]),
    }


def same(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, 'rb') as fa, open(b, 'rb') as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def build_modemfw(out):
    bdir = os.path.join(out, 'build')
    if not os.path.exists(os.path.join(bdir, 'build.ninja')):
        subprocess.check_call(['meson', 'setup', bdir, ROOT, '--buildtype=release', '-Dtests=false'],
                              stdout=subprocess.DEVNULL)
    subprocess.check_call(['ninja', '-C', bdir, 'cli/modemfw'], stdout=subprocess.DEVNULL)
    return os.path.join(bdir, 'cli', 'modemfw')


def fastest(runs):
    """The fastest run that succeeded (a failed one only when all failed)."""
    return min(runs, key=lambda x: (x[0] != 0, x[1]))


def mib(b):
    return '%.1f' % (b / 1048576.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pairs', default=','.join(PAIRS))
    ap.add_argument('--tools', default='modemfw,modemfw-best,modemfw-z,bsdiff,xdelta3,zstd')
    ap.add_argument('--modemfw')
    ap.add_argument('--corpus', default=os.path.join(HERE, 'corpus'))
    ap.add_argument('--out', default=os.path.join(HERE, 'work'))
    ap.add_argument('--repeat', type=int, default=0,
                    help='runs per step, fastest kept (default 7 below 16 MiB, 3 below 64 MiB, else 1)')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    modemfw = a.modemfw or build_modemfw(a.out)
    tl = tools(modemfw)
    results = []
    for pair in a.pairs.split(','):
        old = os.path.join(a.corpus, pair + '.old')
        new = os.path.join(a.corpus, pair + '.new')
        if not os.path.exists(old):
            sys.exit('%s missing: run bench/delta/fetch-corpus.sh first' % old)
        names = a.tools.split(',')
        for tool in names:
            if not tool.startswith('modemfw') and not shutil.which(tl[tool][0]('o', 'n', 'p')[0]):
                sys.exit('%s not installed (fetch-corpus.sh installs it)' % tool)
        patch = {t: os.path.join(a.out, '%s.%s.patch' % (pair, t)) for t in names}
        res = {t: os.path.join(a.out, '%s.%s.out' % (pair, t)) for t in names}
        reps = a.repeat or (7 if os.path.getsize(new) < (16 << 20) else
                            3 if os.path.getsize(new) < (64 << 20) else 1)
        # Round-robin: every repetition runs each tool once, so a machine that
        # speeds up or slows down during the pair weighs on all tools alike
        # (the targets are ratios); the fastest run of each tool is kept.
        diffs = {t: [] for t in names}
        for i in range(reps):
            for t in names:
                sys.stderr.write('%s %s: diff %d/%d\n' % (pair, t, i + 1, reps))
                diffs[t].append(run(tl[t][0](old, new, patch[t]), a.out))
        diff = {t: fastest(diffs[t]) for t in names}
        applies = {t: [] for t in names if diff[t][0] == 0}
        for i in range(reps):
            for t in applies:
                sys.stderr.write('%s %s: apply %d/%d\n' % (pair, t, i + 1, reps))
                applies[t].append(run(tl[t][1](old, patch[t], res[t]), a.out))
        for t in names:
            c1, dt, dm, dc, de = diff[t]
            c2, at, am, ac, ae = fastest(applies[t]) if t in applies else (1, 0, 0, 0, None)
            ok = c1 == 0 and c2 == 0 and same(res[t], new)
            r = dict(pair=pair, tool=t, old_size=os.path.getsize(old), new_size=os.path.getsize(new),
                     patch=os.path.getsize(patch[t]) if c1 == 0 else None, diff_s=dt, diff_rss=dm,
                     diff_cpu=dc, diff_engine_s=de, apply_s=at, apply_rss=am, apply_cpu=ac,
                     apply_engine_s=ae, ok=ok, runs=reps)
            results.append(r)
            sys.stderr.write('  %s\n' % json.dumps(r))
            for leftover in (res[t], res[t] + '.part', res[t] + '.part.state'):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    meta = dict(date=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), cpus=os.cpu_count(),
                machine=platform.machine(), load=os.getloadavg())
    with open(os.path.join(a.out, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, results=results), f, indent=1)

    # markdown: one table for all, then ratios of modemfw against bsdiff
    lines = ['| Pair | Tool | Patch (B) | % of new | Diff s | Diff CPU s | Diff peak MiB | Apply s | Apply peak MiB | Apply MB/s | OK |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for r in results:
        pct = 100.0 * r['patch'] / r['new_size'] if r['patch'] is not None and r['new_size'] else 0
        rate = r['new_size'] / r['apply_s'] / 1e6 if r['apply_s'] else 0
        lines.append('| %s | %s | %s | %.2f | %.2f | %.2f | %s | %.2f | %s | %.0f | %s |' % (
            r['pair'], r['tool'], r['patch'], pct, r['diff_s'], r['diff_cpu'], mib(r['diff_rss']), r['apply_s'],
            mib(r['apply_rss']), rate, 'yes' if r['ok'] else 'NO'))
    lines += ['', '| Pair | Patch vs bsdiff (≤ 0.90) | Diff time vs bsdiff (≤ 0.20) | (CPU time vs bsdiff) | Diff memory vs bsdiff (≤ 0.50) | Apply peak MiB (≤ 16) | Apply MB/s (≥ 150) | (in-process apply MB/s) | (--best patch vs bsdiff) |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|']
    by = {(r['pair'], r['tool']): r for r in results}
    for pair in a.pairs.split(','):
        m, b = by.get((pair, 'modemfw')), by.get((pair, 'bsdiff'))
        if not m or not b or not m['patch'] or not b['patch']:
            continue
        def mark(v, lim, le=True):
            good = v <= lim if le else v >= lim
            return '%.3f %s' % (v, 'met' if good else '**not met**') if lim < 10 else \
                '%.1f %s' % (v, 'met' if good else '**not met**')
        rate = m['new_size'] / m['apply_s'] / 1e6 if m['apply_s'] else 0
        erate = m['new_size'] / m['apply_engine_s'] / 1e6 if m.get('apply_engine_s') else 0
        mb = by.get((pair, 'modemfw-best'))
        best = '%.3f' % (mb['patch'] / b['patch']) if mb and mb['patch'] else '-'
        lines.append('| %s | %s | %s | %.3f | %s | %s | %s | %.0f | %s |' % (
            pair, mark(m['patch'] / b['patch'], 0.90), mark(m['diff_s'] / b['diff_s'], 0.20),
            m['diff_cpu'] / b['diff_cpu'] if b['diff_cpu'] else 0,
            mark(m['diff_rss'] / b['diff_rss'], 0.50), mark(m['apply_rss'] / 1048576.0, 16),
            mark(rate, 150, le=False), erate, best))
    lines += ['', 'Run: %s, %d CPUs (%s), load average at the end %.1f / %.1f / %.1f.' % (
        meta['date'], meta['cpus'], meta['machine'], *meta['load'])]
    md = '\n'.join(lines) + '\n'
    with open(os.path.join(a.out, 'results.md'), 'w') as f:
        f.write(md)
    sys.stdout.write(md)
    return 0 if all(r['ok'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
