// Rosey's dashboard: plain JavaScript over the admin API (/api/openapi.json).
// Every text from the host (names, descriptions, log lines) is set as text,
// never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = null;
let timer = null;
let logSource = null;

// h("tag.class", {attr: value, onclick: fn}, children...)
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function notice(text, bad) {
  const box = $("notice");
  box.replaceChildren(text ? h("p" + (bad ? ".bad" : ""), { text }) : "");
  if (text && !bad) setTimeout(() => { if (box.textContent === text) box.replaceChildren(); }, 8000);
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET" && csrf) opts.headers["X-Rosey-CSRF"] = csrf;
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const e = (data && data.error) || { code: "http", message: res.status + " " + res.statusText };
    if (res.status === 401 && path !== "/api/session") showLogin(e.message);
    throw new ApiError(res.status, e.code, e.message);
  }
  return data;
}

// -------------------------------------------------------------- formatting

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
function ago(ms) {
  let s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 86400) return Math.floor(s / 3600) + "h" + (Math.floor(s / 60) % 60) + "m";
  return Math.floor(s / 86400) + "d";
}
function duration(s) { return ago(Date.now() - s * 1000); }
function when(ms) { return new Date(ms).toLocaleString(); }
function stateBadge(state, health) {
  return h("span.state.h-" + health, { text: state });
}

// ------------------------------------------------------------------ login

function showLogin(why) {
  stopTimers();
  csrf = null;
  $("nav").hidden = true;
  $("view").replaceChildren();
  $("login").hidden = false;
  if (why) notice(why, true);
  $("token").focus();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("POST", "/api/session", { token: $("token").value });
    csrf = r.csrf;
    $("token").value = "";
    notice("");
    start();
  } catch (e) {
    notice(e.message, true);
    $("token").select();
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/session"); } catch (e) { /* already out */ }
  showLogin("Logged out.");
});

function start() {
  $("login").hidden = true;
  $("nav").hidden = false;
  route();
}

// ------------------------------------------------------------------ views

function stopTimers() {
  if (timer) clearInterval(timer);
  timer = null;
  if (logSource) logSource.close();
  logSource = null;
}

function every(ms, fn) {
  fn();
  timer = setInterval(fn, ms);
}

function route() {
  stopTimers();
  const hash = location.hash || "#/";
  const view = $("view");
  view.replaceChildren();
  let m;
  if ((m = hash.match(/^#\/plugin\/([a-z][a-z0-9-]*)$/))) pluginView(view, m[1]);
  else if (hash === "#/install") installView(view);
  else if (hash === "#/host") hostView(view);
  else pluginsView(view);
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === hash) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
}
window.addEventListener("hashchange", () => { if (csrf) route(); });

function confirmDialog(title, text, typed) {
  const dlg = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-typed").hidden = !typed;
  $("confirm-want").textContent = typed || "";
  $("confirm-name").value = "";
  $("confirm-ok").disabled = !!typed;
  $("confirm-name").oninput = () => { $("confirm-ok").disabled = $("confirm-name").value !== typed; };
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    dlg.returnValue = "";
    dlg.showModal();
    (typed ? $("confirm-name") : $("confirm-ok")).focus();
  });
}

