/**
 * The history window is replicated state (server/store/settings.ts), yet a single node keeps
 * the behaviour its users know: the flags it starts with are the window, also after a restart
 * with other flags (its settings go through its log), and what it was set to survives a restart
 * in its snapshot.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from '../../server/store/commands.ts';
import { removeDir, startTestServer, tempDir } from '../helpers/server.ts';

const te = new TextEncoder();
const set = (path: string, value: string): Command => ({ t: 'txn', conds: [], ops: [{ op: 'set', path, value: te.encode(value) }] });

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('history window of a single node', () => {
  it('follows --history across restarts, through the log and the snapshot', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    let s = await startTestServer({ dataDir, historyRevisions: 5, snapshotEveryEntries: 8 });
    for (let i = 0; i < 20; i++) await s.node.propose(set('/a', String(i)));
    expect(s.node.store.settings?.historyRevisions).toBe(5);
    expect(s.node.store.oldestRev).toBe(15);
    await s.close();

    s = await startTestServer({ dataDir, historyRevisions: 100, snapshotEveryEntries: 8 });
    await s.node.whenReady();
    for (let i = 0; i < 20; i++) await s.node.propose(set('/a', `b${i}`));
    expect(s.node.store.settings?.historyRevisions).toBe(100);
    expect(s.node.store.oldestRev).toBe(15);
    await s.close();

    // Restarted with the same flags: from its snapshot and log, nothing to change.
    s = await startTestServer({ dataDir, historyRevisions: 100, snapshotEveryEntries: 8 });
    await s.node.whenReady();
    expect(s.node.store.settings?.historyRevisions).toBe(100);
    expect(s.node.store.oldestRev).toBe(15);
    expect(s.node.store.rev).toBe(40);
    await s.close();
  });
});
