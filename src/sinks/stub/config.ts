import { z } from 'zod';
import { sinkCommon } from '../../config/types.js';

export const stubSinkSchema = z.strictObject({
  type: z.literal('stub'),
  ...sinkCommon,
  /** discard: deliver nowhere; log: one log line per batch, and one per event while debug is on. */
  mode: z.enum(['discard', 'log']).prefault('discard'),
});

export type StubSinkConfig = z.output<typeof stubSinkSchema>;
