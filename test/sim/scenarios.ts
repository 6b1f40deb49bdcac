/**
 * Scripted histories: the simulator's parts (world, network, cluster, checker) driven step by
 * step instead of by a random nemesis, for histories too unlikely for a sweep to stumble on.
 *
 * figure8(): Raft's Figure 8, the reason a leader commits only entries of its own term. With the
 * core's no-op at the start of every term it can only happen while the leader's own copy of its
 * no-op is not yet on disk, so a sweep almost never gets there (README.md, "Planted bugs"):
 *
 *   A. n1 leads (only n1 may campaign) and every node has its no-op.
 *   B. n1, cut off, appends entry i (term a) and writes it to disk; it dies. n3 is elected (n2
 *      votes; n1's and n2's vote requests are dropped) and appends its no-op at i (term b > a),
 *      but its appends are dropped, so only n3 holds it; it dies.
 *   C. n1 restarts and leads (term c; only n2 votes), on a slow disk: it sends n2 [i, its no-op],
 *      n2 acknowledges both while n1's own no-op is still being synced. The quorum holds i, of
 *      term a: a correct leader waits for its no-op; one that commits an older term's entry by
 *      counting replicas commits i now, and applies it. n1 dies before its no-op is on disk.
 *   D. n2 is cut off; n1 and n3 restart. n3 (last entry i@b) wins n1's vote over n1 (i@a),
 *      replaces i on n1, and commits: entry i is now n3's, applied where n1 had applied its own.
 *
 * Correct code applies nothing at i in step C and the run ends clean; with the commit-old-term
 * mutation the checker names a committed entry that changed.
 */
import type { PeerMessage } from '../../server/consensus/env.ts';
import { EntryType } from '../../server/consensus/core/types.ts';
import { decodeCommand } from '../../server/store/commands.ts';
import { Store } from '../../server/store/store.ts';
import { Checker, type Violation } from './checks.ts';
import { Cluster, type ClusterProfile } from './cluster.ts';
import { installMutation } from './mutations.ts';
import { calmProfile, SimNetwork } from './network.ts';
import { observeCores } from './probes.ts';
import { World } from './world.ts';

export interface ScenarioResult {
  violation: Violation | null;
  /** The steps reached, in order (a scenario that could not set its stage says where). */
  steps: string[];
  traceHash: string;
  lastEvents: string[];
}

const profile: ClusterProfile = {
  nodes: 3, tickMs: 10, electionTicks: 10, heartbeatTicks: 1, snapshotEveryEntries: 1000, historyRevisions: 1000,
  sessionCheckIntervalMs: 100, diskCheckIntervalMs: 100, fsyncBaseMs: 0.5, fsyncJitterMs: 0.5, fsyncSlowChance: 0,
  fsyncSlowMs: 0, slowDiskChance: 0, crashInSync: 0, restartMs: 10, drift: 0, historyPerNode: false,
};

const isRaft = (m: PeerMessage, ...types: string[]): boolean => m.kind === 'raft' && types.includes(m.msg.type);

