// The training dashboard of /runs/NAME: the loss chart and the latest samples, refreshed while
// the run trains.
import { api, status } from "./common.js";

const REFRESH_MS = 3000;
const name = decodeURIComponent(location.pathname.replace(/^\/runs\//, ""));
const shown = new Map();

async function images(page) {
  const samples = document.getElementById("samples");
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

async function refresh() {
  try {
    const page = await (await api(`/api/runs/${encodeURIComponent(name)}`)).json();
    document.getElementById("run-name").textContent = page.name;
    // The server's own drawing of the log (numbers only), as on the run's web/index.html.
    document.getElementById("chart").innerHTML = page.chart;
    await images(page);
    status(`${page.points} log lines; refreshed ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    status(error.message, true);
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
      nav.append(link);
    });
  } catch (error) {
    status(error.message, true);
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}
start();
