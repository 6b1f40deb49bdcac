/**
 * Planted bugs, to prove the simulator can fail (`npm run sim -- --mutation NAME`). Each one
 * patches a prototype of the production code for the length of a run (probes.ts's patchMethod)
 * and is undone after; production code is never edited. README.md records how many seeds each
 * took to be caught.
 *
 * - commit-old-term: a leader commits the highest index a quorum holds whatever its term (Raft
 *   §5.4.2's rule dropped: the Figure 8 bug).
 * - vote-before-persist: vote answers leave with the Ready's messages, before the vote is on
 *   disk, so a crash can make a node vote twice in one term.
 * - campaign-before-persist (found, not planted: sim seed 978 at bed1cc5): a candidate's vote
 *   requests leave before its new term is on disk, so a leader that crashes before that write
 *   lands can win the same term again after its restart and write different entries under it.
 * - ignore-higher-term: a message from a higher term is handled as if of the node's own term (no
 *   step-down, no term change).
 * - skip-log-matching: a follower appends what a leader sends without checking that it holds the
 *   entry the append follows.
 * - apply-local-command: a node applies its own proposal's command at the index it was proposed
 *   at, even when the entry committed there is another leader's.
 * - stale-expire: the store's stale-expiry check is off (an expire from a deposed leader's term,
 *   committed late, ends the session anyway).
 * - stale-read (an extra): the read barrier is skipped, so a node answers from its store as it
 *   is (the 2014 etcd and Consul bug Jepsen found).
 * - refuse-without-barrier: a conditional write the leader's store refuses is answered as a read
 *   without the read barrier (server/refusal-by-read.ts), so a deposed leader refuses on old state.
 * - refuse-past-in-flight: the same, without waiting for writes in flight to its paths, so a
 *   client's compare-and-set is refused against the state before its own earlier write.
 * - refuse-a-retry: the early refusal does not look for the session's remembered result, so a
 *   retried write that succeeded is answered REV_MISMATCH (its own write moved the rev).
 * - settings-from-flags (an extra): each founder's store takes its history window from its own
 *   flags instead of waiting for the log's (server/store/settings.ts).
 */
import { RaftCore } from '../../server/consensus/core/core.ts';
import { RaftLog } from '../../server/consensus/core/log.ts';
import { committedIndex } from '../../server/consensus/core/quorum.ts';
import type { Message } from '../../server/consensus/core/messages.ts';
import type { Ready } from '../../server/consensus/core/ready.ts';
import { EntryType, type Entry } from '../../server/consensus/core/types.ts';
import { RaftDriver } from '../../server/consensus/driver.ts';
import { Proposals } from '../../server/consensus/proposals.ts';
import type { Command } from '../../server/store/commands.ts';
import { RefusalByRead } from '../../server/refusal-by-read.ts';
import { Store } from '../../server/store/store.ts';
import { patchMethod, stubMethod } from './probes.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- the patches reach private members */
type Any = any;

export interface Mutation {
  name: string;
  what: string;
  install(): () => void;
}

