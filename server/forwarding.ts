/**
 * Write forwarding: a client may send its writes to any node. A follower hands each one to the
 * leader (a `forward` peer message), the leader proposes it as if its own client had sent it and
 * sends back the outcome (`forward-reply`), and the follower answers its client.
 *
 * What can go wrong is the network's business, and every case ends in an answer the SDK knows:
 * - the leader changes (or this node loses it) while a write is out: UNAVAILABLE with outcome
 *   "unknown" — the write may or may not have been committed; the session's (sid, seq) makes the
 *   SDK's retry safe (ARCHITECTURE rule 7);
 * - the request or its reply is lost (a peer link broke and was redialled): the follower sends
 *   the request again every `resendMs` until it has the answer; the leader proposes a request
 *   once, however many copies arrive, and answers each copy with the one outcome (requests are
 *   keyed by sender and id; ids carry a random per-incarnation prefix, so a restarted follower
 *   never reuses one);
 * - no answer at all within FORWARD_TIMEOUT_MS: UNAVAILABLE, outcome unknown.
 */
import { CoordError, ErrorCode, type ErrorBody } from '../protocol/errors.ts';
import type { NodeId } from './consensus/core/index.ts';
import type { PeerMessage, PeerTransport, RandomSource, Scheduler } from './consensus/env.ts';
import type { Command, WriteOutcome } from './store/commands.ts';
import { aclChangeProblem } from './store/access.ts';

/** How long a follower waits for the leader's answer to a forwarded write. */
export const FORWARD_TIMEOUT_MS = 10_000;
/** Answers a leader keeps per peer for duplicate requests. */
const REMEMBERED_PER_PEER = 4096;

interface Pending {
  leader: NodeId;
  resolve(o: WriteOutcome): void;
  reject(err: Error): void;
  cancelTimers(): void;
}

type Answer = { outcome: WriteOutcome } | { error: ErrorBody };

export interface ForwardingOptions {
  transport: PeerTransport;
  scheduler: Scheduler;
  random: RandomSource;
  /** Proposes a write on this node, the leader (with its own limits). */
  proposeHere(cmd: Command): Promise<WriteOutcome>;
  /** How often an unanswered request is sent again (about half an election timeout). */
  resendMs: number;
  timeoutMs?: number;
}

export class Forwarding {
  private readonly prefix: string;
  private next = 1;
  private readonly pending = new Map<string, Pending>();
  /** Leader side, per peer: requests being proposed (their answer to come) and recent answers. */
  private readonly seen = new Map<NodeId, Map<string, Promise<Answer>>>();

  constructor(private readonly options: ForwardingOptions) {
    this.prefix = (options.random() >>> 0).toString(36);
  }

  /** Follower side: sends `cmd` to `leader` and resolves with its outcome. */
  forward(leader: NodeId, cmd: Command): Promise<WriteOutcome> {
    const id = `${this.prefix}.${(this.next++).toString(36)}`;
    const timeoutMs = this.options.timeoutMs ?? FORWARD_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const send = (): void => this.options.transport.send(leader, { kind: 'forward', id, cmd });
      let cancelResend = (): void => {};
      const resend = (): void => {
        cancelResend = this.options.scheduler.after(this.options.resendMs, () => {
          if (!this.pending.has(id)) return;
          send();
          resend();
        });
      };
      const cancelTimeout = this.options.scheduler.after(timeoutMs, () => {
        this.fail(id, `no answer from the leader (${leader}) within ${timeoutMs} ms`);
      });
      this.pending.set(id, { leader, resolve, reject, cancelTimers: () => { cancelTimeout(); cancelResend(); } });
      send();
      resend();
    });
  }

  /** The leader this node knows changed: writes sent to another one may have been lost. */
  leaderChanged(leader: NodeId | null): void {
    for (const [id, p] of this.pending) {
      if (p.leader !== leader) this.fail(id, `the leader changed (${p.leader} → ${leader ?? 'none'}) while the write was with it`);
    }
  }

  /** A peer message of this module's kinds. */
  receive(from: NodeId, m: PeerMessage & { kind: 'forward' | 'forward-reply' }): void {
    if (typeof m.id !== 'string') return;
    if (m.kind === 'forward-reply') this.answered(from, m.id, m.outcome, m.error);
    else this.serve(from, m.id, m.cmd);
  }

  /** Stops: every write still out gets UNAVAILABLE (outcome unknown). */
  stop(): void {
    for (const id of [...this.pending.keys()]) this.fail(id, 'the server is shutting down');
  }

  private answered(from: NodeId, id: string, outcome: WriteOutcome | undefined, error: ErrorBody | undefined): void {
    const p = this.pending.get(id);
    if (p === undefined || p.leader !== from) return;
    this.pending.delete(id);
    p.cancelTimers();
    if (outcome !== undefined) p.resolve(outcome);
    else p.reject(new CoordError(error?.code ?? ErrorCode.INTERNAL, error?.message ?? 'the leader gave no outcome', error?.details));
  }

  private fail(id: string, why: string): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.cancelTimers();
    p.reject(new CoordError(ErrorCode.UNAVAILABLE, `${why}; the write may or may not have been applied: retry it`, { outcome: 'unknown' }));
  }

  /** Leader side: proposes a forwarded write once, however many copies of it arrive. */
  private serve(from: NodeId, id: string, cmd: Command): void {
    // Followers forward what their API built from validated requests; anything else (a peer of
    // another version, a bug) is refused here, since once in the log it would be applied, and
    // could fail, on every replica.
    const bad = forwardedProblem(cmd);
    if (bad !== null) {
      this.options.transport.send(from, { kind: 'forward-reply', id, error: { code: ErrorCode.BAD_REQUEST, message: `forwarded write refused: ${bad}` } });
      return;
    }
    let answers = this.seen.get(from);
    if (answers === undefined) this.seen.set(from, (answers = new Map()));
    let answer = answers.get(id);
    if (answer === undefined) {
      answer = this.options.proposeHere(cmd).then(
        (outcome): Answer => ({ outcome }),
        (err: unknown): Answer => ({ error: errorBody(err) }),
      );
      answers.set(id, answer);
      if (answers.size > REMEMBERED_PER_PEER) answers.delete(answers.keys().next().value as string);
    }
    void answer.then((a) => this.options.transport.send(from, { kind: 'forward-reply', id, ...a }));
  }
}

/** Why `cmd` is not a write a follower forwards (a client's txn or acl change, a session's open/close), or null. */
function forwardedProblem(cmd: unknown): string | null {
  const c = cmd as Record<string, unknown> | null;
  if (typeof c !== 'object' || c === null) return 'not a command';
  switch (c['t']) {
    case 'txn':
      return Array.isArray(c['conds']) && Array.isArray(c['ops']) ? null : 'a txn needs conds and ops arrays';
    case 'open':
      return typeof c['sid'] === 'string' && typeof c['secret'] === 'string' && typeof c['ttlMs'] === 'number' ? null : 'an open needs sid, secret, ttlMs';
    case 'close':
      return typeof c['sid'] === 'string' ? null : 'a close needs sid';
    case 'acl':
      return aclChangeProblem(c['change']);
    default:
      return `commands of type ${JSON.stringify(c['t'])} are not forwarded`;
  }
}

function errorBody(err: unknown): ErrorBody {
  if (err instanceof CoordError) return { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
  return { code: ErrorCode.INTERNAL, message: err instanceof Error ? err.message : String(err) };
}
