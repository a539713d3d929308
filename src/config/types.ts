import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';

/** A duration string ("250ms", "10s") parsed to milliseconds. */
export function duration(fallback?: string) {
  const schema = z
    .union([z.string(), z.number()])
    .transform((input, ctx) => {
      try {
        return parseDuration(input);
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: (error as Error).message, input });
        return z.NEVER;
      }
    })
    .meta({ unit: 'duration' });
  return fallback === undefined ? schema : schema.prefault(fallback);
}

/** A duration, or "off" (undefined). */
export function optionalDuration(fallback = 'off') {
  return z
    .union([z.string(), z.number()])
    .transform((input, ctx) => {
      if (input === 'off') return undefined;
      try {
        return parseDuration(input);
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: `${(error as Error).message}, or "off"`, input });
        return z.NEVER;
      }
    })
    .meta({ unit: 'duration' })
    .prefault(fallback);
}

/** A size in bytes, as an integer or a string ("16MB"). */
export function size(fallback?: string | number) {
  const schema = z
    .union([z.string(), z.number()])
    .transform((input, ctx) => {
      try {
        return parseSize(input);
      } catch (error) {
        ctx.issues.push({ code: 'custom', message: (error as Error).message, input });
        return z.NEVER;
      }
    })
    .meta({ unit: 'size' });
  return fallback === undefined ? schema : schema.prefault(fallback);
}

export const name = z.string().min(1, 'must not be empty');

export function positiveInt(fallback: number) {
  return z.number().int().positive().prefault(fallback);
}

/** host:port */
export const address = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port');

export const tls = z.strictObject({
  enabled: z.boolean().prefault(true),
  /** PEM files. */
  ca_file: z.string().optional(),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  /** Skip server certificate verification (testing only). */
  insecure_skip_verify: z.boolean().prefault(false),
});

export const sasl = z.strictObject({
  mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
  username: z.string(),
  password: z.string(),
});

/** Keys every source has. */
export const sourceCommon = {
  debug: z.boolean().prefault(false),
  retry_initial: duration('1s'),
  retry_max: duration('30s'),
};

/** Keys every sink has. */
export const sinkCommon = {
  sources: z.array(name).min(1, 'a sink needs at least one source'),
  handlers: z.array(name).prefault(['passthrough']),
  batch_size: positiveInt(1000),
  batch_bytes: size('1MB'),
  linger: duration('5ms'),
  /** Bytes a sink buffers before its sources wait. */
  buffer: size('16MB'),
  retry_initial: duration('100ms'),
  retry_max: duration('30s'),
  debug: z.boolean().prefault(false),
};
