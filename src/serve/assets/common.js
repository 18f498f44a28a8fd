// What the page and the dashboard share: the API token and error reporting.

// A server started with --token is opened as http://host:port/#token=SECRET; the token stays in
// this tab's session storage and goes out as a Bearer header, never in a URL of a request.
const match = location.hash.match(/token=([^&]+)/);
if (match) {
  sessionStorage.setItem("pix2pix-token", decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

export async function api(path, options = {}) {
  const token = sessionStorage.getItem("pix2pix-token");
  const headers = new Headers(options.headers || {});
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

export function status(text, isError = false) {
  const element = document.getElementById("status");
  element.textContent = text;
  element.classList.toggle("error", isError);
}
