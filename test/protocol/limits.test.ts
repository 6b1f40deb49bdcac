/**
 * The named limits (protocol/limits.ts), pinned.
 *
 * Method: the exact value of every entry is written out here, and the set of names must match,
 * so changing, adding or removing a limit means changing this test on purpose (and the README
 * table with it: each name must appear in protocol/README.md, next to its value). A few
 * relations between limits that the protocol relies on are checked too.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { limits, PROTOCOL_VERSION, WS_PATH } from '../../protocol/limits.ts';

const pinned = {
  frameBytesMax: 2_097_152,
  valueBytesMax: 1_048_576,
  pathBytesMax: 1024,
  txnOpsMax: 128,
  requestsInflightPerConnectionMax: 1024,
  watchesPerConnectionMax: 1024,
  connectionsMax: 10_000,
  pageEntriesMax: 10_000,
  pageBytesMax: 1_048_576,
  pageEntriesDefault: 1000,
  historyRevisionsDefault: 100_000,
  futureRevisionWaitMsMax: 10_000,
  sessionTtlMsMin: 1000,
  sessionTtlMsMax: 300_000,
  sessionTtlMsDefault: 10_000,
  socketBufferedBytesHigh: 4_194_304,
  watchLagRevisionsMax: 50_000,
  dedupeResultsPerSessionMax: 1024,
  helloTimeoutMs: 10_000,
  upgradeTimeoutMs: 10_000,
  writesInflightMax: 10_000,
  historyBytesDefault: 134_217_728,
  watchProgressMsMin: 100,
  watchProgressMsMax: 3_600_000,
} as const;

const readme = readFileSync(new URL('../../protocol/README.md', import.meta.url), 'utf8');

describe('limits', () => {
  it('have exactly the pinned names and values', () => {
    expect(Object.keys(limits).sort()).toEqual(Object.keys(pinned).sort());
    expect({ ...limits }).toEqual(pinned);
  });

  it('the protocol version and WebSocket path are pinned', () => {
    expect(PROTOCOL_VERSION).toBe(1);
    expect(WS_PATH).toBe('/v1/ws');
  });

  it.each(Object.keys(pinned))('%s is in the README limits table with its value', (name) => {
    expect(readme).toContain('\n## Limits\n');
    const section = readme.slice(readme.indexOf('\n## Limits\n'));
    const row = section.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
    expect(row, `no table row for ${name} in protocol/README.md`).toBeDefined();
    const value = pinned[name as keyof typeof pinned];
    const cells = row!.replace(/[\s_,]/g, '');
    expect(cells).toContain(`|${value}|`);
  });

  it('relate as the protocol needs', () => {
    expect(limits.valueBytesMax).toBeLessThan(limits.frameBytesMax);
    expect(limits.pathBytesMax).toBeLessThan(limits.frameBytesMax);
    expect(limits.sessionTtlMsMin).toBeLessThanOrEqual(limits.sessionTtlMsDefault);
    expect(limits.sessionTtlMsDefault).toBeLessThanOrEqual(limits.sessionTtlMsMax);
    expect(limits.pageEntriesDefault).toBeLessThanOrEqual(limits.pageEntriesMax);
    expect(limits.watchLagRevisionsMax).toBeLessThan(limits.historyRevisionsDefault);
    expect(limits.socketBufferedBytesHigh).toBeGreaterThanOrEqual(limits.frameBytesMax);
  });

  it('are positive integers', () => {
    for (const [name, value] of Object.entries(limits)) {
      expect(Number.isSafeInteger(value) && value > 0, name).toBe(true);
    }
  });
});
