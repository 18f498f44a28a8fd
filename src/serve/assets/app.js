// The drawing page: pick a model, draw or upload an input, translate it. Where the models run
// is backend.js's business: `pix2pix serve`'s HTTP API, or in the browser itself in a page of
// `pix2pix export --format web`.
import { status } from "./common.js";
import * as backend from "./backend.js";

const $ = (id) => document.getElementById(id);
const canvas = $("input");
const context = canvas.getContext("2d", { willReadFrequently: true });
const UNDO_DEPTH = 30;

let models = [];
let model = null;
let colour = [0, 0, 0];
let background = [255, 255, 255];
let erasing = false;
let undo = [];
let stroke = null;
let outputUrl = null;
// The translation in flight: its AbortController.
let inFlight = null;

const hex = ([r, g, b]) => "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
const rgb = (text) => [1, 3, 5].map((i) => parseInt(text.slice(i, i + 2), 16));
const live = () => $("live").checked;

function snapshot() {
  undo.push(context.getImageData(0, 0, canvas.width, canvas.height));
  if (undo.length > UNDO_DEPTH) undo.shift();
}

function fill(colour) {
  context.fillStyle = hex(colour);
  context.fillRect(0, 0, canvas.width, canvas.height);
}

function choose(newColour, button, name) {
  colour = newColour;
  $("color").value = hex(newColour);
  setEraser(false);
  document.querySelectorAll("#palette button").forEach((b) => {
    b.classList.toggle("chosen", b === button);
    b.setAttribute("aria-pressed", String(b === button));
  });
  $("label").textContent = name ? `Painting: ${name}` : "";
}

function setEraser(on) {
  erasing = on;
  $("eraser").setAttribute("aria-pressed", String(on));
}

// The output no longer shows the translation of what is on the canvas (or nothing was
// translated yet).
function clearOutput() {
  if (outputUrl) URL.revokeObjectURL(outputUrl);
  outputUrl = null;
  $("output").removeAttribute("src");
  $("download").hidden = true;
  $("placeholder").hidden = false;
}

// The canvas takes the model's input size and the colours of its training inputs, then the
// model's example input when it has one.
async function selectModel(name) {
  model = models.find((m) => m.name === name) || null;
  if (!model) return;
  cancel();
  clearOutput();
  const side = model.size;
  canvas.width = side;
  canvas.height = side;
  const palette = $("palette");
  palette.replaceChildren();
  const kind = model.palette.kind;
  if (kind === "labels") {
    const { colours, names } = model.palette;
    background = colours[0];
    colours.forEach((c, i) => {
      const label = names[i] || `label ${i + 1}`;
      const button = document.createElement("button");
      button.type = "button";
      button.style.background = hex(c);
      button.title = `${label} (${hex(c)})`;
      button.setAttribute("aria-label", label);
      button.addEventListener("click", () => choose(c, button, label));
      palette.append(button);
    });
    const first = colours.length > 1 ? 1 : 0;
    choose(colours[first], palette.children[first], names[first] || `label ${first + 1}`);
  } else {
    background = [255, 255, 255];
    choose([0, 0, 0], null, kind === "edges" ? "black lines on white" : "");
  }
  $("free-colour").hidden = kind !== "free";
  $("upload-text").textContent = { labels: "Upload a label map", edges: "Upload an edge map", free: "Upload an image" }[kind];
  showEpochs();
  const dashboard = $("dashboard");
  const board = backend.dashboardUrl(model);
  dashboard.hidden = !board;
  if (board) dashboard.href = board;
  undo = [];
  fill(background);
  status(`${model.name}: ${model.netG}, ${model.input_nc} to ${model.output_nc} channels, ${side}x${side}` +
    (model.direction ? `, ${model.direction}` : ""));
  if (!(await prepared())) return;
  if (model.example) {
    try {
      const blob = await backend.exampleInput(model);
      if (model.name !== name) return;
      await place(blob, "an example from the run's data", false);
      translate();
    } catch (error) {
      status(`no example input: ${error.message}`, true);
    }
  }
}

