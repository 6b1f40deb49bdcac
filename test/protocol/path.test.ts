/**
 * Path and glob rules (protocol/path.ts).
 *
 * Method: table tests adapted from Doozer's own cases (doozer.md §4 items 23 and 29–33), with
 * coord's two deliberate differences (`_` is allowed; `.` and `..` are not names), plus the byte
 * limit (limits.pathBytesMax, counted in UTF-8 bytes, refused as TOO_LARGE). Glob matching is
 * then checked by property against two references written independently of path.ts from the
 * rules in its header: a regex built by token replacement, and a recursive backtracking matcher
 * that uses no regex at all. Paths are drawn from a tiny alphabet so that matches are common.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import { limits } from '../../protocol/limits.ts';
import {
  checkPath, compileGlob, globProblem, isUnder, isValidPath, joinPath, parentPath, pathComponents,
  pathProblem,
} from '../../protocol/path.ts';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(CoordError);
    return (err as CoordError).code;
  }
}

describe('paths (Doozer TestCheck*Paths, adapted)', () => {
  const valid = ['/', '/x', '/x/y', '/x/y-z', '/x/y.z', '/x/0',
    // coord additions: `_` is allowed; names made of dots other than `.` and `..` are names.
    '/x_y', '/_', '/.hidden', '/x/...', '/a.b/c-d/E_9', '/-'];
  const invalid = ['', 'x', '/x=', '/x y', '/x/', '/x//y',
    // coord: `.` and `..` are never names (no path aliases another).
    '/.', '/..', '/x/./y', '/x/../y', '/x/.', '/x/..',
    // characters Doozer also refuses
    '//', '/x:y', '/x+y', '/x*', '/x?', '/x[y', '/世界', '/x\u0000', 'x/y', '/x\\y'];

  it.each(valid)('accepts %j', (p) => {
    expect(pathProblem(p)).toBeNull();
    expect(isValidPath(p)).toBe(true);
    expect(checkPath(p)).toBe(p);
  });

  it.each(invalid)('refuses %j with BAD_PATH', (p) => {
    expect(pathProblem(p)).not.toBeNull();
    expect(isValidPath(p)).toBe(false);
    expect(codeOf(() => checkPath(p))).toBe(ErrorCode.BAD_PATH);
  });

  it.each([undefined, null, 7, ['/x'], { path: '/x' }, new Uint8Array([47])])('refuses non-string %j', (p) => {
    expect(isValidPath(p)).toBe(false);
    expect(codeOf(() => checkPath(p))).toBe(ErrorCode.BAD_PATH);
  });

  it('counts the limit in UTF-8 bytes and refuses a longer path with TOO_LARGE', () => {
    const atLimit = '/' + 'a'.repeat(limits.pathBytesMax - 1);
    expect(Buffer.byteLength(atLimit)).toBe(limits.pathBytesMax);
    expect(checkPath(atLimit)).toBe(atLimit);
    const over = '/' + 'a'.repeat(limits.pathBytesMax);
    expect(codeOf(() => checkPath(over))).toBe(ErrorCode.TOO_LARGE);
    // Many short components: the whole path counts, not each component.
    const deep = '/ab'.repeat(Math.ceil(limits.pathBytesMax / 3) + 1);
    expect(codeOf(() => checkPath(deep))).toBe(ErrorCode.TOO_LARGE);
    // 513 characters but 1025 bytes: bytes are what count (and the size is checked first).
    const wide = '/' + 'é'.repeat(limits.pathBytesMax / 2);
    expect(wide.length).toBeLessThanOrEqual(limits.pathBytesMax);
    expect(codeOf(() => checkPath(wide))).toBe(ErrorCode.TOO_LARGE);
  });

  it('splits, joins and takes parents', () => {
    expect(pathComponents('/')).toEqual([]);
    expect(pathComponents('/a/b.c/d')).toEqual(['a', 'b.c', 'd']);
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b')).toBe('/a/b');
    expect(parentPath('/')).toBe('/');
    expect(parentPath('/a')).toBe('/');
    expect(parentPath('/a/b/c')).toBe('/a/b');
  });

  it('isUnder respects component boundaries', () => {
    expect(isUnder('/a/b', '/')).toBe(true);
    expect(isUnder('/a', '/a')).toBe(true);
    expect(isUnder('/a/b', '/a')).toBe(true);
    expect(isUnder('/ab', '/a')).toBe(false);
    expect(isUnder('/a', '/a/b')).toBe(false);
  });
});

describe('globs (Doozer store/glob_test.go, adapted)', () => {
  const cases: [glob: string, matches: string[], misses: string[]][] = [
    ['/a?', ['/ab', '/ac'], ['/a', '/abc', '/a/']],
    ['/a*', ['/a', '/abc'], ['/a/', '/ba']],
    ['/a**', ['/a', '/a/b', '/ab/c'], ['/', '/ba']],
    ['/a/b', ['/a/b'], ['/a/bc', '/a/b/']],
    ['/**', ['/', '/a', '/a/b/c'], []],
    ['/*', ['/a', '/abc'], ['/a/b']],
    ['/a/*/c', ['/a/b/c', '/a/xyz/c'], ['/a/c', '/a/b/d/c']],
    ['/a/**/c', ['/a/b/c', '/a/b/d/c'], ['/a/c', '/a/b/c/d']],
    ['/x.y', ['/x.y'], ['/xzy']], // `.` is literal, not "any character"
    ['/a_b-?', ['/a_b-1'], ['/a_b-']],
  ];

  it.each(cases)('%s', (glob, matches, misses) => {
    expect(globProblem(glob)).toBeNull();
    const g = compileGlob(glob);
    for (const p of matches) expect(g.matches(p), `${glob} should match ${p}`).toBe(true);
    for (const p of misses) expect(g.matches(p), `${glob} should not match ${p}`).toBe(false);
  });

  it.each(['', 'a', '/a/', '//', '/ ', '/:', '/a+b', '/a[b', '/a世界', '/a/./b', '/..', '/a/.', '/a//*'])(
    'refuses %j with BAD_GLOB',
    (glob) => {
      expect(globProblem(glob)).not.toBeNull();
      expect(codeOf(() => compileGlob(glob))).toBe(ErrorCode.BAD_GLOB);
    },
  );

  it.each([undefined, null, 1, ['/a']])('refuses non-string %j', (glob) => {
    expect(globProblem(glob)).not.toBeNull();
    expect(codeOf(() => compileGlob(glob))).toBe(ErrorCode.BAD_GLOB);
  });

  it('refuses a glob over limits.pathBytesMax bytes with TOO_LARGE', () => {
    const atLimit = '/' + '*'.repeat(limits.pathBytesMax - 1);
    expect(globProblem(atLimit)).toBeNull();
    expect(codeOf(() => compileGlob(atLimit + '*'))).toBe(ErrorCode.TOO_LARGE);
  });

  it('reports literal globs and the directory every match lies under', () => {
    expect(compileGlob('/a/b')).toMatchObject({ isLiteral: true, literalPrefix: '/a/b' });
    expect(compileGlob('/')).toMatchObject({ isLiteral: true, literalPrefix: '/' });
    expect(compileGlob('/a/b*')).toMatchObject({ isLiteral: false, literalPrefix: '/a' });
    expect(compileGlob('/a/b/*')).toMatchObject({ isLiteral: false, literalPrefix: '/a/b' });
    expect(compileGlob('/a**')).toMatchObject({ isLiteral: false, literalPrefix: '/' });
    expect(compileGlob('/a/?/c/**')).toMatchObject({ isLiteral: false, literalPrefix: '/a' });
  });
});

