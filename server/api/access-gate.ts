/**
 * One connection's access control (server/store/access.ts): who its hello's token makes it, and
 * whether it may read or write a path, or watch a glob, under the rules as this node has applied
 * them now. Decisions are cached until the rules change (their version rises). The connection
 * asks before a request, and again once a read's revision is reached or a watch's barrier
 * returned, since the rules may change meanwhile.
 */
import { CoordError, ErrorCode } from '../../protocol/errors.ts';
import { compileGlob } from '../../protocol/path.ts';
import type { AccessTable } from '../store/access.ts';
import { credentialOf, describeWho, helloRefusal, identify, type Credential, type Who } from './credentials.ts';

export class AccessGate {
  private credential: Credential = { serverToken: false, hash: null };
  private cached: Who | null = null;
  private cachedVersion = -1;

  constructor(
    private readonly access: () => AccessTable,
    /** The server's own token, or null. */
    private readonly serverToken: string | null,
  ) {}

  /** Takes a hello's token: the refusal (UNAUTHORIZED's message), or null once admitted. */
  admit(token: string | undefined): string | null {
    const credential = credentialOf(token, this.serverToken);
    const refusal = helloRefusal(this.access(), credential, this.serverToken, token !== undefined);
    if (refusal !== null) return refusal;
    this.credential = credential;
    this.cached = null;
    return null;
  }

  /** Who the token makes this connection, under the rules as applied now. */
  get who(): Who {
    const access = this.access();
    if (this.cached === null || this.cachedVersion !== access.version) {
      this.cached = identify(access, this.credential);
      this.cachedVersion = access.version;
    }
    return this.cached;
  }

  /** The rules' version now: it rises with every change, and across a snapshot install. */
  get version(): number {
    return this.access().version;
  }

  /** How log lines name whoever holds this token. */
  get name(): string {
    return this.who.user ?? (this.credential.serverToken ? 'server token' : 'no user (access control off)');
  }

  /**
   * False once access control is on and the token names nobody (never did, or its user was
   * deleted or given a new token): its frames then keep no session alive, and it may only close
   * its session, so a revoked holder's locks go when its TTL runs out.
   */
  mayKeepAlive(): boolean {
    if (!this.access().enabled) return true;
    const who = this.who;
    return who.unrestricted || who.user !== null;
  }

  /** True if this connection may read `path` (write: also write it) now. */
  may(path: string, write: boolean): boolean {
    const access = this.access();
    if (!access.enabled) return true;
    const who = this.who;
    return who.unrestricted || access.permits(who.user ?? '', path, write);
  }

  /** PERMISSION_DENIED unless this connection may read `path` (write: also write it). */
  authorize(path: string, write: boolean): void {
    if (this.may(path, write)) return;
    throw new CoordError(ErrorCode.PERMISSION_DENIED, `${describeWho(this.who)} may not ${write ? 'write' : 'read'} ${path}`, { path });
  }

  /**
   * A glob is allowed when everything it can match lies under a readable prefix: its literal
   * prefix (the directories before the first wildcard) must be readable. So a WALK, WAIT or
   * WATCH never returns a path its token may not read; `/**` needs a grant on `/`.
   */
  authorizeGlob(glob: string): void {
    if (!this.access().enabled) return;
    const prefix = compileGlob(glob).literalPrefix;
    if (this.may(prefix, false)) return;
    throw new CoordError(ErrorCode.PERMISSION_DENIED,
      `${describeWho(this.who)} may not read everything ${glob} can match (it needs read on ${prefix})`, { glob });
  }
}
