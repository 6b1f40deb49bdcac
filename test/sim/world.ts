/**
 * The simulator's world: one seeded generator, a virtual clock, and one queue of events ordered
 * by (time, insertion order). Nothing in a simulated run reads real time or Math.random: every
 * choice comes from the seed, every delay is virtual, so a seed replays the exact same run.
 *
 * How a run moves. `run()` takes the earliest event, sets the clock to its time, calls it, and
 * then lets every promise continuation it caused settle (the microtask queue is drained by
 * awaiting one setImmediate: nothing else is pending on the real event loop, so that is a full,
 * deterministic drain) before it takes the next. Production code awaits promises the simulated
 * disk and clients resolve; those continuations run inside the event that resolved them, in
 * the order JavaScript defines, so they are part of the replay too.
 *
 * Every event is recorded in a trace: a label, with its virtual time, folded into a running
 * 64-bit hash (`traceHash`) and kept in a ring of the last lines for failure reports. Two runs
 * of one seed print the same hash; if they do not, something read the real world.
 *
 * Nodes get their own Scheduler (server/consensus/env.ts) through `NodeScheduler`: it drops the
 * callbacks of an incarnation that crashed, defers those of a paused process until the pause
 * ends, and runs a drifting clock's timers early or late.
 */
import type { Scheduler } from '../../server/consensus/env.ts';

// ------------------------------------------------------------------ randomness

/**
 * sfc32, seeded through splitmix32: fast, 128 bits of state, good enough statistically for a
 * simulator. `fork()` derives an independent stream, so that one part of the world drawing more
 * numbers does not shift every other part's choices.
 */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    this.d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** A number in [lo, hi). */
  real(lo: number, hi: number): number {
    return lo + this.float() * (hi - lo);
  }

  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }

  /** Exponentially distributed, with the given mean. */
  exp(mean: number): number {
    return -Math.log(1 - this.float()) * mean;
  }

  /** `k` distinct elements of `xs`, in random order. */
  sample<T>(xs: readonly T[], k: number): T[] {
    const copy = [...xs];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, k);
  }

  /** An independent generator derived from this one. */
  fork(): Rng {
    return new Rng(this.u32() ^ Math.imul(this.u32(), 0x9e3779b1));
  }
}

// ------------------------------------------------------------------ the trace

/** A running 64-bit hash (two 32-bit lanes, cyrb53-style mixing) of every line traced. */
export class Trace {
  private h1 = 0xdeadbeef;
  private h2 = 0x41c6ce57;
  private readonly ring: string[];
  private next = 0;
  count = 0;
  /** Every line, when asked for (`--trace`); otherwise only the ring. */
  readonly all: string[] | null;

  constructor(keep = 200, keepAll = false) {
    this.ring = new Array<string>(keep);
    this.all = keepAll ? [] : null;
  }

  add(line: string): void {
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < line.length; i++) {
      const ch = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ 10, 2654435761);
    h2 = Math.imul(h2 ^ 10, 1597334677);
    this.h1 = h1;
    this.h2 = h2;
    this.ring[this.next] = line;
    this.next = (this.next + 1) % this.ring.length;
    this.count++;
    this.all?.push(line);
  }

  /** The hash of everything traced so far, as 16 hex digits. */
  get hash(): string {
    let h1 = this.h1;
    let h2 = this.h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (h2 >>> 0).toString(16).padStart(8, '0') + (h1 >>> 0).toString(16).padStart(8, '0');
  }

  /** The last `n` lines (at most what the ring keeps), oldest first. */
  last(n = this.ring.length): string[] {
    const out: string[] = [];
    const len = this.ring.length;
    for (let i = 0; i < len; i++) {
      const line = this.ring[(this.next + i) % len];
      if (line !== undefined) out.push(line);
    }
    return out.slice(-n);
  }
}

// ------------------------------------------------------------------ the event queue

interface Event {
  time: number;
  seq: number;
  label: string;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of events by (time, seq). */
class EventHeap {
  private readonly items: Event[] = [];