// The model's checkpoints in the picker, keeping the one chosen while it exists.
function showEpochs() {
  const select = $("epoch");
  const chosen = select.value;
  select.replaceChildren(...model.epochs.map((e) => new Option(e === "latest" ? "latest" : `epoch ${e}`, e)));
  if (model.epochs.includes(chosen)) select.value = chosen;
  $("epoch-choice").hidden = model.epochs.length === 0;
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

// Paints the segment from -> to with round ends in exactly the chosen colour: no smoothed
// edges, whose blends would be other labels (or none) to the model.
function paint(from, to) {
  const [r, g, b] = erasing ? background : colour;
  const radius = Math.max(0.5, Number($("brush").value) * canvas.width / 512);
  const x0 = Math.max(0, Math.floor(Math.min(from[0], to[0]) - radius));
  const y0 = Math.max(0, Math.floor(Math.min(from[1], to[1]) - radius));
  const x1 = Math.min(canvas.width, Math.ceil(Math.max(from[0], to[0]) + radius) + 1);
  const y1 = Math.min(canvas.height, Math.ceil(Math.max(from[1], to[1]) + radius) + 1);
  if (x1 <= x0 || y1 <= y0) return;
  const region = context.getImageData(x0, y0, x1 - x0, y1 - y0);
  const d = region.data;
  const [dx, dy] = [to[0] - from[0], to[1] - from[1]];
  const length2 = dx * dx + dy * dy;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const [px, py] = [x + 0.5 - from[0], y + 0.5 - from[1]];
      const t = length2 > 0 ? Math.min(1, Math.max(0, (px * dx + py * dy) / length2)) : 0;
      const [ex, ey] = [px - t * dx, py - t * dy];
      if (ex * ex + ey * ey > radius * radius) continue;
      const i = ((y - y0) * (x1 - x0) + (x - x0)) * 4;
      d[i] = r; d[i + 1] = g; d[i + 2] = b; d[i + 3] = 255;
    }
  }
  context.putImageData(region, x0, y0);
}

canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  snapshot();
  stroke = point(event);
  paint(stroke, stroke);
});
canvas.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const next = point(event);
  paint(stroke, next);
  stroke = next;
});