export async function figure8(options: { mutation?: string; seed?: number } = {}): Promise<ScenarioResult> {
  const world = new World(options.seed ?? 8);
  const checker = new Checker(() => world.now, {
    oracle: {
      store: new Store({ historyRevisions: 1e9, historyBytes: Infinity }),
      applied: 1,
      apply: (store, e) => {
        if (e.type === EntryType.Noop) store.apply({ t: 'noop', term: e.term });
        else if (e.type === EntryType.Command) store.apply(decodeCommand(e.data));
      },
    },
  });
  // The node whose disk turns slow the moment it becomes leader (its no-op's sync is then slow,
  // while its vote, before that, was quick enough to win).
  let slowWhenLeading: string | null = null;
  let cluster: Cluster | null = null;
  const undo = [observeCores((core, rd) => {
    checker.coreReady(core, rd);
    if (rd.softState?.role === 'leader' && core.id === slowWhenLeading && cluster !== null) cluster.get(core.id).diskFactor = 3000;
  })];
  if (options.mutation !== undefined) undo.push(installMutation(options.mutation));
  const net = new SimNetwork(world, world.rng.fork(), calmProfile);
  const c8 = new Cluster(world, net, checker, profile, world.rng.fork());
  cluster = c8;
  const ids = c8.ids;
  const steps: string[] = [];
  const step = (s: string): void => {
    steps.push(s);
    world.note(`scenario: ${s}`);
  };
  const after = (): string | null => {
    if (checker.violation === null) checker.poll(c8.views());
    return checker.violation === null ? null : 'violation';
  };
  const runFor = (ms: number, done?: () => boolean): Promise<string> =>
    world.run({ until: world.now + ms, after, ...(done !== undefined ? { done } : {}) });
  const until = async (what: string, ms: number, done: () => boolean): Promise<void> => {
    await runFor(ms, done);
    if (checker.violation === null && !done()) {
      throw new Error(`figure 8: ${what} did not happen within ${ms} ms (steps: ${steps.join('; ')})\n` +
        `nodes: ${ids.map((id) => (up(id) ? `${id} ${JSON.stringify({ ...status(id), progress: undefined, membership: undefined })}` : `${id} ${c8.get(id).state}`)).join('\n')}\n` +
        `last events:\n${world.trace.last(30).join('\n')}`);
    }
  };
  const up = (id: string): boolean => c8.get(id).state === 'up';
  const status = (id: string) => c8.get(id).node!.status();
  const leads = (id: string): boolean => up(id) && c8.leaders().length === 1 && c8.leaders()[0] === id;

  try {
    // A. n1 leads, and every node has its no-op.
    let filter = net.dropIf((from, _to, m) => from !== 'n1' && isRaft(m, 'pre-vote', 'vote'));
    for (const id of ids) c8.start(id);
    await until('n1 leading with its no-op everywhere', 5000,
      () => leads('n1') && ids.every((id) => up(id) && status(id).commit >= status('n1').lastIndex && status(id).commit >= 2));
    step(`A: n1 leads term ${status('n1').term}`);

    // B. Entry i only on n1's disk; n3's no-op at i only on n3's.
    filter();
    filter = net.dropIf((from, _to, m) => ((from === 'n1' || from === 'n2') && isRaft(m, 'pre-vote', 'vote')) || (from === 'n3' && isRaft(m, 'app')));
    net.isolate('n1', ids);
    const i = status('n1').lastIndex + 1;
    c8.get('n1').node!.propose({ t: 'txn', conds: [], ops: [{ op: 'set', path: '/f8', value: new TextEncoder().encode('a') }] })
      .catch(() => {});
    await until(`n1 holding entry ${i} on disk`, 1000, () => status('n1').persisted >= i);
    const a = status('n1').term;
    c8.crash('n1');
    net.heal();
    await until('n3 leading with its no-op on its disk', 5000,
      () => leads('n3') && status('n3').lastIndex >= i && status('n3').persisted >= status('n3').lastIndex);
    const b = status('n3').term;
    if (status('n3').lastIndex !== i) throw new Error(`figure 8: n3's no-op went to ${status('n3').lastIndex}, not ${i}`);
    c8.crash('n3');
    step(`B: entry ${i} is n1's (term ${a}) on n1 alone and n3's no-op (term ${b}) on n3 alone`);

    // C. n1 leads again on a slow disk; n2 acknowledges i and n1's no-op before n1's own sync.
    filter();
    filter = net.dropIf((from, _to, m) => from === 'n2' && isRaft(m, 'pre-vote', 'vote'));
    slowWhenLeading = 'n1';
    c8.restart('n1');
    await until('n1 leading again', 10_000, () => leads('n1'));
    slowWhenLeading = null;
    const c = status('n1').term;
    await runFor(300, () => status('n1').applied >= i);
    const applied = status('n1').applied >= i;
    c8.crash('n1', { unsynced: 'lose' });
    step(`C: n1 led term ${c} and ${applied ? `applied entry ${i} (term ${a}) before its no-op was on disk` : `did not commit entry ${i}`}; it died`);

    // D. n3 wins with n1's vote and puts its own entry at i (n1's own campaigns are dropped).
    filter();
    filter = net.dropIf((from, _to, m) => from === 'n1' && isRaft(m, 'pre-vote', 'vote'));
    c8.get('n1').diskFactor = 1;
    net.isolate('n2', ids);
    c8.restart('n1');
    c8.restart('n3');
    await until('n3 leading and committing past entry i', 10_000, () => leads('n3') && status('n3').commit > i);
    step(`D: n3 leads term ${status('n3').term} and committed through ${status('n3').commit}`);
    filter();
    net.heal();
    await runFor(1000);
    step('the end');
  } finally {
    for (const u of undo.reverse()) u();
  }
  return { violation: checker.violation, steps, traceHash: world.trace.hash, lastEvents: world.trace.last(40) };
}
