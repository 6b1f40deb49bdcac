/**
 * Snapshots of the store: their bytes, and the ones this node takes itself.
 *
 * The bytes are the store's snapshot (store.ts: tree, history window, sessions, the last no-op
 * term) packed with msgpack, with the cluster membership as of the snapshot's index beside it:
 * storage keeps no membership of its own, and a node restarting, or a member installing the
 * snapshot from its leader, needs it. A snapshot without one was written by a single node before
 * clusters (recovery.ts says how that is read).
 *
 * Taking one: every `snapshotEveryEntries` applied entries, the store is captured as of the last
 * applied entry at once, its files packed a slice per turn while entries go on being applied,
 * then saved, and then the log it covers is dropped (all of it on a single node; on a cluster
 * all but the last SNAPSHOT_CATCH_UP_ENTRIES, so that a member a little behind catches up from
 * the log rather than a snapshot, as etcd does). The log view (storage-log.ts) learns of the new
 * snapshot before anything is dropped.
 *
 * One save at a time (`exclusive`): a snapshot installed from the leader goes through the same
 * door, and one taken here that an installed one overtook is given up. A snapshot that cannot be
 * written for want of space is given up too, and no other is tried for
 * SNAPSHOT_RETRY_AFTER_NOSPACE_MS (the log it would have replaced stays; the driver carries on).
 *
 * The bytes of the latest snapshot stay in memory while the node has peers, to be streamed to a
 * member that needs them (snapshot-transfer.ts); a single node lets them go. If a member needs a
 * snapshot whose bytes are gone, a new one is taken at once (`bytesFor` asks for it).
 */
import { crc32 } from '../storage/crc32.ts';
import { isNoSpaceError } from '../storage/no-space.ts';
import type { RaftStorage, SnapshotRecord } from '../storage/raft-storage.ts';
import { Store, type SnapshotCapture, type StoreOptions, type StoreSnapshot } from '../store/store.ts';
import type { Membership, SnapshotMeta } from './core/index.ts';
import type { Scheduler } from './env.ts';
import type { StorageLog } from './storage-log.ts';
import { msgpack } from '../../protocol/msgpack.ts';


/**
 * msgpackr packs into one buffer shared by every Packr of the process, grown to fit the largest
 * thing packed and kept: after a whole snapshot that is tens of MiB held for ever (and every
 * command encoded afterwards a view into it). Once a big pack's bytes are copied out, packing
 * starts again in a fresh small buffer and the big one becomes garbage.
 */
function releasePackBuffer(): void {
  // A Buffer, as msgpackr allocates its own in Node: it writes strings with Buffer's utf8Write.
  msgpack.useBuffer(Buffer.allocUnsafeSlow(0x1000));
}
/** Files packed per turn of the event loop while a snapshot is taken. */
const SNAPSHOT_FILES_PER_TURN = 2000;
/** After a snapshot failed for want of space, how long before another is tried. */
export const SNAPSHOT_RETRY_AFTER_NOSPACE_MS = 30_000;
/** Entries a cluster member keeps before its snapshot, for followers a little behind. */
export const SNAPSHOT_CATCH_UP_ENTRIES = 5000;

/** What a snapshot's bytes hold: the store's snapshot, and the membership at its index. */
export type SnapshotPayload = StoreSnapshot & { membership?: Membership };

/** The bytes of a snapshot of `store` as it is now (small stores: the bootstrap's empty one). */
export function encodeSnapshot(store: Store, membership: Membership): Uint8Array {
  const payload: SnapshotPayload = { ...store.toSnapshot(), membership };
  const bytes = new Uint8Array(msgpack.pack(payload));
  releasePackBuffer();
  return bytes;
}

/** Reads a snapshot's bytes into `store` (replacing its state); returns the membership, if any. */
export function restoreSnapshot(store: Store, data: Uint8Array): Membership | null {
  const payload = msgpack.unpack(data) as SnapshotPayload;
  store.restore(payload, (chunk) => msgpack.unpack(chunk));
  return payload.membership ?? null;
}