// An uploaded image's scaling blends colours, which are no label of the task: for label maps
// every pixel goes to its nearest label colour, for edge maps to black or white, so that the
// model sees only what it was trained on.
function snap() {
  if (!model || model.palette.kind === "free") return;
  const image = context.getImageData(0, 0, canvas.width, canvas.height);
  const d = image.data;
  const labels = model.palette.kind === "labels" ? model.palette.colours : null;
  for (let i = 0; i < d.length; i += 4) {
    if (labels) {
      let best = labels[0];
      let bestDistance = Infinity;
      for (const c of labels) {
        const distance = (d[i] - c[0]) ** 2 + (d[i + 1] - c[1]) ** 2 + (d[i + 2] - c[2]) ** 2;
        if (distance < bestDistance) { best = c; bestDistance = distance; }
      }
      [d[i], d[i + 1], d[i + 2]] = best;
    } else {
      const v = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2] < 128 ? 0 : 255;
      d[i] = d[i + 1] = d[i + 2] = v;
    }
    d[i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// The canvas changed: the output no longer matches it, unless Live translates it again.
function changed() {
  if (live()) translate();
}

const endStroke = () => {
  if (!stroke) return;
  stroke = null;
  changed();
};
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

$("eraser").addEventListener("click", () => setEraser(!erasing));
$("undo").addEventListener("click", () => {
  const last = undo.pop();
  if (!last) return;
  context.putImageData(last, 0, 0);
  changed();
});
$("clear").addEventListener("click", () => { snapshot(); fill(background); changed(); });
$("color").addEventListener("input", (event) => choose(rgb(event.target.value), null, ""));
$("model").addEventListener("change", (event) => selectModel(event.target.value));
$("epoch").addEventListener("change", changed);
$("eval").addEventListener("change", changed);

// An image is scaled to cover the canvas and cropped at its centre.
async function place(file, name, undoable = true) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.max(canvas.width / bitmap.width, canvas.height / bitmap.height);
  const [w, h] = [bitmap.width * scale, bitmap.height * scale];
  if (undoable) snapshot();
  context.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
  snap();
  status(`placed ${name} (${bitmap.width}x${bitmap.height})`);
}

async function upload(file) {
  if (!file || !file.type.startsWith("image/")) { status("not an image file", true); return; }
  try {
    await place(file, file.name);
    changed();
  } catch (error) {
    status(`cannot read ${file.name}: ${error.message}`, true);
  }
}
$("upload").addEventListener("change", (event) => upload(event.target.files[0]));
canvas.addEventListener("dragover", (event) => { event.preventDefault(); canvas.classList.add("dragging"); });
canvas.addEventListener("dragleave", () => canvas.classList.remove("dragging"));
canvas.addEventListener("drop", (event) => {
  event.preventDefault();
  canvas.classList.remove("dragging");
  upload(event.dataTransfer.files[0]);
});

// The backend's model is ready (loaded, in a page that runs it itself); its failure is shown.
async function prepared() {
  const name = model.name;
  try {
    await backend.prepare(model);
    return model && model.name === name;
  } catch (error) {
    if (model && model.name === name) status(error.message, true);
    return false;
  }
}

function cancel() {
  if (inFlight) inFlight.abort("cancelled");
}
$("cancel").addEventListener("click", cancel);

// One translation at a time: a new one (Live, a click) replaces the one in flight.
async function translate() {
  if (!model) return;
  cancel();
  if (!(await prepared())) return;
  const controller = new AbortController();
  inFlight = controller;
  const timer = setTimeout(() => controller.abort("timeout"), backend.timeoutMs);
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  const ticker = setInterval(() => status(`translating with ${model.name}... ${seconds()} s`), 250);
  $("cancel").hidden = false;
  status(`translating with ${model.name}...`);
  const name = model.name;
  try {
    const choices = { evalMode: $("eval").checked, seed: $("seed").value || "0", epoch: $("epoch").value };
    const result = await backend.translate(model, canvas, choices, controller.signal);
    if (inFlight !== controller) return;
    clearOutput();
    outputUrl = URL.createObjectURL(result);
    $("output").src = outputUrl;
    $("placeholder").hidden = true;
    const download = $("download");
    download.href = outputUrl;
    download.download = `${name}.png`;
    download.hidden = false;
    status(`translated with ${name} in ${Math.round(performance.now() - started)} ms`);
  } catch (error) {
    if (inFlight !== controller) return;
    clearOutput();
    const why = controller.signal.reason;
    if (why === "cancelled") {
      status("translation cancelled");
    } else if (why === "timeout") {
      status(backend.noAnswer(backend.timeoutMs / 1000), true);
    } else if (error instanceof TypeError) {
      status(backend.unreachable(error), true);
    } else {
      status(`translation failed: ${error.message}`, true);
    }
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    if (inFlight === controller) {
      inFlight = null;
      $("cancel").hidden = true;
    }
  }
}
$("translate").addEventListener("click", translate);

// The model list follows the backend's: runs started after the page was opened appear.
async function refreshModels() {
  let listed;
  try {
    listed = await backend.listModels();
  } catch (error) {
    status(`cannot list the models: ${error.message}`, true);
    return;
  }
  const names = (list) => list.map((m) => `${m.name}:${m.epochs.join()}`).join("|");
  if (names(listed) === names(models)) return;
  const current = model ? model.name : null;
  models = listed;
  const select = $("model");
  select.replaceChildren(...models.map((m) => new Option(m.name, m.name)));
  if (models.length === 0) {
    model = null;
    status(backend.noModels, true);
    return;
  }
  const kept = models.find((m) => m.name === current);
  if (kept) {
    select.value = current;
    model = kept;
    showEpochs();
  } else {
    await selectModel(models[0].name);
  }
}

$("eval").checked = backend.evalByDefault;
refreshModels();
if (backend.refreshMs > 0) setInterval(refreshModels, backend.refreshMs);
