//! Headless Chromium over WebDriver for the page's tests (tests/browser.rs, tests/web_export.rs):
//! Debian's chromium and chromium-driver (.ci/run installs them); skipped without them locally, a
//! failure under CI.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// A program on PATH.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium and its WebDriver, or `None` (a skip) where they are missing and CI is not set.
pub fn browser() -> Option<(PathBuf, PathBuf)> {
    let found =
        on_path(&["chromium", "chromium-browser", "google-chrome"]).zip(on_path(&["chromedriver"]));
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium or chromedriver is missing: apt-get install chromium \
             chromium-driver"
        );
        eprintln!(
            "skipped: needs chromium and chromedriver (apt-get install chromium chromium-driver)"
        );
    }
    found
}

/// A chromedriver process on a free loopback port, killed when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub fn start(chromedriver: &Path) -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(format!("{url}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` until it returns something other than null, for at most `seconds`.
pub async fn until(client: &Client, script: &str, seconds: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if !value.is_null() {
            return value;
        }
        let status = client
            .execute(
                "return document.getElementById('status')?.textContent",
                vec![],
            )
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "waited {seconds} s for: {script}\npage status: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn click(client: &Client, css: &str) {
    let element = client.find(Locator::Css(css)).await.unwrap();
    element.click().await.unwrap();
}

/// The canvas's pixels summed with their positions: changes when anything is drawn.
pub const CANVAS_SUM: &str = "const c = document.getElementById('input'); \
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
    let s = 0; for (let i = 0; i < d.length; i++) s = (s + d[i] * (i % 9973 + 1)) % 1000000007; \
    return s;";

/// The output image's size and distinct colours, once it has loaded and differs from `before`.
pub const OUTPUT: &str = "const img = document.getElementById('output'); \
    if (!img.src || img.src === arguments[0] || !img.complete || img.naturalWidth === 0) return null; \
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight; \
    const x = c.getContext('2d'); x.drawImage(img, 0, 0); \
    const d = x.getImageData(0, 0, c.width, c.height).data; const colours = new Set(); \
    for (let i = 0; i < d.length; i += 4) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]); \
    return [img.naturalWidth, img.naturalHeight, colours.size, img.src];";

/// The output, once it is a translation by the model `tiny` ([`OUTPUT`]'s values).
pub const TRANSLATED_BY_TINY: &str = "if (!document.getElementById('status').textContent.startsWith('translated with tiny')) return null; ";

/// Any translation shown ([`OUTPUT`]'s values).
pub const TRANSLATED: &str = "if (!document.getElementById('status').textContent.startsWith('translated with')) return null; ";

/// Keeps the canvas's pixels, for [`CHANGED_PIXELS`].
pub const KEEP_PIXELS: &str = "const c = document.getElementById('input'); \
    window.kept = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; return null;";

/// How many pixels changed since [`KEEP_PIXELS`], their distinct colours as "r,g,b", and the
/// chosen label's colour.
pub const CHANGED_PIXELS: &str = "const c = document.getElementById('input'); \
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
    const seen = new Set(); let count = 0; \
    for (let i = 0; i < d.length; i += 4) { \
      if (d[i] !== kept[i] || d[i + 1] !== kept[i + 1] || d[i + 2] !== kept[i + 2]) { \
        count++; seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`); } } \
    const chosen = getComputedStyle(document.querySelector('#palette button.chosen')).backgroundColor; \
    return [count, [...seen], chosen.replace(/[^0-9,]/g, '')];";

/// [`OUTPUT`] once it differs from `previous` (an [`OUTPUT`] value).
pub fn after(previous: &Value) -> String {
    OUTPUT.replace(
        "arguments[0]",
        &format!("'{}'", previous[3].as_str().unwrap()),
    )
}

pub async fn screenshot(client: &Client, name: &str) {
    let screenshot = client.screenshot().await.unwrap();
    let artifact = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&artifact, screenshot).unwrap();
    eprintln!("screenshot: {}", artifact.display());
}

/// A headless Chromium session through `driver`, its profile in `profile`.
pub async fn session(chromium: &Path, driver: &Driver, profile: &Path) -> Client {
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}