  get size(): number {
    return this.items.length;
  }

  push(e: Event): void {
    const items = this.items;
    items.push(e);
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, items[p]!)) break;
      items[i] = items[p]!;
      i = p;
    }
    items[i] = e;
  }

  peek(): Event | undefined {
    return this.items[0];
  }

  pop(): Event | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r]!, items[l]!) ? r : l;
      if (!before(items[c]!, last)) break;
      items[i] = items[c]!;
      i = c;
    }
    items[i] = last;
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** Lets every pending promise continuation run (see the header). */
const settle = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

export interface RunLimits {
  /** Stop before the first event later than this virtual time. */
  until: number;
  /** Called after each event (and the continuations it caused); return a string to stop the run. */
  after?: () => string | null | undefined;
  /** Stop once this returns true (checked after each event). */
  done?: () => boolean;
  /** At most this many events (a runaway guard). */
  maxEvents?: number;
}

export class World {
  /** Virtual milliseconds since the start of the run. */
  now = 0;
  readonly rng: Rng;
  readonly trace: Trace;
  private readonly queue = new EventHeap();
  private seq = 0;
  /** Events run so far. */
  events = 0;

  constructor(readonly seed: number, options: { traceKeep?: number; traceAll?: boolean } = {}) {
    this.rng = new Rng(seed);
    this.trace = new Trace(options.traceKeep ?? 200, options.traceAll ?? false);
  }

  /** Runs `fn` at virtual time `time` (not before now); returns a function that cancels it. */
  at(time: number, label: string, fn: () => void): () => void {
    // Microsecond resolution: drifting clocks make fractions, and the trace should stay readable.
    const t = Math.round(Math.max(time, this.now) * 1000) / 1000;
    const e: Event = { time: t, seq: this.seq++, label, fn, cancelled: false };
    this.queue.push(e);
    return () => {
      e.cancelled = true;
    };
  }

  after(ms: number, label: string, fn: () => void): () => void {
    return this.at(this.now + Math.max(0, ms), label, fn);
  }

  /** A promise resolved `ms` from now (a simulated fsync, a client's think time). */
  sleep(ms: number, label = 'sleep'): Promise<void> {
    return new Promise<void>((resolve) => this.after(ms, label, resolve));
  }

  /** A line in the trace that is not an event (a fault, a client's answer). */
  note(line: string): void {
    this.trace.add(`${this.now} ${line}`);
  }

  get pending(): number {
    return this.queue.size;
  }

  /** The time of the next event, or Infinity. */
  nextTime(): number {
    return this.queue.peek()?.time ?? Infinity;
  }

  /**
   * Runs events in order until a limit says stop. Returns why it stopped: 'until' (the next
   * event is past `until`, and the clock is left at `until`), 'done', 'idle' (nothing queued),
   * 'max-events', or the string `after` returned.
   */
  async run(limits: RunLimits): Promise<string> {
    const maxEvents = limits.maxEvents ?? Infinity;
    let n = 0;
    // What the caller started before this call (a node booting) may not have queued anything yet.
    await settle();
    for (;;) {
      if (limits.done?.() === true) return 'done';
      const e = this.queue.peek();
      if (e === undefined) return 'idle';
      if (e.time > limits.until) {
        this.now = Math.max(this.now, Math.round(limits.until * 1000) / 1000);
        return 'until';
      }
      if (n++ >= maxEvents) return 'max-events';
      this.queue.pop();
      if (e.cancelled) continue;
      this.now = e.time;
      this.events++;
      this.trace.add(`${e.time} ${e.label}`);
      e.fn();
      await settle();
      const stop = limits.after?.();
      if (stop !== null && stop !== undefined) return stop;
    }
  }
}

// ------------------------------------------------------------------ a node's scheduler

/**
 * One incarnation of a process, as the world schedules it: alive until it crashes; paused
 * (nothing of it runs) until `pausedUntil`; a clock that runs `rate` times as fast as true time.
 */
