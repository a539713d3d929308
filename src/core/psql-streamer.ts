/**
 * psql-streamer's `Timestamp` of an event that has no commit time: Go's zero time.Time as
 * encoding/json writes it, which psql-streamer's consumers read as "no time" (`IsZero()`). The
 * psql-streamer handler writes it; the Kafka source reads it back as `commit_time` null.
 */
export const PSQL_STREAMER_NO_TIME = '0001-01-01T00:00:00Z';
