import 'pg';

declare module 'pg' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars, @typescript-eslint/no-explicit-any
  interface QueryConfig<I = any[]> {
    /** pg 8.11+: 'extended' sends a query without parameters with the extended protocol too (one statement only). */
    queryMode?: 'extended';
  }
}
