/**
 * Transcript files: blocks of
 *
 *     # comments, blank lines
 *     command args
 *     ----
 *     expected output (no blank lines: a blank line ends it)
 *
 * `runTranscript` runs every command in order against one Script and renders the file again
 * with the actual output in place of the expected; the test compares that with the file.
 */
import { Script } from './script.ts';

interface Block {
  /** Comment and blank lines before the command. */
  pre: string[];
  command: string;
}

function parseBlocks(text: string): { blocks: Block[]; tail: string[] } {
  const lines = text.replace(/\n$/, '').split('\n');
  const blocks: Block[] = [];
  let pre: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '' || line.startsWith('#')) {
      pre.push(line);
      continue;
    }
    blocks.push({ pre, command: line });
    pre = [];
    if (lines[i + 1] === '----') {
      i++;
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== '') i++;
    }
  }
  return { blocks, tail: pre };
}

/** Runs a transcript; returns the file as it should read given what actually happened. */
export function runTranscript(text: string): string {
  const { blocks, tail } = parseBlocks(text);
  const script = new Script();
  const out: string[] = [];
  for (const b of blocks) {
    let output: string[];
    try {
      output = script.run(b.command);
    } catch (err) {
      output = [...script.cluster.out, `error: ${(err as Error).message}`];
    }
    out.push(...b.pre, b.command, '----', ...output);
  }
  out.push(...tail);
  return out.join('\n') + '\n';
}
