/**
 * The error catalog kept in step across its three homes: protocol/errors.ts (the codes),
 * client/errors.ts (one class per code) and protocol/README.md (the error table). Close codes
 * and ops are kept in step with the README the same way.
 *
 * Method: set equality in both directions (no code without a class or a README row, no class
 * or row without a code), then per code: the class's instances carry that code, details and
 * cause, and fromErrorBody picks that class. The README is parsed only as far as needed: rows
 * of a Markdown table under a known heading whose first cell is a back-quoted name.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CoordClientError, errorClasses, fromErrorBody,
} from '../../client/errors.ts';
import { CloseCode, CoordError, ErrorCode, errorCodes, isErrorCode } from '../../protocol/errors.ts';
import { ops } from '../../protocol/messages.ts';

const readme = readFileSync(new URL('../../protocol/README.md', import.meta.url), 'utf8');

/** The first cells (back-quoted) of the table rows in the section under `heading`. */
function tableNames(heading: string): string[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => /^#+ /.test(l) && l.replace(/^#+ /, '').trim() === heading);
  expect(start, `README has no heading "${heading}"`).toBeGreaterThanOrEqual(0);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const h = /^(#+) /.exec(line);
    if (h !== null && h[1]!.length <= level) break;
    const m = /^\|\s*`([^`]+)`\s*\|/.exec(line);
    if (m !== null) names.push(m[1]!);
  }
  return names;
}

describe('error codes', () => {
  it('are stable strings equal to their names, and unique', () => {
    for (const [name, code] of Object.entries(ErrorCode)) expect(code).toBe(name);
    expect(new Set(errorCodes).size).toBe(errorCodes.length);
    for (const code of errorCodes) expect(isErrorCode(code)).toBe(true);
    expect(isErrorCode('NOPE')).toBe(false);
    expect(isErrorCode(5)).toBe(false);
  });

  it('CoordError carries code and details, and toBody leaves out absent details', () => {
    const e = new CoordError(ErrorCode.TOO_LATE, 'old', { oldestRev: 4 });
    expect(e.toBody()).toEqual({ code: 'TOO_LATE', message: 'old', details: { oldestRev: 4 } });
    const plain = new CoordError(ErrorCode.LIMIT, 'busy').toBody();
    expect(plain).toEqual({ code: 'LIMIT', message: 'busy' });
    expect('details' in plain).toBe(false);
  });
});

describe('the README error table', () => {
  const rows = tableNames('Error catalog');

  it('has one row per code, and no other rows', () => {
    expect(rows.length).toBe(new Set(rows).size);
    expect([...rows].sort()).toEqual([...errorCodes].sort());
  });
});

describe('client error classes', () => {
  it('exist for every code and only for codes', () => {
    expect(Object.keys(errorClasses).sort()).toEqual([...errorCodes].sort());
    const classes = Object.values(errorClasses);
    expect(new Set(classes).size).toBe(classes.length);
    expect(new Set(classes.map((c) => c.name)).size).toBe(classes.length);
  });

  it.each([...errorCodes])('%s: instances carry the code, details and cause', (code) => {
    const cls = errorClasses[code];
    const cause = new Error('underneath');
    const err = new cls('it failed', { x: 1 }, { cause });
    expect(err).toBeInstanceOf(CoordClientError);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.message).toBe('it failed');
    expect(err.details).toEqual({ x: 1 });
    expect(err.cause).toBe(cause);
    expect(err.name).toBe(cls.name);
    expect(err.name).toMatch(/Error$/);
  });

  it.each([...errorCodes])('%s: fromErrorBody gives that class', (code) => {
    const err = fromErrorBody({ code, message: 'm', details: { rev: 3 } });
    expect(err).toBeInstanceOf(errorClasses[code]);
    for (const other of errorCodes) if (other !== code) expect(err).not.toBeInstanceOf(errorClasses[other]);
    expect(err.code).toBe(code);
    expect(err.message).toBe('m');
    expect(err.details).toEqual({ rev: 3 });
  });

  it('fromErrorBody keeps an unknown code (from a newer server) on the base class', () => {
    const err = fromErrorBody({ code: 'FUTURE_CODE' as ErrorCode, message: 'm' });
    expect(err).toBeInstanceOf(CoordClientError);
    expect(err.code).toBe('FUTURE_CODE');
    for (const cls of Object.values(errorClasses)) expect(err).not.toBeInstanceOf(cls);
  });
});

describe('the README close-code table', () => {
  it('lists every close code the server uses, and no other', () => {
    const rows = tableNames('Close codes');
    expect(rows.map(Number).sort()).toEqual(Object.values(CloseCode).map(Number).sort());
  });
});

describe('the README operations', () => {
  it('has a section for every op, and for no other', () => {
    const documented = [...readme.matchAll(/^### `([a-z]+)`/gm)].map((m) => m[1]!);
    expect([...documented].sort()).toEqual([...ops].sort());
  });
});
