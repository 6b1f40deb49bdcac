/**
 * The world a production node runs in (env.ts): the monotonic clock, Node's timers, randomness
 * from the operating system's CSPRNG (session secrets come from it), LevelDB storage in the data
 * directory, the process's logger, and the transport to other nodes it is given (WebSockets
 * between servers, server/peers/; noPeers() for a node that is alone).
 */
import { randomFillSync } from 'node:crypto';
import { systemClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { openDataDir } from '../storage/open-storage.ts';
import type { RaftStorage } from '../storage/raft-storage.ts';
import type { NodeEnv, PeerTransport, RandomSource, Scheduler } from './env.ts';

export const timerScheduler: Scheduler = {
  soon: (fn) => {
    setImmediate(fn);
  },
  after: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** 32-bit values from the CSPRNG, drawn 1024 at a time (one system call per 4 KiB). */
export function cryptoRandom(): RandomSource {
  const pool = new Uint32Array(1024);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++]!;
  };
}

/** A transport with no peers: a single node never sends; anything sent goes nowhere. */
export function noPeers(): PeerTransport {
  return {
    send: () => {},
    onMessage: () => {},
  };
}

export interface ProductionEnvOptions {
  dataDir: string;
  log: Logger;
  /** Default: the system's monotonic clock. */
  clock?: Clock;
  /** Default: noPeers(). */
  transport?: PeerTransport;
}

/** Opens the data directory and builds the env a single production node runs in. */
export async function productionEnv(options: ProductionEnvOptions): Promise<NodeEnv> {
  const storage: RaftStorage = await openDataDir(options.dataDir);
  return {
    clock: options.clock ?? systemClock,
    scheduler: timerScheduler,
    random: cryptoRandom(),
    transport: options.transport ?? noPeers(),
    storage,
    log: options.log,
  };
}
