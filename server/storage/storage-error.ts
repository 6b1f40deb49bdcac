/**
 * The error storage throws when what is on disk cannot be trusted or read: a record that fails
 * its checksum or cannot be decoded, a log with a hole, a snapshot file gone. The message names
 * the data directory and the record; the server stops on it rather than start over the data
 * (server/start-error.ts prints it as the one line an operator sees).
 */
export class StorageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}
