/**
 * A NodeEnv for tests that run a driver or node in this process over real timers: the system
 * clock, setImmediate/setTimeout, a seeded random source (so ids repeat from run to run), no
 * peers unless a transport is given, and a silent logger.
 */
import { mulberry32 } from '../../server/consensus/core/random.ts';
import type { NodeEnv, PeerTransport } from '../../server/consensus/env.ts';
import { noPeers, timerScheduler } from '../../server/consensus/env-production.ts';
import { systemClock } from '../../server/clock.ts';
import { silentLogger } from '../../server/log.ts';
import type { RaftStorage } from '../../server/storage/raft-storage.ts';

export function testEnv(storage: RaftStorage, options: { seed?: number; transport?: PeerTransport } = {}): NodeEnv {
  const random = mulberry32(options.seed ?? 1);
  return {
    clock: systemClock,
    scheduler: timerScheduler,
    random: () => Math.floor(random.next() * 2 ** 32) >>> 0,
    transport: options.transport ?? noPeers(),
    storage,
    log: silentLogger,
  };
}
