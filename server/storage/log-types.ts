/**
 * The records the log storage keeps, as its contract defines them: log entries and the hard
 * state. The consensus core produces and consumes them; storage owns their shape (storage/ never
 * imports the core).
 */

/** What an entry carries. Stored as a small integer. */
export const EntryType = {
  /** An encoded store command (server/store/commands.ts). */
  Command: 0,
  /** A membership change (the core's configuration change). */
  Config: 1,
  /** The empty entry a leader appends at the start of its term (Raft §5.4.2). */
  Noop: 2,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  /** The payload: an encoded command or configuration change; empty for a no-op. */
  data: Uint8Array;
}

/** What must survive a crash besides the log: the current term, the vote in it, the commit. */
export interface HardState {
  term: number;
  vote: string | null;
  commit: number;
}