export const mutations: Mutation[] = [
  {
    name: 'commit-old-term',
    what: "a leader commits by counting replicas of a previous term's entries",
    install: () => patchMethod(RaftCore.prototype, 'maybeCommit', () => function (this: Any): boolean {
      const repl = this.replication;
      const index = committedIndex(this.config.current().voters, (id: string) => repl.match(id));
      if (index <= this.log.committed) return false;
      this.log.commitTo(index);
      repl.commitMoved();
      this.onCommitted();
      return true;
    } as never),
  },
  {
    name: 'vote-before-persist',
    what: 'a vote is answered before it is persisted',
    install: () => patchMethod(RaftCore.prototype, 'ready', (ready) => function (this: Any): Ready {
      const rd = (ready as (this: Any) => Ready).call(this);
      const isVote = (m: Message): boolean => m.type === 'vote-resp' || m.type === 'pre-vote-resp';
      if (!rd.afterWrite.some(isVote)) return rd;
      return { ...rd, messages: [...rd.messages, ...rd.afterWrite.filter(isVote)], afterWrite: rd.afterWrite.filter((m) => !isVote(m)) };
    } as never),
  },
  {
    name: 'campaign-before-persist',
    what: "a candidate's vote requests are sent before its term and self-vote are durable",
    install: () => patchMethod(RaftCore.prototype, 'ready', (ready) => function (this: Any): Ready {
      const rd = (ready as (this: Any) => Ready).call(this);
      const isRequest = (m: Message): boolean => m.type === 'vote';
      if (!rd.afterWrite.some(isRequest)) return rd;
      return { ...rd, messages: [...rd.messages, ...rd.afterWrite.filter(isRequest)], afterWrite: rd.afterWrite.filter((m) => !isRequest(m)) };
    } as never),
  },
  {
    name: 'ignore-higher-term',
    what: 'a message from a higher term is handled as if of the current term',
    install: () => stubMethod(RaftCore.prototype, 'acceptHigherTerm', () => true),
  },
  {
    name: 'skip-log-matching',
    what: 'a follower appends without checking that it holds the entry the new ones follow',
    // RaftLog.maybeAppend without its first line (the matchTerm check); a gap is still refused,
    // as storage would refuse it.
    install: () => patchMethod(RaftLog.prototype, 'maybeAppend', () => function (
      this: Any, index: number, _logTerm: number, commit: number, entries: Entry[],
    ) {
      if (index > this.lastIndex()) return null;
      const lastNew = index + entries.length;
      const conflict = this.findConflict(entries);
      let appendedFrom: number | null = null;
      if (conflict !== 0) {
        this.append(entries.slice(conflict - index - 1));
        appendedFrom = conflict;
      }
      this.commitTo(Math.min(commit, lastNew));
      return { lastNew, appendedFrom };
    } as never),
  },
  {
    name: 'apply-local-command',
    what: "a node applies its own proposal's command instead of the entry committed at that index",
    install: () => installApplyLocal(),
  },
  {
    name: 'stale-expire',
    what: "the store's stale-expiry check is off",
    install: () => patchMethod(Store.prototype, 'apply', (apply) => function (this: Any, cmd: Command) {
      if (cmd.t === 'expire' && cmd.term !== undefined) {
        const { term: _term, ...rest } = cmd;
        return (apply as (this: Any, c: Command) => unknown).call(this, rest);
      }
      return (apply as (this: Any, c: Command) => unknown).call(this, cmd);
    } as never),
  },
  {
    name: 'stale-read',
    what: 'reads skip the read-index barrier and answer from the local store',
    install: () => stubMethod(RaftDriver.prototype, 'readBarrier', () => Promise.resolve()),
  },
  {
    name: 'refuse-without-barrier',
    what: 'a conditional write is refused as a read without the read barrier',
    install: () => stubMethod(RefusalByRead.prototype, 'confirm', () => Promise.resolve()),
  },
  {
    name: 'refuse-past-in-flight',
    what: 'a conditional write is refused as a read while a write to its path is in flight',
    install: () => stubMethod(RefusalByRead.prototype, 'anyInFlight', () => false),
  },
  {
    name: 'refuse-a-retry',
    what: "the early refusal ignores the session's remembered result for a retried seq",
    install: () => patchMethod(Store.prototype, 'revMismatchNow', (original) => function (this: Any, cmd: Any) {
      const { sid: _sid, seq: _seq, seqFloor: _floor, ...rest } = cmd;
      return (original as (this: Any, c: Any) => unknown).call(this, rest);
    } as never),
  },
  {
    name: 'settings-from-flags',
    what: "a founder's store takes the history window from its own flags, not the log",
    install: () => {
      const original = Store.founding;
      (Store as Any).founding = (options: Any) => new Store(options);
      return () => {
        (Store as Any).founding = original;
      };
    },
  },
];

/**
 * Every command a node proposes is remembered by index (the driver's own bookkeeping forgets a
 * proposal whose entry is overwritten, so it never reaches apply), and the driver's applyEntry,
 * patched, applies that command instead of the entry committed there when the entry's term is
 * not the proposal's: the entry at that index changed, and the node applies its local command.
 */
function installApplyLocal(): () => void {
  const mine = new WeakMap<object, Map<number, { term: number; cmd: Command }>>();
  const undoAdd = patchMethod(Proposals.prototype, 'add', (add) => function (this: Any, index: number, term: number, cmd: Command) {
    let byIndex = mine.get(this);
    if (byIndex === undefined) mine.set(this, (byIndex = new Map()));
    byIndex.set(index, { term, cmd });
    return (add as (this: Any, i: number, t: number, c: Command) => unknown).call(this, index, term, cmd);
  } as never);
  const undoApply = patchMethod(RaftDriver.prototype, 'applyEntry', (applyEntry) => function (this: Any, e: Entry) {
    const byIndex = mine.get(this.proposals);
    const p = byIndex?.get(e.index);
    byIndex?.delete(e.index);
    if (p !== undefined && p.term !== e.term && e.type === EntryType.Command && p.cmd.t !== 'noop') return this.store.apply(p.cmd);
    return (applyEntry as (this: Any, e: Entry) => unknown).call(this, e);
  } as never);
  return () => {
    undoApply();
    undoAdd();
  };
}

export function installMutation(name: string): () => void {
  const m = mutations.find((x) => x.name === name);
  if (m === undefined) throw new Error(`no mutation ${name} (known: ${mutations.map((x) => x.name).join(', ')})`);
  return m.install();
}
