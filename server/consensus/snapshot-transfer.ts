/**
 * Moving a snapshot's bytes from a leader to a member that needs them (the core only says which
 * snapshot, in a `snap` message: core.ts, "Snapshots").
 *
 * Sender (leader). On a core `snap` message the latest snapshot's bytes go out as `snap-chunk`
 * peer messages of SNAPSHOT_CHUNK_BYTES, each with its offset, the total length and a CRC-32 of
 * its bytes, at most WINDOW_CHUNKS ahead of what the member acknowledged. The member answers
 * each chunk with a `snap-ack` saying how many bytes it holds in order, so a lost or damaged
 * chunk is sent again from there (a resend also happens after `resendAfterTicks` ticks without
 * an ack). Once the member holds them all, the `snap` message itself is sent and the core told
 * the snapshot went (reportSnapshot ok); after `giveUpAfterResends` resends in a row without
 * progress it is told the snapshot failed, and will try again later.
 *
 * Receiver (member). Chunks are assembled in memory in order, each checked against its CRC. A
 * complete snapshot is kept until the core takes it: the driver steps a `snap` message only if
 * its bytes are all here (`has`), and takes them (`take`) when a Ready says to install it.
 */
import { crc32 } from '../storage/crc32.ts';
import type { SnapshotRecord } from '../storage/raft-storage.ts';
import type { NodeId } from './core/index.ts';
import type { SnapMsg } from './core/messages.ts';
import type { PeerMessage } from './env.ts';

export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/** Chunks sent ahead of the member's acknowledgement. */
export const WINDOW_CHUNKS = 4;
/** The largest snapshot a member accepts (a bound on what a bad message makes it allocate). */
export const SNAPSHOT_BYTES_MAX = 4 * 1024 * 1024 * 1024 - 1;

type Chunk = Extract<PeerMessage, { kind: 'snap-chunk' }>;
type Ack = Extract<PeerMessage, { kind: 'snap-ack' }>;

interface Stream {
  msg: SnapMsg;
  data: Uint8Array;
  /** Bytes the member holds, as far as we know. */
  acked: number;
  /** Bytes sent (from `acked` on, the window). */
  sent: number;
  quietTicks: number;
  resends: number;
  pumping: boolean;
}

export interface SenderHooks {
  send(to: NodeId, m: PeerMessage): void;
  /** core.reportSnapshot. */
  report(to: NodeId, ok: boolean): void;
  /** The bytes of the snapshot at (index, term), or null if they are not held. */
  bytesFor(index: number, term: number): Uint8Array | null;
}

export class SnapshotSender {
  private readonly streams = new Map<NodeId, Stream>();

  constructor(
    private readonly hooks: SenderHooks,
    private readonly resendAfterTicks: number,
    private readonly giveUpAfterResends: number,
  ) {}

  get active(): number {
    return this.streams.size;
  }

  /** The core sent `msg`: stream its snapshot to the member. */
  start(msg: SnapMsg): void {
    const data = this.hooks.bytesFor(msg.snapshot.index, msg.snapshot.term);
    if (data === null) {
      this.hooks.report(msg.to, false);
      return;
    }
    const s: Stream = { msg, data, acked: 0, sent: 0, quietTicks: 0, resends: 0, pumping: false };
    this.streams.set(msg.to, s);
    this.pump(s);
  }

  onAck(from: NodeId, ack: Ack): void {
    const s = this.streams.get(from);
    if (s === undefined || s.msg.snapshot.index !== ack.index || s.msg.snapshot.term !== ack.term) return;
    s.quietTicks = 0;
    if (ack.done) {
      this.streams.delete(from);
      this.hooks.send(from, { kind: 'raft', msg: s.msg });
      this.hooks.report(from, true);
      return;
    }
    if (ack.received === 0 && s.acked > 0) {
      // The member lost what it had (it restarted): from the start.
      s.acked = s.sent = 0;
    } else if (ack.received > s.acked) {
      // (An ack below the last one is an old one, overtaken on the way: no news.)
      s.acked = ack.received;
      s.resends = 0;
      if (s.sent < s.acked) s.sent = s.acked;
    }
    this.pump(s);
  }

