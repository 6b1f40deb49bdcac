/**
 * Results out: one row per workload (ops, ops/s, p50, p99, max and the workload's extras),
 * medians across runs, the machine the numbers came from, and the JSON file.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, platform } from 'node:os';
import { dirname, resolve } from 'node:path';
import { median } from './stats.ts';
import type { WorkloadResult } from './types.ts';

const repoRoot = resolve(import.meta.dirname, '../..');

export interface RunOutcome {
  run: number;
  ok: boolean;
  skipped: boolean;
  result: WorkloadResult | null;
  error: string | null;
  /** The machine's 1-minute load average when the workload started (it is a shared machine). */
  loadAvgBefore: number;
}

export interface Row {
  workload: string;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  extras: Record<string, number>;
  notes: string[];
  /** "ok", "skipped", or "FAILED (k of n runs)". */
  status: string;
}

/** The commit measured, and whether the server's sources differed from it. */
function gitInfo(): { commit: string; dirty: boolean } | null {
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return {
      commit: git(['rev-parse', 'HEAD']),
      dirty: git(['status', '--porcelain', '--', 'server', 'protocol', 'client', 'bin', 'package.json']) !== '',
    };
  } catch {
    return null;
  }
}

export function machineInfo() {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpuCount: list.length,
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    os: `${platform()} ${release()}`,
    date: new Date().toISOString(),
    git: gitInfo(),
  };
}

export function rowOf(workload: string, outcome: RunOutcome): Row {
  const r = outcome.result;
  return {
    workload,
    ops: r?.ops ?? Number.NaN,
    opsPerSec: r !== null ? r.ops / (r.elapsedMs / 1000) : Number.NaN,
    p50Ms: r?.latency?.p50Ms ?? Number.NaN,
    p99Ms: r?.latency?.p99Ms ?? Number.NaN,
    maxMs: r?.latency?.maxMs ?? Number.NaN,
    extras: r?.extras ?? {},
    notes: r?.notes ?? [],
    status: outcome.skipped ? 'skipped' : outcome.ok ? 'ok' : 'FAILED',
  };
}

/** The median of each number over the runs that succeeded. */
export function medianRow(workload: string, outcomes: RunOutcome[]): Row {
  const good = outcomes.filter((o) => o.ok && !o.skipped).map((o) => rowOf(workload, o));
  const failed = outcomes.filter((o) => !o.ok).length;
  const skipped = outcomes.every((o) => o.skipped);
  const m = (f: (r: Row) => number) => median(good.map(f));
  const extraKeys = [...new Set(good.flatMap((r) => Object.keys(r.extras)))];
  return {
    workload,
    ops: m((r) => r.ops),
    opsPerSec: m((r) => r.opsPerSec),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    maxMs: m((r) => r.maxMs),
    extras: Object.fromEntries(extraKeys.map((k) => [k, m((r) => r.extras[k] ?? Number.NaN)])),
    notes: [...new Set(outcomes.flatMap((o) => o.result?.notes ?? []))],
    status: skipped ? 'skipped: needs the server pid (not with --url)' : failed > 0 ? `FAILED (${failed} of ${outcomes.length} runs)` : 'ok',
  };
}

function num(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '-';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ms(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
}

function extra(key: string, v: number): string {
  const shown = key.endsWith('Ms') ? ms(v) : key.endsWith('Pct') || key.endsWith('MiB') || key.startsWith('attempts') ? num(v, 1) : num(v);
  return `${key}=${shown}`;
}

export function formatTable(rows: Row[]): string {
  const header = ['workload', 'ops', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'extras'];
  const body = rows.map((r) => {
    const extras = Object.entries(r.extras).map(([k, v]) => extra(k, v)).join(' ');
    const status = r.status === 'ok' ? '' : r.status;
    return [r.workload, num(r.ops), num(r.opsPerSec), ms(r.p50Ms), ms(r.p99Ms), ms(r.maxMs),
      [status, extras, ...r.notes.map((n) => `(${n})`)].filter((s) => s !== '').join(' ')];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells
    .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
    .join('  ')
    .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** JSON has no NaN: unknown numbers are written as null. */
export function writeJson(file: string, data: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(data, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
}
