/**
 * The Raft log, hard state and snapshot record over an ordered key-value store (kv.ts): the
 * logic of the storage contract (raft-storage.ts), shared by LevelStorage (LevelDB and files)
 * and the simulator's SimStorage (a simulated disk), so the simulator runs this very code.
 *
 * Layout (records.ts): one segment per append, keyed by its first index. An append at index i
 * puts its segment and, in the same batch, deletes every segment that starts at or after i; a
 * segment that starts before i and runs past it stays, and is read only up to i - 1 (the next
 * segment's first index minus one: segments are read in key order, which is index order). So
 * overwriting a suffix costs one batch, whatever its length, and a crash leaves the old log or
 * the new one.
 *
 * What load() checks, so that damage stops the server instead of being served:
 * - every record's checksum and shape (records.ts);
 * - contiguity: each segment starts at most one past the end of the log before it (a missing
 *   segment is a hole), and the log reaches the compaction point;
 * - log matching: each segment remembers the term of the entry before it when it was written;
 *   if the log read back has another term there, a write between them was lost (LevelDB with
 *   paranoid checks off drops a damaged write-ahead-log record and replays the ones after it,
 *   see level-storage.ts);
 * - terms never go down, agree with the snapshot and the compaction point where they meet, and
 *   are not ahead of the hard state's term (written with the entries, or before them);
 * - no lost suffix: the log reaches the commit index the hard state (written in the same batches
 *   as the entries) says was reached.
 *
 * The log's positions and terms are kept in memory (log-view.ts), as is a tail of recent entries
 * (`tailCacheBytes`); older entries are read from disk when asked for.
 */
import { assert } from '../assert.ts';
import { crc32 } from './crc32.ts';
import type { KvOp, OrderedKv, SnapshotFiles } from './kv.ts';
import type { Entry, HardState } from './log-types.ts';
import { LogView } from './log-view.ts';
import {
  decodeSegment, encodeHardState, encodeSegment, FORMAT, FORMATS_READ, indexKey, keyIndex, META, pack, seal, unseal,
  type LogPosition, type SnapshotHeader,
} from './records.ts';
import {
  LogCompactedError, LogUnavailableError, type DurableState, type LoadedState, type SnapshotRecord,
} from './raft-storage.ts';
import { StorageError } from './storage-error.ts';
import { WriteQueue } from './write-queue.ts';

/** Default bytes of recent entries kept in memory for `entries()`. */
export const TAIL_CACHE_BYTES = 8 * 1024 * 1024;

export interface LogStorageOptions {
  /**
   * Bytes of the most recent entries kept in memory (default TAIL_CACHE_BYTES); entries not yet
   * written are kept whatever this says. `entries()` reads older ones from disk.
   */
  tailCacheBytes?: number;
}

interface Scan {
  hardState: HardState;
  snapshot: SnapshotHeader | null;
  compacted: LogPosition;
  segments: number[];
  /** The log after `compacted`. */
  entries: Entry[];
}

const SNAPSHOT_FILE = /^snapshot-\d+(\.tmp)?$/;
const snapshotFile = (index: number) => `snapshot-${index}`;

export abstract class LogStorage {
  abstract readonly dir: string;
  private loaded = false;
  private view: LogView | null = null;
  /** Index and term of the snapshot record, as the writes called so far leave it. */
  private snapshotAt: LogPosition | null = null;
  /** Index of a snapshot whose file is being written. */
  private snapshotSaving: number | null = null;
  /** The data is in an older format: the next batch marks it as FORMAT. */
  private formatOutdated = false;
  private readonly queue: WriteQueue;

  protected constructor(
    protected kv: OrderedKv,
    protected readonly files: SnapshotFiles,
    private readonly options: LogStorageOptions = {},
  ) {
    this.queue = new WriteQueue(
      (ops, sync) => this.write(ops, sync),
      () => this.view?.evict(this.queue.unwrittenFrom),
      (failure) => new StorageError(
        `${this.dir}: an earlier write failed (${(failure as Error)?.message ?? String(failure)}); ` +
          'nothing more is written until the storage is reopened', { cause: failure }),
    );
  }

