/**
 * Gives memory back after a burst of writes. V8 collects its old generation only once it has
 * grown well past its size after the last collection, so a server that takes a burst of writes
 * and then goes quiet keeps its high-water mark for as long as it stays quiet: dead objects in
 * the old generation, and the ArrayBuffers they hold (log entries that aged out of the tail
 * cache, a snapshot's packed pieces) with the malloc'd memory behind them. With 100,000 keys
 * written, that is some 100 MiB more than the data needs.
 *
 * So once a burst has passed — at least `burstEntries` log entries applied since the last
 * collection, then none for `quietMs` — this runs one full collection, as a JVM's periodic G1
 * collection or Go's background scavenger do for theirs. The pause (tens of milliseconds for
 * 100,000 keys) falls where no write is waiting. A process without the collector available
 * (see `fullCollection`) simply keeps its memory, as before.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface IdleCollectorOptions {
  /** Entries applied since the last collection that make a burst. */
  burstEntries: number;
  /** How long nothing must be applied before collecting. */
  quietMs: number;
}

export const IDLE_COLLECTOR_DEFAULTS: IdleCollectorOptions = { burstEntries: 20_000, quietMs: 1000 };

/** The decision, apart from clocks and timers (tested alone). */
export class IdleCollector {
  private collectedAt: number;
  private lastApplied: number;
  private lastChangeMs: number;
  /** Collections run so far. */
  collections = 0;

  constructor(
    /** The log index applied so far (it only rises). */
    private readonly applied: () => number,
    private readonly collect: () => void,
    private readonly options: IdleCollectorOptions,
    nowMs: number,
  ) {
    this.collectedAt = this.lastApplied = applied();
    this.lastChangeMs = nowMs;
  }

  /** Looks again at `nowMs`; collects if a burst has passed. */
  check(nowMs: number): void {
    const applied = this.applied();
    if (applied !== this.lastApplied) {
      this.lastApplied = applied;
      this.lastChangeMs = nowMs;
      return;
    }
    if (applied - this.collectedAt < this.options.burstEntries || nowMs - this.lastChangeMs < this.options.quietMs) return;
    this.collectedAt = applied;
    this.collections++;
    this.collect();
  }
}

/**
 * V8's full collection, as `--expose-gc` would give it, or null where it cannot be had. The flag
 * is set now, after start-up, and only exposes `gc` to contexts made from here on: the
 * server's own context does not get a global `gc`.
 */
export function fullCollection(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => (gc as () => void)() : null;
  } catch {
    return null;
  }
}

/** Checks every quietMs / 2 (an unref'd timer); returns the stop function. */
export function startIdleCollector(applied: () => number, options: IdleCollectorOptions = IDLE_COLLECTOR_DEFAULTS): () => void {
  const collect = fullCollection();
  if (collect === null) return () => {};
  const collector = new IdleCollector(applied, collect, options, performance.now());
  const timer = setInterval(() => collector.check(performance.now()), Math.max(10, options.quietMs / 2));
  timer.unref();
  return () => clearInterval(timer);
}
