// The drawing page: pick a model, draw or upload an input, translate it with the API.
import { api, status } from "./common.js";

const $ = (id) => document.getElementById(id);
const canvas = $("input");
const context = canvas.getContext("2d", { willReadFrequently: true });
const UNDO_DEPTH = 30;

let models = [];
let model = null;
let colour = "#000000";
let background = "#ffffff";
let erasing = false;
let undo = [];
let stroke = null;
let outputUrl = null;
let translating = false;

const hex = ([r, g, b]) => "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");

function snapshot() {
  undo.push(context.getImageData(0, 0, canvas.width, canvas.height));
  if (undo.length > UNDO_DEPTH) undo.shift();
}

function fill(style) {
  context.fillStyle = style;
  context.fillRect(0, 0, canvas.width, canvas.height);
}

function choose(newColour, button) {
  colour = newColour;
  $("color").value = newColour;
  setEraser(false);
  document.querySelectorAll("#palette button").forEach((b) => b.classList.toggle("chosen", b === button));
}

function setEraser(on) {
  erasing = on;
  $("eraser").setAttribute("aria-pressed", String(on));
}

// The canvas takes the model's input size and the colours of its training inputs.
function selectModel(name) {
  model = models.find((m) => m.name === name) || null;
  if (!model) return;
  const side = model.size;
  canvas.width = side;
  canvas.height = side;
  const palette = $("palette");
  palette.replaceChildren();
  if (model.palette.kind === "labels") {
    background = hex(model.palette.colours[0]);
    model.palette.colours.forEach((c) => {
      const button = document.createElement("button");
      button.type = "button";
      button.style.background = hex(c);
      button.title = hex(c);
      button.addEventListener("click", () => choose(hex(c), button));
      palette.append(button);
    });
    choose(hex(model.palette.colours[1] || model.palette.colours[0]), palette.children[1] || palette.children[0]);
  } else {
    background = "#ffffff";
    choose("#000000", null);
  }
  undo = [];
  fill(background);
  const dashboard = $("dashboard");
  dashboard.hidden = model.epochs.length === 0;
  dashboard.href = `/runs/${encodeURIComponent(model.name)}`;
  status(`${model.name}: ${model.netG}, ${model.input_nc} to ${model.output_nc} channels, ${side}x${side}` +
    (model.direction ? `, ${model.direction}` : ""));
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width, (event.clientY - box.top) * canvas.height / box.height];
}

function draw(from, to) {
  context.strokeStyle = erasing ? background : colour;
  context.lineWidth = Number($("brush").value) * canvas.width / 256;
  context.lineCap = "round";
  context.lineJoin = "round";
  context.beginPath();
  context.moveTo(...from);
  context.lineTo(...to);
  context.stroke();
}

canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  snapshot();
  stroke = point(event);
  draw(stroke, stroke);
});
canvas.addEventListener("pointermove", (event) => {
  if (!stroke) return;
  const next = point(event);
  draw(stroke, next);
  stroke = next;
});
// The browser smooths a stroke's edges with blends of two colours, which are no label of the
// task: for label maps every pixel goes to its nearest label colour, for edge maps to black or
// white, so that the model sees only what it was trained on.
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

const endStroke = () => {
  if (!stroke) return;
  stroke = null;
  snap();
  if ($("live").checked) translate();
};
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

$("eraser").addEventListener("click", () => setEraser(!erasing));
$("undo").addEventListener("click", () => { const last = undo.pop(); if (last) context.putImageData(last, 0, 0); });
$("clear").addEventListener("click", () => { snapshot(); fill(background); });
$("color").addEventListener("input", (event) => choose(event.target.value, null));
$("model").addEventListener("change", (event) => selectModel(event.target.value));

// A photo is scaled to cover the canvas and cropped at its centre.
async function place(file) {
  if (!file || !file.type.startsWith("image/")) { status("not an image file", true); return; }
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.max(canvas.width / bitmap.width, canvas.height / bitmap.height);
    const [w, h] = [bitmap.width * scale, bitmap.height * scale];
    snapshot();
    context.drawImage(bitmap, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    snap();
    status(`placed ${file.name} (${bitmap.width}x${bitmap.height})`);
    if ($("live").checked) translate();
  } catch (error) {
    status(`cannot read ${file.name}: ${error.message}`, true);
  }
}
$("upload").addEventListener("change", (event) => place(event.target.files[0]));
canvas.addEventListener("dragover", (event) => { event.preventDefault(); canvas.classList.add("dragging"); });
canvas.addEventListener("dragleave", () => canvas.classList.remove("dragging"));
canvas.addEventListener("drop", (event) => {
  event.preventDefault();
  canvas.classList.remove("dragging");
  place(event.dataTransfer.files[0]);
});

async function translate() {
  if (!model || translating) return;
  translating = true;
  $("translate").disabled = true;
  status("translating...");
  try {
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const query = new URLSearchParams({ model: model.name, eval: String($("eval").checked), seed: $("seed").value || "0" });
    const started = performance.now();
    const response = await api(`/api/translate?${query}`, { method: "POST", body: blob, headers: { "Content-Type": "image/png" } });
    const result = await response.blob();
    if (outputUrl) URL.revokeObjectURL(outputUrl);
    outputUrl = URL.createObjectURL(result);
    $("output").src = outputUrl;
    const download = $("download");
    download.href = outputUrl;
    download.download = `${model.name}.png`;
    download.hidden = false;
    status(`translated with ${model.name} in ${Math.round(performance.now() - started)} ms`);
  } catch (error) {
    status(error.message, true);
  } finally {
    translating = false;
    $("translate").disabled = false;
  }
}
$("translate").addEventListener("click", translate);

async function start() {
  try {
    models = await (await api("/api/models")).json();
  } catch (error) {
    status(error.message, true);
    return;
  }
  const select = $("model");
  models.forEach((m) => select.append(new Option(m.name, m.name)));
  if (models.length === 0) { status("no models are served", true); return; }
  selectModel(models[0].name);
}
start();
