// The page's models through `pix2pix serve`'s HTTP API. `pix2pix export --format web` puts a
// backend.js of the same shape beside the page that runs the model in the browser instead
// (assets/web/backend.js).
import { api } from "./common.js";

// How often the model list is read again: runs started after the page was opened appear.
export const refreshMs = 5000;
// The paper's test mode (batch statistics, dropout) until the page says otherwise, as the
// official test script runs.
export const evalByDefault = false;
// A translation that takes longer is given up (the server's own limit is longer still).
export const timeoutMs = 120000;
export const noModels = "no models are served yet: a run appears here once training saves its first checkpoint";

export const unreachable = (error) =>
  `the server cannot be reached (${error.message}): is pix2pix serve still running?`;
export const noAnswer = (seconds) =>
  `no answer from the server in ${seconds} s: try again, or check that pix2pix serve still runs`;

export async function listModels() {
  return (await api("/api/models")).json();
}

export async function exampleInput(model) {
  return (await api(`/api/models/${encodeURIComponent(model.name)}/example`)).blob();
}

// The server has every model ready.
export async function prepare(_model) {}

export function dashboardUrl(model) {
  return model.epochs.length > 0 ? `/runs/${encodeURIComponent(model.name)}` : null;
}

// The canvas translated by `model`, as a PNG blob.
export async function translate(model, canvas, { evalMode, seed, epoch }, signal) {
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const query = new URLSearchParams({ model: model.name, eval: String(evalMode), seed });
  if (epoch && epoch !== model.epochs[0]) query.set("epoch", epoch);
  const response = await api(`/api/translate?${query}`, {
    method: "POST", body: blob, headers: { "Content-Type": "image/png" }, signal,
  });
  return response.blob();
}
