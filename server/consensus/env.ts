/**
 * Everything a node needs from the world, behind interfaces: time, scheduling, randomness, the
 * network between nodes and the disk. Production supplies timers, crypto, WebSockets and
 * LevelDB (env-production.ts); the simulator (test/sim/) supplies a virtual clock, a seeded
 * generator, a network that delays, drops, duplicates, reorders and partitions, and a disk that
 * loses what was not synced. The driver and the node above it read nothing else: no
 * Date.now(), setTimeout, setImmediate or Math.random in server/consensus/ or server/node.ts.
 */
import type { ErrorBody } from '../../protocol/errors.ts';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { RaftStorage } from '../storage/raft-storage.ts';
import type { Command, WriteOutcome } from '../store/commands.ts';
import type { Message, NodeId } from './core/index.ts';

/** Runs work later. Callbacks never run inside the call that scheduled them. */
export interface Scheduler {
  /** Runs `fn` after the current turn and the I/O already waiting (setImmediate). */
  soon(fn: () => void): void;
  /** Runs `fn` once, `ms` from now; the function returned cancels it. */
  after(ms: number, fn: () => void): () => void;
}

/** Uniform random 32-bit unsigned integers; seeded in the simulator. */
export type RandomSource = () => number;

/**
 * What nodes send each other. Raft's own messages, and what the driver and node add around
 * them: snapshot bytes in chunks, session keepalives that followers forward to the leader, and
 * clients' writes a follower forwards to the leader with the answers that come back.
 */
export type PeerMessage =
  | { kind: 'raft'; msg: Message }
  | {
    kind: 'snap-chunk';
    /** The snapshot this chunk belongs to (index, term of its last entry). */
    index: number;
    term: number;
    /** Byte offset of this chunk, its bytes, the whole snapshot's length, and a CRC-32 of `data`. */
    offset: number;
    data: Uint8Array;
    total: number;
    crc: number;
  }
  | { kind: 'snap-ack'; index: number; term: number; /** Bytes received in order so far. */ received: number; done: boolean }
  | { kind: 'keepalive'; /** Session ids heard from since the last batch. */ sessions: string[] }
  /** A client's write a follower took, for the leader to propose (forwarding.ts). */
  | { kind: 'forward'; /** Unique per sender incarnation. */ id: string; cmd: Command }
  /** The leader's answer to a forwarded write: its outcome, or the error proposing it raised. */
  | { kind: 'forward-reply'; id: string; outcome?: WriteOutcome; error?: ErrorBody };

/**
 * The network between nodes, as the driver sees it: best effort. A message may be lost,
 * delayed, duplicated or reordered; the protocols above (Raft, snapshot chunks with offsets and
 * acks, keepalive batches) are built to live with that. `send` never throws and never blocks.
 */
export interface PeerTransport {
  send(to: NodeId, message: PeerMessage): void;
  /** Set by the node: every message that arrives for it. */
  onMessage: (from: NodeId, message: PeerMessage) => void;
}

export interface NodeEnv {
  clock: Clock;
  scheduler: Scheduler;
  random: RandomSource;
  transport: PeerTransport;
  storage: RaftStorage;
  log: Logger;
}
