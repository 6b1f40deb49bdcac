/**
 * The error catalog: every error a client can see, with a stable code. Codes never change
 * meaning; messages may. The client mirrors each code with an error class (client/errors.ts) and
 * the protocol README lists them; test/protocol/errors.test.ts keeps the three in step.
 */
export const ErrorCode = {
  /** The message is not a valid request: missing or wrongly typed argument, bad shape. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** The op is not one this protocol version knows. */
  UNKNOWN_OP: 'UNKNOWN_OP',
  /** The path is not valid (see the path rules). */
  BAD_PATH: 'BAD_PATH',
  /** The glob is not valid (see the glob rules). */
  BAD_GLOB: 'BAD_GLOB',
  /** A value, path, page or transaction is over its named limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** A conditional write's rev is older than the file's rev. */
  REV_MISMATCH: 'REV_MISMATCH',
  /** The path names a directory where a file is needed. */
  ISDIR: 'ISDIR',
  /** A component of the path is a file where a directory is needed. */
  NOTDIR: 'NOTDIR',
  /** The directory does not exist. */
  NOENT: 'NOENT',
  /** The revision asked for is older than the history kept; details.oldestRev says what is. */
  TOO_LATE: 'TOO_LATE',
  /** A bounded wait ran out (e.g. a read at a revision not reached in time). */
  TIMEOUT: 'TIMEOUT',
  /** The request was cancelled by the client. */
  CANCELLED: 'CANCELLED',
  /** A per-connection limit (requests in flight, watches) is reached; retry later. */
  LIMIT: 'LIMIT',
  /** A watch fell too far behind; details.resumeRev is where to resume. */
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  /** The session named in the hello does not exist (expired or closed) or the secret is wrong. */
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  /** The first message was not a hello, or a second hello was sent. */
  HELLO_REQUIRED: 'HELLO_REQUIRED',
  /** The client asked for a protocol version this server does not speak. */
  BAD_VERSION: 'BAD_VERSION',
  /** The server requires a token and the hello carried none, or the wrong one. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /**
   * Access control is on and this connection's token may not do this: read or write this path,
   * watch this glob, resume that session or change the access rules. details.path or
   * details.glob names what was refused. Retrying with the same token will not help.
   */
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** The server cannot serve now (shutting down, no leader); retry elsewhere or later. */
  UNAVAILABLE: 'UNAVAILABLE',
  /**
   * The server's disk is full: writes are refused (nothing was written) until space is freed;
   * reads, WAITs and WATCHes go on being served.
   */
  NOSPACE: 'NOSPACE',
  /**
   * A write was retried but its outcome is no longer known: the session has forgotten the result
   * of that seq (see dedupeResultsPerSessionMax). It may or may not have been applied: re-read.
   */
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
  /** A bug in the server. The request may or may not have been applied. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const errorCodes: readonly ErrorCode[] = Object.values(ErrorCode);

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && (errorCodes as readonly string[]).includes(x);
}

/** The error body carried in a response: `{ code, message, details? }`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/**
 * An error with a catalog code, thrown inside the server and turned into an ErrorBody at the
 * edge. Not used for invariant violations: those are assertions and stop the process.
 */
export class CoordError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CoordError';
    this.code = code;
    this.details = details;
  }
  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** WebSocket close codes the server uses, with the reason text sent beside them. */
export const CloseCode = {
  /** Normal close: the connection's session was ended by a `close` request. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** The frame could not be decoded as msgpack, or was a text frame. */
  PROTOCOL_ERROR: 1002,
  /**
   * A policy was broken: a request before the hello, no hello in time, the session expired, too
   * many connections. (A refused hello does not close the connection: the client may try again.)
   */
  POLICY: 1008,
  /** The frame is larger than frameBytesMax. */
  TOO_BIG: 1009,
  /**
   * Reserved for an internal error on one connection. Not sent today: a failed assertion stops
   * the process instead.
   */
  INTERNAL: 1011,
} as const;
