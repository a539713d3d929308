/**
 * kafkajs 2.2.4 arms a timer with a negative delay after responses (requestQueue
 * scheduleCheckPendingRequests); Node 24 warns about each, and the timer fires after 1 ms as
 * kafkajs intends. Other warnings are printed as before.
 */
export function silenceKafkajsTimerWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name !== 'TimeoutNegativeWarning')
      process.stderr.write(`${warning.name}: ${warning.message}\n`);
  });
}
