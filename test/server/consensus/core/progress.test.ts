/**
 * Method: the leader's per-member flow control (progress.ts, inflights.ts) by example: each
 * test states a rule of probe / replicate / snapshot states and the in-flight window.
 */
import { describe, expect, it } from 'vitest';
import { AssertionError } from '../../../../server/assert.ts';
import { Inflights } from '../../../../server/consensus/core/inflights.ts';
import { Progress } from '../../../../server/consensus/core/progress.ts';

describe('inflights: a bounded window of append messages', () => {
  it('is full at the message limit and frees everything an acknowledgement covers', () => {
    const w = new Inflights(3, Infinity);
    w.add(5, 10);
    w.add(7, 10);
    w.add(9, 10);
    expect(w.full()).toBe(true);
    w.freeTo(7);
    expect(w.count).toBe(1);
    expect(w.totalBytes).toBe(10);
    expect(w.full()).toBe(false);
  });

  it('is full at the byte limit', () => {
    const w = new Inflights(100, 25);
    w.add(1, 10);
    w.add(2, 10);
    expect(w.full()).toBe(false);
    w.add(3, 10);
    expect(w.full()).toBe(true);
  });

  it('refuses a send into a full window, or indexes that do not rise', () => {
    const w = new Inflights(1, Infinity);
    w.add(4, 0);
    expect(() => w.add(5, 0)).toThrow(AssertionError);
    const v = new Inflights(5, Infinity);
    v.add(4, 0);
    expect(() => v.add(4, 0)).toThrow(AssertionError);
  });

  it('freeFirst frees the oldest message only (a heartbeat answer unsticks a window of lost appends)', () => {
    const w = new Inflights(2, Infinity);
    w.add(3, 1);
    w.add(6, 1);
    w.freeFirst();
    expect(w.count).toBe(1);
    w.freeTo(6);
    expect(w.count).toBe(0);
  });
});

describe('progress: how a leader feeds one member', () => {
  const fresh = () => new Progress(11, false, 2, Infinity);

  it('probe: one append at a time, until it is answered', () => {
    const pr = fresh();
    expect(pr.isPaused()).toBe(false);
    pr.sentAppend(12, 2);
    expect(pr.isPaused()).toBe(true);
    expect(pr.next).toBe(11); // probing does not move next: the answer says where to go
    pr.maybeUpdate(10);
    expect(pr.isPaused()).toBe(false);
  });

  it('replicate: next moves past each append sent, until the window is full', () => {
    const pr = fresh();
    pr.maybeUpdate(10);
    pr.becomeReplicate();
    pr.sentAppend(12, 2);
    pr.sentAppend(14, 2);
    expect(pr.next).toBe(15);
    expect(pr.isPaused()).toBe(true);
    pr.maybeUpdate(12);
    pr.inflights.freeTo(12);
    expect(pr.isPaused()).toBe(false);
    expect(pr.match).toBe(12);
  });

  it('§5.3: a rejection steps next back, to just after the hinted match, never below match + 1', () => {
    const pr = fresh();
    pr.match = 3;
    pr.next = 11;
    pr.sentAppend(12, 0);
    expect(pr.maybeDecrTo(10, 6)).toBe(true);
    expect(pr.next).toBe(7);
    expect(pr.isPaused()).toBe(false);
    pr.sentAppend(8, 0);
    expect(pr.maybeDecrTo(6, 1)).toBe(true);
    expect(pr.next).toBe(4);
  });

  it('a rejection of an earlier probe than the last one sent is stale', () => {
    const pr = fresh();
    pr.sentAppend(12, 0);
    expect(pr.maybeDecrTo(9, 5)).toBe(false);
    expect(pr.next).toBe(11);
  });

  it('replicate: a rejection at or below match is stale; above it, next falls back to match + 1', () => {
    const pr = fresh();
    pr.maybeUpdate(10);
    pr.becomeReplicate();
    pr.sentAppend(15, 0);
    expect(pr.maybeDecrTo(10, 0)).toBe(false);
    expect(pr.maybeDecrTo(13, 0)).toBe(true);
    expect(pr.next).toBe(11);
  });

  it('snapshot: nothing is sent until it is done, then probing resumes after the snapshot', () => {
    const pr = fresh();
    pr.becomeSnapshot(20);
    expect(pr.isPaused()).toBe(true);
    pr.becomeProbe();
    expect(pr.next).toBe(21);
    expect(pr.state).toBe('probe');
  });

  it('an old acknowledgement does not move match back', () => {
    const pr = fresh();
    expect(pr.maybeUpdate(8)).toBe(true);
    expect(pr.maybeUpdate(5)).toBe(false);
    expect(pr.match).toBe(8);
  });
});
