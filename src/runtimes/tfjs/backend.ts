import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

let ready: Promise<void> | undefined;

/**
 * Selects TF.js's pure JavaScript CPU backend, once per worker thread. PROD mode drops the
 * debug checks and the console banners that TF.js prints in Node (it suggests tfjs-node,
 * whose install downloads a native library). The CPU backend runs one thread per worker.
 */
export function useCpuBackend(): Promise<void> {
  ready ??= (async () => {
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
  })();
  return ready;
}
