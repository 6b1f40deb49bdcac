/**
 * What the log storage (log-storage.ts) needs from the engine under it: an ordered key-value
 * store with atomic batches, and a place for snapshot files. LevelDB and the file system provide
 * them in production (level-storage.ts); the simulator's disk (test/sim/sim-disk.ts) provides
 * them in memory, with crashes that lose what was not synced. Keeping the log's own logic above
 * this line is what lets the simulator run the production log code.
 */

export type Bytes = Uint8Array;

/** The two key spaces: log segments by first index, and the named metadata records. */
export type Space = 'log' | 'meta';

export type KvOp =
  | { type: 'put'; space: Space; key: Bytes; value: Bytes }
  | { type: 'del'; space: Space; key: Bytes };

export interface KvRange {
  gte?: Bytes;
  lte?: Bytes;
  reverse?: boolean;
  limit?: number;
}

export interface OrderedKv {
  get(space: Space, key: Bytes): Promise<Bytes | undefined>;
  /**
   * The records of `space` within `range`, in bytewise key order (reversed if asked). The view is
   * the store as it was when `iterate` was called (LevelDB's implicit iterator snapshot): writes
   * made while it is read are not seen.
   */
  iterate(space: Space, range?: KvRange): AsyncIterable<[Bytes, Bytes]>;
  /**
   * Applies `ops` in order, as one atomic batch: after a crash all of them are there or none.
   * `sync` resolves only once the batch, and every batch written before it, is durable. One
   * caller at a time: the log storage never has two writes outstanding.
   */
  write(ops: KvOp[], sync: boolean): Promise<void>;
}

/** Snapshot files beside the key-value store. */
export interface SnapshotFiles {
  /**
   * Writes `data` under `name`, durably and atomically: once it resolves the file survives a
   * crash; a crash before leaves no file of that name (a `<name>.tmp` may be left, which `list`
   * shows). A failure leaves no partial file (a full disk gets its space back).
   */
  write(name: string, data: Uint8Array): Promise<void>;
  /** The file's bytes; throws if it cannot be read (the message says why). */
  read(name: string): Promise<Uint8Array>;
  list(): Promise<string[]>;
  remove(name: string): Promise<void>;
  /** The file's full name, for messages. */
  path(name: string): string;
}
