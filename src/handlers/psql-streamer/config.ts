import { z } from 'zod';

export const psqlStreamerSchema = z.strictObject({ type: z.literal('psql-streamer') });