export class Process {
  alive = true;
  pausedUntil = 0;
  /** Told once when the process dies (its connections close). */
  private readonly deathListeners = new Set<() => void>();
  /** What came due while paused, in the order it came due. */
  private deferred: { label: string; fn: () => void; setCancel: (c: () => void) => void; cancelled: boolean }[] = [];
  private cancelWake: (() => void) | null = null;

  constructor(
    readonly world: World,
    /** For the trace: the node's id and incarnation, e.g. `n2#3`. */
    readonly name: string,
    /** Its clock's speed relative to virtual time (drift): 1.01 runs 1% fast. */
    readonly rate = 1,
    /** Its clock's reading at virtual time 0 (monotonic clocks differ between machines). */
    readonly offset = 0,
  ) {}

  get paused(): boolean {
    return this.pausedUntil > this.world.now;
  }

  /** Nothing of the process runs for `ms` from now (a GC pause, a frozen VM). */
  pause(ms: number): void {
    // On the event queue's microsecond grid, so that what waits for the end runs at the end.
    const until = Math.ceil((this.world.now + ms) * 1000) / 1000;
    this.pausedUntil = Math.max(this.pausedUntil, until);
    if (this.deferred.length > 0) this.scheduleWake();
  }

  /** Ends a pause now: what came due meanwhile runs, in order. */
  resume(): void {
    this.pausedUntil = 0;
    if (this.deferred.length > 0) this.scheduleWake();
  }

  private scheduleWake(): void {
    this.cancelWake?.();
    this.cancelWake = this.world.at(Math.max(this.pausedUntil, this.world.now), `${this.name} wakes`, () => {
      this.cancelWake = null;
      this.wake();
    });
  }

  /** Each callback that came due while paused becomes its own event, now, in the order it came due. */
  private wake(): void {
    if (!this.alive) return;
    if (this.paused) {
      this.scheduleWake();
      return;
    }
    const due = this.deferred;
    this.deferred = [];
    for (const d of due) {
      if (!d.cancelled) d.setCancel(this.world.at(this.world.now, d.label, () => this.run(d.label, d.fn, d.setCancel)));
    }
  }

  /** The process dies: nothing of it runs again, and whoever listened for that hears it now. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.deferred = [];
    this.cancelWake?.();
    const listeners = [...this.deathListeners];
    this.deathListeners.clear();
    for (const l of listeners) l();
  }

  /** Calls `fn` when the process dies; returns a function that stops listening. */
  onDeath(fn: () => void): () => void {
    this.deathListeners.add(fn);
    return () => this.deathListeners.delete(fn);
  }

  /** The process's own monotonic clock. */
  now(): number {
    return this.offset + this.world.now * this.rate;
  }

  /**
   * Runs `fn` at virtual time `time` if the process is still alive then; if it is paused then,
   * when the pause ends (in the order the callbacks came due).
   */
  at(time: number, label: string, fn: () => void): () => void {
    let cancel = this.world.at(time, label, () => this.run(label, fn, setCancel));
    const setCancel = (c: () => void): void => {
      cancel = c;
    };
    return () => cancel();
  }

  /** Runs `fn` now if the process is alive and awake; when it wakes, if paused; never if dead. */
  runNow(label: string, fn: () => void): void {
    this.run(label, fn, () => {});
  }

  private run(label: string, fn: () => void, setCancel: (c: () => void) => void): void {
    if (!this.alive) return;
    if (this.paused) {
      const d = { label, fn, setCancel, cancelled: false };
      this.deferred.push(d);
      setCancel(() => {
        d.cancelled = true;
      });
      if (this.cancelWake === null) this.scheduleWake();
      return;
    }
    fn();
  }

  scheduler(): Scheduler {
    return {
      soon: (fn) => {
        this.at(this.world.now, `${this.name} soon`, fn);
      },
      after: (ms, fn) => this.at(this.world.now + Math.max(0, ms) / this.rate, `${this.name} timer ${ms}`, fn),
    };
  }
}
