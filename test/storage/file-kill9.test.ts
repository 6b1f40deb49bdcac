/** FileStorage, the log's own files, killed for real (kill9.ts), with 16 KiB files. */
import { storageKill9 } from './kill9.ts';

storageKill9('FileStorage', 'file');
