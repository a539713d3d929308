import { z } from 'zod';

export const moduleSchema = z.strictObject({
  type: z.literal('module'),
  /** A JavaScript module implementing the handler interface; relative paths start at the config file. */
  path: z.string().min(1),
  /** Passed to the module's createHandler(options). */
  options: z.record(z.string(), z.unknown()).prefault({}),
});

export type ModuleConfig = z.output<typeof moduleSchema>;
