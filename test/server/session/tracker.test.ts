/**
 * Session liveness on a manual clock: a session expires once silent for longer than its TTL, and
 * a pause of the server's own loop (the periodic check running late) expires nobody: deadlines
 * move forward by the pause. Only a leading tracker expires anything, each expire carries its
 * term, and a new leader gives every session a fresh full TTL first.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../server/clock.ts';
import { SessionTracker } from '../../../server/session/tracker.ts';
import type { Command } from '../../../server/store/commands.ts';

const INTERVAL = 100;

function setup() {
  const clock = new ManualClock(1000);
  const proposed: Command[] = [];
  const tracker = new SessionTracker(clock, async (cmd) => proposed.push(cmd), INTERVAL);
  tracker.lead(1);
  /** Lets `ms` pass with the check running on time. */
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += INTERVAL) {
      clock.advance(INTERVAL);
      tracker.check();
    }
  };
  return { clock, tracker, proposed, run };
}

describe('SessionTracker', () => {
  it('expires a session silent for longer than its TTL, once; a touched one lives', () => {
    const { tracker, proposed, run } = setup();
    tracker.add('quiet', 1000);
    tracker.add('chatty', 1000);
    tracker.check();
    for (let i = 0; i < 12; i++) {
      run(100);
      tracker.touch('chatty');
    }
    expect(proposed).toEqual([{ t: 'expire', sid: 'quiet', term: 1 }]);
    run(500);
    expect(proposed).toHaveLength(1);
  });

  it('forgives a pause of the server: a check 5 s late expires nobody', () => {
    const { clock, tracker, proposed, run } = setup();
    tracker.add('s', 1000);
    tracker.check();
    run(300);
    clock.advance(5000); // the loop was stopped (GC, slow fsync, SIGSTOP)
    tracker.check();
    expect(proposed).toEqual([]);
    expect(tracker.remainingMs('s')).toBeGreaterThanOrEqual(600);
    // Silence after the pause still counts: the session goes once its TTL has really run out.
    run(500);
    expect(proposed).toEqual([]);
    run(200);
    expect(proposed).toEqual([{ t: 'expire', sid: 's', term: 1 }]);
  });

  it('forgives a pause that comes before the first check', () => {
    const { clock, tracker, proposed } = setup();
    tracker.add('s', 1000);
    clock.advance(5000);
    tracker.check();
    expect(proposed).toEqual([]);
  });

  it('ordinary timer jitter is not a pause', () => {
    const { clock, tracker, proposed } = setup();
    tracker.add('s', 1000);
    tracker.check();
    for (let i = 0; i < 6; i++) {
      clock.advance(INTERVAL + 90); // late, but less than one interval
      tracker.check();
    }
    expect(proposed).toEqual([{ t: 'expire', sid: 's', term: 1 }]);
  });

  it('expires nothing while it does not lead, and a new leader re-times every session first', () => {
    const { clock, tracker, proposed, run } = setup();
    tracker.add('s', 1000);
    tracker.add('t', 1000);
    tracker.follow();
    run(3000);
    expect(proposed).toEqual([]);
    // Taking over long after the sessions were last heard from: a full TTL from now, for both.
    tracker.lead(7);
    expect(tracker.remainingMs('s')).toBe(1000);
    run(900);
    expect(proposed).toEqual([]);
    tracker.touch('t');
    run(300);
    expect(proposed).toEqual([{ t: 'expire', sid: 's', term: 7 }]);
    expect(clock.now()).toBeGreaterThan(0);
  });

  it('a tracker that stopped leading forgets its expiry in flight; resync follows the store', () => {
    const { tracker, proposed, run } = setup();
    tracker.add('s', 1000);
    run(1200);
    expect(proposed).toEqual([{ t: 'expire', sid: 's', term: 1 }]);
    tracker.follow();
    tracker.lead(2);
    run(1200);
    expect(proposed).toEqual([{ t: 'expire', sid: 's', term: 1 }, { t: 'expire', sid: 's', term: 2 }]);
    tracker.resync([['u', 500]]);
    expect(tracker.remainingMs('s')).toBeUndefined();
    expect(tracker.remainingMs('u')).toBe(500);
  });
});
