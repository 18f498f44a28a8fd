// Runs the model off the page's thread: the WebAssembly module (pix2pix_web.js, built from
// crates/pix2pix-web) checks the model against the browser's memory, loads its weights once, and
// translates a canvas's pixels. Each message is answered with its id, ok, and a message on error.
import init, { Translator, check } from "./pix2pix_web.js";

const started = init().catch((error) => {
  throw new Error(`the WebAssembly module could not start (${error.message}): this browser may lack WebAssembly SIMD`);
});
let translator = null;
// A trap (out of memory, a bug) leaves the module unusable: every later request is refused.
let broken = null;

self.onmessage = async ({ data }) => {
  const { id } = data;
  try {
    await started;
    if (broken) throw new Error(broken);
    if (data.kind === "check") {
      check(data.options, data.bytes);
      self.postMessage({ id, ok: true });
    } else if (data.kind === "load") {
      if (translator) translator.free();
      translator = null;
      translator = new Translator(data.options, new Uint8Array(data.weights));
      self.postMessage({ id, ok: true });
    } else {
      const pixels = translator.translate(new Uint8Array(data.pixels), data.width, data.height, data.evalMode, data.seed);
      self.postMessage({ id, ok: true, pixels: pixels.buffer }, [pixels.buffer]);
    }
  } catch (error) {
    let message = error && error.message ? error.message : String(error);
    if (error instanceof WebAssembly.RuntimeError) {
      broken = `the model stopped (${message}): the browser may have run out of memory; reload the page, or translate a smaller image`;
      message = broken;
    }
    self.postMessage({ id, ok: false, message });
  }
};
