// What the worker knows, on disk: every assigned task and the last status it
// observed, so that an agent that restarts picks its tasks up where it left
// them. One JSON file, replaced atomically (write a temp file, fsync, rename);
// writes are coalesced so a burst of status changes costs one write.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { dataLoss, errorMessage, type TaskStatus__Output, type Task__Output } from '@shoal/api';

export interface StoredTask {
  task: Task__Output;
  status: TaskStatus__Output;
}

interface FileFormat {
  version: 1;
  tasks: StoredTask[];
}

const FILE = 'tasks.json';

export class TaskStore {
  private readonly tasks = new Map<string, StoredTask>();
  private dirty = false;
  private writing: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  /**
   * Reads the file, if there is one.
   * @throws DataLoss when the file exists but cannot be parsed.
   */
  async load(): Promise<StoredTask[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(join(this.dir, FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let parsed: FileFormat;
    try {
      parsed = JSON.parse(text) as FileFormat;
    } catch (err) {
      throw dataLoss(`the agent's task file ${join(this.dir, FILE)} is corrupt (${errorMessage(err)}); remove it to start with no tasks`);
    }
    for (const t of parsed.tasks ?? []) this.tasks.set(t.task.id, t);
    return [...this.tasks.values()];
  }

  get(id: string): StoredTask | undefined {
    return this.tasks.get(id);
  }

  put(task: Task__Output, status: TaskStatus__Output): void {
    this.tasks.set(task.id, { task, status });
    this.markDirty();
  }

  delete(id: string): void {
    if (this.tasks.delete(id)) this.markDirty();
  }

  /** Resolves when everything changed so far is on disk. @throws when the write fails. */
  async sync(): Promise<void> {
    while (this.dirty || this.writing) {
      this.writing ??= this.write().finally(() => (this.writing = undefined));
      await this.writing;
    }
  }

  private markDirty(): void {
    this.dirty = true;
    // Coalesce: one write in flight, the next picks up whatever changed meanwhile.
    this.writing ??= this.write().finally(() => (this.writing = undefined));
    this.writing.catch(() => undefined);
  }

  private async write(): Promise<void> {
    await Promise.resolve();
    while (this.dirty) {
      this.dirty = false;
      const body: FileFormat = { version: 1, tasks: [...this.tasks.values()] };
      const path = join(this.dir, FILE);
      const tmp = `${path}.tmp`;
      try {
        const fh = await open(tmp, 'w', 0o600);
        try {
          await fh.writeFile(JSON.stringify(body));
          await fh.datasync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
      } catch (err) {
        this.dirty = true;
        throw err;
      }
    }
  }
}