  /**
   * Checks (or, for a fresh store, writes) the format record. Refuses a store without one, or
   * in a format this code does not read.
   */
  protected async checkFormat(fresh: boolean): Promise<void> {
    const format = await this.kv.get('meta', META.format);
    if (format === undefined) {
      if (!fresh) throw new StorageError(`${this.dir}: database has no coord format record (meta/format)`);
      await this.kv.write([{ type: 'put', space: 'meta', key: META.format, value: Buffer.from(FORMAT) }], true);
      return;
    }
    const name = Buffer.from(format).toString();
    if (!FORMATS_READ.includes(name)) throw new StorageError(`${this.dir}: unknown data format ${name}`);
    this.formatOutdated = name !== FORMAT;
  }

  private write(ops: KvOp[], sync: boolean): Promise<void> {
    if (!this.formatOutdated) return this.kv.write(ops, sync);
    const mark: KvOp = { type: 'put', space: 'meta', key: META.format, value: Buffer.from(FORMAT) };
    return this.kv.write([mark, ...ops], sync).then(() => {
      this.formatOutdated = false;
    });
  }

  /** The in-memory log, once loaded and while no write has failed. */
  private ready(): LogView {
    assert(this.view !== null, 'the log storage is used before load()');
    const failed = this.queue.failed;
    if (failed !== null) {
      throw new StorageError(`${this.dir}: a write failed (${(failed as Error)?.message ?? String(failed)}); ` +
        'what is on disk is known again once the storage is reopened', { cause: failed });
    }
    return this.view;
  }

  /** See RaftStorage.load. */
  async load(): Promise<LoadedState> {
    assert(this.queue.idle, 'load() with writes in flight');
    const scan = await this.readDisk(() => this.scan());
    const snapshot = scan.snapshot === null ? null : await this.readSnapshot(scan.snapshot);
    // Snapshot files no record names: older ones, one a crash left unnamed or half written.
    await this.removeSnapshotFiles(snapshot?.index ?? null);
    this.install(scan);
    const after = snapshot?.index ?? 0;
    return { hardState: scan.hardState, snapshot, entries: scan.entries.filter((e) => e.index > after) };
  }

  /** Reads the log again, after the store under it was reopened (see RaftStorage.reopen). */
  protected async reload(): Promise<void> {
    this.queue.reset();
    if (!this.loaded) return;
    this.install(await this.readDisk(() => this.scan()));
  }

  /** Waits for the writes in flight (before a close). */
  protected drain(): Promise<void> {
    return this.queue.drained();
  }

  private install(scan: Scan): void {
    this.view = new LogView(this.options.tailCacheBytes ?? TAIL_CACHE_BYTES, scan.compacted, scan.segments, scan.entries);
    this.snapshotAt = scan.snapshot === null ? null : { index: scan.snapshot.index, term: scan.snapshot.term };
    this.loaded = true;
  }

