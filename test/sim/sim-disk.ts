/**
 * A simulated disk for the simulator: an ordered key-value store with LevelDB's crash semantics
 * and a directory of snapshot files, in memory, driven by the simulator. No timers, no I/O;
 * every choice a crash makes comes from the seeded `random` it is given, so a seed replays.
 *
 * The model (what LevelDB does, see server/storage/level-storage.ts):
 * - A write is one record appended to a write-ahead log (sealed with a CRC), then applied to
 *   what reads see. Nothing is durable until a sync: a `sync` write makes its record, and every
 *   record before it, durable once the simulator's `fsync` hook resolves (at once by default;
 *   the simulator can hold it for as long as a slow disk would).
 * - `crash()` ends the process: reads and writes of the old incarnation never settle again. The
 *   synced records survive; of the unsynced ones, by default a random prefix survives, and the
 *   first one that does not may be left torn (a prefix of its bytes). Recovery replays the
 *   records in order and drops any whose CRC fails, as LevelDB does with paranoid checks off: a
 *   torn write vanishes whole, never half-applied. `unsynced: 'any'` keeps a random subset
 *   instead (out-of-order writeback), which LevelDB's skip-and-go-on recovery turns into a
 *   lost middle write: only for tests that the log storage detects it.
 * - A failed write is sticky, as LevelDB's background error is: every later write fails until
 *   `reopen()`. Faults are injected through `faults`: a full disk before the record is written
 *   (nothing lands), after it (the record is in the log, its sync failed: `reopen()` replays
 *   it), or torn (a partial record that `reopen()` drops); an I/O error; reopens and snapshot
 *   file writes that fail for want of space.
 * - Snapshot files are written whole and durable when `write` resolves (the temp file, fsync,
 *   rename protocol); a crash during the write may leave a partial `<name>.tmp`. Removing a file
 *   takes effect at once.
 */
import { Packr } from 'msgpackr';
import { crc32 } from '../../server/storage/crc32.ts';
import type { Bytes, KvOp, KvRange, OrderedKv, SnapshotFiles, Space } from '../../server/storage/kv.ts';

export type Random = () => number;

export interface SimDiskOptions {
  /** The only source of randomness (crash outcomes). */
  random: Random;
  /** A name for messages (the storage's `dir`). Default `sim-disk`. */
  name?: string;
  /** Called for every fsync; the sync completes when the promise resolves. Default: at once. */
  fsync?: () => Promise<void>;
}

/** How the next write fails. */
export type WriteFault = 'nospace-before' | 'nospace-after' | 'nospace-torn' | 'eio';

export interface CrashOptions {
  /**
   * What becomes of records written but not synced: `lose` them all; keep a random `prefix`
   * (the default: the write-ahead log is appended in order); keep `any` random subset.
   */
  unsynced?: 'lose' | 'prefix' | 'any';
  /** Leave the first record that is not kept torn, rather than absent. Default: random. */
  torn?: boolean;
}

export interface SimDiskStats {
  writes: number;
  syncs: number;
  crashes: number;
  /** Records recovery dropped because their CRC failed (torn or damaged). */
  tornDropped: number;
  /** Unsynced records a crash lost outright. */
  recordsLost: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const hex = (b: Bytes) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** One key space: a map with its keys kept sorted (hex of the bytes sorts as the bytes do). */
class SortedMap {
  keys: string[] = [];
  map = new Map<string, Bytes>();

  clone(): SortedMap {
    const c = new SortedMap();
    c.keys = [...this.keys];
    c.map = new Map(this.map);
    return c;
  }

  private find(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  put(key: string, value: Bytes): void {
    if (!this.map.has(key)) this.keys.splice(this.find(key), 0, key);
    this.map.set(key, value);
  }

  del(key: string): void {
    if (!this.map.delete(key)) return;
    this.keys.splice(this.find(key), 1);
  }

  range(r: KvRange): [Bytes, Bytes][] {
    const from = r.gte === undefined ? 0 : this.find(hex(r.gte));
    let to = this.keys.length;
    if (r.lte !== undefined) {
      const lte = hex(r.lte);
      to = this.find(lte);
      if (this.keys[to] === lte) to++;
    }
    let keys = this.keys.slice(from, to);
    if (r.reverse) keys.reverse();
    if (r.limit !== undefined && r.limit >= 0) keys = keys.slice(0, r.limit);
    return keys.map((k) => [unhex(k), this.map.get(k)!]);
  }
}

type Spaces = Record<Space, SortedMap>;
const emptySpaces = (): Spaces => ({ log: new SortedMap(), meta: new SortedMap() });
const cloneSpaces = (s: Spaces): Spaces => ({ log: s.log.clone(), meta: s.meta.clone() });

interface WalRecord {
  bytes: Bytes;
}

/** An op as the log record holds it: [0 put | 1 del, space, key, value?]. */
type RecordOp = [0, Space, Bytes, Bytes] | [1, Space, Bytes];

function encodeRecord(ops: KvOp[]): Bytes {
  const body: Bytes = packr.pack(ops.map((op): RecordOp => (op.type === 'put' ? [0, op.space, op.key, op.value] : [1, op.space, op.key])));
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, crc32(body));
  out.set(body, 4);
  return out;
}

/** The ops of a record, or null if it is torn or damaged. */
function decodeRecord(bytes: Bytes): RecordOp[] | null {
  if (bytes.byteLength < 4) return null;
  const body = bytes.subarray(4);
  if (crc32(body) !== new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0)) return null;
  return packr.unpack(body) as RecordOp[];
}

