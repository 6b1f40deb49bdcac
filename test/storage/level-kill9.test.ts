/** LevelStorage killed for real (kill9.ts). */
import { storageKill9 } from './kill9.ts';

storageKill9('LevelStorage', 'level');
