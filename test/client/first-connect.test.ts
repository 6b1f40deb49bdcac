/**
 * The first connection's give-up rules: failing fast gives up once every url has failed, but a
 * server that answered UNAVAILABLE (its cluster has no leader yet) is waited for until the
 * deadline — a CLI command run while a new cluster elects its first leader succeeds.
 */
import { describe, expect, it } from 'vitest';
import { FirstConnect } from '../../client/first-connect.ts';

describe('FirstConnect', () => {
  it('fails fast once every url has failed', async () => {
    const fc = new FirstConnect(['ws://a', 'ws://b'], 10_000, true, () => {});
    expect(fc.attemptFailed('ws://a', 'ECONNREFUSED')).toBe(false);
    expect(fc.attemptFailed('ws://b', 'ECONNREFUSED')).toBe(true);
    await expect(fc.done).rejects.toThrow(/cannot connect to ws:\/\/a: ECONNREFUSED; ws:\/\/b: ECONNREFUSED/);
  });

  it('keeps waiting for a server that answered UNAVAILABLE, and connects once it serves', async () => {
    const fc = new FirstConnect(['ws://a', 'ws://b'], 10_000, true, () => {});
    expect(fc.attemptFailed('ws://a', 'ECONNREFUSED')).toBe(false);
    expect(fc.attemptFailed('ws://b', 'UNAVAILABLE: this node is not the leader')).toBe(false);
    expect(fc.attemptFailed('ws://b', 'UNAVAILABLE: this node is not the leader')).toBe(false);
    expect(fc.pending).toBe(true);
    fc.succeeded();
    await expect(fc.done).resolves.toBeUndefined();
  });

  it('gives up at the deadline, naming the last cause', async () => {
    const fc = new FirstConnect(['ws://a'], 50, true, () => {});
    fc.attemptFailed('ws://a', 'UNAVAILABLE: this node is not the leader');
    await expect(fc.done).rejects.toThrow(/within 50 ms \(last error: ws:\/\/a: UNAVAILABLE/);
  });
});