function applyOps(spaces: Spaces, ops: RecordOp[]): void {
  for (const op of ops) {
    if (op[0] === 0) spaces[op[1]].put(hex(op[2]), op[3]);
    else spaces[op[1]].del(hex(op[2]));
  }
}

function noSpace(what: string): Error {
  return Object.assign(new Error(`IO error: ${what}: No space left on device`), { code: 'LEVEL_IO_ERROR' });
}

/** A promise that never settles: what an operation of a crashed process waits on. */
const never = <T>() => new Promise<T>(() => {});

export class SimDisk {
  readonly name: string;
  readonly stats: SimDiskStats = { writes: 0, syncs: 0, crashes: 0, tornDropped: 0, recordsLost: 0 };
  /** Faults to inject; each entry of `writes` is used up by one write. */
  readonly faults = { writes: [] as WriteFault[], reopens: 0, snapshotWrites: 0 };
  /** Free bytes, as the disk reserve measures them. */
  freeBytes = 1 << 30;
  /** Whether the disk reserve file is in place (it survives restarts, as a file does). */
  reserveInPlace = false;

  /** What survives a crash: the state as of the last sync. */
  private durable: Spaces = emptySpaces();
  /** Records written since the last sync, in order. */
  private wal: WalRecord[] = [];
  /** What reads see. */
  private live: Spaces = emptySpaces();
  private files = new Map<string, Bytes>();
  /** Snapshot files being written (a crash may leave a partial temp file). */
  private writing = new Map<string, Bytes>();
  /** The sticky error of a failed write, until reopen. */
  private broken: Error | null = null;
  /** Incremented by each crash: what an older incarnation asks never settles. */
  private epoch = 0;
  private readonly random: Random;
  private readonly fsync: () => Promise<void>;

  constructor(options: SimDiskOptions) {
    this.random = options.random;
    this.name = options.name ?? 'sim-disk';
    this.fsync = options.fsync ?? (() => Promise.resolve());
  }

  /** True if nothing was ever written (a fresh data directory). */
  get isEmpty(): boolean {
    return this.live.meta.keys.length === 0 && this.live.log.keys.length === 0 && this.wal.length === 0;
  }

  /** Records written and not yet synced. */
  get unsyncedWrites(): number {
    return this.wal.length;
  }

  /** The key-value store, for the current incarnation of the process. */
  kv(): OrderedKv {
    const epoch = this.epoch;
    const alive = () => this.epoch === epoch;
    return {
      get: (space, key) => (alive() ? Promise.resolve(this.live[space].map.get(hex(key))) : never()),
      iterate: (space, range = {}) => {
        // Copied now: the view as of the call, as a LevelDB iterator's snapshot.
        const rows = alive() ? this.live[space].range(range) : null;
        return (async function* () {
          if (rows === null) return await never<void>();
          yield* rows;
        })();
      },
      write: (ops, sync) => (alive() ? this.write(epoch, ops, sync) : never()),
    };
  }

  private async write(epoch: number, ops: KvOp[], sync: boolean): Promise<void> {
    if (this.broken !== null) throw this.broken;
    this.stats.writes++;
    const fault = this.faults.writes.shift();
    if (fault === 'nospace-before' || fault === 'eio') {
      this.broken = fault === 'eio'
        ? Object.assign(new Error(`IO error: ${this.name}/000042.log: Input/output error`), { code: 'LEVEL_IO_ERROR' })
        : noSpace(`${this.name}/000042.log`);
      throw this.broken;
    }
    const bytes = encodeRecord(ops);
    if (fault === 'nospace-after' || fault === 'nospace-torn') {
      // In the log (whole, or cut short), not applied: LevelDB applies a batch to its memtable
      // only after the log write (and sync) succeeded. reopen() replays what is there.
      this.wal.push({ bytes: fault === 'nospace-torn' ? this.tear(bytes) : bytes });
      this.broken = noSpace(`${this.name}/000042.log`);
      throw this.broken;
    }
    this.wal.push({ bytes });
    applyOps(this.live, decodeRecord(bytes)!);
    if (!sync) return;
    const upTo = this.wal.length;
    await this.fsync();
    if (this.epoch !== epoch) return never();
    this.stats.syncs++;
    this.syncRecords(upTo);
  }

