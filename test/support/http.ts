import { readFile } from 'node:fs/promises';

export interface JsonResponse<T = any> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** Sends a request and parses the JSON answer; never throws on an HTTP error status. */
export async function call<T = any>(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<JsonResponse<T>> {
  const { json, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (json !== undefined) headers.set('content-type', 'application/json');
  const response = await fetch(url, {
    ...rest,
    headers,
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: keep the text so the assertion shows it.
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

/** Uploads a file or bytes as a new version of `model`. */
export async function push(
  baseUrl: string,
  model: string,
  file: string | Buffer,
  query: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const bytes = typeof file === 'string' ? await readFile(file) : file;
  const search = new URLSearchParams(query).toString();
  return call(
    `${baseUrl}/api/v1/models/${encodeURIComponent(model)}/versions${search ? `?${search}` : ''}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', ...headers },
      body: bytes,
    },
  );
}

export async function infer(
  baseUrl: string,
  model: string,
  body: unknown,
  version?: string,
): Promise<JsonResponse> {
  const path = version ? `${model}/versions/${version}` : model;
  return call(`${baseUrl}/v2/models/${path}/infer`, { method: 'POST', json: body });
}

export async function readJson<T = any>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}
