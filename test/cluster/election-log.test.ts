/**
 * The log lines an operator reads to answer "why did leadership move?", on three real processes:
 * a transfer (`coord leader transfer`) is logged as one by both sides; a leader whose followers
 * are frozen (SIGSTOP) steps down for lost quorum within its election timeout and says so; a
 * leader SIGKILLed is replaced after an election timeout, and the winner says that is why.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { coord, killAllCli } from '../helpers/cli-run.ts';
import { TestCluster } from '../helpers/cluster.ts';

let cluster: TestCluster | null = null;
afterEach(async () => {
  for (const n of cluster?.nodes ?? []) n.server?.proc.kill('SIGCONT');
  await cluster?.stop();
  cluster = null;
  await killAllCli();
});

interface Line { msg: string; time: number; cause?: string; term?: number; leader?: string | null; previous?: string | null }

function lines(c: TestCluster, id: string): Line[] {
  return c.node(id).server!.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

async function until<T>(get: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('election log lines say why leadership moved', { timeout: 60_000 }, () => {
  it('transfer, lost quorum, election timeout', async () => {
    const electionMs = 600;
    cluster = await TestCluster.start({ args: ['--election-ms', String(electionMs), '--heartbeat-ms', '50'] });
    const first = await cluster.leader();

    const target = cluster.nodes.map((n) => n.id).find((id) => id !== first)!;
    const t = await coord(['leader', 'transfer', target], { url: cluster.node(first).url });
    expect(t.stderr).toBe('');
    const elected = await until(() => lines(cluster!, target).find((l) => l.msg === 'elected leader'));
    expect(elected).toMatchObject({ cause: 'transfer', previous: first });
    const handedOver = await until(() => lines(cluster!, first).find((l) => l.msg === 'stepped down'));
    expect(handedOver.cause).toBe('transfer');
    // It steps down on its successor's vote request, before it knows the vote's outcome.
    await until(() => lines(cluster!, first).find((l) => l.msg === 'following a new leader' && l.leader === target));

    // Freeze both followers: the leader cannot reach a quorum and steps down (check-quorum).
    const followers = cluster.nodes.filter((n) => n.id !== target);
    for (const f of followers) f.server!.proc.kill('SIGSTOP');
    const frozenAt = Date.now();
    const lost = await until(() => lines(cluster!, target).find((l) => l.cause === 'lost-quorum'));
    expect(lost.msg).toBe('stepped down: lost touch with a majority of voters');
    // Check-quorum looks once per election timeout, at most two after the last contact.
    expect(lost.time - frozenAt).toBeLessThan(2 * electionMs + 1000);
    for (const f of followers) f.server!.proc.kill('SIGCONT');
    const back = await cluster.leader();

    // SIGKILL the leader: a survivor campaigns after its election timeout.
    await cluster.kill(back);
    const next = await cluster.leader();
    const won = await until(() => lines(cluster!, next).filter((l) => l.msg === 'elected leader').at(-1));
    expect(won).toMatchObject({ cause: 'election-timeout', previous: back });
  });
});
