/**
 * Read-index reads in the driver: one request to the core for the reads of a turn; a confirmed
 * read waits for the store to apply its index; a refused one, or one never answered, fails with
 * a retryable UNAVAILABLE; a sole voter that caught up answers at once.
 */
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../../protocol/errors.ts';
import { Refused } from '../../../../server/consensus/core/index.ts';
import { Reads } from '../../../../server/consensus/reads.ts';

function setup(opts: { local?: boolean; refuse?: boolean } = {}) {
  const asked: string[] = [];
  const soon: (() => void)[] = [];
  let applied = 0;
  const reads = new Reads('n1.x', {
    ask: (id) => {
      if (opts.refuse) throw new Refused('NO_LEADER', 'no leader is known to confirm a read', null);
      asked.push(id);
    },
    applied: () => applied,
    local: () => opts.local === true,
    soon: (fn) => soon.push(fn),
  }, 3);
  const turn = () => {
    for (const fn of soon.splice(0)) fn();
  };
  return { reads, asked, turn, apply: (i: number) => { applied = i; reads.appliedTo(i); } };
}

const settled = async (p: Promise<void>) => {
  let r: unknown = 'pending';
  p.then(() => (r = 'ok'), (e: CoordError) => (r = e.code));
  await new Promise((res) => setTimeout(res, 0));
  return r;
};

describe('read-index reads', () => {
  it('asks once per turn, and answers once the store applied the confirmed index', async () => {
    const { reads, asked, turn, apply } = setup();
    const a = reads.barrier();
    const b = reads.barrier();
    turn();
    expect(asked).toEqual(['n1.x.1']);
    reads.confirmed([{ requestId: 'n1.x.1', index: 7 }]);
    expect(await settled(a)).toBe('pending');
    apply(6);
    expect(await settled(b)).toBe('pending');
    apply(7);
    expect(await settled(a)).toBe('ok');
    expect(await settled(b)).toBe('ok');
  });

  it('refused reads, reads with no leader and reads never answered fail with UNAVAILABLE', async () => {
    const one = setup();
    const a = one.reads.barrier();
    one.turn();
    one.reads.refused([{ requestId: 'n1.x.1', reason: 'leadership-lost' }]);
    expect(await settled(a)).toBe(ErrorCode.UNAVAILABLE);

    const none = setup({ refuse: true });
    const b = none.reads.barrier();
    none.turn();
    expect(await settled(b)).toBe(ErrorCode.UNAVAILABLE);

    const lost = setup();
    const c = lost.reads.barrier();
    lost.turn();
    for (let i = 0; i < 3; i++) lost.reads.tick();
    expect(await settled(c)).toBe('pending');
    lost.reads.tick();
    expect(await settled(c)).toBe(ErrorCode.UNAVAILABLE);
  });

  it('answers at once when the store may be read as it is', async () => {
    const { reads, asked } = setup({ local: true });
    expect(await settled(reads.barrier())).toBe('ok');
    expect(asked).toEqual([]);
  });
});
