/**
 * Streaming a snapshot between a sender and a receiver over a link the test controls: the bytes
 * arrive whole and checked; a lost chunk is sent again after a quiet while; a damaged one is
 * refused and sent again; a receiver that restarted gets everything again; the `snap` message
 * goes once the bytes are all there, and the core hears of it; a member that never answers is
 * given up.
 */
import { describe, expect, it } from 'vitest';
import type { SnapMsg } from '../../../../server/consensus/core/messages.ts';
import type { PeerMessage } from '../../../../server/consensus/env.ts';
import {
  SNAPSHOT_CHUNK_BYTES, SnapshotReceiver, SnapshotSender,
} from '../../../../server/consensus/snapshot-transfer.ts';
import { crc32 } from '../../../../server/storage/crc32.ts';

const msg: SnapMsg = { type: 'snap', from: 'L', to: 'F', term: 3, snapshot: { index: 40, term: 2, membership: { voters: ['F', 'L'], learners: [] } } };
// (toEqual on typed arrays this size takes seconds.)
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
const bytes = new Uint8Array(3 * SNAPSHOT_CHUNK_BYTES + 1234).map((_, i) => (i * 31) & 0xff);

function link(opts: { drop?: (m: PeerMessage) => boolean } = {}) {
  const reports: boolean[] = [];
  const raft: PeerMessage[] = [];
  let receiver!: SnapshotReceiver;
  const sender = new SnapshotSender({
    send: (_to, m) => {
      if (opts.drop?.(m)) return;
      if (m.kind === 'snap-chunk') receiver.onChunk('L', m);
      else raft.push(m);
    },
    report: (_to, ok) => reports.push(ok),
    bytesFor: (index, term) => (index === 40 && term === 2 ? bytes : null),
  }, 2, 3);
  receiver = new SnapshotReceiver((_to, m) => {
    if (opts.drop?.(m)) return;
    if (m.kind === 'snap-ack') sender.onAck('F', m);
  });
  return { sender, receiver, reports, raft, reset: () => (receiver = new SnapshotReceiver((_to, m) => m.kind === 'snap-ack' && sender.onAck('F', m))) };
}

describe('snapshot transfer', () => {
  it('streams the bytes in checked chunks, then sends the snap message and reports success', () => {
    const l = link();
    l.sender.start(msg);
    expect(l.raft).toEqual([{ kind: 'raft', msg }]);
    expect(l.reports).toEqual([true]);
    expect(l.receiver.has(msg)).toBe(true);
    const got = l.receiver.take(40, 2)!;
    expect(same(got.data, bytes)).toBe(true);
    expect(got.crc).toBe(crc32(bytes));
    expect(l.receiver.take(40, 2)).toBeNull();
  });

  it('sends a lost chunk again after a quiet while, and a damaged one again at once', () => {
    let dropped = 0;
    let damaged = 0;
    const l = link({
      drop: (m) => {
        if (m.kind === 'snap-chunk' && m.offset === SNAPSHOT_CHUNK_BYTES && dropped++ === 0) return true;
        if (m.kind === 'snap-chunk' && m.offset === 2 * SNAPSHOT_CHUNK_BYTES && damaged++ === 0) {
          m.crc ^= 1;
        }
        return false;
      },
    });
    l.sender.start(msg);
    expect(l.reports).toEqual([]);
    l.sender.tick();
    l.sender.tick();
    expect(l.reports).toEqual([true]);
    expect(same(l.receiver.take(40, 2)!.data, bytes)).toBe(true);
  });

  it('starts over for a receiver that lost what it had', () => {
    let n = 0;
    const l = link({ drop: (m) => m.kind === 'snap-chunk' && ++n === 3 });
    l.sender.start(msg);
    l.reset();
    l.sender.tick();
    l.sender.tick();
    expect(l.reports).toEqual([true]);
  });

  it('gives up on a member that never answers, and on bytes it no longer holds', () => {
    const l = link({ drop: () => true });
    l.sender.start(msg);
    for (let i = 0; i < 20; i++) l.sender.tick();
    expect(l.reports).toEqual([false]);
    l.sender.start({ ...msg, snapshot: { ...msg.snapshot, index: 41 } });
    expect(l.reports).toEqual([false, false]);
  });

  it('a receiver refuses a chunk out of order and a stream that does not start at 0', () => {
    const acks: PeerMessage[] = [];
    const r = new SnapshotReceiver((_to, m) => acks.push(m));
    const data = bytes.subarray(SNAPSHOT_CHUNK_BYTES, 2 * SNAPSHOT_CHUNK_BYTES);
    r.onChunk('L', { kind: 'snap-chunk', index: 40, term: 2, offset: SNAPSHOT_CHUNK_BYTES, data, total: bytes.length, crc: crc32(data) });
    expect(acks).toEqual([{ kind: 'snap-ack', index: 40, term: 2, received: 0, done: false }]);
    expect(r.has(msg)).toBe(false);
  });
});
