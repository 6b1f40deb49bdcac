/**
 * The first connection of a client, which connect() waits for. It fails with ConnectionError
 * once `connectTimeoutMs` has passed, naming the last cause seen; with `failFast`, as soon as
 * every url has failed once (refused, not resolvable, not a coord server, closed before the
 * hello was answered), naming each url's cause: `cannot connect to ws://127.0.0.1:7070:
 * ECONNREFUSED 127.0.0.1:7070`. A server that answers UNAVAILABLE (its cluster has no leader
 * yet) is waited for until the deadline, failFast or not. A command-line tool wants the latter; a service that may start
 * before its server wants the default, which keeps trying until the deadline.
 */
import { ConnectionError } from './errors.ts';

export class FirstConnect {
  /** Resolves once connected; rejects with why not. */
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;
  private readonly timer: ReturnType<typeof setTimeout>;
  private readonly failures = new Map<string, string>();
  private last: string | null = null;
  private over = false;

  constructor(
    private readonly urls: readonly string[],
    private readonly timeoutMs: number,
    private readonly failFast: boolean,
    /** Called once when it gives up (timeout or failFast), before connect() rejects. */
    private readonly onGiveUp: (err: ConnectionError) => void,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.timer = setTimeout(() => {
      const why = this.last === null ? '' : ` (last error: ${this.last})`;
      this.giveUp(new ConnectionError(`no coord server reachable at ${urls.join(', ')} within ${timeoutMs} ms${why}`));
    }, timeoutMs);
  }

  get pending(): boolean {
    return !this.over;
  }

  succeeded(): void {
    if (this.end()) this.resolve();
  }

  /** A failure retrying cannot mend (the server refused the hello: bad token, bad version). */
  failed(err: unknown): void {
    if (this.end()) this.reject(err);
  }

  /** An attempt on `url` failed with `cause`; true if connect() has now given up. */
  attemptFailed(url: string, cause: string): boolean {
    if (this.over) return false;
    this.last = `${url}: ${cause}`;
    // A server that answered UNAVAILABLE is there and will serve once its cluster has a leader
    // (one starting up, or electing): worth waiting for, up to the deadline, even failing fast.
    if (/^UNAVAILABLE\b/.test(cause)) {
      this.failures.delete(url);
      return false;
    }
    this.failures.set(url, cause);
    if (!this.failFast || this.urls.some((u) => !this.failures.has(u))) return false;
    const each = [...this.failures].map(([u, c]) => `${u}: ${c}`).join('; ');
    this.giveUp(new ConnectionError(`cannot connect to ${each}`));
    return true;
  }

  private giveUp(err: ConnectionError): void {
    if (!this.end()) return;
    this.onGiveUp(err);
    this.reject(err);
  }

  private end(): boolean {
    if (this.over) return false;
    this.over = true;
    clearTimeout(this.timer);
    return true;
  }
}
