/**
 * The event log: for every kept revision, the files it changed (one for a SET or DEL, several for
 * a transaction or a session expiry), in path order. WAIT and WATCH read it to deliver events
 * from a past revision; compaction drops the oldest revisions.
 *
 * It keeps references to the tree's nodes, not events: a revision's events are built when asked
 * for, from the version each node holds for that revision (kept for as long as the revision is).
 * An event object per revision, with its own copy of the path, would cost more than the file.
 */
import type { Event } from '../../protocol/messages.ts';
import { assert } from '../assert.ts';
import type { TreeNode } from './tree.ts';

/** What one revision changed: a node, or several in path order. */
type Changed = TreeNode | TreeNode[];

export class History {
  /** changed[i] belongs to revision first + i - head (slots below head are dropped). */
  private changed: Changed[] = [];
  private head = 0;
  /** The revision of changed[head]. */
  private first: number;
  /** Bytes of paths and values in the kept events (what `historyBytes` bounds). */
  private keptBytes = 0;

  constructor(firstRev: number) {
    this.first = firstRev;
  }

  /** The oldest revision whose events are kept. */
  get firstRev(): number {
    return this.first;
  }

  get bytes(): number {
    return this.keptBytes;
  }

  /** The revision after the newest kept one. */
  get endRev(): number {
    return this.first + this.changed.length - this.head;
  }

  /** Records revision `rev`: `nodes` (in path order) now hold their versions written at `rev`. */
  append(rev: number, nodes: TreeNode[]): void {
    assert(rev === this.endRev, `history append at ${rev}, expected ${this.endRev}`);
    assert(nodes.length > 0, `history append at ${rev} with no events`);
    const changed = nodes.length === 1 ? nodes[0]! : nodes;
    this.changed.push(changed);
    this.keptBytes += changedBytes(changed, rev);
  }

  /**
   * The smallest revision R ≤ `highest` such that dropping every revision up to R leaves at most
   * `maxBytes` kept (or `highest` if even that is not enough); the caller drops below R + 1.
   */
  lastToDropFor(maxBytes: number, highest: number): number {
    let bytes = this.keptBytes;
    let rev = this.first - 1;
    while (bytes > maxBytes && rev < highest && rev + 1 < this.endRev) {
      rev++;
      bytes -= changedBytes(this.slot(rev), rev);
    }
    return rev;
  }

  /**
   * The events of `rev` whose path `matches` accepts (all, without it), built now: a watch
   * catching up passes its glob, so the revisions it skips cost a path each, not events. The
   * caller makes sure firstRev ≤ rev < endRev.
   */
  at(rev: number, matches?: (path: string) => boolean): Event[] {
    const changed = this.slot(rev);
    const events: Event[] = [];
    for (const node of Array.isArray(changed) ? changed : [changed]) {
      const path = node.path;
      if (matches === undefined || matches(path)) events.push(eventOf(node, path, rev));
    }
    return events;
  }

  private slot(rev: number): Changed {
    const slot = this.changed[this.head + rev - this.first];
    assert(slot !== undefined, `history has no revision ${rev}`);
    return slot;
  }

  /**
   * Drops every revision below `rev`, then hands each node they changed to `onDropped` (for
   * compaction), once all of them are counted out: compaction may drop the versions the
   * counting reads.
   */
  dropBefore(rev: number, onDropped: (node: TreeNode) => void): void {
    const dropped: Changed[] = [];
    while (this.first < rev && this.head < this.changed.length) {
      const changed = this.changed[this.head]!;
      this.keptBytes -= changedBytes(changed, this.first);
      dropped.push(changed);
      this.changed[this.head] = undefined as unknown as Changed;
      this.head++;
      this.first++;
    }
    this.first = Math.max(this.first, rev);
    if (this.head > 4096 && this.head * 2 > this.changed.length) {
      this.changed = this.changed.slice(this.head);
      this.head = 0;
    }
    for (const changed of dropped) {
      if (Array.isArray(changed)) for (const n of changed) onDropped(n);
      else onDropped(changed);
    }
  }
}

/** The event for `node`'s version written at `rev`. */
function eventOf(node: TreeNode, path: string, rev: number): Event {
  const v = node.versionAt(rev);
  assert(v !== undefined && v.rev === rev, `history: ${path} holds no version of revision ${rev}`);
  return v.value === null ? { path, rev, kind: 'delete' } : { path, rev, kind: 'set', value: v.value };
}

/** What a revision costs in history: its paths and values. */
function changedBytes(changed: Changed, rev: number): number {
  if (!Array.isArray(changed)) return nodeBytes(changed, rev);
  let n = 0;
  for (const node of changed) n += nodeBytes(node, rev);
  return n;
}

function nodeBytes(node: TreeNode, rev: number): number {
  return node.pathLength + (node.versionAt(rev)?.value?.byteLength ?? 0);
}