/** A new store from a snapshot's bytes, and the membership they hold, if any. */
export function storeFromSnapshot(data: Uint8Array, options: StoreOptions): { store: Store; membership: Membership | null } {
  const payload = msgpack.unpack(data) as SnapshotPayload;
  return { store: Store.fromSnapshot(payload, options, (chunk) => msgpack.unpack(chunk)), membership: payload.membership ?? null };
}

/** A snapshot's bytes with their membership replaced (a restored backup's new cluster). */
export function withMembership(data: Uint8Array, membership: Membership): Uint8Array {
  const payload = msgpack.unpack(data) as SnapshotPayload;
  const bytes = new Uint8Array(msgpack.pack({ ...payload, membership }));
  releasePackBuffer();
  return bytes;
}

/** The membership a snapshot's bytes hold, without building the store. */
export function snapshotMembership(data: Uint8Array): Membership | null {
  return (msgpack.unpack(data) as SnapshotPayload).membership ?? null;
}

/**
 * Told of the snapshots this node takes itself (for /metrics): `began` when one is captured to
 * be saved, `saved` with its size once it is durable (one taken at a time). Plain calls: they
 * must not throw, schedule or draw randomness (the simulator runs this code too).
 */
export interface SnapshotHooks {
  began(): void;
  saved(bytes: number): void;
}

/** What packSnapshotStream learns of the files while it packs them (for a backup's summary). */
export interface PackedFilesTally {
  /** Files alive at the capture's revision, and the bytes of their values. */
  files: number;
  valueBytes: number;
}

function msgpackBinHeader(n: number): Uint8Array {
  if (n < 0x100) return Uint8Array.of(0xc4, n);
  if (n < 0x10000) return Uint8Array.of(0xc5, n >> 8, n & 0xff);
  const out = new Uint8Array(5);
  out[0] = 0xc6;
  new DataView(out.buffer).setUint32(1, n);
  return out;
}

function msgpackArrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >> 8, n & 0xff);
  const out = new Uint8Array(5);
  out[0] = 0xdd;
  new DataView(out.buffer).setUint32(1, n);
  return out;
}

/**
 * The bytes of a snapshot of `capture`, in pieces, as they are packed: the same msgpack
 * SnapshotPayload (format 2) the snapshotter writes, byte for byte what `storeFromSnapshot` and
 * `restoreSnapshot` read, without ever holding the whole of it: one chunk of files
 * (SNAPSHOT_FILES_PER_TURN) is packed per piece, so a consumer that writes each piece before it
 * asks for the next (an HTTP response, `coord snapshot save`) holds one chunk at a time, and the
 * loop runs between pieces. The caller owns the capture (and finishes it). `tally` is filled in
 * as the files go by; complete once the last piece is out.
 */
export function* packSnapshotStream(capture: SnapshotCapture, tally: PackedFilesTally = { files: 0, valueBytes: 0 },
  membership?: Membership): Generator<Uint8Array> {
  const head: [string, unknown][] = [
    ['format', 2], ['rev', capture.rev], ['oldest', capture.oldest], ['sessions', capture.sessions],
    ['noopTerm', capture.noopTerm], ['settings', capture.settings], ['access', capture.access],
    ...(membership !== undefined ? [['membership', membership] as [string, unknown]] : []),
  ];
  // A map of head.length + 1 entries (fileChunks last, so the chunks can follow as packed).
  yield Uint8Array.of(0x80 | (head.length + 1));
  for (const [k, v] of head) {
    yield new Uint8Array(msgpack.pack(k));
    yield new Uint8Array(msgpack.pack(v));
  }
  yield new Uint8Array(msgpack.pack('fileChunks'));
  const chunks = Math.ceil(capture.fileCount / SNAPSHOT_FILES_PER_TURN);
  yield msgpackArrayHeader(chunks);
  for (let i = 0; i < chunks; i++) {
    const files = capture.files(i * SNAPSHOT_FILES_PER_TURN, (i + 1) * SNAPSHOT_FILES_PER_TURN);
    for (const [, versions] of files) {
      const cur = versions[versions.length - 1];
      if (cur !== undefined && cur.value !== null) {
        tally.files++;
        tally.valueBytes += cur.value.byteLength;
      }
    }
    // A chunk is a msgpack bin holding the packed list: its header, then the list's bytes
    // (copied once out of msgpackr's shared buffer, not packed a second time as a bin).
    const packed = new Uint8Array(msgpack.pack(files));
    yield msgpackBinHeader(packed.byteLength);
    yield packed;
  }
}