// ------------------------------------------------------------------ independent references

/** A regex for a glob, built by token replacement (not by path.ts's character loop). */
function referenceRegex(glob: string): RegExp {
  const body = glob.replace(/\*\*|\*|\?|[^*?]/g, (tok) => {
    if (tok === '**') return '.*';
    if (tok === '*') return '[^/]*';
    if (tok === '?') return '[^/]';
    return tok.replace(/[.\\^$+()[\]{}|-]/g, '\\$&');
  });
  return new RegExp(`^(?:${body})$`);
}

/** A backtracking matcher, straight from the rules: no regex. */
function referenceMatch(glob: string, path: string): boolean {
  const go = (g: number, p: number): boolean => {
    if (g === glob.length) return p === path.length;
    if (glob.startsWith('**', g)) {
      for (let q = p; q <= path.length; q++) if (go(g + 2, q)) return true;
      return false;
    }
    if (glob[g] === '*') {
      for (let q = p; q <= path.length; q++) {
        if (go(g + 1, q)) return true;
        if (path[q] === '/') return false;
      }
      return false;
    }
    if (p === path.length) return false;
    if (glob[g] === '?') return path[p] !== '/' && go(g + 1, p + 1);
    return glob[g] === path[p] && go(g + 1, p + 1);
  };
  return go(0, 0);
}

