/**
 * How transcripts print entries, messages and status. A log position is written index@term:
 * `5@2` is entry 5, of term 2.
 */
import { decodeConfChange, formatMembership } from '../../../../../server/consensus/core/config.ts';
import type { Message } from '../../../../../server/consensus/core/messages.ts';
import { EntryType, type Entry, type Status } from '../../../../../server/consensus/core/types.ts';

const text = new TextDecoder();

export function formatEntry(e: Entry): string {
  const at = `${e.index}@${e.term}`;
  switch (e.type) {
    case EntryType.Noop: return `${at} noop`;
    case EntryType.Config: {
      const c = decodeConfChange(e.data);
      return `${at} conf ${c.op} ${c.node}`;
    }
    default: return `${at} ${text.decode(e.data)}`;
  }
}

export function formatEntries(es: Entry[]): string {
  return es.map(formatEntry).join(', ');
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case 'app': {
      const ents = m.entries.length > 0 ? ` [${formatEntries(m.entries)}]` : '';
      return `${head} prev=${m.index}@${m.logTerm} commit=${m.commit}${ents}`;
    }
    case 'app-resp':
      return m.reject ? `${head} reject index=${m.index} hint=${m.hintIndex}@${m.hintTerm}` : `${head} index=${m.index}`;
    case 'vote':
      return `${head} last=${m.lastIndex}@${m.lastTerm}${m.transfer ? ' transfer' : ''}`;
    case 'pre-vote':
      return `${head} last=${m.lastIndex}@${m.lastTerm}`;
    case 'vote-resp':
    case 'pre-vote-resp':
      return `${head} ${m.reject ? 'rejected' : 'granted'}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.read > 0 ? ` read=${m.read}` : ''}`;
    case 'heartbeat-resp':
      return `${head}${m.read > 0 ? ` read=${m.read}` : ''}`;
    case 'snap':
      return `${head} snapshot=${m.snapshot.index}@${m.snapshot.term} ${formatMembership(m.snapshot.membership)}`;
    case 'timeout-now':
      return head;
    case 'transfer-leader':
      return `${head} target=${m.target}`;
    case 'read-index':
      return `${head} id=${m.requestId}`;
    case 'read-index-resp':
      return m.reject ? `${head} id=${m.requestId} reject` : `${head} id=${m.requestId} index=${m.index}`;
  }
}

export function formatStatus(s: Status): string[] {
  const lines = [
    `${s.id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} leader=${s.leader ?? '-'} commit=${s.commit} ` +
      `applied=${s.applied} last=${s.lastIndex} persisted=${s.persisted} ${formatMembership(s.membership)}` +
      (s.transferee !== null ? ` transferring-to=${s.transferee}` : ''),
  ];
  for (const [id, p] of Object.entries(s.progress ?? {})) {
    lines.push(`  ${id}: match=${p.match} next=${p.next} ${p.state}${p.learner ? ' learner' : ''}`);
  }
  return lines;
}