  /** Runs a read, turning an engine error into a StorageError that names the directory. */
  private async readDisk<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof StorageError) throw err;
      throw new StorageError(`${this.dir}: cannot read the database: ${(err as Error).message}`, { cause: err });
    }
  }

  private async scan(): Promise<Scan> {
    const where = this.dir;
    const hsRecord = await this.kv.get('meta', META.hardState);
    const hardState: HardState = hsRecord === undefined
      ? { term: 0, vote: null, commit: 0 }
      : unseal<HardState>(where, 'meta/hardstate', hsRecord);
    const snapRecord = await this.kv.get('meta', META.snapshot);
    const snapshot = snapRecord === undefined ? null : unseal<SnapshotHeader>(where, 'meta/snapshot', snapRecord);
    const compRecord = await this.kv.get('meta', META.compacted);
    // Format 1 compacted at the snapshot, and said so nowhere else.
    const compacted: LogPosition = compRecord !== undefined
      ? unseal<LogPosition>(where, 'meta/compacted', compRecord)
      : snapshot !== null ? { index: snapshot.index, term: snapshot.term } : { index: 0, term: 0 };
    if (snapshot !== null && compacted.index > snapshot.index) {
      throw new StorageError(`${where}: the log is compacted through entry ${compacted.index}, past the snapshot at ${snapshot.index}`);
    }
    const missing = (index: number, found: number) =>
      new StorageError(`${where}: log entry ${index} is missing (found ${found})`);

    const segments: number[] = [];
    // The log read so far, consecutive; it may start at or before the compaction point.
    let raw: Entry[] = [];
    for await (const [key, value] of this.kv.iterate('log')) {
      const first = keyIndex(key);
      const seg = decodeSegment(where, first, value);
      const rawEnd = raw.length > 0 ? raw[raw.length - 1]!.index : -1;
      if (raw.length === 0 || first > rawEnd + 1) {
        // A hole matters only where the log is kept: after the compaction point.
        if (first > compacted.index + 1) throw missing(Math.max(rawEnd + 1, compacted.index + 1), first);
        raw = [];
      } else if (first <= rawEnd) {
        raw.length = first - raw[0]!.index;
      }
      if (seg.prevTerm !== undefined) {
        const before = first - 1;
        const known = raw.length > 0 ? raw[raw.length - 1]!.term
          : before === compacted.index ? compacted.term
            : before === 0 ? 0 : undefined;
        if (known !== undefined && known !== seg.prevTerm) {
          throw new StorageError(`${where}: log segment at entry ${first} was written after an entry of term ` +
            `${seg.prevTerm}, but entry ${before} has term ${known}: a write between them was lost`);
        }
      }
      raw.push(...seg.entries);
      segments.push(first);
    }

    const termAt = (index: number) => (raw.length > 0 && index >= raw[0]!.index && index <= raw[raw.length - 1]!.index
      ? raw[index - raw[0]!.index]!.term : undefined);
    const atCompacted = termAt(compacted.index);
    if (compacted.index > 0 && atCompacted !== undefined && atCompacted !== compacted.term) {
      throw new StorageError(`${where}: log entry ${compacted.index} has term ${atCompacted}, but the log was ` +
        `compacted through it at term ${compacted.term}`);
    }
    const atSnapshot = snapshot === null ? undefined : termAt(snapshot.index);
    if (snapshot !== null && atSnapshot !== undefined && atSnapshot !== snapshot.term) {
      throw new StorageError(`${where}: log entry ${snapshot.index} has term ${atSnapshot}, but the snapshot ` +
        `there has term ${snapshot.term}`);
    }
    const entries = raw.length > 0 && raw[0]!.index <= compacted.index ? raw.slice(compacted.index - raw[0]!.index + 1) : raw;
    let term = compacted.term;
    for (const e of entries) {
      if (e.term < term) throw new StorageError(`${where}: log entry ${e.index} has term ${e.term}, lower than the ${term} before it`);
      term = e.term;
    }
    // A node takes entries of a term only once it is in that term, and the hard state saying so
    // is written with them or before: a log ahead of the hard state lost a hard state write.
    if (entries.length > 0 && term > hardState.term) {
      throw new StorageError(`${where}: log entry ${entries[entries.length - 1]!.index} has term ${term}, but the ` +
        `hard state says term ${hardState.term} (a hard state write was lost)`);
    }
    const last = entries.length > 0 ? entries[entries.length - 1]!.index : compacted.index;
    if (snapshot !== null && last < snapshot.index) {
      throw new StorageError(`${where}: the log ends at entry ${last}, before the snapshot at ${snapshot.index} (entries lost)`);
    }
    if (hardState.commit > last) {
      throw new StorageError(`${where}: the log ends at entry ${last}, but entry ${hardState.commit} was committed ` +
        '(the end of the log was lost)');
    }
    return { hardState, snapshot, compacted, segments, entries };
  }

  /**
   * A snapshot is a file `snapshot-<index>` beside the log, named by a small checksummed header
   * record (index, term, crc and length of the file). Tens of MiB written into LevelDB would fill
   * its memtable and stall the log appends behind it; a file does not.
   */
  private async readSnapshot(header: SnapshotHeader): Promise<SnapshotRecord> {
    const { index, term, crc, length } = header;
    const name = snapshotFile(index);
    const file = this.files.path(name);
    let data: Uint8Array;
    try {
      data = await this.files.read(name);
    } catch (err) {
      throw new StorageError(`${file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
    if (data.byteLength !== length) throw new StorageError(`${file} is truncated (${data.byteLength} of ${length} bytes)`);
    if (crc32(data) !== crc) throw new StorageError(`${file} fails its checksum (corrupt)`);
    return { index, term, crc, data };
  }

  /** Removes snapshot files other than `keep`'s (older ones, or one a crash left unnamed). */
  private async removeSnapshotFiles(keep: number | null): Promise<void> {
    for (const name of await this.files.list()) {
      if (SNAPSHOT_FILE.test(name) && (keep === null || name !== snapshotFile(keep))) await this.files.remove(name);
    }
  }

  /** See RaftStorage.append. */
  append(entries: Entry[], hardState: HardState | null, sync: boolean): Promise<void> {
    try {
      if (this.queue.failed !== null) return this.queue.push([], sync);
      const view = this.ready();
      const ops: KvOp[] = [];
      let appendFrom = Infinity;
      if (entries.length > 0) {
        const first = entries[0]!.index;
        const floor = Math.max(this.snapshotAt?.index ?? 0, this.snapshotSaving ?? 0);
        assert(first > floor, `append at ${first} rewrites entries the snapshot at ${floor} holds`);
        const { removed, prevTerm } = view.append(entries);
        for (const f of removed) ops.push({ type: 'del', space: 'log', key: indexKey(f) });
        ops.push({ type: 'put', space: 'log', key: indexKey(first), value: encodeSegment(entries, prevTerm) });
        appendFrom = first;
      }
      if (hardState !== null) ops.push({ type: 'put', space: 'meta', key: META.hardState, value: encodeHardState(hardState) });
      return this.queue.push(ops, sync, appendFrom);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** See RaftStorage.saveSnapshot. */
  async saveSnapshot(snapshot: SnapshotRecord, compactThrough = snapshot.index): Promise<void> {
    this.ready();
    const { index, term, crc, data } = snapshot;
    const previous = this.snapshotAt?.index ?? 0;
    assert(this.snapshotSaving === null, `snapshot at ${index} saved while the one at ${this.snapshotSaving} is`);
    assert(index > previous, `snapshot at ${index} is not after the one at ${previous}`);
    assert(compactThrough <= index, `compaction through ${compactThrough} is past the snapshot at ${index}`);
    this.snapshotSaving = index;
    let written: Promise<void>;
    try {
      await this.files.write(snapshotFile(index), data);
      const view = this.ready();
      const header = seal(pack({ index, term, crc, length: data.byteLength }));
      const ops: KvOp[] = [{ type: 'put', space: 'meta', key: META.snapshot, value: header }];
      // Raft §7: a log that holds the snapshot's last entry keeps what follows it; any other log
      // (diverged, or behind) goes, and the log continues from the snapshot.
      const agrees = index <= view.lastIndex && view.term(index) === term;
      const removed = agrees ? view.compact(Math.max(compactThrough, view.compacted.index)) : view.discard({ index, term });
      for (const f of removed) ops.push({ type: 'del', space: 'log', key: indexKey(f) });
      ops.push({ type: 'put', space: 'meta', key: META.compacted, value: seal(pack(view.compacted)) });
      this.snapshotAt = { index, term };
      written = this.queue.push(ops, true);
    } finally {
      this.snapshotSaving = null;
    }
    await written;
    await this.removeSnapshotFiles(index);
  }

  /** See RaftStorage.compact. */
  compact(throughIndex: number): Promise<void> {
    try {
      if (this.queue.failed !== null) return this.queue.push([], false);
      const view = this.ready();
      const snap = this.snapshotAt?.index ?? 0;
      assert(throughIndex <= snap, `compaction through ${throughIndex} is past the snapshot at ${snap}`);
      if (throughIndex <= view.compacted.index) return Promise.resolve();
      const ops: KvOp[] = view.compact(throughIndex).map((f) => ({ type: 'del', space: 'log', key: indexKey(f) }));
      ops.push({ type: 'put', space: 'meta', key: META.compacted, value: seal(pack(view.compacted)) });
      return this.queue.push(ops, false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** See RaftStorage.cachedEntries. */
  cachedEntries(lo: number, hi: number, maxBytes = Infinity): Entry[] | null {
    const view = this.ready();
    assert(lo <= hi, `cachedEntries(${lo}, ${hi}): an empty range the wrong way round`);
    if (lo < view.firstIndex) throw new LogCompactedError(lo, view.firstIndex);
    if (hi > view.lastIndex + 1) throw new LogUnavailableError(hi - 1, view.lastIndex);
    if (lo === hi) return [];
    if (lo < view.tailFirst) return null;
    return takeWithin([], view.fromTail(lo, hi), maxBytes);
  }

  /** See RaftStorage.entries. */
  entries(lo: number, hi: number, maxBytes = Infinity): Promise<Entry[]> {
    try {
      const view = this.ready();
      assert(lo <= hi, `entries(${lo}, ${hi}): an empty range the wrong way round`);
      if (lo < view.firstIndex) throw new LogCompactedError(lo, view.firstIndex);
      if (hi > view.lastIndex + 1) throw new LogUnavailableError(hi - 1, view.lastIndex);
      if (lo === hi) return Promise.resolve([]);
      // Everything is captured now, before any await: the tail as it is, the disk through an
      // iterator's snapshot. Writes called meanwhile change neither.
      const tailFirst = view.tailFirst;
      const cached = view.fromTail(Math.max(lo, tailFirst), hi);
      if (lo >= tailFirst) return Promise.resolve(takeWithin([], cached, maxBytes));
      const diskHi = Math.min(hi, tailFirst);
      const segs = view.segmentsFor(lo, diskHi);
      const records = this.kv.iterate('log', { gte: indexKey(segs[0]!.first), lte: indexKey(segs[segs.length - 1]!.first) });
      return this.readDisk(() => this.readRange(records, segs, lo, diskHi, cached, maxBytes));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async readRange(records: AsyncIterable<[Uint8Array, Uint8Array]>, segs: { first: number; end: number }[],
    lo: number, hi: number, cached: Entry[], maxBytes: number): Promise<Entry[]> {
    const out: Entry[] = [];
    let bytes = 0;
    let k = 0;
    for await (const [key, value] of records) {
      const first = keyIndex(key);
      const seg = segs[k++];
      if (seg === undefined || seg.first !== first) {
        throw new StorageError(`${this.dir}: log segment at entry ${seg?.first ?? first} is missing (found ${first})`);
      }
      const decoded = decodeSegment(this.dir, first, value);
      for (let i = Math.max(lo, first); i <= Math.min(hi - 1, seg.end); i++) {
        const e = decoded.entries[i - first];
        if (e === undefined) throw new StorageError(`${this.dir}: log segment at entry ${first} ends before entry ${i}`);
        const n = e.data.byteLength;
        if (out.length > 0 && bytes + n > maxBytes) return out;
        out.push(e);
        bytes += n;
      }
    }
    if (k < segs.length) throw new StorageError(`${this.dir}: log segment at entry ${segs[k]!.first} is missing`);
    return takeWithin(out, cached, maxBytes, bytes);
  }

  /** See RaftStorage.term. */
  term(index: number): number {
    return this.ready().term(index);
  }

  firstIndex(): number {
    return this.ready().firstIndex;
  }

  lastIndex(): number {
    return this.ready().lastIndex;
  }

  /** See RaftStorage.durableState: read from disk, not from memory. */
  async durableState(): Promise<DurableState> {
    return this.readDisk(async () => {
      const hsRecord = await this.kv.get('meta', META.hardState);
      const hardState = hsRecord === undefined ? null : unseal<HardState>(this.dir, 'meta/hardstate', hsRecord);
      for await (const [key, value] of this.kv.iterate('log', { reverse: true, limit: 1 })) {
        const seg = decodeSegment(this.dir, keyIndex(key), value);
        const last = seg.entries[seg.entries.length - 1]!;
        return { last: { index: last.index, term: last.term }, hardState };
      }
      const compacted = await this.kv.get('meta', META.compacted);
      if (compacted !== undefined) return { last: unseal<LogPosition>(this.dir, 'meta/compacted', compacted), hardState };
      const header = await this.kv.get('meta', META.snapshot);
      if (header === undefined) return { last: { index: 0, term: 0 }, hardState };
      const { index, term } = unseal<SnapshotHeader>(this.dir, 'meta/snapshot', header);
      return { last: { index, term }, hardState };
    });
  }
}

/**
 * Appends `more` to `out` while their data fits in `maxBytes` (`out` holding `bytes`); at least
 * one entry in all.
 */
function takeWithin(out: Entry[], more: Entry[], maxBytes: number, bytes = 0): Entry[] {
  for (const e of more) {
    const n = e.data.byteLength;
    if (out.length > 0 && bytes + n > maxBytes) break;
    out.push(e);
    bytes += n;
  }
  return out;
}
