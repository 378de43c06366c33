/** A FIFO mutual-exclusion lock for async code. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for the lock and returns the function that releases it. */
  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => {
      release = resolve;
    });
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    await previous;
    return release;
  }
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Waits for `promise` at most `ms` milliseconds and throws a TimeoutError after that. The
 * promise itself keeps running; only the wait ends.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message)), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One FIFO lock per key, kept only while someone holds or waits for it. */
export class KeyedMutex {
  readonly #locks = new Map<string, { mutex: Mutex; users: number }>();

  /** Runs `work` while holding the lock of `key`. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let entry = this.#locks.get(key);
    if (!entry) {
      entry = { mutex: new Mutex(), users: 0 };
      this.#locks.set(key, entry);
    }
    entry.users += 1;
    const release = await entry.mutex.lock();
    try {
      return await work();
    } finally {
      release();
      entry.users -= 1;
      if (entry.users === 0) this.#locks.delete(key);
    }
  }
}