async function act(button, fn) {
  button.disabled = true;
  try {
    const out = await fn();
    if (out && out.message) notice(out.message);
    return out;
  } catch (e) {
    notice(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- plugins

function pluginsView(view) {
  const body = h("tbody");
  const table = h("table.plugins", {},
    h("caption.muted", { text: "Every plugin, refreshed every 2 s" }),
    h("thead", {}, h("tr", {}, ["Plugin", "Version", "State", "Since", "Memory", "Commands", "Messages", "Errors", "Traps", ""]
      .map((t, i) => h("th" + (i > 3 && i < 9 ? ".num" : ""), { scope: "col", text: t })))),
    body);
  const empty = h("p", { hidden: true }, "No plugins yet. ", h("a", { href: "#/install", text: "Install one" }), ".");
  view.append(h("h2", { text: "Plugins" }), h("div.card.scroll", {}, table, empty));
  every(2000, async () => {
    let list;
    try { list = await api("GET", "/api/plugins"); } catch (e) { if (e.status !== 401) notice(e.message, true); return; }
    empty.hidden = list.length > 0;
    body.replaceChildren(...list.map((p) => h("tr", { "data-plugin": p.name },
      h("td", { "data-label": "Plugin" }, h("a", { href: "#/plugin/" + p.name, text: p.name }),
        p.description ? h("div.muted", { text: p.description }) : null,
        p.error ? h("div.h-error", { text: p.error }) : null),
      h("td", { "data-label": "Version", text: p.version }),
      h("td", { "data-label": "State" }, stateBadge(p.state, p.health)),
      h("td", { "data-label": "Since", text: ago(p.since) }),
      h("td.num", { "data-label": "Memory", text: bytes(p.memory) + " / " + bytes(p.memory_limit) }),
      h("td.num", { "data-label": "Commands", text: p.stats.commands }),
      h("td.num", { "data-label": "Messages", text: p.stats.messages }),
      h("td.num", { "data-label": "Errors", text: p.stats.errors }),
      h("td.num", { "data-label": "Traps", text: p.stats.traps }),
      h("td", {}, p.pending_update ? h("a", { href: "#/plugin/" + p.name, text: "update waits for approval" }) : ""))));
  });
}

function asked(a) {
  const limits = a.limits;
  return h("div", {},
    h("p", {}, h("strong", { text: a.name + " " + a.version }), a.description ? " — " + a.description : ""),
    a.author ? h("p.muted", { text: "Author (as the manifest says): " + a.author }) : null,
    h("h3", { text: "Permissions" }),
    a.permissions.length
      ? h("ul.perms", {}, a.permissions.map((p) => h("li", {}, h("code", { text: p.name }), " — " + p.meaning)))
      : h("p", { text: "None." }),
    h("dl.kv", {},
      a.allowed_hosts.length ? [h("dt", { text: "HTTP to" }), h("dd", { text: a.allowed_hosts.join(", ") })] : null,
      a.subscribe.length ? [h("dt", { text: "Subscribes to" }), h("dd", { text: a.subscribe.join(", ") })] : null,
      a.publish.length ? [h("dt", { text: "Publishes on" }), h("dd", { text: a.publish.join(", ") })] : null,
      a.commands.length ? [h("dt", { text: "Commands" }), h("dd", { text: a.commands.map((c) => "!" + c).join(", ") })] : null,
      h("dt", { text: "Limits" }),
      h("dd", { text: `memory ${bytes(limits.memory)}, ${limits.timeout_ms} ms and ${limits.fuel_per_call} fuel per call, storage ${bytes(limits.storage)}, publish ${limits.publish_rate}` })));
}

function meter(label, used, limit) {
  const id = "m-" + label.replace(/\W/g, "");
  return [h("dt", {}, h("label", { for: id, text: label })),
    h("dd", {}, h("meter", { id, min: 0, max: limit || 1, value: Math.min(used, limit || 1), high: (limit || 1) * 0.8 }),
      " " + bytes(used) + " of " + bytes(limit))];
}

function pluginView(view, name) {
  const head = h("h2", { text: name });
  const top = h("div");
  const details = h("div");
  view.append(head, top, details);
  let built = false;
  const refresh = async () => {
    let p;
    try { p = await api("GET", "/api/plugins/" + name); } catch (e) {
      if (e.status === 404) { stopTimers(); top.replaceChildren(h("p", { text: e.message })); }
      else if (e.status !== 401) notice(e.message, true);
      return;
    }
    head.replaceChildren(p.name + " " + p.version + " ", stateBadge(p.state, p.health));
    top.replaceChildren(h("div.card", {},
      p.error ? h("p.h-error", { text: p.error }) : null,
      h("div.buttons", {},
        p.enabled && p.state !== "quarantined"
          ? h("button.quiet", { type: "button", id: "disable", onclick: (ev) => disablePlugin(ev.target, p.name) }, "Disable")
          : h("button", { type: "button", id: "enable", onclick: (ev) => act(ev.target, () => api("POST", `/api/plugins/${p.name}/enable`)).then(refresh) }, "Enable"),
        h("button.danger", { type: "button", id: "remove", onclick: (ev) => removePlugin(ev.target, p.name) }, "Remove…"),
        h("a", { href: "#/install", text: "Update from a file…" })),
      p.pending_update ? pending(p, refresh) : null,
      h("dl.kv", {},
        meter("Memory", p.usage.memory.used, p.usage.memory.limit),
        meter("Storage", p.usage.storage.used, p.usage.storage.limit),
        h("dt", { text: "Per call" }), h("dd", { text: `${p.usage.timeout_ms} ms, ${p.usage.fuel_per_call} fuel` }),
        h("dt", { text: "Publish rate" }), h("dd", { text: p.usage.publish_rate }),
        h("dt", { text: "Counters" }),
        h("dd", { text: `${p.stats.commands} commands, ${p.stats.messages} messages, ${p.stats.schedules} schedule ticks, ${p.stats.errors} errors, ${p.stats.traps} traps, ${p.stats.restarts} restarts, ${p.stats.limit_hits} limit hits, ${p.stats.denied} denied, ${p.stats.dropped} dropped` }),
        h("dt", { text: "Call time p50 / p99" }),
        h("dd", { text: p.stats.p50_micros == null ? "-" : `${p.stats.p50_micros} µs / ${p.stats.p99_micros} µs` }),
        h("dt", { text: "In this state for" }), h("dd", { text: ago(p.since) }))));
    if (!built) {
      built = true;
      details.append(...[
        h("section.card", { "aria-labelledby": "asks" }, h("h3", { id: "asks", text: "What it may do" }), asked(p.asked)),
        h("section.card", { "aria-labelledby": "prov" }, h("h3", { id: "prov", text: "Provenance" }),
          h("dl.kv", {}, h("dt", { text: "sha256 of plugin.wasm" }), h("dd", {}, h("code", { text: p.provenance.digest })),
            h("dt", { text: "Installed" }), h("dd", { text: when(p.provenance.installed_at) }),
            [["source", "From"], ["file_sha256", "sha256 of the file installed"], ["signer", "Signed by"]]
              .map(([k, label]) => [h("dt", { text: label }), h("dd", { text: p.provenance[k] || (k === "signer" ? "not signed" : "not recorded") })]))),
        p.has_config ? configSection(p.name) : null,
        logSection(p.name),
        h("section.card", { "aria-labelledby": "hist" }, h("h3", { id: "hist", text: "History" }),
          h("ul", {}, p.history.slice(-10).reverse().map((e) => h("li", { text: `${when(e.at)}: ${e.event}${e.detail ? " " + e.detail : ""}` })))),
        h("details.card", {}, h("summary", { text: "Manifest" }), h("pre", { text: p.manifest_yaml }))].filter(Boolean));
    }
  };
  every(2000, refresh);
}

function pending(p, refresh) {
  const u = p.pending_update;
  return h("div.card", { role: "region", "aria-label": "Pending update" },
    h("p", {}, h("strong", { text: `Update to ${u.version} waits for approval.` }), " It asks for:"),
    h("ul", {}, u.changes.added.map((c) => h("li", { text: "+ " + c })), u.changes.removed.map((c) => h("li", { text: "− " + c }))),
    h("button", { type: "button", id: "approve", onclick: async (ev) => {
      if (await confirmDialog("Approve the update?", `${p.name} ${u.version} gets: ${u.changes.added.join(", ")}`)) {
        await act(ev.target, () => api("POST", `/api/plugins/${p.name}/approve`, { digest: u.digest }));
        refresh();
      }
    } }, "Approve update"));
}

async function disablePlugin(button, name) {
  if (await confirmDialog("Disable " + name + "?", "It stops now and stays off; its data is kept.")) {
    await act(button, () => api("POST", `/api/plugins/${name}/disable`));
  }
}

async function removePlugin(button, name) {
  if (await confirmDialog("Remove " + name + "?", "This deletes the plugin and ALL its data: database, files and configuration. It cannot be undone.", name)) {
    if (await act(button, () => api("DELETE", "/api/plugins/" + name))) location.hash = "#/";
  }
}

// ----------------------------------------------------------------- config

function fieldCheck(schema, required, raw, input) {
  if (schema.type === "boolean") return null;
  if (raw === "") return required ? "A value is required." : null;
  let v = raw;
  if (schema.type === "integer" || schema.type === "number") {
    v = Number(raw);
    if (!Number.isFinite(v)) return "Enter a number.";
    if (schema.type === "integer" && !Number.isInteger(v)) return "Enter a whole number.";
    if (schema.minimum !== undefined && v < schema.minimum) return `At least ${schema.minimum}.`;
    if (schema.maximum !== undefined && v > schema.maximum) return `At most ${schema.maximum}.`;
  } else if (schema.type === "array" || schema.type === "object") {
    try { v = JSON.parse(raw); } catch (e) { return "Enter JSON: " + e.message; }
    if (schema.type === "array" && !Array.isArray(v)) return "Enter a JSON list, such as [\"a\", \"b\"].";
  } else if (input.dataset.secret && raw === "<secret>") {
    return null;
  } else {
    if (schema.minLength !== undefined && raw.length < schema.minLength) return `At least ${schema.minLength} characters.`;
    if (schema.maxLength !== undefined && raw.length > schema.maxLength) return `At most ${schema.maxLength} characters.`;
    if (schema.pattern && !new RegExp(schema.pattern, "u").test(raw)) return `Must match ${schema.pattern}.`;
  }
  if (schema.enum && !schema.enum.includes(v)) return "One of: " + schema.enum.join(", ");
  return null;
}

function configSection(name) {
  const form = h("form", { novalidate: true });
  const section = h("section.card", { "aria-labelledby": "cfg" }, h("h3", { id: "cfg", text: "Configuration" }),
    h("p.help", { text: "Checked against the plugin's config_schema; a running plugin gets the change at once. Saving rewrites config.yaml without its comments." }), form);
  api("GET", `/api/plugins/${name}/config`).then((c) => {
    const props = (c.schema && c.schema.properties) || {};
    const required = (c.schema && c.schema.required) || [];
    const fields = [];
    for (const [key, schema] of Object.entries(props)) {
      const id = "cfg-" + key;
      const errId = id + "-error";
      const value = c.values[key];
      const secret = c.secrets.includes(key);
      let input;
      if (schema.type === "boolean") {
        input = h("input", { id, type: "checkbox", checked: value === true });
      } else if (schema.enum) {
        input = h("select", { id }, (required.includes(key) ? [] : [h("option", { value: "", text: "(default)" })]),
          schema.enum.map((e) => h("option", { value: String(e), text: String(e), selected: value === e })));
      } else if (schema.type === "array" || schema.type === "object") {
        input = h("textarea", { id, rows: 3 });
        input.value = value === undefined ? "" : JSON.stringify(value);
      } else {
        input = h("input", { id, type: secret ? "password" : (schema.type === "integer" || schema.type === "number") ? "number" : "text",
          min: schema.minimum, max: schema.maximum, step: schema.type === "integer" ? 1 : undefined, autocomplete: "off" });
        input.value = value === undefined ? "" : String(value);
      }
      if (secret) input.dataset.secret = "1";
      input.setAttribute("aria-describedby", errId + (schema.description ? " " + id + "-help" : ""));
      const err = h("p.field-error", { id: errId, "aria-live": "polite" });
      const check = () => {
        const problem = fieldCheck(schema, required.includes(key), input.type === "checkbox" ? "" : input.value, input);
        err.textContent = problem || "";
        input.setAttribute("aria-invalid", problem ? "true" : "false");
        return !problem;
      };
      input.addEventListener("input", check);
      input.addEventListener("change", check);
      fields.push({ key, schema, input, check });
      const label = input.type === "checkbox"
        ? [h("label", {}, input, key)]
        : [h("label", { for: id, text: key + (required.includes(key) ? " (required)" : "") }), input];
      const help = schema.description
        ? h("p.help", { id: id + "-help", text: schema.description + (c.sources[key] === "default" ? " (default)" : "") })
        : null;
      form.append(...[...label, help, err].filter(Boolean));
    }
    const save = h("button", { type: "submit" }, "Save configuration");
    form.append(h("div.buttons", {}, save));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!fields.map((f) => f.check()).every(Boolean)) { notice("Fix the fields marked first.", true); return; }
      const values = {};
      for (const f of fields) {
        const t = f.schema.type;
        if (f.input.type === "checkbox") values[f.key] = f.input.checked;
        else if (f.input.value === "") continue;
        else if (t === "integer" || t === "number") values[f.key] = Number(f.input.value);
        else if (t === "array" || t === "object") values[f.key] = JSON.parse(f.input.value);
        else values[f.key] = f.input.value;
      }
      await act(save, () => api("PUT", `/api/plugins/${name}/config`, { values }));
    });
  }).catch((e) => section.append(h("p.h-error", { text: e.message })));
  return section;
}