const nameChar = fc.constantFrom('a', 'b', '.', '_', '-');
const name = fc.array(nameChar, { minLength: 1, maxLength: 3 }).map((cs) => cs.join(''))
  .filter((n) => n !== '.' && n !== '..');
const pathArb = fc.oneof(
  fc.constant('/'),
  fc.array(name, { minLength: 1, maxLength: 4 }).map((ns) => '/' + ns.join('/')),
);
const globToken = fc.constantFrom('a', 'b', '.', '_', '-', '*', '?', '**');
const globName = fc.array(globToken, { minLength: 1, maxLength: 4 }).map((ts) => ts.join(''))
  .filter((n) => n !== '.' && n !== '..');
const globArb = fc.oneof(
  fc.constant('/'),
  fc.array(globName, { minLength: 1, maxLength: 3 }).map((ns) => '/' + ns.join('/')),
);
/** A path made from a glob by filling its wildcards, so that positives are common too. */
const pathFromGlob = (g: string) => fc.array(name, { minLength: g.length, maxLength: g.length })
  .map((fill) => {
    let i = 0;
    const p = g.replace(/\*\*|\*|\?/g, (tok) => {
      const n = fill[i++] ?? 'a';
      return tok === '?' ? n[0]! : tok === '*' ? n : `${n}/${n}`;
    }).replace(/\/\.\.?(?=\/|$)/g, '/a');
    return p;
  }).filter((p) => isValidPath(p));

describe('glob matching agrees with independent references (property)', () => {
  it('generated globs are valid and match exactly what both references match', () => {
    let hits = 0;
    let misses = 0;
    fc.assert(
      fc.property(globArb.chain((g) => fc.tuple(fc.constant(g), fc.oneof(pathArb, pathFromGlob(g)))), ([g, p]) => {
        expect(globProblem(g)).toBeNull();
        expect(isValidPath(p)).toBe(true);
        const expected = referenceMatch(g, p);
        expect(referenceRegex(g).test(p)).toBe(expected);
        expect(compileGlob(g).matches(p)).toBe(expected);
        if (expected) hits++;
        else misses++;
      }),
      { numRuns: 3000 },
    );
    // The generators are only useful if both outcomes are common.
    expect(hits).toBeGreaterThan(300);
    expect(misses).toBeGreaterThan(300);
  });

  it('every match lies under literalPrefix; a literal glob matches only itself', () => {
    fc.assert(
      fc.property(globArb.chain((g) => fc.tuple(fc.constant(g), pathFromGlob(g))), ([g, p]) => {
        const glob = compileGlob(g);
        if (glob.matches(p)) expect(isUnder(p, glob.literalPrefix)).toBe(true);
        if (glob.isLiteral) expect(glob.matches(p)).toBe(p === g);
      }),
      { numRuns: 2000 },
    );
  });

  it('valid paths are exactly those the spelled-out rule accepts', () => {
    const rule = /^\/$|^(\/(?!\.{1,2}(?:\/|$))[A-Za-z0-9._-]+)+$/;
    const anyChar = fc.constantFrom('a', 'Z', '9', '.', '_', '-', '/', ' ', '*', '=', 'é');
    fc.assert(
      fc.property(fc.array(anyChar, { maxLength: 10 }).map((cs) => cs.join('')), (s) => {
        expect(isValidPath(s)).toBe(rule.test(s));
      }),
      { numRuns: 3000 },
    );
  });
});
