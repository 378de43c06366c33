import type { LoadedModel, Runtime } from '../runtime.js';
import { loadLayersModel } from '../tfjs/layers-model.js';
import { readKerasModel } from './model-file.js';

/** Keras 2 HDF5 models, built and run by TF.js layers on its CPU backend. */
export const kerasRuntime: Runtime = {
  format: 'keras_h5',
  async load(file: string): Promise<LoadedModel> {
    return loadLayersModel(await readKerasModel(file));
  },
};
