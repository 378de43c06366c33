import type { LoadedModel, Runtime } from '../runtime.js';
import { loadGraphModel } from './graph-model.js';
import { loadLayersModel } from './layers-model.js';
import { readModelJson } from './model-json.js';

/** TF.js layers models: a folder with model.json (format "layers-model") and weight files. */
export const tfjsLayersRuntime: Runtime = {
  format: 'tfjs_layers',
  async load(folder: string): Promise<LoadedModel> {
    return loadLayersModel(await readModelJson(folder));
  },
};

/** TF.js graph models: a folder with model.json (format "graph-model") and weight files. */
export const tfjsGraphRuntime: Runtime = {
  format: 'tfjs_graph',
  async load(folder: string): Promise<LoadedModel> {
    return loadGraphModel(await readModelJson(folder));
  },
};
