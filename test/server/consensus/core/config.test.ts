/**
 * Method: membership changes (config.ts) against the Raft thesis's single-server rules, by
 * example: what a change may do, and that the configuration follows the log (taking effect
 * when appended, leaving when truncated).
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigHistory, applyConfChange, decodeConfChange, encodeConfChange,
} from '../../../../server/consensus/core/config.ts';
import { EntryType, type Entry } from '../../../../server/consensus/core/types.ts';

const m = (voters: string[], learners: string[] = []) => ({ voters, learners });
const conf = (index: number, op: 'add-voter' | 'add-learner' | 'promote' | 'remove', node: string): Entry =>
  ({ index, term: 1, type: EntryType.Config, data: encodeConfChange({ op, node }) });

describe('single-server changes (thesis §4.1)', () => {
  it('each change moves one server', () => {
    expect(applyConfChange(m(['1', '2']), { op: 'add-voter', node: '3' })).toEqual(m(['1', '2', '3']));
    expect(applyConfChange(m(['1']), { op: 'add-learner', node: '2' })).toEqual(m(['1'], ['2']));
    expect(applyConfChange(m(['1'], ['2']), { op: 'promote', node: '2' })).toEqual(m(['1', '2']));
    expect(applyConfChange(m(['1', '2'], ['3']), { op: 'remove', node: '3' })).toEqual(m(['1', '2']));
    expect(applyConfChange(m(['1', '2']), { op: 'remove', node: '1' })).toEqual(m(['2']));
  });

  it('a change that does not apply says why', () => {
    expect(applyConfChange(m(['1']), { op: 'add-voter', node: '1' })).toMatch(/already a voter/);
    expect(applyConfChange(m(['1'], ['2']), { op: 'add-voter', node: '2' })).toMatch(/promote/);
    expect(applyConfChange(m(['1']), { op: 'promote', node: '2' })).toMatch(/not a learner/);
    expect(applyConfChange(m(['1']), { op: 'remove', node: '2' })).toMatch(/not a member/);
    expect(applyConfChange(m(['1'], ['2']), { op: 'remove', node: '1' })).toMatch(/last voter/);
  });

  it('encodes and decodes; refuses anything else', () => {
    expect(decodeConfChange(encodeConfChange({ op: 'promote', node: 'n4' }))).toEqual({ op: 'promote', node: 'n4' });
    expect(() => decodeConfChange(new TextEncoder().encode('{"op":"demote","node":"1"}'))).toThrow(TypeError);
    expect(() => decodeConfChange(new Uint8Array([0xff]))).toThrow(TypeError);
  });
});

describe('the configuration follows the log', () => {
  it('takes effect when appended, committed or not; reverts when its entry is truncated', () => {
    const h = new ConfigHistory(0, m(['1', '2', '3']));
    h.appended([conf(4, 'add-learner', '4'), conf(6, 'promote', '4')]);
    expect(h.current()).toEqual(m(['1', '2', '3', '4']));
    expect(h.lastIndex()).toBe(6);
    expect(h.at(5)).toEqual(m(['1', '2', '3'], ['4']));
    h.truncatedFrom(6);
    expect(h.current()).toEqual(m(['1', '2', '3'], ['4']));
    h.truncatedFrom(2);
    expect(h.current()).toEqual(m(['1', '2', '3']));
    expect(h.lastIndex()).toBe(0);
  });

  it('restarts from a snapshot\'s membership', () => {
    const h = new ConfigHistory(0, m(['1']));
    h.appended([conf(1, 'add-voter', '2')]);
    h.reset(10, m(['1', '2', '3']));
    expect(h.current()).toEqual(m(['1', '2', '3']));
    expect(h.lastIndex()).toBe(10);
  });
});
