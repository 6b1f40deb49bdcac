/**
 * Keepalive for one connection: a ping a third of a session TTL after the last message sent (so
 * the server hears from an idle client at least every third of its TTL, and a client tolerates a
 * stall of about two thirds of its TTL), and the check that the server still answers.
 *
 * One timer, no churn per request: `sent()` only notes the time; the timer, when it fires, pings
 * if a full period has passed since the last send, else re-arms for the remainder.
 *
 * The link is called dead when something sent is owed an answer and no useful frame has come
 * back for two periods (a third of the TTL each). An UNAVAILABLE answer is not useful (the
 * caller does not call `heard()` for it): a server cut off from the leader still answers, but
 * cannot keep the session alive, so the client had better try another server while its session
 * lives (partition.test.ts). Two periods are counted from the last useful frame, not from the
 * first unanswered send: an idle client's ping goes out a period after the last answer, and
 * waiting two more periods after it would leave no time to resume the session elsewhere.
 * A timer that fires far later than it was due means this process was frozen (a GC pause, a
 * stopped or starved VM): the silence was ours, not the server's, and whatever the server sent
 * meanwhile may still be unread. Then it pings at once and gives the server a fresh two periods
 * to answer before judging the link.
 */

/** How late a timer may fire before we take it that this process was frozen, not just busy. */
export function stallSlackMs(periodMs: number): number {
  return Math.max(50, Math.floor(periodMs / 2));
}

/** The ping period for a session TTL: a third of it, within [100 ms, 5 s]. */
export function pingPeriodMs(sessionTtlMs: number): number {
  return Math.max(100, Math.min(5000, Math.floor(sessionTtlMs / 3)));
}

export interface KeepaliveHooks {
  /** Send a ping on the link (which calls `sent()` like any other send). */
  ping(): void;
  /** The server stopped answering: close the link. */
  dead(): void;
}

export class Keepalive {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private dueMs = 0;
  private lastSentMs: number;
  /** The first send since a frame was last heard (null: nothing sent is owed an answer). */
  private awaitingSinceMs: number | null = null;
  /** When a useful frame was last heard (or the link opened, or we woke from a freeze). */
  private lastHeardMs: number;

  constructor(private readonly periodMs: number, private readonly hooks: KeepaliveHooks) {
    this.lastSentMs = Date.now();
    this.lastHeardMs = this.lastSentMs;
    this.arm(this.lastSentMs + periodMs);
  }

  /** A message went out on the link. */
  sent(): void {
    this.lastSentMs = Date.now();
    this.awaitingSinceMs ??= this.lastSentMs;
  }

  /** A frame came in on the link. */
  heard(): void {
    this.awaitingSinceMs = null;
    this.lastHeardMs = Date.now();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(atMs: number): void {
    this.dueMs = atMs;
    this.timer = setTimeout(() => this.fire(), Math.max(0, atMs - Date.now()));
    // Pinging alone does not keep a Node process alive (where timers can be unref'd).
    (this.timer as { unref?: () => void }).unref?.();
  }

  private fire(): void {
    this.timer = null;
    const now = Date.now();
    if (now - this.dueMs > stallSlackMs(this.periodMs)) {
      // We were frozen: ping now, and judge the link only by what follows.
      this.awaitingSinceMs = null;
      this.lastHeardMs = now;
      this.hooks.ping();
      if (!this.stopped) this.arm(this.next());
      return;
    }
    if (this.awaitingSinceMs !== null && now - this.lastHeardMs >= 2 * this.periodMs) return this.hooks.dead();
    if (now - this.lastSentMs >= this.periodMs) this.hooks.ping();
    if (!this.stopped) this.arm(this.next());
  }

  /** When to look again: a period after the last send, or sooner when an answer is overdue. */
  private next(): number {
    const ping = this.lastSentMs + this.periodMs;
    return this.awaitingSinceMs === null ? ping : Math.min(ping, this.lastHeardMs + 2 * this.periodMs);
  }
}
