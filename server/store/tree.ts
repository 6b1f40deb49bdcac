/**
 * The versioned tree: every file keeps its versions for the history window, so the tree can be
 * read as it stood at any kept revision. Directories are implicit (they exist while a file lives
 * below them), as in Doozer. A node stays in the tree, even when nothing lives in it, for as long
 * as a kept revision may still see it; compaction removes it after that.
 *
 * The tree knows nothing of revisions' meaning or of sessions: store.ts decides what to write,
 * this file keeps the versions and answers "what was here at revision R".
 */
import { assert } from '../assert.ts';
import { lowerBound } from '../sorted-strings.ts';

export interface Version {
  /** The store revision that wrote this version. */
  rev: number;
  /** The value, or null for a delete (a tombstone). */
  value: Uint8Array | null;
  /** The session that owns the file while it lives (ephemeral), or null. */
  owner: string | null;
}

/** Shared empty list: most nodes are leaves that never list a child. */
const NO_NAMES: string[] = Object.freeze([]) as unknown as string[];

/**
 * One name in the tree. Kept compact, since a store holds one per key: the current version is
 * inline (the node is itself a Version, the one in force now), older versions go to `past` only
 * while history still needs them, and the path is not stored but spelled from the names above.
 */
export class TreeNode implements Version {
  readonly name: string;
  readonly parent: TreeNode | null;
  /** The current version: its rev (0: the node never had one, or history dropped them all)… */
  rev = 0;
  /** …its value (null: a tombstone, or no version)… */
  value: Uint8Array | null = null;
  /** …and its ephemeral owner. */
  owner: string | null = null;
  /** Older versions, ascending rev, kept while a revision of the history may read them. */
  past: Version[] | null = null;
  /** Children, including those kept only for history. */
  children: Map<string, TreeNode> | null = null;
  /** Live files in this subtree now, this node included. */
  liveFiles = 0;
  /**
   * Names of the children with something alive in them now, sorted. Reads at the head walk only
   * these: a directory that saw much churn (a lock's contenders) keeps its dead children for
   * history, and must not cost every current read a visit to each.
   */
  liveNames: string[] = NO_NAMES;
  private sortedNamesCache: string[] | null = null;

  constructor(name: string, parent: TreeNode | null) {
    this.name = name;
    this.parent = parent;
  }

  /** The node's path, spelled from the names above it. */
  get path(): string {
    if (this.parent === null) return '/';
    if (this.parent.parent === null) return `/${this.name}`;
    return `${this.parent.path}/${this.name}`;
  }

  /** The path's length in characters, without building it. */
  get pathLength(): number {
    let n = 0;
    for (let node: TreeNode = this; node.parent !== null; node = node.parent) n += node.name.length + 1;
    return Math.max(n, 1);
  }

  hasVersions(): boolean {
    return this.rev > 0;
  }

  /** Every version kept, ascending, as plain objects (for snapshots). */
  versions(): Version[] {
    if (this.rev === 0) return [];
    const current = { rev: this.rev, value: this.value, owner: this.owner };
    return this.past === null ? [current] : [...this.past, current];
  }

  isFileNow(): boolean {
    return this.value !== null;
  }

  isDirNow(): boolean {
    return this.parent === null || this.liveFiles - (this.isFileNow() ? 1 : 0) > 0;
  }

