/**
 * Writes fenced on still holding a claim: a TXN with a lock's (or slot's, or leader's) `guard`
 * condition applies while the claim's file is there unchanged, and is refused with REV_MISMATCH
 * (consuming no revision) once it was deleted, or deleted and re-created by someone else.
 * Against a real server (or, with COORD_TEST_CLUSTER=3, a cluster: a and b on different nodes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequestError, connect, RevMismatchError, text, type CoordClient } from '../../client/index.ts';
import { TestCoord } from '../helpers/test-coord.ts';

let server: TestCoord;
let a: CoordClient;
let b: CoordClient;

beforeAll(async () => {
  server = await TestCoord.start();
  a = await connect({ urls: server.nextUrl() });
  b = await connect({ urls: server.nextUrl() });
});

afterAll(async () => {
  await a.close();
  await b.close();
  await server.stop();
});

describe('guard conditions', () => {
  it('a lock holder\'s guarded write applies while it holds the lock, and not after', async () => {
    const lock = await a.lock('/guard/lock');
    expect(lock.guard).toEqual({ path: lock.key, rev: lock.token, exact: true });
    const rev = await a.txn({ conds: [lock.guard], ops: [{ op: 'set', path: '/guard/data', value: 'one' }] });
    expect(text((await b.get('/guard/data')).value)).toBe('one');

    await b.del(lock.key);
    const before = await b.rev();
    await expect(a.txn({ conds: [lock.guard], ops: [{ op: 'set', path: '/guard/data', value: 'two' }] }))
      .rejects.toBeInstanceOf(RevMismatchError);
    expect(await b.rev()).toBe(before);
    expect((await b.get('/guard/data')).rev).toBe(rev);
  });

  it('a guard fails on a file re-created at the same path (a different rev)', async () => {
    const claim = await a.claimSlot('/guard/slots', 1);
    await b.del(claim.path);
    await b.set(claim.path, 'someone else');
    await expect(a.txn({ conds: [claim.guard], ops: [{ op: 'del', path: '/guard/x' }] }))
      .rejects.toBeInstanceOf(RevMismatchError);
  });

  it('a leader\'s guard works the same way', async () => {
    const leadership = await a.elect('/guard/leader', 'a').campaign();
    await a.txn({ conds: [leadership.guard], ops: [{ op: 'set', path: '/guard/by-leader', value: 'x' }] });
    await leadership.resign();
    await expect(a.txn({ conds: [leadership.guard], ops: [{ op: 'set', path: '/guard/by-leader', value: 'y' }] }))
      .rejects.toBeInstanceOf(RevMismatchError);
  });

  it('an exact condition needs a real file rev', async () => {
    await expect(a.txn({ conds: [{ path: '/guard/z', rev: 0, exact: true }], ops: [] }))
      .rejects.toBeInstanceOf(BadRequestError);
  });

  it('an exact condition on a file at that rev holds; Doozer\'s rule still holds without it', async () => {
    const rev = await a.set('/guard/file', 'v');
    await a.txn({ conds: [{ path: '/guard/file', rev, exact: true }], ops: [] });
    await expect(a.txn({ conds: [{ path: '/guard/file', rev: rev + 5, exact: true }], ops: [] }))
      .rejects.toBeInstanceOf(RevMismatchError);
    await a.txn({ conds: [{ path: '/guard/file', rev: rev + 5 }], ops: [] });
  });
});