export interface SnapshotterOptions {
  snapshotEveryEntries: number;
  /** Entries kept before a snapshot while the node has peers (default SNAPSHOT_CATCH_UP_ENTRIES). */
  catchUpEntries?: number;
  /** True while the node has peers: keep the latest bytes, and some log before the snapshot. */
  hasPeers(): boolean;
  onSnapshotDeferred?(detail: string): void;
  /**
   * A snapshot was given up for want of space (after onSnapshotDeferred): if its record's
   * batch failed, storage refuses everything until reopened, which is the driver's business.
   */
  deferred?(err: unknown): void;
  /** A failure other than a full disk: the process must stop. */
  die(err: unknown): void;
  hooks?: SnapshotHooks;
}

export class Snapshotter {
  private task: Promise<void> | null = null;
  private saving: Promise<unknown> = Promise.resolve();
  private cancelRetry: (() => void) | null = null;
  /** Index of the latest durable snapshot. */
  private latestIndex = 0;
  /**
   * Index of a leader's snapshot the store has taken whose save is still queued: a local one at
   * or below it would be saved first and then collide with it, so none is taken.
   */
  private installingIndex = 0;
  /** Its bytes, while kept (see the header). */
  private latest: SnapshotRecord | null = null;
  /** A member needs a snapshot whose bytes are gone: take one at the next chance. */
  private wanted = false;
  private stopped = false;

  constructor(
    private readonly storage: RaftStorage,
    private readonly scheduler: Scheduler,
    /** The log view in use (the driver makes a new one when it rebuilds its core). */
    private readonly view: () => StorageLog,
    private readonly options: SnapshotterOptions,
  ) {}

  /** The latest durable snapshot, as storage was (re)loaded: its index, and its bytes if any. */
  reset(latest: { index: number; record: SnapshotRecord | null }): void {
    this.latestIndex = latest.index;
    this.installingIndex = 0;
    this.latest = this.options.hasPeers() ? latest.record : null;
  }

  /** The store took a leader's snapshot at `index`; its save is queued (then `installed`). */
  installing(index: number): void {
    this.installingIndex = Math.max(this.installingIndex, index);
  }

  get running(): boolean {
    return this.task !== null;
  }

  /** Resolves once no snapshot is being taken. */
  async idle(): Promise<void> {
    while (this.task !== null) await this.task;
  }

  /** Runs `save` when no other snapshot is being saved (installs and local ones, one at a time). */
  exclusive<T>(save: () => Promise<T>): Promise<T> {
    const run = this.saving.then(save, save);
    this.saving = run.catch(() => {});
    return run;
  }

  /** A snapshot from the leader was installed: it is now the latest. */
  installed(record: SnapshotRecord): void {
    this.latestIndex = record.index;
    this.latest = this.options.hasPeers() ? record : null;
  }

  /** The bytes of the snapshot at (index, term), if still held; if not, asks for a new one. */
  bytesFor(index: number, term: number): SnapshotRecord | null {
    const s = this.latest;
    if (s !== null && s.index === index && s.term === term) return s;
    this.wanted = true;
    return null;
  }

