// The page's model run in the browser. `pix2pix export --format web` writes this file as
// assets/backend.js (in place of serve's, which asks the server), beside the model's description
// (model.json), its weights and the WebAssembly module that worker.js runs off the page's thread.
import { status } from "./common.js";

// One model, fixed: the list is read once.
export const refreshMs = 0;
// Running statistics and no dropout: the same image for the same drawing, whoever opens the
// page; the paper's test mode is a click away.
export const evalByDefault = true;
// Generous: a large model on a slow machine (the worker finishes anyway; the result is dropped).
export const timeoutMs = 600000;
export const noModels = "model.json lists no model: export it again";
export const unreachable = (error) => `the model could not run (${error.message})`;
export const noAnswer = (seconds) =>
  `no translation in ${seconds} s: this model is too slow for this browser; translate it natively with pix2pix translate`;

let description = null;
let loading = null;
// What the page measured, in milliseconds, for anyone who looks (the tests, BENCHMARKS.md): the
// model's load once downloaded (decoding and building it) and each translation in the worker.
const timings = { loadMs: null, translateMs: [] };
globalThis.pix2pixTimings = timings;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const waiting = new Map();
let nextId = 0;
worker.onmessage = ({ data }) => {
  const request = waiting.get(data.id);
  if (!request) return;
  waiting.delete(data.id);
  if (data.ok) request.resolve(data);
  else request.reject(new Error(data.message));
};
worker.onerror = (event) => {
  event.preventDefault();
  const error = new Error(`the model's worker failed (${event.message || "it could not start"})`);
  for (const request of waiting.values()) request.reject(error);
  waiting.clear();
};

function ask(message, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ ...message, id }, transfer);
  });
}

async function download(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`cannot download ${what} (${url}): ${error.message}`);
  }
  if (!response.ok) throw new Error(`cannot download ${what} (${url}): ${response.status} ${response.statusText}`);
  return response;
}

export async function listModels() {
  if (!description) description = await (await download("model.json", "the model's description")).json();
  return [description.model];
}

export async function exampleInput(_model) {
  return (await download(description.example, "the example input")).blob();
}

export function dashboardUrl(_model) {
  return null;
}

// The model loaded in the worker, once per page (again after a failure).
export function prepare(_model) {
  if (!loading) {
    loading = load().catch((error) => {
      loading = null;
      throw error;
    });
  }
  return loading;
}

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);

// Checks that the model fits before downloading it, then streams its weights with progress.
async function load() {
  const { model, options, weights } = description;
  const optionsJson = JSON.stringify(options);
  await ask({ kind: "check", options: optionsJson, bytes: weights.bytes });
  const bar = document.getElementById("loading");
  bar.value = 0;
  bar.hidden = false;
  try {
    const response = await download(weights.file, "the weights");
    const buffer = new Uint8Array(weights.bytes);
    const reader = response.body.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > weights.bytes) {
        throw new Error(`the weights (${weights.file}) are longer than model.json says: export the model again`);
      }
      buffer.set(value, received);
      received += value.length;
      bar.value = received / weights.bytes;
      status(`loading ${model.name}: ${megabytes(received)} of ${megabytes(weights.bytes)} MB`);
    }
    if (received < weights.bytes) {
      throw new Error(`the weights (${weights.file}) are cut short: ${received} of ${weights.bytes} bytes; download or export them again`);
    }
    status(`starting ${model.name}...`);
    const started = performance.now();
    await ask({ kind: "load", options: optionsJson, weights: buffer.buffer }, [buffer.buffer]);
    timings.loadMs = Math.round(performance.now() - started);
    status(`${model.name} (${model.netG}, ${weights.format} weights) runs in this browser`);
  } finally {
    bar.hidden = true;
  }
}

// The canvas translated by the model, as a PNG blob.
export async function translate(_model, canvas, { evalMode, seed }, signal) {
  const value = Number(seed);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Error(`the seed must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not '${seed}'`);
  }
  const { width, height } = canvas;
  const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data.buffer;
  const aborted = new Promise((_, reject) => {
    signal.addEventListener("abort", () => reject(new Error(String(signal.reason))), { once: true });
  });
  const started = performance.now();
  const answer = ask({ kind: "translate", pixels, width, height, evalMode, seed: value }, [pixels]);
  const { pixels: translated } = await Promise.race([answer, aborted]);
  timings.translateMs.push(Math.round(performance.now() - started));
  const output = document.createElement("canvas");
  output.width = width;
  output.height = height;
  output.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(translated), width, height), 0, 0);
  return new Promise((resolve) => output.toBlob(resolve, "image/png"));
}
