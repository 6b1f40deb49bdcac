/**
 * Periodic watch progress for one connection (WATCH with `progressMs`): a live watch on which
 * nothing was pushed for its `progressMs` gets `{watch, progress: rev}`, rev being this server's
 * applied revision (a live watch has been handed every event up to it). One timer serves every
 * such watch of the connection, set for the earliest one due, so thousands of watches cost one
 * timer, not thousands.
 */
import type { Watch } from '../watch/hub.ts';

export interface ProgressSink {
  /** False while the socket is congested: its events are what a watch waits for, not progress. */
  canPush(): boolean;
  /** Sends `{watch: w.id, progress: rev}` at the server's applied revision. */
  pushProgress(w: Watch): void;
}

export class ProgressTimer {
  /** Watches with progressMs: how often, and when something was last pushed on each. */
  private readonly watches = new Map<Watch, { everyMs: number; lastMs: number }>();
  private timer: NodeJS.Timeout | null = null;
  private dueMs = Infinity;
  private closed = false;

  constructor(private readonly sink: ProgressSink) {}

  /** Watch `w` (already started) wants progress after `everyMs` of silence. */
  add(w: Watch, everyMs: number): void {
    if (this.closed || w.ended) return;
    const now = Date.now();
    this.watches.set(w, { everyMs, lastMs: now });
    this.schedule(now + everyMs);
  }

  /** Events were pushed on `w`: its silence starts again. */
  pushed(w: Watch): void {
    if (this.watches.size === 0) return;
    const p = this.watches.get(w);
    if (p !== undefined) p.lastMs = Date.now();
  }

  forget(w: Watch): void {
    this.watches.delete(w);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.watches.clear();
  }

  /** Arms the timer for `dueMs` unless it is already set to fire by then. */
  private schedule(dueMs: number): void {
    if (this.closed || (this.timer !== null && this.dueMs <= dueMs)) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.dueMs = dueMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, dueMs - Date.now()));
  }

  /** Pushes progress on each live watch idle for its progressMs; lagging ones get none. */
  private fire(): void {
    this.timer = null;
    this.dueMs = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const [w, p] of this.watches) {
      if (w.ended) {
        this.watches.delete(w);
        continue;
      }
      if (p.lastMs + p.everyMs <= now) {
        if (w.live && this.sink.canPush()) this.sink.pushProgress(w);
        p.lastMs = now;
      }
      next = Math.min(next, p.lastMs + p.everyMs);
    }
    if (next !== Infinity) this.schedule(next);
  }
}
