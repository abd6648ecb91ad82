// The worker side of the swarm: the exec seam, the task manager, the
// dispatcher session, and the fake and engine-backed executors.
export * from './exec/executor.js';
export * from './exec/errors.js';
export * from './exec/step.js';
export * from './exec/task-state.js';
export * from './fake-executor/fake-executor.js';
export * from './fake-executor/make-task.js';
export * from './worker/reporter.js';
export * from './worker/task-store.js';
export * from './worker/task-runner.js';
export * from './worker/worker.js';
export * from './session/agent.js';
export * from './session/dispatcher-session.js';
export * from './engine-executor/engine-executor.js';
export * from './engine-executor/container-spec.js';
