/**
 * Write forwarding between a follower and its leader, over an in-memory transport: the answer
 * comes back; a request that arrives twice is proposed once; a lost request is sent again; a
 * leader change gives "outcome unknown"; a malformed command is refused before it reaches the log.
 */
import { describe, expect, it } from 'vitest';
import { CoordError } from '../../protocol/errors.ts';
import type { PeerMessage, PeerTransport, Scheduler } from '../../server/consensus/env.ts';
import { Forwarding } from '../../server/forwarding.ts';
import type { Command, WriteOutcome } from '../../server/store/commands.ts';

const scheduler: Scheduler = {
  soon: (fn) => void setImmediate(fn),
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

function pair(options: { dropFirst?: number; duplicate?: boolean } = {}) {
  const proposed: Command[] = [];
  let dropped = 0;
  const ends: Record<string, Forwarding> = {};
  const transport = (self: string): PeerTransport => ({
    send: (to: string, m: PeerMessage) => {
      if (m.kind === 'forward' && dropped < (options.dropFirst ?? 0)) {
        dropped++;
        return;
      }
      const deliver = () => ends[to]!.receive(self, m as PeerMessage & { kind: 'forward' | 'forward-reply' });
      setImmediate(deliver);
      if (options.duplicate === true && m.kind === 'forward') setImmediate(deliver);
    },
    onMessage: () => {},
  });
  let rev = 0;
  const make = (self: string) => new Forwarding({
    transport: transport(self), scheduler, random: () => 7, resendMs: 20,
    proposeHere: async (cmd): Promise<WriteOutcome> => {
      proposed.push(cmd);
      return { ok: true, rev: ++rev, changed: 1 };
    },
  });
  ends['f'] = make('f');
  ends['l'] = make('l');
  return { follower: ends['f'], proposed };
}

const txn: Command = { t: 'txn', conds: [], ops: [{ op: 'del', path: '/a' }] };

describe('Forwarding', () => {
  it('answers with the leader\'s outcome, proposing a duplicated request once', async () => {
    const { follower, proposed } = pair({ duplicate: true });
    expect(await follower.forward('l', txn)).toEqual({ ok: true, rev: 1, changed: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(proposed).toHaveLength(1);
  });

  it('sends a lost request again until it is answered', async () => {
    const { follower, proposed } = pair({ dropFirst: 2 });
    expect(await follower.forward('l', txn)).toEqual({ ok: true, rev: 1, changed: 1 });
    expect(proposed).toHaveLength(1);
  });

  it('gives outcome unknown when the leader changes while the write is out', async () => {
    const { follower } = pair({ dropFirst: 1000 });
    const p = follower.forward('l', txn);
    follower.leaderChanged('x');
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CoordError);
    expect((err as CoordError).details).toEqual({ outcome: 'unknown' });
  });

  it('refuses a malformed command before proposing it', async () => {
    const { follower, proposed } = pair();
    const err = await follower.forward('l', { t: 'expire', sid: 's' } as Command).catch((e: unknown) => e);
    expect((err as CoordError).code).toBe('BAD_REQUEST');
    const err2 = await follower.forward('l', { t: 'txn' } as unknown as Command).catch((e: unknown) => e);
    expect((err2 as CoordError).code).toBe('BAD_REQUEST');
    expect(proposed).toEqual([]);
  });
});
