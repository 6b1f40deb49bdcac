/**
 * RefusalByRead's ordering, with a store and a barrier the test controls: writes to a path held
 * by a write waiting for its barrier are proposed after it, in the order they arrived, however
 * many wait beside each other; a refusal is answered only if the store still refuses after the
 * barrier; a write to a path with a write in flight is never refused early.
 */
import { describe, expect, it } from 'vitest';
import { RefusalByRead } from '../../server/refusal-by-read.ts';
import type { Command, WriteOutcome } from '../../server/store/commands.ts';
import type { Store } from '../../server/store/store.ts';

const mismatch = { code: 'REV_MISMATCH' as const, message: 'no' };
const txn = (path: string, rev: number, tag: string): Command =>
  ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: new TextEncoder().encode(tag), rev }] });
const tagOf = (c: Command) => new TextDecoder().decode((c as { ops: { value: Uint8Array }[] }).ops[0]!.value);

function setup(refuses: (c: Command) => boolean) {
  const barriers: (() => void)[] = [];
  const store = { revMismatchNow: (c: Command) => (refuses(c) ? mismatch : null) } as unknown as Store;
  const r = new RefusalByRead(store, () => new Promise<void>((res) => { barriers.push(res); }));
  const proposed: string[] = [];
  const pending: ((o: WriteOutcome) => void)[] = [];
  const propose = (c: Command) => new Promise<WriteOutcome>((res) => { proposed.push(tagOf(c)); pending.push(res); });
  return { r, proposed, pending, barriers };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('refusal by read', () => {
  it('refuses after the barrier when the store still refuses, without proposing', async () => {
    const { r, proposed, barriers } = setup(() => true);
    const answer = r.propose(txn('/k', 3, 'a'), () => { throw new Error('proposed'); });
    await tick();
    expect(barriers).toHaveLength(1);
    barriers[0]!();
    expect(await answer).toEqual({ ok: false, error: mismatch });
    expect(proposed).toEqual([]);
    expect(r.refusedEarly).toBe(1);
  });

  it('proposes writes that waited behind a held one in arrival order', async () => {
    let refuse = true;
    const { r, proposed, pending, barriers } = setup((c) => refuse && tagOf(c) === 'held');
    const held = r.propose(txn('/k', 3, 'held'), (c) => { proposed.push(tagOf(c)); return Promise.resolve({ ok: true, rev: 9, changed: 1 }); });
    await tick();
    const rest = ['w1', 'w2', 'w3'].map((tag) => r.propose(txn('/k', tag === 'w2' ? 5 : -1, tag), (c) => {
      proposed.push(tagOf(c));
      return new Promise((res) => pending.push(res));
    }));
    await tick();
    expect(proposed).toEqual([]); // all wait for the held write
    refuse = false; // the held write may now succeed: it is proposed, first
    barriers[0]!();
    await held;
    await tick();
    expect(proposed).toEqual(['held', 'w1', 'w2', 'w3']);
    for (const res of pending) res({ ok: true, rev: 10, changed: 1 });
    await Promise.all(rest);
  });

  it('a write that waited beside one that then became held waits for that one too', async () => {
    const refusing = new Set(['held', 'c1']);
    const { r, proposed, barriers } = setup((c) => refusing.has(tagOf(c)));
    const propose = (c: Command) => { proposed.push(tagOf(c)); return Promise.resolve({ ok: true as const, rev: 1, changed: 1 }); };
    const held = r.propose(txn('/k', 3, 'held'), propose);
    await tick();
    const c1 = r.propose(txn('/k', 4, 'c1'), propose); // conditional: becomes the held one next
    const w2 = r.propose(txn('/k', -1, 'w2'), propose); // unconditional, sent after c1
    await tick();
    barriers[0]!(); // 'held' is refused; c1 takes its place and waits for its own barrier
    expect(await held).toMatchObject({ ok: false });
    await tick();
    expect(barriers).toHaveLength(2);
    expect(proposed).toEqual([]); // w2 waits for c1, which arrived first
    refusing.delete('c1');
    barriers[1]!();
    await Promise.all([c1, w2]);
    expect(proposed).toEqual(['c1', 'w2']);
  });

  it('never refuses early while a write to the path is in flight', async () => {
    const { r, pending, barriers } = setup(() => true);
    const first = r.propose(txn('/k', -1, 'first'), () => new Promise<WriteOutcome>((res) => pending.push(res)));
    const proposedSecond: string[] = [];
    const second = r.propose(txn('/k', 3, 'second'), (c) => { proposedSecond.push(tagOf(c)); return Promise.resolve({ ok: true, rev: 1, changed: 1 }); });
    await tick();
    expect(barriers).toHaveLength(0);
    expect(proposedSecond).toEqual(['second']);
    pending[0]!({ ok: true, rev: 1, changed: 1 });
    await Promise.all([first, second]);
  });
});
