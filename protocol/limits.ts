/**
 * Every limit coord enforces, in one place, with its unit last in the name.
 * The server takes these as defaults; today only the history window can be changed (the
 * `--history` flag of `coord server`). protocol/README.md documents each one, and
 * test/protocol/limits.test.ts pins the values so a change is deliberate.
 */
export const limits = {
  /** Largest WebSocket frame (one msgpack message) the server accepts. */
  frameBytesMax: 2 * 1024 * 1024,
  /** Largest file value. */
  valueBytesMax: 1024 * 1024,
  /** Longest path or glob, in UTF-8 bytes. */
  pathBytesMax: 1024,
  /** Operations in one TXN (conditions and writes counted separately, each up to this). */
  txnOpsMax: 128,
  /** Requests a connection may have in flight (unanswered) at once; WAITs and WATCHes count. */
  requestsInflightPerConnectionMax: 1024,
  /** Open WATCH streams and pending WAITs per connection. */
  watchesPerConnectionMax: 1024,
  /** Open client connections per server. */
  connectionsMax: 10_000,
  /** Entries names returned by one GETDIR page / files by one WALK page, at most. */
  pageEntriesMax: 10_000,
  /** Bytes of names (GETDIR) or paths and values (WALK) in one page; it ends after the entry that crosses this. */
  pageBytesMax: 1024 * 1024,
  /** Default page size when the request names none. */
  pageEntriesDefault: 1000,
  /** Revisions of history kept by default (GET/WAIT/WATCH at older revisions: TOO_LATE). */
  historyRevisionsDefault: 100_000,
  /** How long a GET/STAT/GETDIR/WALK at a not-yet-applied revision waits before TIMEOUT. */
  futureRevisionWaitMsMax: 10_000,
  /** Session TTL bounds and default. */
  sessionTtlMsMin: 1000,
  sessionTtlMsMax: 300_000,
  sessionTtlMsDefault: 10_000,
  /** Bytes queued on one connection's socket before its watch streams pause (resumed on drain). */
  socketBufferedBytesHigh: 4 * 1024 * 1024,
  /**
   * Revisions a paused watch may fall behind the head before the server ends it with
   * SLOW_CONSUMER (and the revision to resume from). Bounds the work a slow reader can cause.
   */
  watchLagRevisionsMax: 50_000,
  /** Write results a session remembers for retries when the client sends no seqFloor. */
  dedupeResultsPerSessionMax: 1024,
  /** Time a new connection has to send its hello. */
  helloTimeoutMs: 10_000,
  /**
   * Time a new TCP connection has to send its complete HTTP upgrade request (all headers); then
   * it is closed. With helloTimeoutMs this bounds how long a connection that never becomes a
   * client can be held open.
   */
  upgradeTimeoutMs: 10_000,
  /** Client writes (and session opens) proposed and not yet answered, server-wide; more: LIMIT. */
  writesInflightMax: 10_000,
  /**
   * Bytes of history kept by default (`--history-bytes`): the paths and values of the kept
   * revisions' events. The oldest revisions go first once over it (the newest is always kept),
   * so history costs bounded memory whatever the value sizes.
   */
  historyBytesDefault: 128 * 1024 * 1024,
  /**
   * Bounds of a WATCH's `progressMs` (periodic progress pushes on an idle watch): often enough
   * to be useful, never so often that idle watches cost the server a timer storm.
   */
  watchProgressMsMin: 100,
  watchProgressMsMax: 3_600_000,
} as const;

export type Limits = typeof limits;

/** The protocol version this code speaks. The hello fixes it per connection. */
export const PROTOCOL_VERSION = 1;

/** The WebSocket path, versioned so a future protocol can live beside this one. */
export const WS_PATH = `/v${PROTOCOL_VERSION}/ws`;
