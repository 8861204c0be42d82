// Homeward's offline-tolerant submit (written for Homeward; no library).
// A form marked data-offline is sent with fetch. If the connection fails, its answers are kept
// in this browser's localStorage, sealed with AES-GCM under the signed-in user's offline key
// (given by the page, never stored), and sent again, with the same idempotency key, as soon
// as the browser is online: the server records it once, however often it arrives.
(() => {
  "use strict";
  const STORE = "homeward.pending";
  const meta = document.querySelector('meta[name="homeward-offline-key"]');
  if (!meta || !window.crypto || !crypto.subtle || !window.fetch) return;
  const bytes = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const text64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)));
  const keyPromise = crypto.subtle.importKey("raw", bytes(meta.content), "AES-GCM", false, ["encrypt", "decrypt"]);
  const pending = () => { try { return JSON.parse(localStorage.getItem(STORE) || "[]"); } catch (e) { return []; } };
  const keep = (list) => list.length ? localStorage.setItem(STORE, JSON.stringify(list)) : localStorage.removeItem(STORE);
  const say = (which) => {
    const status = document.getElementById("offline-status");
    if (status) { status.textContent = status.dataset[which] || ""; status.hidden = false; }
  };
  async function seal(action, body) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const plain = new TextEncoder().encode(JSON.stringify({ action, body }));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await keyPromise, plain);
    return { iv: text64(iv), data: text64(sealed) };
  }
  async function open(item) {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes(item.iv) }, await keyPromise, bytes(item.data));
    return JSON.parse(new TextDecoder().decode(plain));
  }
  const post = (action, body) => fetch(action, {
    method: "POST", body, credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
  async function show(answer) {
    if (answer.redirected) { location.assign(answer.url); return; }
    const page = await answer.text();
    document.open(); document.write(page); document.close();
  }
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.matches("form[data-offline]")) return;
    event.preventDefault();
    const action = form.action;
    const body = new URLSearchParams(new FormData(form)).toString();
    let answer;
    try { answer = await post(action, body); } catch (e) {
      keep([...pending(), await seal(action, body)]);
      say("saved");
      return;
    }
    await show(answer);
  });
  async function resend() {
    const left = [];
    let last = null;
    for (const item of pending()) {
      let sent;
      try { sent = await open(item); } catch (e) { left.push(item); continue; } // another user's
      // Sent with this page's CSRF token: a form kept before signing in again holds the old one.
      const body = new URLSearchParams(sent.body);
      const csrf = document.querySelector("input[name=csrf]");
      if (csrf) body.set("csrf", csrf.value);
      try {
        const answer = await post(sent.action, body.toString());
        if (answer.status === 403 || answer.status >= 500) left.push(item); else last = answer;
      } catch (e) { left.push(item); }
    }
    keep(left);
    if (last) { say("sent"); await show(last); }
  }
  window.addEventListener("online", resend);
  if (navigator.onLine && pending().length) resend();
})();
