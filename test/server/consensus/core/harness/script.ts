/**
 * The transcript language: one command per block, run against a Cluster, printing what happened.
 *
 *   add-nodes N [voters=1,2,3] [learners=4] [index=K] [async=true] [prevote=false]
 *             [checkquorum=false] [election=E] [heartbeat=H] [inflight=W] [max-msg-bytes=B]
 *       N new nodes, numbered on from the last. The first add-nodes founds the cluster: by
 *       default its nodes are the voters, and their storage starts from a snapshot at 1@1 (K@1
 *       with index=K) holding that membership. Later ones join: blank storage (snapshot 0@0, no
 *       members), to be added by a configuration change.
 *   campaign N                  N starts an election now (pre-vote first if enabled)
 *   tick N [count]              N ticks (once by default)
 *   tick-election N             a follower or candidate ticks until it campaigns (at most 2 ×
 *                               election ticks);
 *                               a leader ticks one election timeout (check-quorum, transfer abort)
 *   tick-heartbeat N            N ticks one heartbeat period
 *   propose N data              N proposes a command entry
 *   conf-change N op node       N proposes add-voter | add-learner | promote | remove
 *   transfer-leader N target    N is asked to hand leadership to target
 *   read-index N id             N is asked for a linearizable read
 *   process-ready N...          each N handles its Ready (writes queue if async, else are durable)
 *   persist N [count]           N's oldest queued writes become durable (all by default)
 *   deliver-msgs N...           each N steps every message waiting for it
 *   stabilize [N...]            readies, writes and deliveries until nothing moves (all nodes)
 *   isolate N / cut A B / heal  drop messages to and from N / between A and B / neither
 *   crash N / restart N         N loses all but its storage / N restarts from its storage
 *   compact N index             N snapshots at index (applied) and drops the log before it
 *   async N on|off              N's writes wait for `persist` (on) or are durable at once (off)
 *   status N... / log N         status (progress on a leader) / N's durable log
 */
import { assert } from '../../../../../server/assert.ts';
import type { Membership } from '../../../../../server/consensus/core/types.ts';
import { formatMembership } from '../../../../../server/consensus/core/config.ts';
import { Cluster, type NodeOptions } from './cluster.ts';
import { formatEntries, formatStatus } from './format.ts';

const encoder = new TextEncoder();

interface Parsed {
  name: string;
  args: string[];
  opts: Map<string, string>;
}

function parse(line: string): Parsed {
  const words = line.trim().split(/\s+/);
  const args: string[] = [];
  const opts = new Map<string, string>();
  for (const w of words.slice(1)) {
    const eq = w.indexOf('=');
    if (eq > 0) opts.set(w.slice(0, eq), w.slice(eq + 1));
    else args.push(w);
  }
  return { name: words[0]!, args, opts };
}

const list = (s: string | undefined): string[] | undefined => (s === undefined ? undefined : s.split(',').filter((x) => x !== ''));

export class Script {
  readonly cluster = new Cluster();