// ------------------------------------------------------------------- logs

function logSection(target) {
  const pre = h("pre.log", { id: "log", tabindex: 0, "aria-label": "Log of " + target });
  const paused = h("input", { type: "checkbox", id: "log-pause" });
  const section = h("section.card", { "aria-labelledby": "logs-title" },
    h("h3", { id: "logs-title", text: "Live log" }),
    h("label", {}, paused, "Pause scrolling"), pre);
  logSource = new EventSource(`/api/logs/${target}/stream?lines=100`);
  logSource.addEventListener("line", (ev) => {
    const m = ev.data.match(/^\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\b/);
    pre.append(h("span" + (m ? ".lvl-" + m[1] : ""), { text: ev.data + "\n" }));
    while (pre.childNodes.length > 1000) pre.firstChild.remove();
    if (!paused.checked) pre.scrollTop = pre.scrollHeight;
  });
  logSource.addEventListener("error", () => {
    if (!pre.childNodes.length) pre.textContent = "No log yet (a plugin's log is written once it has run).";
  });
  return section;
}

// ---------------------------------------------------------------- install

function installView(view) {
  const file = h("input", { id: "package", type: "file", accept: ".roseyplug,.wasm", required: true, "aria-describedby": "package-help" });
  const sig = h("input", { id: "signature", type: "file", accept: ".minisig" });
  const inspectBtn = h("button", { type: "submit", id: "inspect" }, "Show what it asks for");
  const result = h("div", { id: "inspection", "aria-live": "polite" });
  const form = h("form", {},
    h("label", { for: "package", text: "Package (.roseyplug or .wasm)" }), file,
    h("p.help", { id: "package-help", text: "Nothing is installed until you approve what it asks for." }),
    h("label", { for: "signature", text: "Signature (.minisig, optional)" }), sig,
    h("div.buttons", {}, inspectBtn));
  view.append(h("h2", { text: "Install or update a plugin" }), h("div.card", {}, form), result);
  const data = (approval) => {
    const fd = new FormData();
    fd.append("package", file.files[0]);
    if (sig.files[0]) fd.append("signature", sig.files[0]);
    if (approval) fd.append("approval", approval);
    return fd;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!file.files[0]) { notice("Choose a package file first.", true); file.focus(); return; }
    result.replaceChildren(h("p", { text: "Checking the package…" }));
    const r = await act(inspectBtn, () => api("POST", "/api/plugins/inspect", data()));
    if (!r) { result.replaceChildren(); return; }
    const errors = r.findings.filter((f) => f.severity === "error");
    const update = r.installed;
    const go = h("button", { type: "button", id: "approve-install", disabled: !r.installable },
      update ? `Approve and update ${r.asked.name} ${update.version} → ${r.asked.version}` : `Approve and install ${r.asked.name} ${r.asked.version}`);
    go.addEventListener("click", async () => {
      const path = update ? `/api/plugins/${r.asked.name}/update` : "/api/plugins";
      const out = await act(go, () => api("POST", path, data(r.approval)));
      if (out) location.hash = "#/plugin/" + r.asked.name;
    });
    result.replaceChildren(h("section.card", { "aria-labelledby": "asks" },
      h("h3", { id: "asks", text: "It asks for" }), asked(r.asked),
      update ? h("div", {}, h("p", { text: `Installed now: ${update.version}. This update:` }),
        h("ul", {}, update.changes.added.map((c) => h("li", { text: "+ " + c + " (needs approval)" })),
          update.changes.removed.map((c) => h("li", { text: "− " + c }))),
        !update.changes.added.length ? h("p.muted", { text: "No change in permissions or limits." }) : null) : null,
      h("dl.kv", {}, h("dt", { text: "sha256" }), h("dd", {}, h("code", { text: r.sha256 })),
        h("dt", { text: "Size" }), h("dd", { text: bytes(r.size) }),
        h("dt", { text: "Signature" }), h("dd", { text: r.signature.note })),
      r.findings.length ? h("div", {}, h("h3", { text: errors.length ? "The host would refuse it" : "Warnings" }),
        h("ul", {}, r.findings.map((f) => h("li.finding." + f.severity, { text: `${f.severity}[${f.code}] ${f.location}: ${f.message} (${f.hint})` })))) : null,
      h("div.buttons", {}, go)));
    go.focus();
  });
}