  private pump(s: Stream): void {
    // A send may deliver at once and its ack come back inside it: the loop below goes on.
    if (s.pumping) return;
    s.pumping = true;
    try {
      const { index, term } = s.msg.snapshot;
      const total = s.data.byteLength;
      while (this.streams.get(s.msg.to) === s && s.sent < total && s.sent < s.acked + WINDOW_CHUNKS * SNAPSHOT_CHUNK_BYTES) {
        const offset = s.sent;
        const data = s.data.subarray(offset, Math.min(offset + SNAPSHOT_CHUNK_BYTES, total));
        s.sent = offset + data.byteLength;
        this.hooks.send(s.msg.to, { kind: 'snap-chunk', index, term, offset, data, total, crc: crc32(data) });
      }
    } finally {
      s.pumping = false;
    }
  }

  /** One tick: streams without an ack for a while send again from the last acknowledged byte. */
  tick(): void {
    for (const [to, s] of [...this.streams]) {
      if (++s.quietTicks < this.resendAfterTicks) continue;
      s.quietTicks = 0;
      if (++s.resends > this.giveUpAfterResends) {
        this.streams.delete(to);
        this.hooks.report(to, false);
        continue;
      }
      s.sent = s.acked;
      this.pump(s);
    }
  }

  /** Drops every stream (leadership lost: the core that asked for them is no longer leader). */
  cancelAll(): void {
    this.streams.clear();
  }
}

interface Assembly {
  index: number;
  term: number;
  total: number;
  buf: Uint8Array;
  received: number;
  crc: number;
}

const key = (index: number, term: number) => `${index}:${term}`;

export class SnapshotReceiver {
  private asm: Assembly | null = null;
  /** Whole snapshots, by index:term, until taken (the newest two at most). */
  private readonly complete = new Map<string, SnapshotRecord>();

  constructor(private readonly send: (to: NodeId, m: PeerMessage) => void) {}

  onChunk(from: NodeId, c: Chunk): void {
    const ack = (received: number, done = false) =>
      this.send(from, { kind: 'snap-ack', index: c.index, term: c.term, received, done });
    if (!validChunk(c)) return;
    if (this.complete.has(key(c.index, c.term))) return ack(c.total, true);
    let a = this.asm;
    if (a === null || a.index !== c.index || a.term !== c.term) {
      // A new snapshot starts at its first byte; anything else asks the sender to start over.
      if (c.offset !== 0) return ack(0);
      a = this.asm = { index: c.index, term: c.term, total: c.total, buf: new Uint8Array(c.total), received: 0, crc: 0 };
    }
    const n = c.data.byteLength;
    if (c.offset !== a.received || c.total !== a.total || a.received + n > a.total || crc32(c.data) !== c.crc) {
      return ack(a.received);
    }
    a.buf.set(c.data, a.received);
    a.received += n;
    a.crc = crc32(c.data, a.crc);
    if (a.received < a.total) return ack(a.received);
    this.asm = null;
    this.complete.set(key(a.index, a.term), { index: a.index, term: a.term, data: a.buf, crc: a.crc });
    while (this.complete.size > 2) this.complete.delete(this.oldest()!);
    ack(a.total, true);
  }

  private oldest(): string | undefined {
    let min: SnapshotRecord | undefined;
    for (const r of this.complete.values()) if (min === undefined || r.index < min.index) min = r;
    return min === undefined ? undefined : key(min.index, min.term);
  }

  /** Whether the bytes of the snapshot `msg` announces are all here. */
  has(msg: SnapMsg): boolean {
    return this.complete.has(key(msg.snapshot.index, msg.snapshot.term));
  }

  /** The bytes of the snapshot at (index, term), handed over once; older ones are dropped. */
  take(index: number, term: number): SnapshotRecord | null {
    const r = this.complete.get(key(index, term)) ?? null;
    for (const [k, s] of [...this.complete]) if (s.index <= index) this.complete.delete(k);
    return r;
  }
}

function validChunk(c: Chunk): boolean {
  const nat = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  return nat(c.index) && nat(c.term) && nat(c.offset) && nat(c.crc) && nat(c.total) && c.total > 0 &&
    c.total <= SNAPSHOT_BYTES_MAX && c.data instanceof Uint8Array;
}
