import { readEnvironmentFile } from '../config/env-file.js';

/**
 * The environment file beside a config (NAME.env for NAME.toml), applied to the process environment
 * as systemd's EnvironmentFile= applies it to the unit: at the start, and again at each config
 * reload, so a secret changed in the file takes effect with `systemctl reload` (systemd itself reads
 * the file only when the unit starts). A variable set outside the file (the shell, the unit's
 * Environment=) wins over it, at the start and at every reload. Returns why the file could not be
 * read, for a warning (under systemd, which reads it as root, its variables are set already).
 */
export class EnvironmentFile {
  /** What the file last set: a variable still holding that value came from the file. */
  private applied: Record<string, string> = {};
  /** Variables set outside the file: never touched. */
  private readonly outside = new Set<string>();

  constructor(readonly file: string) {}

  apply(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const { vars, unreadable } = readEnvironmentFile(this.file);
    if (unreadable !== undefined) return unreadable;
    for (const [name, value] of Object.entries(vars)) {
      const current = env[name];
      if (current !== undefined && current !== value && current !== this.applied[name])
        this.outside.add(name);
      if (!this.outside.has(name)) env[name] = value;
    }
    for (const [name, value] of Object.entries(this.applied)) {
      if (!(name in vars) && !this.outside.has(name) && env[name] === value) delete env[name];
    }
    this.applied = vars;
    return undefined;
  }
}
