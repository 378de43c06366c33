import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tarGzArchive } from '../support/archives.js';
import { call, infer, push } from '../support/http.js';
import { SHARED_MODELS, SKIP_WITHOUT_SHARED_MODELS } from '../support/paths.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FIXTURE = path.join(SHARED_MODELS, 'public', 'onnx-tiny-random-gpt2-with-tokenizer');
const LAYERS = 5;

/** Empty key/value caches for the first decoding step: past_seq_len 0. */
function emptyPasts(batch: number) {
  return Array.from({ length: LAYERS }, (_, layer) => ({
    name: `past_${layer}`,
    datatype: 'FP32',
    shape: [2, batch, 4, 0, 8],
    data: [],
  }));
}

function int32(name: string, rows: number[][]) {
  return { name, datatype: 'INT32', shape: [rows.length, rows[0]!.length], data: rows.flat() };
}

describe('text inputs tokenized on the server', { skip: SKIP_WITHOUT_SHARED_MODELS }, () => {
  let server: TestServer;
  let tokenizer: Record<string, any>;
  /** Token ids looked up in the tokenizer's vocabulary: each word is one BPE token. */
  let vocabIds: (tokens: string[]) => number[];

  before(async () => {
    server = await startTestServer();
    const tokenizerText = await readFile(path.join(FIXTURE, 'tokenizer.json'), 'utf8');
    tokenizer = JSON.parse(tokenizerText);
    vocabIds = (tokens) => tokens.map((token) => tokenizer.model.vocab[token] as number);

    const model = await readFile(path.join(FIXTURE, 'past.onnx'));
    const archive = tarGzArchive([
      { path: 'past.onnx', data: model },
      { path: 'tokenizer.json', data: tokenizerText },
      {
        path: 'tokenizer_config.json',
        data: await readFile(path.join(FIXTURE, 'tokenizer_config.json')),
      },
    ]);
    const withText = await push(server.url, 'gpt2-text', archive);
    assert.equal(withText.status, 201, JSON.stringify(withText.body));
    const plain = await push(server.url, 'gpt2-ids', model);
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
  });

  after(async () => {
    await server.destroy();
  });

  it('declares one BYTES text input in place of the token inputs', async () => {
    const metadata = (await call(`${server.url}/v2/models/gpt2-text`)).body;
    assert.equal(metadata.platform, 'onnxruntime_onnx');
    assert.deepEqual(
      metadata.inputs.map((input: { name: string }) => input.name),
      ['text', 'past_0', 'past_1', 'past_2', 'past_3', 'past_4'],
    );
    assert.deepEqual(metadata.inputs[0], { name: 'text', datatype: 'BYTES', shape: [-1] });
  });

  it('feeds the ids of the tokenizer vocabulary', async () => {
    const ids = vocabIds(['a', 'Ġof', 'Ġthe', 'Ġand', 'Ġto', 'Ġin']);
    assert.deepEqual(ids, [64, 286, 262, 290, 284, 287], 'GPT-2 ids of these words');

    const text = await infer(server.url, 'gpt2-text', {
      inputs: [
        { name: 'text', datatype: 'BYTES', shape: [1], data: ['a of the and to in'] },
        ...emptyPasts(1),
      ],
      outputs: [{ name: 'logits' }],
    });
    assert.equal(text.status, 200, JSON.stringify(text.body));
    const direct = await infer(server.url, 'gpt2-ids', {
      inputs: [
        int32('input_ids', [ids]),
        int32('position_ids', [[0, 1, 2, 3, 4, 5]]),
        int32('attention_mask', [[1, 1, 1, 1, 1, 1]]),
        ...emptyPasts(1),
      ],
      outputs: [{ name: 'logits' }],
    });
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.deepEqual(text.body.outputs[0].shape, [1, 6, 1000]);
    assert.deepEqual(text.body.outputs[0].data, direct.body.outputs[0].data);
  });

  it('rejects texts of different lengths without padding', async () => {
    const response = await infer(server.url, 'gpt2-text', {
      inputs: [
        { name: 'text', datatype: 'BYTES', shape: [2], data: ['a of the', 'a of the and to in'] },
        ...emptyPasts(2),
      ],
    });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.match(
      response.body.error,
      /the texts tokenize to different lengths \(3, 6\) and tokenizer\.json sets no padding/,
    );
  });

  it('truncates and pads as tokenizer.json says', async () => {
    const configured = {
      ...tokenizer,
      truncation: { direction: 'Right', max_length: 8, strategy: 'LongestFirst', stride: 0 },
      padding: {
        strategy: { Fixed: 8 },
        direction: 'Right',
        pad_to_multiple_of: null,
        pad_id: 0,
        pad_type_id: 0,
        pad_token: '!',
      },
    };
    const archive = tarGzArchive([
      { path: 'past.onnx', data: await readFile(path.join(FIXTURE, 'past.onnx')) },
      { path: 'tokenizer.json', data: JSON.stringify(configured) },
    ]);
    const upload = await push(server.url, 'gpt2-padded', archive);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));

    const texts = ['a of the', 'a of the and to in a of the and'];
    const text = await infer(server.url, 'gpt2-padded', {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: texts }, ...emptyPasts(2)],
      outputs: [{ name: 'logits' }],
    });
    assert.equal(text.status, 200, JSON.stringify(text.body));

    const short = vocabIds(['a', 'Ġof', 'Ġthe']);
    const long = vocabIds(['a', 'Ġof', 'Ġthe', 'Ġand', 'Ġto', 'Ġin', 'Ġa', 'Ġof']);
    const direct = await infer(server.url, 'gpt2-ids', {
      inputs: [
        int32('input_ids', [[...short, 0, 0, 0, 0, 0], long]),
        int32('position_ids', [
          [0, 1, 2, 2, 2, 2, 2, 2],
          [0, 1, 2, 3, 4, 5, 6, 7],
        ]),
        int32('attention_mask', [
          [1, 1, 1, 0, 0, 0, 0, 0],
          [1, 1, 1, 1, 1, 1, 1, 1],
        ]),
        ...emptyPasts(2),
      ],
      outputs: [{ name: 'logits' }],
    });
    assert.equal(direct.status, 200, JSON.stringify(direct.body));
    assert.deepEqual(text.body.outputs[0].shape, [2, 8, 1000]);
    assert.deepEqual(text.body.outputs[0].data, direct.body.outputs[0].data);
  });
});
