'use strict';
// graphile-worker, the peer of agent-host's PostgreSQL queue: enqueue N no-op jobs (no queue
// name, so any worker may take any job, as the host's runs of distinct sessions), then
// process them with the worker in its default mode at concurrency 4 until none is left.
// Usage: node graphile-queue.js <connection string> [jobs=5000] [concurrency=4]
// Needs Node >= 22.18 (graphile-worker 0.18). Prints, one per line:
//   graphile enqueue: N jobs/s
//   graphile claim+complete: N jobs/s
//   graphile enqueue+claim+complete: N jobs/s
const { EventEmitter } = require('node:events');
const { Logger, makeWorkerUtils, run } = require('graphile-worker');

const [connectionString, jobsArg, concurrencyArg] = process.argv.slice(2);
if (!connectionString) {
  console.error('usage: node graphile-queue.js <connection string> [jobs] [concurrency]');
  process.exit(2);
}
const jobs = Number(jobsArg || 5000);
const concurrency = Number(concurrencyArg || 4);
const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;
// graphile-worker logs every job at info; a log line per job would be the cost measured.
const logger = new Logger(() => (level, message) => {
  if (level === 'error' || level === 'warning') console.error(`graphile ${level}: ${message}`);
});

async function main() {
  // Its migrations, before any clock starts.
  const utils = await makeWorkerUtils({ connectionString, logger });
  await utils.migrate();

  // Enqueue from `concurrency` callers at once, as the host's bench does from as many threads.
  let next = 0;
  const enqueueStart = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const i = next++;
        await utils.addJob('noop', { i });
      }
    }));
  const enqueueTime = seconds(enqueueStart);
  await utils.release();

  // Until the last job is complete: its completion is written after the task returns
  // (job:complete) and stop() waits for the writes still under way.
  let completed = 0;
  let allCompleted;
  const completedPromise = new Promise((resolve) => { allCompleted = resolve; });
  // Listening before run() starts: the first jobs may complete before it returns.
  const events = new EventEmitter();
  events.on('job:complete', () => {
    if (++completed === jobs) allCompleted();
  });
  const processStart = process.hrtime.bigint();
  const runner = await run({
    connectionString,
    concurrency,
    events,
    logger,
    noHandleSignals: true,
    taskList: { noop: async () => {} },
  });
  await completedPromise;
  await runner.stop();
  const processTime = seconds(processStart);

  const rate = (time) => Math.round(jobs / time);
  console.log(`graphile enqueue: ${rate(enqueueTime)} jobs/s`);
  console.log(`graphile claim+complete: ${rate(processTime)} jobs/s`);
  console.log(`graphile enqueue+claim+complete: ${rate(enqueueTime + processTime)} jobs/s`);
}

main().catch((error) => {
  console.error(`graphile-queue: ${error.stack || error}`);
  process.exit(1);
});
