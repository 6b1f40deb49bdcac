import { describe, expect, it } from 'vitest';
import { fullCollection, IdleCollector } from '../../server/idle-collector.ts';

describe('IdleCollector', () => {
  it('collects once a burst of entries has passed and nothing has been applied for quietMs', () => {
    let applied = 100;
    let collected = 0;
    const c = new IdleCollector(() => applied, () => collected++, { burstEntries: 1000, quietMs: 500 }, 0);
    // Quiet, but no burst yet.
    c.check(10_000);
    expect(collected).toBe(0);
    // A burst, still going on: never while entries keep being applied.
    for (let t = 10_100; t < 12_000; t += 100) {
      applied += 200;
      c.check(t);
    }
    expect(collected).toBe(0);
    c.check(12_300);
    expect(collected).toBe(0);
    c.check(12_450);
    expect(collected).toBe(1);
    // Once per burst: quiet on, nothing more to give back.
    c.check(20_000);
    expect(collected).toBe(1);
    // A trickle below the burst size does not collect again.
    applied += 999;
    c.check(21_000);
    c.check(30_000);
    expect(collected).toBe(1);
    applied += 1;
    c.check(31_000);
    c.check(31_600);
    expect(collected).toBe(2);
    expect(c.collections).toBe(2);
  });

  it('finds V8\'s full collection without --expose-gc, and it runs', () => {
    const gc = fullCollection();
    expect(gc).not.toBeNull();
    gc!();
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
  });
});
