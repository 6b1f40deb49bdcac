/**
 * Typed client errors: one class per protocol error code (protocol/errors.ts), each with `code`,
 * `details` and `cause`, so callers can write `err instanceof RevMismatchError` or switch on
 * `err.code`. Plus errors that only the client can raise (no server reachable, closed client).
 */
import { ErrorCode, type ErrorBody } from '../protocol/errors.ts';

export class CoordClientError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: string, message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CoordClientError';
    this.code = code;
    this.details = details;
  }
}

/** The constructor shape every per-code class has. */
export type CoordErrorClass = new (
  message: string, details?: Record<string, unknown>, options?: ErrorOptions,
) => CoordClientError;

// Typed as the constructor shape alone, so the declarations carry no Node-only statics of Error.
function errorClass(code: ErrorCode, name: string): CoordErrorClass {
  const cls = class extends CoordClientError {
    constructor(message: string, details?: Record<string, unknown>, options?: ErrorOptions) {
      super(code, message, details, options);
      this.name = name;
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const BadRequestError = errorClass(ErrorCode.BAD_REQUEST, 'BadRequestError');
export const UnknownOpError = errorClass(ErrorCode.UNKNOWN_OP, 'UnknownOpError');
export const BadPathError = errorClass(ErrorCode.BAD_PATH, 'BadPathError');
export const BadGlobError = errorClass(ErrorCode.BAD_GLOB, 'BadGlobError');
export const TooLargeError = errorClass(ErrorCode.TOO_LARGE, 'TooLargeError');
export const RevMismatchError = errorClass(ErrorCode.REV_MISMATCH, 'RevMismatchError');
export const IsDirError = errorClass(ErrorCode.ISDIR, 'IsDirError');
export const NotDirError = errorClass(ErrorCode.NOTDIR, 'NotDirError');
export const NoEntError = errorClass(ErrorCode.NOENT, 'NoEntError');
export const TooLateError = errorClass(ErrorCode.TOO_LATE, 'TooLateError');
export const TimeoutError = errorClass(ErrorCode.TIMEOUT, 'TimeoutError');
export const CancelledError = errorClass(ErrorCode.CANCELLED, 'CancelledError');
export const LimitError = errorClass(ErrorCode.LIMIT, 'LimitError');
export const SlowConsumerError = errorClass(ErrorCode.SLOW_CONSUMER, 'SlowConsumerError');
export const SessionExpiredError = errorClass(ErrorCode.SESSION_EXPIRED, 'SessionExpiredError');
export const HelloRequiredError = errorClass(ErrorCode.HELLO_REQUIRED, 'HelloRequiredError');
export const BadVersionError = errorClass(ErrorCode.BAD_VERSION, 'BadVersionError');
export const UnauthorizedError = errorClass(ErrorCode.UNAUTHORIZED, 'UnauthorizedError');
export const PermissionDeniedError = errorClass(ErrorCode.PERMISSION_DENIED, 'PermissionDeniedError');
export const UnavailableError = errorClass(ErrorCode.UNAVAILABLE, 'UnavailableError');
export const NoSpaceError = errorClass(ErrorCode.NOSPACE, 'NoSpaceError');
export const OutcomeUnknownError = errorClass(ErrorCode.OUTCOME_UNKNOWN, 'OutcomeUnknownError');
export const InternalError = errorClass(ErrorCode.INTERNAL, 'InternalError');

/** One class per protocol error code. */
export const errorClasses = {
  BAD_REQUEST: BadRequestError,
  UNKNOWN_OP: UnknownOpError,
  BAD_PATH: BadPathError,
  BAD_GLOB: BadGlobError,
  TOO_LARGE: TooLargeError,
  REV_MISMATCH: RevMismatchError,
  ISDIR: IsDirError,
  NOTDIR: NotDirError,
  NOENT: NoEntError,
  TOO_LATE: TooLateError,
  TIMEOUT: TimeoutError,
  CANCELLED: CancelledError,
  LIMIT: LimitError,
  SLOW_CONSUMER: SlowConsumerError,
  SESSION_EXPIRED: SessionExpiredError,
  HELLO_REQUIRED: HelloRequiredError,
  BAD_VERSION: BadVersionError,
  UNAUTHORIZED: UnauthorizedError,
  PERMISSION_DENIED: PermissionDeniedError,
  UNAVAILABLE: UnavailableError,
  NOSPACE: NoSpaceError,
  OUTCOME_UNKNOWN: OutcomeUnknownError,
  INTERNAL: InternalError,
} as const satisfies Record<ErrorCode, CoordErrorClass>;

/** No server could be reached (or none answered in time). Not a protocol code. */
export class ConnectionError extends CoordClientError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONNECTION', message, undefined, options);
    this.name = 'ConnectionError';
  }
}

/** The client was closed (by close(), or because its session expired). */
export class ClientClosedError extends CoordClientError {
  constructor(message = 'the client is closed', options?: ErrorOptions) {
    super('CLOSED', message, undefined, options);
    this.name = 'ClientClosedError';
  }
}

/** The error for a server error body. */
export function fromErrorBody(body: ErrorBody): CoordClientError {
  const cls = (errorClasses as Record<string, CoordErrorClass>)[body.code];
  if (cls === undefined) return new CoordClientError(body.code, body.message, body.details);
  return new cls(body.message, body.details);
}
