/**
 * Method: glob matching (protocol/path.ts compileGlob), which the store uses for WALK and
 * WAIT/WATCH, checked three ways:
 *   1. Doozer's glob_test.go cases, as examples (shared/reference/doozer.md §4, cases 29–33);
 *   2. a seeded property test against a regex reference built independently in
 *      test/helpers/store-model.ts, over random globs and random paths (half of them made from
 *      the glob by filling its wildcards in, so that matches are common);
 *   3. a property of literalPrefix, which WALK uses to start below the root: every path a glob
 *      matches lies under it, and it is exactly the glob's components before the first wildcard.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../../protocol/errors.ts';
import { limits } from '../../../protocol/limits.ts';
import { checkPath, compileGlob, globProblem, isUnder, isValidPath } from '../../../protocol/path.ts';
import { referenceGlobRegex } from '../../helpers/store-model.ts';

function expectMatches(glob: string, yes: string[], no: string[]): void {
  const g = compileGlob(glob);
  for (const p of yes) expect(g.matches(p), `${glob} should match ${p}`).toBe(true);
  for (const p of no) expect(g.matches(p), `${glob} should not match ${p}`).toBe(false);
}

describe('glob_test.go', () => {
  it('`/a?` matches /ab and /ac, not /a, /abc or /a/', () => {
    expectMatches('/a?', ['/ab', '/ac'], ['/a', '/abc', '/a/']);
  });

  it('`/a*` matches /a and /abc, not /a/ or /ba', () => {
    expectMatches('/a*', ['/a', '/abc'], ['/a/', '/ba', '/a/b']);
  });

  it('`/a**` matches /a, /a/b and /ab/c, not / or /ba', () => {
    expectMatches('/a**', ['/a', '/a/b', '/ab/c'], ['/', '/ba']);
  });

  it('`/a/b` does not match /a/bc or /a/b/', () => {
    expectMatches('/a/b', ['/a/b'], ['/a/bc', '/a/b/', '/a', '/a/b/c']);
  });

  it('`/**` matches / and everything; `/*` one level; `.` is literal', () => {
    expectMatches('/**', ['/', '/a', '/a/b/c'], []);
    expectMatches('/*', ['/a', '/'], ['/a/b']);
    expectMatches('/a.b', ['/a.b'], ['/axb']);
    expectMatches('/*.*', ['/a.b', '/.x'], ['/ab', '/a/b.c']);
  });

  it('rejects "", a, /a/, //, "/ ", /:, /a+b, /a[b and /a世界 with BAD_GLOB', () => {
    for (const g of ['', 'a', '/a/', '//', '/ ', '/:', '/a+b', '/a[b', '/a世界']) {
      expect(globProblem(g), JSON.stringify(g)).not.toBeNull();
      let code: string | undefined;
      try {
        compileGlob(g);
      } catch (e) {
        code = e instanceof CoordError ? e.code : 'other';
      }
      expect(code, JSON.stringify(g)).toBe(ErrorCode.BAD_GLOB);
    }
    // Not a string at all, and an over-long glob.
    expect(() => compileGlob(42)).toThrow(CoordError);
    let code: string | undefined;
    try {
      compileGlob(`/${'*'.repeat(2000)}`);
    } catch (e) {
      code = (e as CoordError).code;
    }
    expect(code).toBe(ErrorCode.TOO_LARGE);
  });
});

// ------------------------------------------------------------------ properties

const PATH_CHARS = ['a', 'b', 'c', '.', '-', '_', '0'];
const GLOB_CHARS = [...PATH_CHARS, '*', '?', '*', '?'];

const component = (chars: string[]) =>
  fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: 4 }).map((cs) => cs.join(''))
    .filter((c) => c !== '.' && c !== '..');
const pathArb = fc.array(component(PATH_CHARS), { minLength: 1, maxLength: 4 }).map((cs) => `/${cs.join('/')}`);
const globArb = fc.oneof(
  fc.array(component(GLOB_CHARS), { minLength: 1, maxLength: 4 }).map((cs) => `/${cs.join('/')}`),
  fc.constant('/'),
);

/** A path made from `glob` by filling each wildcard in with random characters. */
function instantiate(glob: string, fill: number[]): string {
  let i = 0;
  const next = () => fill[i++ % fill.length]!;
  const word = (n: number) => Array.from({ length: n }, () => PATH_CHARS[next() % PATH_CHARS.length]).join('');
  return glob.replace(/\*\*|\*|\?/g, (w) => {
    if (w === '?') return word(1);
    if (w === '*') return word(next() % 3);
    // `**` may cross components.
    const parts = Array.from({ length: next() % 3 }, () => word(1 + (next() % 2)));
    return parts.join('/') + (next() % 2 === 0 ? '' : word(1));
  });
}

