/**
 * Values that shape the replicated state, so every replica must use the same ones: how much
 * history the store keeps (which revisions a read or a watch can still reach, and when a watch
 * gets TOO_LATE) and how many write results a session remembers for exactly-once retries (which
 * retry is answered from memory and which is applied again). They live in the store's state —
 * in every snapshot and changed only by a `settings` command in the log — never in constants or
 * flags each process reads for itself, which could differ between two versions or two command
 * lines in one cluster.
 *
 * A cluster takes its founder's values. A node started with explicit --history/--history-bytes
 * that differ proposes a `settings` command when it leads (node.ts), so a single node restarted
 * with new flags behaves as before; in a cluster the log decides, and a node whose flags
 * disagree says so in its log.
 */
import { limits } from '../../protocol/limits.ts';
import type { StoreOptions } from './store.ts';

export interface ReplicatedSettings {
  /** Revisions of history kept (reads and waits at older revisions get TOO_LATE). */
  historyRevisions: number;
  /** Bytes of paths and values of the kept history at most; the oldest revisions go first. */
  historyBytes: number;
  /** Write results a session remembers for retries; older ones are forgotten first. */
  dedupeResultsPerSession: number;
}

/** The values a store founded with `options` starts with. */
export function settingsFromOptions(options: StoreOptions): ReplicatedSettings {
  return {
    historyRevisions: options.historyRevisions,
    historyBytes: options.historyBytes ?? limits.historyBytesDefault,
    dedupeResultsPerSession: limits.dedupeResultsPerSessionMax,
  };
}

/** The settings a `settings` command or a snapshot may carry, checked (bad values: a message). */
export function checkSettings(s: Partial<ReplicatedSettings>): string | null {
  for (const [k, v] of Object.entries(s)) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) return `${k} must be an integer ≥ 1, got ${String(v)}`;
  }
  return null;
}

export function sameSettings(a: ReplicatedSettings, b: Partial<ReplicatedSettings>): boolean {
  return (Object.keys(b) as (keyof ReplicatedSettings)[]).every((k) => b[k] === undefined || a[k] === b[k]);
}

export function describeSettings(s: Partial<ReplicatedSettings>): string {
  const parts: string[] = [];
  if (s.historyRevisions !== undefined) parts.push(`history ${s.historyRevisions} revisions`);
  if (s.historyBytes !== undefined) parts.push(`history bytes ${s.historyBytes}`);
  if (s.dedupeResultsPerSession !== undefined) parts.push(`${s.dedupeResultsPerSession} results remembered per session`);
  return parts.join(', ');
}
