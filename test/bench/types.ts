/**
 * What a workload is and what it gets: a context (where the server is, how long it may run, a
 * path prefix of its own, a way to open clients that are closed for it whatever happens) and
 * the result it hands back. A workload that finds something wrong throws VerificationError:
 * a fast wrong number is worse than no number.
 */
import type { CoordClient } from '../../client/index.ts';
import type { LatencySummary } from './stats.ts';

export interface BenchContext {
  /** ws://host:port of the server (or of one node of the cluster given by --url). */
  url: string;
  /** The server child's pid, or null when the bench was pointed at a server with --url. */
  serverPid: number | null;
  /** The processes whose CPU counts as the server's: the server, or every cluster member (none with --url). */
  cpuPids: readonly number[];
  /** The measuring time this workload may use (each workload is also bounded in count). */
  durationMs: number;
  /** A path prefix no other workload or run uses, e.g. /bench/r1-ab12cd. */
  prefix: string;
  /** Connects `n` clients in parallel; they are closed after the workload however it ends. */
  connect(n: number, options?: { sessionTtlMs?: number }): Promise<CoordClient[]>;
  /** Progress line on stderr. */
  log(message: string): void;
}

export interface WorkloadResult {
  /** Operations measured (what ops/s counts; each workload says what one op is). */
  ops: number;
  /** Wall time of the measured part. */
  elapsedMs: number;
  latency: LatencySummary | null;
  /** Workload-specific numbers, unit in the name (perSec, Ms, MiB, count). */
  extras: Record<string, number>;
  /** Things a reader of the table must know (a skipped measurement, a bound that was hit). */
  notes: string[];
}

export interface Workload {
  name: string;
  /** One line: what it does and what it measures. */
  describe: string;
  /** Needs the server's pid (skipped, with a note, under --url). */
  needsLocalServer?: boolean;
  run(ctx: BenchContext): Promise<WorkloadResult>;
}

/** The measurement is wrong or the server misbehaved: report it, never the number. */
export class VerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VerificationError';
  }
}

export function verify(condition: boolean, message: string): asserts condition {
  if (!condition) throw new VerificationError(message);
}