  /**
   * The version in force at `rev`, or undefined when the node had none yet. The current one is
   * the node itself: read it at once, since a later write changes it in place.
   */
  versionAt(rev: number): Version | undefined {
    if (this.rev === 0) return undefined;
    if (this.rev <= rev) return this;
    const vs = this.past;
    if (vs === null) return undefined;
    let lo = 0;
    let hi = vs.length - 1;
    let found: Version | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = vs[mid]!;
      if (v.rev <= rev) {
        found = v;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** The live file version at `rev`, or undefined if no file was here then (see versionAt). */
  fileAt(rev: number): Version | undefined {
    const v = this.versionAt(rev);
    return v !== undefined && v.value !== null ? v : undefined;
  }

  /** True if something (a file, or a file below) lived here at `rev`. */
  liveAt(rev: number, head: number): boolean {
    if (rev >= head) return this.liveFiles > 0 || this.parent === null;
    return this.fileAt(rev) !== undefined || this.isDirAt(rev, head);
  }

  isDirAt(rev: number, head: number): boolean {
    if (this.parent === null) return true;
    if (rev >= head) return this.isDirNow();
    if (this.children === null) return false;
    for (const child of this.children.values()) if (child.liveAt(rev, head)) return true;
    return false;
  }

  /** Child names in sorted order (including history-only children). */
  sortedNames(): string[] {
    if (this.sortedNamesCache === null) {
      this.sortedNamesCache = this.children === null ? [] : [...this.children.keys()].sort();
    }
    return this.sortedNamesCache;
  }

  childOrCreate(name: string): TreeNode {
    this.children ??= new Map();
    let child = this.children.get(name);
    if (child === undefined) {
      child = new TreeNode(name, this);
      this.children.set(name, child);
      if (this.sortedNamesCache !== null) insertSorted(this.sortedNamesCache, name);
    }
    return child;
  }

  removeChild(name: string): void {
    assert(this.children?.has(name), `removeChild: ${name} is not a child of ${this.path}`);
    this.children!.delete(name);
    if (this.sortedNamesCache !== null) removeSorted(this.sortedNamesCache, name);
  }
}

function insertSorted(names: string[], name: string): void {
  names.splice(lowerBound(names, name), 0, name);
}

function removeSorted(names: string[], name: string): void {
  const i = lowerBound(names, name);
  assert(names[i] === name, `removeSorted: ${name} missing`);
  names.splice(i, 1);
}

export class Tree {
  readonly root = new TreeNode('', null);

  /** The node at `path`, or undefined. Nodes kept only for history are returned too. */
  find(path: string): TreeNode | undefined {
    if (path === '/') return this.root;
    let node: TreeNode | undefined = this.root;
    let start = 1;
    while (node !== undefined) {
      const end = path.indexOf('/', start);
      const name = end < 0 ? path.slice(start) : path.slice(start, end);
      node = node.children?.get(name);
      if (end < 0) return node;
      start = end + 1;
    }
    return undefined;
  }

  /** The node at `path`, created (with its ancestors) if it is missing. */
  findOrCreate(path: string): TreeNode {
    let node = this.root;
    if (path === '/') return node;
    for (const name of path.slice(1).split('/')) node = node.childOrCreate(name);
    return node;
  }

  /** Writes a new current version; keeps liveFiles counts of the node and its ancestors in step. */
  write(node: TreeNode, version: Version): void {
    assert(node.rev < version.rev, `write at ${node.path}: rev must rise`);
    const wasLive = node.isFileNow();
    const isLive = version.value !== null;
    if (node.rev > 0) {
      const previous: Version = { rev: node.rev, value: node.value, owner: node.owner };
      // A first older version gets an array of its own size (push would reserve 17 slots).
      if (node.past === null) node.past = [previous];
      else node.past.push(previous);
    }
    node.rev = version.rev;
    node.value = version.value;
    node.owner = version.owner;
    if (wasLive === isLive) return;
    const delta = isLive ? 1 : -1;
    for (let n: TreeNode | null = node; n !== null; n = n.parent) {
      n.liveFiles += delta;
      assert(n.liveFiles >= 0, `liveFiles went negative at ${n.path}`);
      if (n.parent === null) continue;
      // A child turns live (0 → 1) or dead (1 → 0): its parent's live index follows.
      if (delta > 0 && n.liveFiles === 1) {
        if (n.parent.liveNames === NO_NAMES) n.parent.liveNames = [n.name];
        else insertSorted(n.parent.liveNames, n.name);
      }
      if (delta < 0 && n.liveFiles === 0) removeSorted(n.parent.liveNames, n.name);
    }
  }

  /**
   * Forgets what no revision at or after `oldest` can see: older versions of `node` except the
   * one in force at `oldest`, that one too if it is a tombstone, and then the node itself (and
   * empty ancestors) once it holds nothing.
   */
  compact(node: TreeNode, oldest: number): void {
    // Several dropped revisions can name one node: an earlier one's compaction may have taken
    // it out of the tree already (and its path may hold a new node since).
    if (node.parent !== null && node.parent.children?.get(node.name) !== node) return;
    if (node.rev !== 0 && node.rev <= oldest) {
      // The current version is the one in force at `oldest`: nothing older is needed.
      node.past = null;
      if (node.value === null) {
        node.rev = 0;
        node.owner = null;
      }
    } else if (node.past !== null) {
      const vs = node.past;
      let base = -1;
      for (let i = 0; i < vs.length && vs[i]!.rev <= oldest; i++) base = i;
      if (base > 0) vs.splice(0, base);
      if (base >= 0 && vs[0]!.value === null) vs.shift();
      if (vs.length === 0) node.past = null;
    }
    for (let n: TreeNode | null = node; n !== null && n.parent !== null; n = n.parent) {
      if (n.rev !== 0 || (n.children !== null && n.children.size > 0)) break;
      assert(n.liveFiles === 0, `compact removed live node ${n.path}`);
      n.parent.removeChild(n.name);
    }
  }
}
