import ort from 'onnxruntime-node';

/**
 * A minimal ONNX model, y = Identity(x) with x and y FP32 [1] (IR version 8, opset 13), as
 * serialized protobuf. Creating a session from it sets up onnxruntime's process-wide state.
 */
const IDENTITY_MODEL = Buffer.from(
  'CAgSDXN0ZXdhcmQtdGVzdHM6UAoYCgF4EgF5GgZub2RlXzAiCElkZW50aXR5EhJzdGV3YXJkX3Rlc3RfZ3JhcGhaDwoBeBIKCggIARIECgIIAWIPCgF5EgoKCAgBEgQKAggBQgQKABAN',
  'base64',
);

/**
 * Creates, runs and releases a session of a trivial model. The first session in a process pays
 * for onnxruntime's one-time setup (tens of MiB); done before the first real load, that cost is
 * not measured as the memory of whichever model happens to load first.
 */
export async function warmUpOnnx(): Promise<void> {
  const session = await ort.InferenceSession.create(IDENTITY_MODEL, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    enableCpuMemArena: false,
    logSeverityLevel: 3,
  });
  await session.run({ x: new ort.Tensor('float32', Float32Array.of(1), [1]) });
  await session.release();
}
