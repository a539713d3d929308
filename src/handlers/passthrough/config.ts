import { z } from 'zod';

export const passthroughSchema = z.strictObject({ type: z.literal('passthrough') });