  /** Makes the first `upTo` records of the write-ahead log durable (a torn one is dropped). */
  private syncRecords(upTo: number): void {
    for (const r of this.wal.splice(0, upTo)) {
      const ops = decodeRecord(r.bytes);
      if (ops === null) this.stats.tornDropped++;
      else applyOps(this.durable, ops);
    }
  }

  /** A prefix of `bytes`, shorter than the whole. */
  private tear(bytes: Bytes): Bytes {
    return bytes.slice(0, Math.floor(this.random() * bytes.byteLength));
  }

  /**
   * The process closes and opens the database again (it did not crash): recovery replays every
   * record in the log, drops a torn one, and makes the result durable. Throws for want of space
   * while `faults.reopens` says so.
   */
  reopen(): void {
    if (this.faults.reopens > 0) {
      this.faults.reopens--;
      throw Object.assign(new Error('Database failed to open'), {
        code: 'LEVEL_DATABASE_NOT_OPEN', cause: noSpace(`${this.name}/000043.ldb`),
      });
    }
    this.syncRecords(this.wal.length);
    this.live = cloneSpaces(this.durable);
    this.broken = null;
  }

  /** The process dies. See the header for what survives; `options` choose, else `random`. */
  crash(options: CrashOptions = {}): void {
    this.epoch++;
    this.stats.crashes++;
    const mode = options.unsynced ?? 'prefix';
    const torn = () => options.torn ?? this.random() < 0.5;
    const n = this.wal.length;
    const survivors: Bytes[] = [];
    if (mode === 'any') {
      for (const r of this.wal) {
        if (this.random() < 0.5) survivors.push(r.bytes);
        else if (torn()) survivors.push(this.tear(r.bytes));
        else this.stats.recordsLost++;
      }
    } else {
      const k = mode === 'lose' ? 0 : Math.floor(this.random() * (n + 1));
      for (let i = 0; i < k; i++) survivors.push(this.wal[i]!.bytes);
      if (k < n && torn()) survivors.push(this.tear(this.wal[k]!.bytes));
      this.stats.recordsLost += n - survivors.length;
    }
    this.wal = survivors.map((bytes) => ({ bytes }));
    // Recovery, as the next open does it.
    this.syncRecords(this.wal.length);
    this.live = cloneSpaces(this.durable);
    this.broken = null;
    for (const [name, data] of this.writing) {
      if (this.random() < 0.5) this.files.set(`${name}.tmp`, this.tear(data));
    }
    this.writing.clear();
  }

  /** Flips a byte of the durable value under `key` (damage at rest, for tests). */
  corrupt(space: Space, key: Bytes, at = -1): void {
    for (const spaces of [this.durable, this.live]) {
      const k = hex(key);
      const v = spaces[space].map.get(k);
      if (v === undefined) continue;
      const copy = v.slice();
      const i = at < 0 ? copy.byteLength + at : at;
      copy[i]! ^= 0xff;
      spaces[space].map.set(k, copy);
    }
  }

  /** Deletes the durable record under `key` (a lost record, for tests). */
  lose(space: Space, key: Bytes): void {
    this.durable[space].del(hex(key));
    this.live[space].del(hex(key));
  }

  /** The snapshot files, for the current incarnation of the process. */
  snapshotFiles(): SnapshotFiles {
    const epoch = this.epoch;
    const alive = () => this.epoch === epoch;
    const path = (name: string) => `${this.name}/${name}`;
    return {
      path,
      write: async (name, data) => {
        if (!alive()) return never();
        if (this.faults.snapshotWrites > 0) {
          this.faults.snapshotWrites--;
          throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path(name)}.tmp'`), { code: 'ENOSPC' });
        }
        this.writing.set(name, data);
        await this.fsync();
        if (!alive()) return never();
        this.writing.delete(name);
        this.files.set(name, data.slice());
      },
      read: async (name) => {
        if (!alive()) return never();
        const data = this.files.get(name);
        if (data === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path(name)}'`), { code: 'ENOENT' });
        return data.slice();
      },
      list: async () => (alive() ? [...this.files.keys()].sort() : never()),
      remove: async (name) => {
        if (!alive()) return never();
        this.files.delete(name);
      },
    };
  }

  /** Names of the snapshot files on disk (for tests). */
  fileNames(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Replaces a snapshot file's bytes (damage at rest, for tests). */
  setFile(name: string, data: Bytes | undefined): void {
    if (data === undefined) this.files.delete(name);
    else this.files.set(name, data);
  }
}
