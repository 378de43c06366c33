import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type RunningServer, startServer } from '../../src/cli/serve.js';
import { type ConfigOverrides, resolveConfig } from '../../src/config/config.js';

export interface TestServer extends RunningServer {
  readonly dataDir: string;
  /** Stops the server and keeps its data folder, for restart tests. */
  stop(): Promise<void>;
  /** Stops the server and deletes its data folder. */
  destroy(): Promise<void>;
}

/** Creates an empty data folder that the caller owns. */
export async function makeDataDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'steward-test-'));
}

/**
 * Starts a real Steward server on an ephemeral loopback port with its own data folder.
 * Logs go to `test-output/<name>.log` when STEWARD_TEST_LOGS is set, else nowhere.
 */
export async function startTestServer(overrides: ConfigOverrides = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? (await makeDataDir());
  const config = resolveConfig(
    {
      host: '127.0.0.1',
      port: 0,
      logLevel: process.env.STEWARD_TEST_LOGS ? 'debug' : 'silent',
      workers: 2,
      usageFlushMs: 60_000,
      ...overrides,
      dataDir,
    },
    {},
  );
  const running = await startServer(config);
  return {
    ...running,
    dataDir,
    stop: running.stop,
    destroy: async () => {
      await running.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
