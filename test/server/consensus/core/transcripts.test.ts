/**
 * Method: transcript tests in the spirit of etcd-io/raft's data-driven tests. Each file in
 * testdata/ is a script against an in-memory cluster of real cores (harness/script.ts lists the
 * commands) with the output expected after each command. A run renders the file again with the
 * actual output and compares: a difference is a behaviour change, shown as a diff.
 *
 * UPDATE_TRANSCRIPTS=1 rewrites the files with the actual output instead. Review every changed
 * line by hand before committing it: the expected output is the specification.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTranscript } from './harness/transcript.ts';

const dir = join(import.meta.dirname, 'testdata');
const update = process.env['UPDATE_TRANSCRIPTS'] === '1';

describe('Raft core transcripts', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()) {
    it(file, () => {
      const path = join(dir, file);
      const expected = readFileSync(path, 'utf8');
      const actual = runTranscript(expected);
      if (update && actual !== expected) writeFileSync(path, actual);
      else expect(actual).toBe(expected);
    });
  }
});
