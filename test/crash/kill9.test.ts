/**
 * Crash test: a real `coord server` process takes a stream of pipelined writes and is killed
 * with SIGKILL at a random moment, many times over one data directory. After each restart every
 * write that was acknowledged must be there (its value readable at its revision, and the latest
 * value of each key at least as new as the last acknowledged one), the revision counter must
 * never go backwards, and a session opened before the kill must still be resumable with its
 * ephemeral file. Snapshots are taken often so that restarts replay snapshot + log.
 *
 * The number of kills is small by default; COORD_SOAK=1 runs many more.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, text, type CoordClient } from '../../client/index.ts';
import { removeDir, spawnServer, tempDir, type ChildServer } from '../helpers/server.ts';

const KILLS = process.env.COORD_SOAK ? 60 : 6;
const WRITERS = 24;

interface Ack {
  path: string;
  value: string;
  rev: number;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function writeUntilKilled(client: CoordClient, server: ChildServer, killAfterMs: number, round: number, lastCount: number[]): Promise<Ack[]> {
  const acks: Ack[] = [];
  let stop = false;
  const writer = async (w: number) => {
    while (!stop) {
      const n = lastCount[w]! + 1;
      const value = `${round}:${n}`;
      try {
        const rev = await client.set(`/crash/w${w}`, value, { timeoutMs: 2000 });
        acks.push({ path: `/crash/w${w}`, value, rev });
        lastCount[w] = n;
      } catch {
        return; // the server is gone: this write is unacknowledged
      }
    }
  };
  const running = Array.from({ length: WRITERS }, (_, w) => writer(w));
  await new Promise((r) => setTimeout(r, killAfterMs));
  server.proc.kill('SIGKILL');
  await server.exited;
  stop = true;
  await client.close().catch(() => {});
  await Promise.all(running);
  return acks;
}

describe('SIGKILL during a write stream', () => {
  const dir = tempDir('coord-crash-');
  afterAll(() => removeDir(dir));

  it(`keeps every acknowledged write across ${KILLS} kills`, async () => {
    const random = seeded(20261122);
    const lastCount = new Array<number>(WRITERS).fill(0);
    const allAcks: Ack[] = [];
    let revBefore = 0;
    let session: { id: string; secret: string } | null = null;

    for (let round = 0; round < KILLS; round++) {
      const server = await spawnServer(dir, ['--snapshot-every', '200']);
      const client = await connect({ urls: server.url, connectTimeoutMs: 5000, backoffMs: [50] });

      // Nothing acknowledged before any earlier kill is lost, and the revision never went back.
      const rev = await client.rev();
      expect(rev).toBeGreaterThanOrEqual(revBefore);
      for (let w = 0; w < WRITERS; w++) {
        const got = await client.get(`/crash/w${w}`);
        if (lastCount[w]! > 0) {
          const [, n] = text(got.value)!.split(':').map(Number);
          expect(n).toBeGreaterThanOrEqual(lastCount[w]!);
          lastCount[w] = n!; // a write applied but not acknowledged may have landed
        }
      }
      const sample = allAcks.filter((_, i) => i % 7 === 0).slice(-200);
      for (const ack of sample) {
        const got = await client.get(ack.path, { rev: ack.rev });
        expect(text(got.value)).toBe(ack.value);
        expect(got.rev).toBe(ack.rev);
      }

      // A session from the first round survives every crash (the TTL restarts with the server).
      if (session === null) {
        const owner = await connect({ urls: server.url, sessionTtlMs: 60_000 });
        await owner.set('/crash/owner', 'alive', { ephemeral: true });
        session = { id: owner.sessionId!, secret: (owner as unknown as { sessionInfo: { secret: string } }).sessionInfo.secret };
        // Drop the connection without closing the session.
        (owner as unknown as { link: { close(): void } }).link.close();
        await new Promise((r) => setTimeout(r, 10));
      }
      const acks = await writeUntilKilled(client, server, 50 + Math.floor(random() * 400), round, lastCount);
      allAcks.push(...acks);
      if (process.env.COORD_DEBUG) console.log(`round ${round}: ${acks.length} acks, rev ${Math.max(0, ...acks.map((a) => a.rev))}`);
      revBefore = Math.max(revBefore, ...acks.map((a) => a.rev));
    }

    // Final check over every acknowledged write, and the session resumed by id and secret.
    const server = await spawnServer(dir, []);
    try {
      const client = await connect({ urls: server.url });
      expect(await client.rev()).toBeGreaterThanOrEqual(revBefore);
      for (const ack of allAcks) {
        const got = await client.get(ack.path, { rev: ack.rev });
        expect(text(got.value)).toBe(ack.value);
      }
      expect(allAcks.length).toBeGreaterThan(KILLS);
      const { WebSocket } = await import('ws');
      const { encode, decode } = await import('../../protocol/codec.ts');
      const ws = new WebSocket(`${server.url}/v1/ws`);
      const hello = await new Promise<Record<string, unknown>>((res, rej) => {
        ws.on('open', () => ws.send(encode({ id: 1, op: 'hello', version: 1, session })));
        ws.on('message', (d) => res(decode(d as Buffer) as Record<string, unknown>));
        ws.on('error', rej);
      });
      expect(hello.error).toBeUndefined();
      expect((hello.result as { resumed: boolean }).resumed).toBe(true);
      ws.close();
      expect(text((await client.get('/crash/owner')).value)).toBe('alive');
      await client.close();
    } finally {
      server.proc.kill('SIGTERM');
      await server.exited;
    }
  }, 180_000);
});
