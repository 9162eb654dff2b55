/** The server's logger: pino, JSON lines on stdout (pipe through pino-pretty to read them). */
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime });
}
