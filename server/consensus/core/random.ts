/**
 * The only source of randomness the Raft core has: a seeded generator, injected by whoever
 * builds the core. The core draws from it only to spread election timeouts over
 * [electionTicks, 2 × electionTicks), so that one seed replays one run exactly.
 */

export interface Random {
  /** A number in [0, 1). */
  next(): number;
}

/**
 * mulberry32: a 32-bit generator, small and fast, with a period of 2^32. Plenty for spreading
 * timeouts; not for anything that must be unpredictable.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [lo, hi), drawn from `random`. */
export function intBetween(random: Random, lo: number, hi: number): number {
  const n = lo + Math.floor(random.next() * (hi - lo));
  return Math.min(n, hi - 1);
}
