/**
 * The logger the server's layers write to: the subset of pino they use (fastify's logger is a
 * pino instance), so the node and its parts log structured lines without depending on fastify.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const nothing = (): void => {};

/** A logger that drops everything (tests, tools). */
export const silentLogger: Logger = { debug: nothing, info: nothing, warn: nothing, error: nothing };
