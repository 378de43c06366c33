/**
 * Entry point of a model worker thread. Native runtimes block the thread they run on, so every
 * model lives and runs here, never on the main event loop. Messages are handled one at a time
 * in arrival order.
 */
import { parentPort } from 'node:worker_threads';
import { loadModel } from '../runtimes/index.js';
import { warmUpOnnx } from '../runtimes/onnx-warm-up.js';
import { InvalidInputError, InvalidModelError, type LoadedModel } from '../runtimes/runtime.js';
import type { Tensor } from '../tensors/types.js';
import type {
  LoadReply,
  RunReply,
  WorkerRequest,
  WorkerResponse,
  WorkerStarted,
} from './worker-protocol.js';

if (!parentPort) throw new Error('worker.js must run as a worker thread');
const port = parentPort;
const models = new Map<string, LoadedModel>();
// Every message waits for the warm-up, so no load measures onnxruntime's setup as its own. A
// failed warm-up is not fatal: the first load then carries the setup cost.
const warmedUp = warmUpOnnx()
  .catch(() => undefined)
  .then(() => {
    const started: WorkerStarted = { started: true };
    port.postMessage(started);
  });

port.on('message', (request: WorkerRequest) => {
  warmedUp
    .then(() => handle(request))
    .then(
      ({ value, transfer }) => {
        const response: WorkerResponse = { id: request.id, ok: true, value };
        port.postMessage(response, transfer);
      },
      (error: unknown) => {
        const response: WorkerResponse = {
          id: request.id,
          ok: false,
          error: {
            message: error instanceof Error ? error.message : String(error),
            invalidModel: error instanceof InvalidModelError,
            invalidInput: error instanceof InvalidInputError,
          },
        };
        port.postMessage(response);
      },
    );
});

async function handle(
  request: WorkerRequest,
): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (request.op) {
    case 'load': {
      if (models.has(request.instanceId)) {
        throw new Error(`instance ${request.instanceId} is already loaded`);
      }
      const before = process.memoryUsage.rss();
      const started = performance.now();
      const model = await loadModel(request.format, request.file, {
        intraOpThreads: request.intraOpThreads,
      });
      const reply: LoadReply = {
        signature: model.signature,
        residentGrowthBytes: Math.max(0, process.memoryUsage.rss() - before),
        loadMs: performance.now() - started,
      };
      models.set(request.instanceId, model);
      return { value: reply, transfer: [] };
    }
    case 'run': {
      const model = models.get(request.instanceId);
      if (!model) throw new Error(`instance ${request.instanceId} is not loaded in this worker`);
      const started = process.hrtime.bigint();
      const outputs = await model.run(request.inputs, request.outputNames);
      const computeNs = Number(process.hrtime.bigint() - started);
      const reply: RunReply = { outputs: outputs.map(ownBuffer), computeNs };
      return { value: reply, transfer: transferablesOf(reply.outputs) };
    }
    case 'unload': {
      const model = models.get(request.instanceId);
      models.delete(request.instanceId);
      await model?.dispose();
      return { value: null, transfer: [] };
    }
    case 'inspect': {
      const model = await loadModel(request.format, request.file, { intraOpThreads: 1 });
      const signature = model.signature;
      await model.dispose();
      return { value: signature, transfer: [] };
    }
  }
}

/** Copies a tensor whose data is a view into a larger buffer, so the transfer moves only it. */
function ownBuffer(tensor: Tensor): Tensor {
  const data = tensor.data;
  if (Array.isArray(data)) return tensor;
  if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return tensor;
  return { ...tensor, data: data.slice() };
}

function transferablesOf(tensors: readonly Tensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of tensors) {
    if (!Array.isArray(tensor.data) && tensor.data.buffer instanceof ArrayBuffer) {
      buffers.add(tensor.data.buffer);
    }
  }
  return [...buffers];
}