describe('glob matching against a regex reference', () => {
  it('compileGlob(g).matches(p) agrees with the reference for random globs and paths', () => {
    fc.assert(
      fc.property(globArb, pathArb, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (glob, random, fill) => {
        expect(globProblem(glob)).toBeNull();
        const g = compileGlob(glob);
        const ref = referenceGlobRegex(glob);
        for (const p of [random, instantiate(glob, fill)]) {
          expect(g.matches(p), `${glob} vs ${p}`).toBe(ref.test(p));
        }
      }),
      { seed: 0x61_0b, numRuns: 3000 },
    );
  });

  it('a path made by filling a glob\'s wildcards in always matches it', () => {
    fc.assert(
      fc.property(globArb, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (glob, fill) => {
        const p = instantiate(glob, fill);
        fc.pre(isValidPath(p));
        expect(compileGlob(glob).matches(p), `${glob} vs ${p}`).toBe(true);
      }),
      { seed: 0x61_0c, numRuns: 2000 },
    );
  });
});

describe('error codes for bad paths and globs', () => {
  const codeOf = (f: () => unknown): string | null => {
    try {
      f();
      return null;
    } catch (e) {
      return e instanceof CoordError ? e.code : 'not a CoordError';
    }
  };

  it('an invalid path is BAD_PATH and an invalid glob BAD_GLOB, whatever text it holds (regression: "/longer than" was TOO_LARGE)', () => {
    expect(codeOf(() => checkPath('/longer than'))).toBe(ErrorCode.BAD_PATH);
    expect(codeOf(() => compileGlob('/x/longer than/*'))).toBe(ErrorCode.BAD_GLOB);
  });

  it('TOO_LARGE exactly when the string is over pathBytesMax bytes', () => {
    const piece = fc.constantFrom('/', 'a', 'b', '.', '-', '_', '*', '?', ' ', 'longer than', '世界', '//', '..');
    const text = fc.tuple(fc.array(piece, { maxLength: 12 }), fc.nat(3)).map(([ps, k]) => {
      const s = ps.join('');
      return k === 0 ? s.repeat(1 + Math.floor(limits.pathBytesMax / Math.max(1, s.length))) : s;
    });
    fc.assert(
      fc.property(text, (s) => {
        const long = Buffer.byteLength(s) > limits.pathBytesMax;
        const path = codeOf(() => checkPath(s));
        const glob = codeOf(() => compileGlob(s));
        if (long) {
          expect([path, glob]).toEqual([ErrorCode.TOO_LARGE, ErrorCode.TOO_LARGE]);
        } else {
          expect(path === null || path === ErrorCode.BAD_PATH, `${s}: ${path}`).toBe(true);
          expect(glob === null || glob === ErrorCode.BAD_GLOB, `${s}: ${glob}`).toBe(true);
          expect(path === null).toBe(isValidPath(s));
        }
      }),
      { seed: 0x61_0e, numRuns: 2000 },
    );
  });
});

describe('literalPrefix', () => {
  it('every path the glob matches lies under literalPrefix, which is the glob up to its first wildcard component', () => {
    fc.assert(
      fc.property(globArb, pathArb, fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), (glob, random, fill) => {
        const g = compileGlob(glob);
        expect(isValidPath(g.literalPrefix), g.literalPrefix).toBe(true);
        const comps = glob === '/' ? [] : glob.slice(1).split('/');
        const firstWild = comps.findIndex((c) => /[*?]/.test(c));
        expect(g.isLiteral).toBe(firstWild < 0);
        const expected = firstWild < 0 ? glob : `/${comps.slice(0, firstWild).join('/')}`;
        expect(g.literalPrefix).toBe(expected);
        for (const p of [random, instantiate(glob, fill)]) {
          if (g.matches(p)) expect(isUnder(p, g.literalPrefix), `${p} under ${g.literalPrefix}`).toBe(true);
        }
      }),
      { seed: 0x61_0d, numRuns: 3000 },
    );
  });
});
