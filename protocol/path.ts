/**
 * Path and glob rules, shared by server and client.
 *
 * A path is `/` or `/c1/c2/...`: components of letters, digits, `.`, `-` and `_`, not `.` or
 * `..` alone, no empty component, no trailing `/`, at most limits.pathBytesMax bytes.
 * A glob has the same shape and may also use `?` (one character within a component), `*` (any
 * run within a component) and `**` (any run, across components). Globs are anchored at both
 * ends, as in Doozer: `/a/*` matches `/a/b` but not `/a/b/c`; `/a/**` matches both.
 */
import { describe } from './describe.ts';
import { CoordError, ErrorCode } from './errors.ts';
import { limits } from './limits.ts';
import { utf8Length } from './utf8.ts';

const COMPONENT = /^[A-Za-z0-9._-]+$/;
const GLOB_COMPONENT = /^[A-Za-z0-9._*?-]+$/;

/**
 * True if `s` is a string over limits.pathBytesMax bytes. The error code is chosen from this,
 * not from the problem's text, which quotes the caller's input (a component "longer than" must
 * not turn BAD_PATH into TOO_LARGE).
 */
/** True if `s` is a string over limits.pathBytesMax UTF-8 bytes. */
export function tooLong(s: unknown): boolean {
  return typeof s === 'string' && utf8Length(s) > limits.pathBytesMax;
}

/** Why `s` does not have the shape of a path (or glob), or null if it has. */
function shapeProblem(what: 'path' | 'glob', s: unknown, component: RegExp, chars: string): string | null {
  if (typeof s !== 'string') return `${what} must be a string`;
  if (s === '/') return null;
  if (utf8Length(s) > limits.pathBytesMax) return `${what} is longer than ${limits.pathBytesMax} bytes`;
  if (!s.startsWith('/')) return `${what} must start with /`;
  if (s.endsWith('/')) return `${what} must not end with /`;
  for (const c of s.slice(1).split('/')) {
    if (c === '') return `${what} has an empty component (//)`;
    if (c === '.' || c === '..') return `${what} component "${c}" is not allowed`;
    if (!component.test(c)) return `${what} component "${c}" has a character outside ${chars}`;
  }
  return null;
}

/** Why `path` is not a valid path, or null if it is. */
export function pathProblem(path: unknown): string | null {
  return shapeProblem('path', path, COMPONENT, '[A-Za-z0-9._-]');
}

export function isValidPath(path: unknown): path is string {
  return pathProblem(path) === null;
}

/** Throws BAD_PATH (or TOO_LARGE for a long path) unless `path` is valid. */
export function checkPath(path: unknown): string {
  const problem = pathProblem(path);
  if (problem === null) return path as string;
  const code = tooLong(path) ? ErrorCode.TOO_LARGE : ErrorCode.BAD_PATH;
  throw new CoordError(code, `${problem}: ${describe(path)}`);
}

/** The components of a valid path; `/` has none. */
export function pathComponents(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Why `glob` is not a valid glob, or null if it is. */
export function globProblem(glob: unknown): string | null {
  return shapeProblem('glob', glob, GLOB_COMPONENT, '[A-Za-z0-9._-*?]');
}

/** A compiled glob: test whole paths, and prune directories that cannot lead to a match. */
export interface Glob {
  readonly source: string;
  /** True if `path` matches the whole glob. */
  matches(path: string): boolean;
  /** The longest leading directory every match must lie under (`/` when none). */
  readonly literalPrefix: string;
  /** True if the glob has no wildcard: it matches exactly one path. */
  readonly isLiteral: boolean;
  /** False when no path strictly below directory `dir` can match: a walk may skip it. */
  mayMatchBelow(dir: string): boolean;
}

/** Compiles a glob, throwing BAD_GLOB (or TOO_LARGE) unless it is valid. */
export function compileGlob(glob: unknown): Glob {
  const problem = globProblem(glob);
  if (problem !== null) {
    const code = tooLong(glob) ? ErrorCode.TOO_LARGE : ErrorCode.BAD_GLOB;
    throw new CoordError(code, `${problem}: ${describe(glob)}`);
  }
  const source = glob as string;
  const regex = new RegExp(`^${globToRegexSource(source)}$`);
  const wild = source.search(/[*?]/);
  const isLiteral = wild < 0;
  const literalPrefix = isLiteral ? source : parentPath(source.slice(0, wild + 1));
  return {
    source,
    matches: isLiteral ? (p) => p === source : (p) => regex.test(p),
    literalPrefix,
    isLiteral,
    mayMatchBelow: belowMatcher(source),
  };
}

/**
 * Component by component: a directory can hold a match only if each of its components matches
 * the glob's component at that depth and the glob goes deeper; a `**` anywhere on the way lets
 * anything through (it can span components).
 */
function belowMatcher(glob: string): (dir: string) => boolean {
  const parts = pathComponents(glob).map((c) =>
    c.includes('**') ? null : new RegExp(`^${globToRegexSource(c)}$`));
  return (dir) => {
    const names = pathComponents(dir);
    for (let i = 0; i < names.length; i++) {
      const part = parts[i];
      if (part === null) return true;
      if (part === undefined || !part.test(names[i]!)) return false;
    }
    return names.length < parts.length;
  };
}

function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i++;
      } else {
        out += '[^/]*';
      }
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '.') {
      out += '\\.';
    } else {
      out += ch;
    }
  }
  return out;
}

/** True if `path` equals `dir` or lies below it. */
export function isUnder(path: string, dir: string): boolean {
  if (dir === '/') return true;
  return path === dir || (path.startsWith(dir) && path.charCodeAt(dir.length) === 47);
}
