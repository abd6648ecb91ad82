// The one seam between the agent and whatever runs containers. The task
// manager only ever talks to these two interfaces; the engine-backed executor
// and the fake executor implement them.
import type { NodeDescription, Node__Output, TaskContainerStatus__Output, Task__Output } from '@shoal/api';

/** Runs tasks on one node. */
export interface Executor {
  /**
   * What this node offers (hostname, platform, resources, engine labels),
   * sent to the managers when a session opens.
   * @throws when the host cannot be inspected, or the signal's reason.
   */
  describe(signal: AbortSignal): Promise<NodeDescription>;
  /**
   * Tells the executor about the node object the managers keep (its ID,
   * labels, role), before tasks run and whenever it changes.
   */
  configure(node: Node__Output, signal: AbortSignal): Promise<void>;
  /**
   * A controller for one task. Cheap and synchronous: it does no I/O until a
   * method is called, so the task manager can make one for every task it
   * knows, including tasks whose containers outlived an agent restart.
   * @throws InvalidArgument for a task that cannot run here at all (no spec).
   */
  controller(task: Task__Output): Controller;
  /**
   * IDs of the tasks that have containers (or whatever the executor runs)
   * on this node, running or not; used after a restart to clean up
   * containers of tasks the agent no longer knows.
   */
  listTasks?(signal: AbortSignal): Promise<string[]>;
}

/**
 * Drives one task's container. Every method is idempotent where it can be
 * (prepare on a prepared task throws errTaskPrepared, start on a started one
 * errTaskStarted), so the step function can repeat a step after a crash.
 * A method whose signal aborts rejects with the signal's reason and leaves
 * things as they were: an abort is a retry, never a failure.
 */
export interface Controller {
  /** Gives the controller the newest version of its task (desired state, annotations). */
  update?(task: Task__Output, signal: AbortSignal): Promise<void>;
  /** Creates the container (image must be present). @throws errTaskPrepared when it exists already. */
  prepare(signal: AbortSignal): Promise<void>;
  /** Starts the container. @throws errTaskStarted when it is running or has run. */
  start(signal: AbortSignal): Promise<void>;
  /**
   * Resolves when the container exits with 0.
   * @throws exitError(code) for a non-zero exit; NotFound when the container is gone.
   */
  wait(signal: AbortSignal): Promise<void>;
  /** Stops the container gracefully (stop signal, then kill after the grace period). */
  shutdown(signal: AbortSignal): Promise<void>;
  /** Kills the container at once. */
  terminate(signal: AbortSignal): Promise<void>;
  /** Removes the container and what it holds; a missing container is not an error. */
  remove(signal: AbortSignal): Promise<void>;
  /** Releases the controller's own resources (watchers); the container is untouched. */
  close(): Promise<void>;
  /** The container's ID, pid and exit code, when known. */
  containerStatus?(signal: AbortSignal): Promise<TaskContainerStatus__Output | undefined>;
}
