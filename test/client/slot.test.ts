// Method: slot claiming (client/recipes/slot.ts) against a real in-process server over real
// WebSockets. Ten claimers compete for four slots; each holder marks its slot in use in memory,
// does a coord write with an await, and clears the mark before it lets go, so two holders of one
// slot would find the mark set. Half let go by release(), half by closing their client, and all
// ten must get a slot, so the six spares must take over freed slots both ways. A spare's takeover
// of one specific slot is checked by freeing exactly that slot; an abort while the claiming SET
// is in flight is caught with a tapped transport. Conditions are polled with deadlines.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient, SlotClaim } from '../../client/index.ts';
import { RecipeEnv, eventually, range, sleep } from '../helpers/recipe-env.ts';
import { tappedTransport } from '../helpers/recipe-transport.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await env.stop();
});

const slotFiles = async (prefix: string) => (await admin.walk(`${prefix}/*`)).files.map((f) => f.path);

describe('claimSlot', () => {
  it('10 claimers, 4 slots: no slot ever has two holders, spares take over, tokens are distinct', async () => {
    const clients = await Promise.all(range(10).map(() => env.client()));
    const inUse = [false, false, false, false];
    const tokens = new Set<number>();
    let holding = 0;
    let mostHolding = 0;
    const slotsTaken: number[] = [];
    await Promise.all(clients.map(async (c, k) => {
      const claim = await c.claimSlot('/sl/pool', 4);
      expect(claim.slot).toBeGreaterThanOrEqual(0);
      expect(claim.slot).toBeLessThan(4);
      expect(inUse[claim.slot]).toBe(false);
      inUse[claim.slot] = true;
      mostHolding = Math.max(mostHolding, ++holding);
      tokens.add(claim.token);
      slotsTaken.push(claim.slot);
      await c.set(`/sl/work/${claim.slot}`, `claimer ${k}`);
      await sleep(5);
      expect(claim.lost.aborted).toBe(false);
      inUse[claim.slot] = false;
      holding--;
      if (k % 2 === 0) await claim.release();
      else await c.close();
    }));
    expect(slotsTaken).toHaveLength(10);
    expect(tokens.size).toBe(10);
    expect(mostHolding).toBeLessThanOrEqual(4);
    expect(await slotFiles('/sl/pool')).toEqual([]);
  });

  it('a waiting spare takes exactly the slot freed by a closed client, then one freed by release()', async () => {
    const holders = await Promise.all(range(4).map(() => env.client()));
    const claims: SlotClaim[] = [];
    for (const h of holders) claims.push(await h.claimSlot('/sl/take', 4, { info: 'holder' }));
    expect(claims.map((c) => c.slot)).toEqual([0, 1, 2, 3]);
    const spares = await Promise.all(range(2).map(() => env.client()));
    const first = spares[0]!.claimSlot('/sl/take', 4, { info: 'spare' });
    await holders[2]!.close();
    await eventually(() => claims[2]!.lost.aborted, 'the closed holder to see its claim lost');
    const took = await first;
    expect(took.slot).toBe(2);
    expect(took.token).toBeGreaterThan(Math.max(...claims.map((c) => c.token)));
    expect(await admin.get('/sl/take/2')).toMatchObject({ rev: took.token, value: Buffer.from('spare') });

    const second = spares[1]!.claimSlot('/sl/take', 4);
    await claims[0]!.release();
    const took2 = await second;
    expect(took2.slot).toBe(0);
    expect(took2.token).toBeGreaterThan(took.token);
    // Default info: the claimer's session id.
    expect(await admin.get('/sl/take/0')).toMatchObject({ value: Buffer.from(spares[1]!.sessionId!) });
  });

  it('fires lost when the slot file is deleted by someone else; gives up on timeout', async () => {
    const a = await env.client();
    const claim = await a.claimSlot('/sl/one', 1);
    await expect(admin.claimSlot('/sl/one', 1, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await admin.del(claim.path);
    await eventually(() => claim.lost.aborted, 'lost to fire');
    const again = await admin.claimSlot('/sl/one', 1);
    expect(again.token).toBeGreaterThan(claim.token);
    await claim.release(); // must not remove the new holder's file
    expect(await slotFiles('/sl/one')).toEqual(['/sl/one/0']);
    await again.release();
  });

  it('frees the slot when aborted while the claiming SET is in flight', async () => {
    let armed = true;
    const tap = tappedTransport((req) => {
      if (!armed || req.op !== 'set' || req.path !== '/sl/inflight/0') return false;
      armed = false;
      return true;
    });
    const a = await env.client({ transport: tap.transport });
    const controller = new AbortController();
    const p = a.claimSlot('/sl/inflight', 1, { signal: controller.signal });
    await eventually(async () => (await slotFiles('/sl/inflight')).length === 1 && tap.held === 1, 'the claiming SET to be applied');
    controller.abort(new Error('caller gave up'));
    await expect(p).rejects.toThrow('caller gave up');
    tap.release(); // the answer arrives late
    await eventually(async () => (await slotFiles('/sl/inflight')).length === 0, 'the orphan slot file to be removed');
    const c = await admin.claimSlot('/sl/inflight', 1, { timeoutMs: 10_000 });
    expect(c.slot).toBe(0);
    await c.release();
  });

  it('rejects a slot count that is not a positive integer', async () => {
    await expect(admin.claimSlot('/sl/bad', 0)).rejects.toBeInstanceOf(RangeError);
    await expect(admin.claimSlot('/sl/bad', 1.5)).rejects.toBeInstanceOf(RangeError);
  });
});
