// Method: `coord claim|elect --wait MS -- CMD` as real child processes against a real in-process
// server, while SDK clients hold every slot or the leadership. A timed-out command must exit 3
// with a TIMEOUT line and never run CMD; what is left in the tree is compared exactly. The same
// is checked for the SDK recipes under a session that stays alive (the CLI's session ends when
// it exits, which would hide a queued file left behind).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoordClient } from '../../client/index.ts';
import { coord, killAllCli, spawnCoord } from '../helpers/cli-run.ts';
import { RecipeEnv, eventually } from '../helpers/recipe-env.ts';

let env: RecipeEnv;
let admin: CoordClient;

beforeAll(async () => {
  env = await RecipeEnv.start();
  admin = await env.client();
});

afterAll(async () => {
  await killAllCli();
  await env.stop();
});

const paths = async (glob: string) => (await admin.walk(glob)).files.map((f) => f.path);

describe('--wait MS: give up with exit 3', () => {
  it('claim: TIMEOUT when no slot frees in time; runs CMD when one frees before', async () => {
    const [a, b] = [await admin.claimSlot('/gw/p', 2), await admin.claimSlot('/gw/p', 2)];
    const late = spawnCoord(['claim', '/gw/p', '2', '--wait', '20000', '--', 'sh', '-c', 'echo ran $COORD_SLOT'], { url: env.url });
    const r = await coord(['claim', '/gw/p', '2', '--wait', '300', '--', 'sh', '-c', 'echo ran'], { url: env.url });
    expect(r).toMatchObject({ code: 3, stdout: '', stderr: 'TIMEOUT: no slot of /gw/p free within 300 ms\n' });
    expect(await paths('/gw/p/*')).toEqual(['/gw/p/0', '/gw/p/1']);
    await b.release();
    expect(await late.exited).toMatchObject({ code: 0, stdout: `ran ${b.slot}\n` });
    await a.release();
  });

  it('elect: TIMEOUT when still not leader in time; the candidate left the queue', async () => {
    const leader = await admin.elect('/gw/e', 'sdk').campaign();
    const r = await coord(['elect', '/gw/e', '--id', 'cli', '--wait', '300', '--', 'sh', '-c', 'echo ran'], { url: env.url });
    expect(r).toMatchObject({ code: 3, stdout: '', stderr: 'TIMEOUT: not elected leader at /gw/e within 300 ms\n' });
    expect(await paths('/gw/e/*')).toEqual([leader.guard.path]);
    await leader.resign();
  });

  it('the SDK recipes leave nothing behind on timeout while their session lives on', async () => {
    const other = await env.client();
    const slot = await admin.claimSlot('/gw/sdk-p', 1);
    const leader = await admin.elect('/gw/sdk-e', 'sdk').campaign();
    await expect(other.claimSlot('/gw/sdk-p', 1, { timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(other.elect('/gw/sdk-e', 'other').campaign({ timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await eventually(async () => (await paths('/gw/sdk-e/*')).length === 1, 'the timed-out candidate to leave');
    expect(await paths('/gw/sdk-p/*')).toEqual([slot.path]);
    expect(await paths('/gw/sdk-e/*')).toEqual([leader.guard.path]);
    await Promise.all([slot.release(), leader.resign()]);
  });
});