// ------------------------------------------------------------------- host

function drawChart(canvas, points) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, hgt = canvas.clientHeight;
  canvas.width = w * dpr; canvas.height = hgt * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, hgt);
  const max = Math.max(1, ...points.map((p) => Math.max(p.messages, p.commands)));
  const left = 40, bottom = hgt - 18, top = 8;
  g.strokeStyle = "#8888"; g.fillStyle = getComputedStyle(canvas).color; g.font = "11px system-ui";
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, bottom); g.lineTo(w - 4, bottom); g.stroke();
  g.fillText(max.toFixed(max < 10 ? 1 : 0) + "/s", 2, top + 8); g.fillText("0", 28, bottom);
  g.fillText("last 5 min", w - 64, hgt - 4);
  const n = 149;
  for (const [key, color] of [["messages", "#1f77b4"], ["commands", "#d95f02"]]) {
    g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
    points.forEach((p, i) => {
      const x = left + ((n - points.length + i + 1) / n) * (w - left - 4);
      const y = bottom - (p[key] / max) * (bottom - top);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  }
}

function hostView(view) {
  const facts = h("dl.kv");
  const canvas = h("canvas", { id: "rate", role: "img", "aria-label": "Message rate over the last five minutes" });
  const summary = h("p.muted", { id: "rate-summary" });
  view.append(h("h2", { text: "Host" }), h("div.card", {}, facts),
    h("section.card", { "aria-labelledby": "rate-title" }, h("h3", { id: "rate-title", text: "Message rate" }),
      h("p.legend", {}, h("span.m", { text: "— messages/s" }), h("span.c", { text: "— commands/s" })), canvas, summary),
    logCard());
  every(2000, async () => {
    let s;
    try { s = await api("GET", "/api/status"); } catch (e) { if (e.status !== 401) notice(e.message, true); return; }
    const running = s.plugins.filter((p) => p.state === "running").length;
    facts.replaceChildren(...[
      h("dt", { text: "Rosey" }), h("dd", { text: `${s.version}, pid ${s.pid}, up ${duration(s.uptime_s)}` }),
      h("dt", { text: "NATS" }), h("dd", {}, h("span.state.h-" + (s.nats_connected ? "ok" : "error"), { id: "nats-state", text: s.nats_connected ? "connected" : "disconnected" }),
        " " + s.nats_url + (s.managed_nats ? " (managed by Rosey)" : "")),
      h("dt", { text: "Plugins" }), h("dd", { text: `${running} running of ${s.plugins.length}` }),
      s.metrics ? [h("dt", { text: "Metrics" }), h("dd", { text: s.metrics })] : null,
      h("dt", { text: "Prometheus" }), h("dd", {}, h("a", { href: "/metrics", text: "/metrics" })),
      h("dt", { text: "API" }), h("dd", {}, h("a", { href: "/api/openapi.json", text: "/api/openapi.json" }))].flat().filter(Boolean));
    const pts = s.message_rate.points;
    drawChart(canvas, pts);
    const last = pts[pts.length - 1];
    summary.textContent = last ? `Now: ${last.messages.toFixed(1)} messages/s, ${last.commands.toFixed(1)} commands/s.` : "Collecting (a point every 2 s)…";
  });
}

function logCard() {
  const select = h("select", { id: "log-target" }, ["host", "nats"].map((t) => h("option", { value: t, text: t })));
  const pre = h("pre.log", { tabindex: 0, "aria-label": "Log" });
  const load = async () => {
    try {
      const r = await api("GET", `/api/logs/${select.value}?lines=200`);
      pre.textContent = r.lines.join("\n");
      pre.scrollTop = pre.scrollHeight;
    } catch (e) { pre.textContent = e.message; }
  };
  select.addEventListener("change", load);
  load();
  return h("section.card", {}, h("label", { for: "log-target", text: "Log" }), select, pre);
}

// ------------------------------------------------------------------ start

(async () => {
  try {
    const s = await api("GET", "/api/session");
    csrf = s.csrf;
    start();
  } catch (e) {
    showLogin();
  }
})();
