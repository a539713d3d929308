import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, errorMessage } from '../core/errors.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The environment file pgrelay.service reads for a config: NAME.env beside NAME.toml
 * (`EnvironmentFile=-/etc/pgrelay/NAME.env` for `-c /etc/pgrelay/NAME.toml`).
 */
export function environmentFileOf(configFile: string): string {
  const { dir, name } = path.parse(configFile);
  return path.join(dir, `${name}.env`);
}

/**
 * Reads `file` as systemd reads an EnvironmentFile; a missing file is no file (the unit's "-"
 * prefix), one that does not parse is a ConfigError naming the line. One this user may not read
 * (systemd reads it as root, so a unit works with a file mode 0600) gives no variables and the
 * reason, for a warning.
 */
export function readEnvironmentFile(file: string): { vars: Record<string, string>; unreadable?: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { vars: {} };
    return { vars: {}, unreadable: errorMessage(error) };
  }
  return { vars: parseEnvironmentFile(text, file) };
}

/**
 * systemd's EnvironmentFile= syntax (systemd.exec(5)): `KEY=value` lines; lines starting with "#"
 * or ";" are comments; an unquoted value keeps its inner whitespace and any "#", loses the
 * whitespace around it, and takes backslash escapes (a backslash at the end of a line continues
 * it); '...' is verbatim; "..." takes the shell's double-quote escapes (\" \\ \` \$ and a
 * continued line). Node's util.parseEnv and dotenv read `PASSWORD=abc#123` as "abc" and mishandle
 * escapes, so they would disagree with the unit about secrets. Lines systemd would skip
 * (no "=", a key that is not a variable name such as `export KEY`) are errors here, naming the
 * line: a secret that silently goes missing is what this file exists to prevent.
 */
export function parseEnvironmentFile(text: string, file: string): Record<string, string> {
  const vars: Record<string, string> = {};
  let i = 0;
  let line = 1;
  const fail = (at: number, message: string): never => {
    throw new ConfigError(`${file}:${at}: ${message}`);
  };
  const next = () => {
    const c = text[i++]!;
    if (c === '\n') line++;
    return c;
  };
  while (i < text.length) {
    while (i < text.length && /[ \t\r\n]/.test(text[i]!)) next();
    if (i >= text.length) break;
    const start = line;
    if (text[i] === '#' || text[i] === ';') {
      // A comment ends at the line's end; a backslash there continues it, as in systemd.
      while (i < text.length && text[i] !== '\n') if (next() === '\\' && i < text.length) next();
      continue;
    }
    let key = '';
    while (i < text.length && text[i] !== '=' && text[i] !== '\n') key += next();
    key = key.trim();
    if (text[i] !== '=') fail(start, `"${key}" is not an assignment (write KEY=value)`);
    if (!NAME.test(key)) fail(start, `"${key}" is not a variable name (write KEY=value, no "export")`);
    next();
    vars[key] = readValue(start, key);
  }
  return vars;

  /** From after "=" to the line's end (or past it, inside quotes or after a trailing backslash). */
  function readValue(start: number, key: string): string {
    let value = '';
    // value.slice(0, kept) drops unquoted whitespace at the end; quotes open only where a value
    // (or a closed quote) starts: later ones are literal, as in systemd.
    let kept = 0;
    let atStart = true;
    while (i < text.length && text[i] !== '\n') {
      const c = next();
      if (atStart && c === "'") {
        const end = text.indexOf("'", i);
        if (end < 0) fail(start, `${key}: a ' is not closed`);
        while (i < end) value += next();
        next();
        kept = value.length;
      } else if (atStart && c === '"') {
        for (;;) {
          if (i >= text.length) fail(start, `${key}: a " is not closed`);
          const d = next();
          if (d === '"') break;
          if (d !== '\\' || i >= text.length) value += d;
          else {
            const e = next();
            if (e !== '\n') value += '"\\`$'.includes(e) ? e : `\\${e}`;
          }
        }
        kept = value.length;
      } else if (c === ' ' || c === '\t' || c === '\r') {
        if (!atStart) value += c;
      } else {
        if (c !== '\\') value += c;
        else if (i < text.length) {
          const e = next();
          if (e !== '\n') value += e;
        }
        kept = value.length;
        atStart = false;
      }
    }
    return value.slice(0, kept);
  }
}
