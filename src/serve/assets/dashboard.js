// The training dashboard of /runs/NAME: where the run stands, the loss chart and the latest
// samples, refreshed while the run trains.
import { api, status } from "./common.js";

const REFRESH_MS = 3000;
const name = decodeURIComponent(location.pathname.replace(/^\/runs\//, ""));
const shown = new Map();

async function images(page) {
  const samples = document.getElementById("samples");
  document.getElementById("samples-panel").hidden = page.samples.length === 0;
  const wanted = page.samples.flatMap((s) => s.images.map(([caption, file]) => ({ caption, file, epoch: s.epoch })));
  const key = wanted.map((w) => w.file).join();
  if (samples.dataset.key === key) return;
  const figures = [];
  for (const { caption, file, epoch } of wanted) {
    if (!shown.has(file)) {
      const blob = await (await api(`/api/runs/${encodeURIComponent(name)}/images/${encodeURIComponent(file)}`)).blob();
      shown.set(file, URL.createObjectURL(blob));
    }
    const figure = document.createElement("figure");
    const img = document.createElement("img");
    img.src = shown.get(file);
    img.alt = `epoch ${epoch} ${caption}`;
    const text = document.createElement("figcaption");
    text.textContent = `epoch ${epoch}: ${caption}`;
    figure.append(img, text);
    figures.push(figure);
  }
  samples.replaceChildren(...figures);
  samples.dataset.key = key;
}

function duration(seconds) {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

// "epoch 3 of 200 (120 of 400 images), training, about 2 h 10 min left".
function progress(p) {
  const text = document.getElementById("progress-text");
  const bar = document.getElementById("progress");
  bar.hidden = !p;
  if (!p) { text.textContent = "no train_opt.json: the run's schedule is unknown"; return; }
  const images = p.epoch_images ? ` (${p.position} of ${p.epoch_images} images)` : p.position ? ` (${p.position} images)` : "";
  const state = { training: "training", stopped: "stopped: --continue_train resumes it", finished: "finished" }[p.state];
  const left = p.state === "training" && p.seconds_left != null ? `, about ${duration(p.seconds_left)} left` : "";
  text.textContent = p.state === "finished" ? `finished: ${p.last_epoch} epochs` : `epoch ${p.epoch} of ${p.last_epoch}${images}, ${state}${left}`;
  text.dataset.state = p.state;
  const within = p.epoch_images ? Math.min(1, p.position / p.epoch_images) : 0;
  bar.value = p.state === "finished" ? 1 : Math.min(1, (p.epoch - 1 + within) / p.last_epoch);
}

async function refresh() {
  try {
    const page = await (await api(`/api/runs/${encodeURIComponent(name)}`)).json();
    document.getElementById("run").hidden = false;
    document.getElementById("run-name").textContent = page.name;
    progress(page.progress);
    // The server's own drawing of the log (numbers only), as on the run's web/index.html.
    document.getElementById("chart").innerHTML = page.chart;
    await images(page);
    status(`${page.points} log lines; refreshed ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    document.getElementById("run").hidden = true;
    document.getElementById("samples-panel").hidden = true;
    status(`${error.message}: pick a run above`, true);
  }
}

async function start() {
  try {
    const runs = await (await api("/api/runs")).json();
    const nav = document.getElementById("runs");
    runs.forEach((run) => {
      const link = document.createElement("a");
      link.href = `/runs/${encodeURIComponent(run)}`;
      link.textContent = run;
      if (run === name) link.setAttribute("aria-current", "page");
      nav.append(link);
    });
  } catch (error) {
    status(error.message, true);
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}
start();
