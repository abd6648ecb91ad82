// The Raft chaos tests: real multi-process clusters with faults, run alone (see ava.config.js).
export default {
  files: ['packages/raft/dist/chaos/**/*.test.js'],
  timeout: '5m',
  concurrency: 1,
  workerThreads: false,
  verbose: true,
};
