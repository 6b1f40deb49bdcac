/**
 * Issue 12's targets, each against the figure this bench measured (medians of the runs): met,
 * missed, or not measured here. The ones stated against ZooKeeper are ratios measured side by
 * side on the same machine with ../shared/peerbench (scripts/ratio.sh WORKLOAD zk1|zk3 FACTOR):
 * absolute figures on a shared machine drift between runs, ratios taken alternately do not.
 * Those rows print the command that measures them instead of a verdict.
 */
import type { Row } from './report.ts';

interface Target {
  workload: string;
  /** What is asked, in words. */
  goal: string;
  /** One node, three nodes, or either. */
  topology: 'single' | 'cluster' | 'any';
  /** The figure and whether it meets the goal; null: measured elsewhere (peerbench). */
  judge(row: Row): { figure: string; met: boolean } | null;
  /** For a ratio against ZooKeeper: the peerbench command that measures it. */
  peerbench?: string;
}

const fmt = (x: number, unit = '') => `${Math.round(x).toLocaleString('en-US')}${unit}`;

const TARGETS: Target[] = [
  { workload: 'seq-set', goal: 'sequential durable SET p50 under 0.4 ms', topology: 'single',
    judge: (r) => ({ figure: `p50 ${r.p50Ms.toFixed(2)} ms`, met: r.p50Ms < 0.4 }) },
  { workload: 'seq-set', goal: 'sequential SET at least 1.5 × ZooKeeper', topology: 'single', judge: () => null,
    peerbench: 'scripts/ratio.sh seq-put zk1 1.5' },
  { workload: 'concurrent-set', goal: 'concurrent durable SET ≥ 30,000/s, p99 under 10 ms', topology: 'single',
    judge: (r) => ({ figure: `${fmt(r.opsPerSec, '/s')}, p99 ${r.p99Ms.toFixed(1)} ms`, met: r.opsPerSec >= 30_000 && r.p99Ms < 10 }) },
  { workload: 'concurrent-set', goal: 'concurrent durable SET ≥ 5 × ZooKeeper on three nodes', topology: 'cluster', judge: () => null,
    peerbench: 'PEERBENCH=<copy> test/bench/peerbench-cluster.sh conc-put zk3 (need ≥ 5)' },
  { workload: 'cas', goal: 'contended compare-and-set ≥ 5 × ZooKeeper\'s successes', topology: 'any', judge: () => null,
    peerbench: 'scripts/ratio.sh cas-hot zk1 5' },
  { workload: 'lock-handoff', goal: 'lock hand-offs ≥ 1,000/s', topology: 'single',
    judge: (r) => ({ figure: fmt(r.opsPerSec, '/s'), met: r.opsPerSec >= 1000 }) },
  { workload: 'concurrent-get', goal: 'linearizable GET ≥ 60,000/s', topology: 'single',
    judge: (r) => ({ figure: fmt(r.opsPerSec, '/s'), met: r.opsPerSec >= 60_000 }) },
  { workload: 'memory', goal: 'RSS under 150 MiB with 100,000 keys of 256 bytes', topology: 'single',
    judge: (r) => (r.extras['rssKeysMiB'] === undefined ? null
      : { figure: `${r.extras['rssKeysMiB'].toFixed(0)} MiB`, met: r.extras['rssKeysMiB'] < 150 }) },
];

/** The targets table for the workloads measured, one node or a cluster. */
export function formatTargets(rows: Row[], cluster: boolean): string {
  const lines: string[][] = [];
  for (const t of TARGETS) {
    if (t.topology === (cluster ? 'single' : 'cluster')) continue;
    const row = rows.find((r) => r.workload === t.workload && r.status === 'ok');
    if (row === undefined) continue;
    const verdict = t.judge(row);
    if (verdict === null) {
      lines.push([t.goal, `${fmt(row.opsPerSec, '/s')} here`, `ratio: ${t.peerbench ?? 'peerbench'}`]);
    } else {
      lines.push([t.goal, verdict.figure, verdict.met ? 'met' : 'MISSED']);
    }
  }
  if (lines.length === 0) return '';
  const widths = [0, 1, 2].map((i) => Math.max(...lines.map((l) => l[i]!.length)));
  const body = lines.map((l) => l.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  return `targets (issue 12; ratios to ZooKeeper come from ../shared/peerbench, run from this repo with COORD_REPO=$PWD):\n${body.join('\n')}\n`;
}
