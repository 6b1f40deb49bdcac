/**
 * The network between simulated nodes: a PeerTransport (server/consensus/env.ts) per node
 * incarnation, over the world's event queue. Every message is encoded with msgpack (the
 * protocol's options) when sent and decoded when delivered, so no node ever holds an object
 * another node holds, and what cannot cross a real wire cannot cross this one.
 *
 * What a message may suffer, each drawn from the world's seed:
 * - delay: a base latency plus an exponential part, and now and then a long tail (a congested
 *   link, a retransmission); different delays reorder messages on one link;
 * - loss, and duplication (a second copy with its own delay);
 * - partitions: any set of directed links cut (one-way partitions included), a node isolated,
 *   the cluster split into groups; `heal()` restores every link. A cut link drops what is sent
 *   over it and what was in flight on it when it arrives.
 *
 * Delivery goes to whichever incarnation of the destination is listening when the message
 * arrives (a message sent to a node that then restarted reaches the new process), and waits
 * out a pause of that process. A crashed sender sends nothing.
 */
import { Packr } from 'msgpackr';
import type { PeerMessage, PeerTransport } from '../../server/consensus/env.ts';
import type { Process, Rng, World } from './world.ts';

const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', moreTypes: false, bundleStrings: false });

export interface NetworkProfile {
  /** Every message takes at least this long (ms). */
  baseMs: number;
  /** Mean of the exponential part of the delay (ms). */
  jitterMs: number;
  /** Chance of a long delay, and its mean (ms). */
  tailChance: number;
  tailMs: number;
  /** Chance a message is lost. */
  loss: number;
  /** Chance a message is delivered twice. */
  dup: number;
}

/** A network profile drawn from the seed (swarm testing: each seed its own weather). */
export function randomProfile(rng: Rng): NetworkProfile {
  return {
    baseMs: rng.real(0.2, 2),
    jitterMs: rng.real(0.1, 5),
    tailChance: rng.pick([0, 0.001, 0.01, 0.05]),
    tailMs: rng.real(20, 200),
    loss: rng.pick([0, 0, 0.005, 0.02, 0.1]),
    dup: rng.pick([0, 0.005, 0.02]),
  };
}

export const calmProfile: NetworkProfile = { baseMs: 0.5, jitterMs: 1, tailChance: 0, tailMs: 0, loss: 0, dup: 0 };

export interface NetworkStats {
  sent: number;
  delivered: number;
  lost: number;
  /** Dropped for a cut link (at send or on arrival). */
  cut: number;
  duplicated: number;
  /** Arrived with no live process to take it. */
  undeliverable: number;
}

interface Endpoint {
  process: Process;
  transport: PeerTransport;
}

/** A short name for a message in the trace. */
export function describeMessage(m: PeerMessage): string {
  switch (m.kind) {
    case 'raft': {
      const r = m.msg as unknown as Record<string, unknown>;
      const n = Array.isArray(r['entries']) ? ` +${(r['entries'] as unknown[]).length}` : '';
      const idx = typeof r['index'] === 'number' ? ` i${r['index'] as number}` : '';
      const rej = r['reject'] === true ? ' rej' : '';
      return `${m.msg.type} t${m.msg.term}${idx}${n}${rej}`;
    }
    case 'snap-chunk':
      return `snap-chunk ${m.index}@${m.term} ${m.offset}/${m.total}`;
    case 'snap-ack':
      return `snap-ack ${m.index}@${m.term} ${m.received}${m.done ? ' done' : ''}`;
    case 'keepalive':
      return `keepalive ${m.sessions.length}`;
    default:
      return (m as { kind: string }).kind;
  }
}

export class SimNetwork {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, lost: 0, cut: 0, duplicated: 0, undeliverable: 0 };
  private readonly endpoints = new Map<string, Endpoint>();
  /** Cut links, as `from>to`. */
  private readonly cuts = new Set<string>();
  /** Observers of every delivered message (the checker's view of the wire). */
  readonly taps: ((from: string, to: string, m: PeerMessage) => void)[] = [];
  /** Messages these return true for are dropped when sent (scripted scenarios steer elections so). */
  private readonly filters = new Set<(from: string, to: string, m: PeerMessage) => boolean>();

  constructor(
    private readonly world: World,
    private readonly rng: Rng,
    public profile: NetworkProfile,
  ) {}

  /** The transport of one incarnation of `id` (replacing the previous one's). */
  attach(id: string, process: Process): PeerTransport {
    const transport: PeerTransport = {
      send: (to, message) => this.send(id, process, to, message),
      onMessage: () => {},
    };
    this.endpoints.set(id, { process, transport });
    return transport;
  }

  // ---------------------------------------------------------------- faults

  blocked(from: string, to: string): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** Cuts the link from `from` to `to` (one way). */
  cut(from: string, to: string): void {
    this.cuts.add(`${from}>${to}`);
  }

  /** Cuts every link to and from `id`. */
  isolate(id: string, all: readonly string[]): void {
    for (const other of all) {
      if (other === id) continue;
      this.cut(id, other);
      this.cut(other, id);
    }
  }

  /** Cuts every link between nodes of different groups. */
  partition(groups: readonly (readonly string[])[]): void {
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.cut(a, b);
      }
    }
  }

  heal(): void {
    this.cuts.clear();
  }

  /** Drops every message `drop` returns true for, until the returned function is called. */
  dropIf(drop: (from: string, to: string, m: PeerMessage) => boolean): () => void {
    this.filters.add(drop);
    return () => this.filters.delete(drop);
  }

  /** The cut links, for the trace. */
  describeCuts(): string {
    return [...this.cuts].sort().join(' ') || 'none';
  }

  // ---------------------------------------------------------------- delivery

  private delay(): number {
    const p = this.profile;
    let d = p.baseMs + this.rng.exp(p.jitterMs);
    if (this.rng.chance(p.tailChance)) d += this.rng.exp(p.tailMs);
    return d;
  }

  private send(from: string, process: Process, to: string, message: PeerMessage): void {
    if (!process.alive) return;
    this.stats.sent++;
    if (this.blocked(from, to)) {
      this.stats.cut++;
      return;
    }
    for (const drop of this.filters) {
      if (drop(from, to, message)) {
        this.stats.cut++;
        return;
      }
    }
    if (this.rng.chance(this.profile.loss)) {
      this.stats.lost++;
      return;
    }
    const bytes = packr.pack(message);
    const copies = this.rng.chance(this.profile.dup) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const what = describeMessage(message);
    for (let i = 0; i < copies; i++) {
      const label = `net ${from}>${to} ${what}${i > 0 ? ' (dup)' : ''}`;
      this.world.after(this.delay(), label, () => this.arrive(from, to, bytes));
    }
  }

  private arrive(from: string, to: string, bytes: Uint8Array): void {
    if (this.blocked(from, to)) {
      this.stats.cut++;
      return;
    }
    const ep = this.endpoints.get(to);
    if (ep === undefined || !ep.process.alive) {
      this.stats.undeliverable++;
      return;
    }
    // Through the process, so that a paused one takes it when it wakes.
    ep.process.runNow(`recv ${to}<${from}`, () => {
      const message = packr.unpack(bytes) as PeerMessage;
      this.stats.delivered++;
      for (const tap of this.taps) tap(from, to, message);
      ep.transport.onMessage(from, message);
    });
  }
}