  /**
   * Starts a snapshot if one is due (or wanted) and none is running or held back. Wanted with
   * nothing applied since the latest snapshot (whose bytes went): the store as it is now is that
   * snapshot's state, so its bytes are made again, and kept, without a save.
   */
  maybeTake(store: Store, applied: { index: number; term: number }, membership: Membership): void {
    if (this.task !== null || this.cancelRetry !== null || this.stopped || applied.index < this.latestIndex) return;
    if (applied.index <= this.installingIndex && this.installingIndex > this.latestIndex) return;
    const meta = { index: applied.index, term: applied.term, membership };
    if (applied.index === this.latestIndex) {
      if (!this.wanted || this.latest !== null) return;
      this.wanted = false;
      this.take(store, meta, false);
      return;
    }
    if (!this.wanted && applied.index - this.latestIndex < this.options.snapshotEveryEntries) return;
    this.wanted = false;
    this.take(store, meta, true);
  }

  /**
   * Snapshots the store as of the last applied entry without stopping the loop: the capture is
   * taken at once, its files are packed a slice per turn, then it is saved and the log before it
   * dropped.
   */
  private take(store: Store, meta: SnapshotMeta, save: boolean): void {
    if (save) this.options.hooks?.began();
    const capture = store.captureSnapshot();
    const turn = () => new Promise<void>((r) => this.scheduler.soon(r));
    this.task = (async () => {
      let record: SnapshotRecord;
      try {
        // Packed a piece at a time (a chunk of files per turn), its CRC summed as it goes, then
        // joined once into a buffer of the exact size: packing the whole payload in one go would
        // copy every chunk again into msgpackr's buffer, doubled in size each time it fills.
        const pieces: Uint8Array[] = [];
        let crc = 0;
        let length = 0;
        for (const piece of packSnapshotStream(capture, undefined, meta.membership)) {
          pieces.push(piece);
          crc = crc32(piece, crc);
          length += piece.byteLength;
          if (piece.byteLength > 1024) await turn();
        }
        releasePackBuffer();
        const data = Buffer.allocUnsafeSlow(length);
        let at = 0;
        for (const piece of pieces) {
          data.set(piece, at);
          at += piece.byteLength;
        }
        record = { index: meta.index, term: meta.term, data, crc };
      } finally {
        capture.finish();
      }
      if (save) await this.exclusive(() => this.save(meta, record));
      else if (meta.index === this.latestIndex) this.latest = record;
    })().catch((err) => this.failed(meta.index, err)).finally(() => {
      this.task = null;
    });
  }

  private async save(meta: SnapshotMeta, record: SnapshotRecord): Promise<void> {
    // An installed snapshot overtook this one.
    if (meta.index <= Math.max(this.latestIndex, this.installingIndex)) return;
    // Nothing is dropped with the save: the log view must hear of the snapshot first.
    await this.storage.saveSnapshot(record, this.storage.firstIndex() - 1);
    this.view().setSnapshot(meta, false);
    this.options.hooks?.saved(record.data.byteLength);
    this.latestIndex = meta.index;
    const peers = this.options.hasPeers();
    this.latest = peers ? record : null;
    const through = meta.index - (peers ? this.options.catchUpEntries ?? SNAPSHOT_CATCH_UP_ENTRIES : 0);
    if (through > this.storage.firstIndex() - 1) await this.storage.compact(through);
  }

  private failed(index: number, err: unknown): void {
    if (!isNoSpaceError(err)) {
      this.options.die(err);
      return;
    }
    this.options.onSnapshotDeferred?.(
      `the snapshot at entry ${index} was not written (${(err as Error).message}); the log it would ` +
        `have replaced is kept, and another is tried in ${SNAPSHOT_RETRY_AFTER_NOSPACE_MS} ms`,
    );
    this.cancelRetry = this.scheduler.after(SNAPSHOT_RETRY_AFTER_NOSPACE_MS, () => {
      this.cancelRetry = null;
    });
    this.options.deferred?.(err);
  }

  /** The disk has room again: the wait after a snapshot given up for want of space is over. */
  roomAgain(): void {
    this.cancelRetry?.();
    this.cancelRetry = null;
  }

  /** Takes no more snapshots (one being taken finishes: see idle()). */
  stop(): void {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
  }
}