  /** Runs one command line and returns its output lines. */
  run(line: string): string[] {
    const c = this.cluster;
    c.out = [];
    const { name, args, opts } = parse(line);
    const all = () => [...c.nodes.keys()];
    const ids = args.length > 0 ? args : all();
    switch (name) {
      case 'add-nodes': this.addNodes(Number(args[0]), opts); break;
      case 'campaign': c.observe(args[0]!, (core) => core.campaign()); break;
      case 'tick': this.tick(args[0]!, Number(args[1] ?? 1)); break;
      case 'tick-election': this.tickElection(args[0]!); break;
      case 'tick-heartbeat': this.tick(args[0]!, c.node(args[0]!).options.heartbeatTicks); break;
      case 'propose':
        c.refusable(() => {
          const at = c.core(args[0]!).propose(0, encoder.encode(args.slice(1).join(' ')));
          return `proposed at ${at.index}@${at.term}`;
        });
        break;
      case 'conf-change':
        c.refusable(() => {
          const op = args[1] as 'add-voter' | 'add-learner' | 'promote' | 'remove';
          const at = c.core(args[0]!).proposeConfChange({ op, node: args[2]! });
          return `proposed at ${at.index}@${at.term}`;
        });
        break;
      case 'transfer-leader': c.refusable(() => c.observe(args[0]!, (core) => core.transferLeadership(args[1]!))); break;
      case 'read-index': c.refusable(() => c.core(args[0]!).readIndex(args[1]!)); break;
      case 'process-ready': for (const id of ids) c.processReady(id); break;
      case 'persist': c.persist(args[0]!, args[1] === undefined ? Infinity : Number(args[1])); break;
      case 'deliver-msgs': for (const id of ids) c.deliver(id); break;
      case 'stabilize': c.stabilize(ids); break;
      case 'isolate': c.isolate(args[0]!); break;
      case 'cut': c.cut(args[0]!, args[1]!); break;
      case 'heal': c.heal(); break;
      case 'crash': c.crash(args[0]!); break;
      case 'restart': c.restart(args[0]!); break;
      case 'compact': this.compact(args[0]!, Number(args[1])); break;
      case 'async': c.node(args[0]!).async = args[1] !== 'off'; break;
      case 'status': for (const id of ids) c.out.push(...formatStatus(c.core(id).status())); break;
      case 'log': this.log(args[0]!); break;
      default: throw new Error(`unknown command: ${name}`);
    }
    return c.out.length > 0 ? c.out : ['ok'];
  }

  private addNodes(count: number, opts: Map<string, string>): void {
    const c = this.cluster;
    const first = c.nodes.size + 1;
    const fresh = Array.from({ length: count }, (_, i) => String(first + i));
    const membership: Membership = {
      voters: (list(opts.get('voters')) ?? (first === 1 ? fresh : [])).sort(),
      learners: (list(opts.get('learners')) ?? []).sort(),
    };
    const options: NodeOptions = {
      electionTicks: Number(opts.get('election') ?? 10),
      heartbeatTicks: Number(opts.get('heartbeat') ?? 1),
      preVote: opts.get('prevote') !== 'false',
      checkQuorum: opts.get('checkquorum') !== 'false',
      maxInflightMsgs: Number(opts.get('inflight') ?? 256),
      maxMsgBytes: Number(opts.get('max-msg-bytes') ?? 1 << 20),
    };
    const index = Number(opts.get('index') ?? (first === 1 ? 1 : 0));
    for (const id of fresh) c.addNode(id, options, membership, index, opts.get('async') === 'true');
    c.out.push(`added ${fresh.join(' ')}: ${formatMembership(membership)} log from ${index}`);
  }

  private tick(id: string, count: number): void {
    for (let i = 0; i < count; i++) this.cluster.observe(id, (core) => core.tick());
  }

  private tickElection(id: string): void {
    const c = this.cluster;
    const core = c.core(id);
    const e = c.node(id).options.electionTicks;
    if (core.currentRole === 'leader') return this.tick(id, e);
    const role = core.currentRole;
    const term = core.currentTerm;
    for (let i = 0; i < 2 * e; i++) {
      c.observe(id, (k) => k.tick());
      if (core.currentRole !== role || core.currentTerm !== term) return;
    }
  }

  private compact(id: string, index: number): void {
    const n = this.cluster.node(id);
    assert(index <= n.applied, `compact ${id} to ${index}: only ${n.applied} is applied`);
    n.storage.compact(index, this.cluster.core(id).membershipAt(index));
    const s = n.storage.snapshot();
    this.cluster.out.push(`${id} snapshot at ${s.index}@${s.term} ${formatMembership(s.membership)}`);
  }

  private log(id: string): void {
    const s = this.cluster.node(id).storage;
    const snap = s.snapshot();
    const hs = s.hardState;
    this.cluster.out.push(`${id} durable: snapshot ${snap.index}@${snap.term}; hard state term=${hs.term} vote=${hs.vote ?? '-'} commit=${hs.commit}`);
    const all = s.all();
    this.cluster.out.push(all.length > 0 ? `  ${formatEntries(all)}` : '  (no entries)');
  }
}
