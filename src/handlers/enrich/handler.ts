import { createHash } from 'node:crypto';
import type { Handler } from '../../core/handler.js';
import { type ChangeEvent, type RelayEvent, type Row, type Value, routingName } from '../../core/event.js';
import { stringifyExact } from '../../core/json.js';
import type { EnrichConfig } from './config.js';

/**
 * Reshapes events from TOML alone: adds static fields and fields copied from the event, copies,
 * renames, drops and masks columns. Raw relayed messages pass untouched.
 */
export function createEnrich(name: string, config: EnrichConfig): Handler {
  const tables = new Set(config.tables);
  const masked = new Set(config.mask);
  const mask = (value: Value): Value => {
    if (value === null) return null;
    if (config.mask_with === 'redact') return '***';
    return createHash('sha256').update(config.mask_salt).update(stringifyExact(value)).digest('hex');
  };
  const reshapeRow = (row: Row | null, copies: boolean): Row | null => {
    if (row === null) return null;
    const out: Row = { ...row };
    if (copies) for (const [from, to] of Object.entries(config.copy)) if (from in out) out[to] = out[from]!;
    for (const [from, to] of Object.entries(config.rename)) {
      if (from in out) {
        out[to] = out[from]!;
        delete out[from];
      }
    }
    for (const column of config.drop) delete out[column];
    for (const column of Object.keys(out)) if (masked.has(column)) out[column] = mask(out[column]!);
    return out;
  };
  const renamed = (columns: string[]) =>
    columns.filter((c) => !config.drop.includes(c)).map((c) => config.rename[c] ?? c);

  const enrich = (event: ChangeEvent): RelayEvent => {
    const out = {
      ...event,
      key: reshapeRow(event.key, false),
      columns: reshapeRow(event.columns, true),
      old: reshapeRow(event.old, true),
      unchanged_toast: renamed(event.unchanged_toast),
    } as ChangeEvent & Record<string, unknown>;
    for (const [field, value] of Object.entries(config.set)) out[field] = value;
    for (const [field, from] of Object.entries(config.from_event)) out[field] = event[from];
    return out;
  };

  return {
    name,
    process: (events) =>
      events.map((event) =>
        event.action === 'raw' || (tables.size > 0 && !tables.has(routingName(event)))
          ? event
          : enrich(event),
      ),
  };
}
