import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';

/** Connection settings of the client commands. */
export interface ClientOptions {
  readonly url: string;
  readonly token: string | undefined;
}

/** A failed call to the server, with the server's message when it sent one. */
export class ClientError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ClientError';
    this.status = status;
  }
}

function headers(
  options: ClientOptions,
  extra: Record<string, string> = {},
): Record<string, string> {
  const all: Record<string, string> = { ...extra };
  if (options.token) all.authorization = `Bearer ${options.token}`;
  return all;
}

/** Sends a request with an optional JSON body and returns the parsed JSON response. */
export async function requestJson<T>(
  options: ClientOptions,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const url = new URL(path, options.url);
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: headers(options, body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ClientError(
      0,
      `cannot reach Steward at ${options.url}: ${causeOf(error)}; is the server running? (set --url or STEWARD_URL)`,
    );
  }
  const text = await response.text();
  const parsed = text === '' ? {} : safeParse(text);
  if (!response.ok) {
    const message = (parsed as { error?: string }).error ?? (text || response.statusText);
    throw new ClientError(response.status, `${response.status}: ${message}`);
  }
  return parsed as T;
}

/**
 * Uploads a file as the raw request body and returns the parsed JSON response. `onProgress`
 * receives the bytes sent so far and the file size.
 */
export async function uploadFile<T>(
  options: ClientOptions,
  path: string,
  file: string,
  onProgress?: (sent: number, total: number) => void,
): Promise<{ status: number; body: T }> {
  let stats: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stats = await fs.stat(file);
  } catch (error) {
    throw new ClientError(
      0,
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (stats.isDirectory()) {
    throw new ClientError(
      0,
      `${file} is a folder, but push uploads one file: pass the model file, or pack a model ` +
        `of several files as an archive first (tar czf model.tar.gz -C ${file} .)`,
    );
  }
  const size = stats.size;
  const url = new URL(path, options.url);
  const transport = url.protocol === 'https:' ? https : http;
  let sent = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      onProgress?.(sent, size);
      callback(null, chunk);
    },
  });
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: 'POST',
        headers: headers(options, {
          'content-type': 'application/octet-stream',
          'content-length': String(size),
        }),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const parsed = safeParse(text) as T & { error?: string };
          const status = response.statusCode ?? 0;
          if (status >= 400) {
            reject(new ClientError(status, `${status}: ${parsed.error ?? text}`));
          } else {
            resolve({ status, body: parsed });
          }
        });
        response.on('error', reject);
      },
    );
    request.on('error', (error) =>
      reject(new ClientError(0, `cannot reach Steward at ${options.url}: ${error.message}`)),
    );
    createReadStream(file).on('error', reject).pipe(meter).pipe(request);
  });
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { error: text };
  }
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
