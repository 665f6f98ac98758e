/* Verbatim web page: ask, read the quotes in context, browse the documents.
 * Plain JavaScript, no build step, no dependencies. Talks only to its own origin:
 *   POST ask             -> JSON answer, or server-sent events (delta..., final) when a model streams
 *   GET  documents       -> {"documents": [{source, format?, sections?, articles: [{title, author, date, start, end}]}]}
 *   GET  documents/{src} -> {source, format, articles, sections, pages, text}
 *   POST documents       -> 202 {job, files: [{name, source}]} (multipart, one file per request here)
 *   GET  jobs/{id}       -> {state, done, total, files: [{source, outcome, reason}]}
 *   DELETE documents/{src}
 * Routes of the page itself: #ask, #browse, and #/doc/{source}?start=&end= (a citation link: the
 * document opens in the panel with that span highlighted).
 * Offsets from the API are Python character (code point) offsets; JavaScript strings are UTF-16,
 * so every offset goes through codePointIndex() before slicing.
 */
(() => {
  "use strict";

  const KEY_STORE = "verbatim.apiKey";
  const MAX_QUESTION = 2000;
  const $ = (id) => document.getElementById(id);

  const ui = {
    askForm: $("ask-form"), question: $("question"),
    count: $("count"), countN: $("count-n"), topK: $("top-k"), backend: $("backend"),
    status: $("status"), result: $("result"),
    viewAsk: $("view-ask"), viewBrowse: $("view-browse"), tabAsk: $("tab-ask"), tabBrowse: $("tab-browse"),
    filter: $("filter"), browseReload: $("browse-reload"), browseStatus: $("browse-status"), docList: $("doc-list"),
    panel: $("panel"), panelTitle: $("panel-title"), panelSub: $("panel-sub"), panelClose: $("panel-close"),
    panelBody: $("panel-body"), panelEmpty: $("panel-empty"), doc: $("doc"),
    keyBox: $("key-box"), keyForm: $("key-form"), keyInput: $("key-input"), keyClear: $("key-clear"),
    keyMsg: $("key-msg"), keyState: $("key-state"),
    uploadInput: $("upload-input"), drop: $("drop"), uploadList: $("upload-list"),
    uploadFolder: $("upload-folder"), uploadOverwrite: $("upload-overwrite"),
  };
  const KEY_HINT = ui.keyMsg.textContent;

  /** Build an element: h("p", {class: "x"}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ---------------------------------------------------------------- offsets

  /** Map Python code point offsets to UTF-16 indices of `text` (identity when there are no surrogates). */
  function codePointIndex(text) {
    if (!/[\uD800-\uDFFF]/.test(text)) {
      return (cp) => Math.max(0, Math.min(cp, text.length));
    }
    const units = [];
    let u = 0;
    for (const ch of text) { units.push(u); u += ch.length; }
    units.push(u);
    return (cp) => units[Math.max(0, Math.min(cp, units.length - 1))];
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail || `HTTP ${status}`);
      this.status = status;
      this.detail = detail || "";
      this.retryAfter = retryAfter || null;
    }
  }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORE) || ""; } catch { return ""; }
  }

  function requestHeaders(extra) {
    const headers = {Accept: "application/json", ...extra};
    const key = storedKey();
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  /** Turn a FastAPI `detail` (a string, or a list of validation errors) into one readable message. */
  function formatDetail(detail) {
    if (detail === undefined || detail === null) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((item) => {
        if (!item || typeof item !== "object") return String(item);
        const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${item.msg || ""}` : String(item.msg || JSON.stringify(item));
      }).join("; ");
    }
    if (typeof detail === "object" && detail.message) return String(detail.message);
    return JSON.stringify(detail);
  }

  async function errorFrom(response) {
    let detail = "";
    try {
      const type = response.headers.get("content-type") || "";
      if (type.includes("json")) {
        const body = await response.json();
        detail = formatDetail(body && typeof body === "object" && "detail" in body ? body.detail : body);
      } else {
        detail = (await response.text()).trim().slice(0, 500);
      }
    } catch { /* keep the status alone */ }
    return new ApiError(response.status, detail, response.headers.get("retry-after"));
  }

  async function send(url, options) {
    try {
      return await fetch(url, options);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, "Could not reach the Verbatim server. Check that it is running, then try again.");
    }
  }

  async function getJSON(url, signal) {
    const response = await send(url, {headers: requestHeaders(), signal});
    if (!response.ok) throw await errorFrom(response);
    return response.json();
  }

  let streamRefused = false; // set when the server rejects the "stream" field (older API)

  /** POST ask; reads server-sent events when the server streams, JSON otherwise. */
  async function postAsk(body, signal, onDelta) {
    const payload = streamRefused ? body : {...body, stream: true};
    const response = await send("ask", {
      method: "POST",
      headers: requestHeaders({"Content-Type": "application/json", Accept: "text/event-stream, application/json"}),
      body: JSON.stringify(payload),
      signal,
    });
    if (!response.ok) {
      const err = await errorFrom(response);
      if (response.status === 422 && !streamRefused && /\bstream\b/i.test(err.detail)) {
        streamRefused = true;
        return postAsk(body, signal, onDelta);
      }
      throw err;
    }
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("text/event-stream")) return readEvents(response, onDelta);
    return response.json();
  }

  /** Parse a text/event-stream body: `delta` events carry {"text"}, `final` the whole answer. */
  async function readEvents(response, onDelta) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let final = null;
    const dispatch = (block) => {
      let event = "message";
      const data = [];
      for (const line of block.split(/\r\n|\r|\n/)) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (!data.length) return;
      let message;
      try { message = JSON.parse(data.join("\n")); } catch { message = {text: data.join("\n")}; }
      if (event === "delta") onDelta(typeof message.text === "string" ? message.text : "");
      else if (event === "final") final = message;
      else if (event === "error") {
        throw new ApiError(message.status || 503, formatDetail(message.detail ?? message.message ?? message));
      }
    };
    for (;;) {
      const {value, done} = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(0), {stream: !done});
      let match;
      while ((match = /\r\n\r\n|\n\n|\r\r/.exec(buffer))) {
        const block = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        dispatch(block);
      }
      if (done) break;
    }
    if (buffer.trim()) dispatch(buffer);
    if (final && !("answer" in final) && "detail" in final) throw new ApiError(503, formatDetail(final.detail));
    if (!final) throw new ApiError(0, "The answer stream ended before the full answer arrived. Try again.");
    return final;
  }

  function sourcePath(source) {
    return String(source).split("/").map(encodeURIComponent).join("/");
  }

  function spanQuery(start, end) {
    return Number.isInteger(start) && Number.isInteger(end) ? `?start=${start}&end=${end}` : "";
  }

  function documentUrl(source, start, end) {
    return `documents/${sourcePath(source)}${spanQuery(start, end)}`;
  }

  /** The page's own link to a span: what citation links in chat and for browsers point at. */
  function pageLink(source, start, end) {
    return `#/doc/${sourcePath(source)}${spanQuery(start, end)}`;
  }

  /** Parse `#/doc/{source}?start=&end=`; null for any other hash. */
  function parseDocRoute(hash) {
    const m = /^#\/doc\/([^?]+)(?:\?(.*))?$/.exec(hash || "");
    if (!m) return null;
    let source;
    try { source = m[1].split("/").map(decodeURIComponent).join("/"); } catch { return null; }
    const params = new URLSearchParams(m[2] || "");
    const num = (name) => (/^\d+$/.test(params.get(name) || "") ? Number(params.get(name)) : null);
    const start = num("start");
    const end = num("end");
    return start !== null && end !== null && end >= start ? {source, start, end} : {source, start: null, end: null};
  }

  /** What to tell the user about a failed request. */
  function explain(err) {
    if (!(err instanceof ApiError)) return `Something went wrong in the page: ${err && err.message ? err.message : err}`;
    const said = err.detail ? ` The server said: “${err.detail}”` : "";
    switch (true) {
      case err.status === 0:
        return err.detail;
      case err.status === 401 || err.status === 403:
        return `This server needs a valid API key (${err.status}). Enter it under “API key” at the top.${said}`;
      case err.status === 429: {
        const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Wait a moment and try again.";
        return `Too many requests (429).${wait}${said}`;
      }
      case err.status === 503:
        return "Verbatim can't answer right now (503): the document index or the model backend is unreachable, " +
          "or the index is still being built on first start. This is usually temporary; try again in a moment." + said;
      case err.status >= 400 && err.status < 500:
        return err.detail || `The request was refused (${err.status}).`;
      default:
        return `The server failed (${err.status}).${said}`;
    }
  }

  // ---------------------------------------------------------------- API key

  let retryAfterKey = null;
  // Set once the server answered 401 to a request without a key: only then is the key control shown.
  let keysRequired = false;

  function refreshKeyState() {
    ui.keyState.textContent = storedKey() ? "API key ✓" : "API key";
    ui.keyBox.hidden = !(keysRequired || storedKey());
  }

  function askForKey(message, retry) {
    keysRequired = true;
    refreshKeyState();
    retryAfterKey = retry || null;
    ui.keyMsg.textContent = message;
    ui.keyMsg.classList.add("warn");
    ui.keyBox.open = true;
    ui.keyInput.value = storedKey();
    ui.keyInput.focus();
    ui.keyInput.select();
  }

  ui.keyForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = ui.keyInput.value.trim();
    try {
      if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);
    } catch { /* storage disabled: the key lasts until reload */ }
    ui.keyMsg.textContent = KEY_HINT;
    ui.keyMsg.classList.remove("warn");
    ui.keyBox.open = false;
    refreshKeyState();
    const retry = retryAfterKey;
    retryAfterKey = null;
    if (retry) retry(); else ui.question.focus();
  });

  ui.keyClear.addEventListener("click", () => {
    try { sessionStorage.removeItem(KEY_STORE); } catch { /* nothing stored */ }
    ui.keyInput.value = "";
    refreshKeyState();
    ui.keyInput.focus();
  });

  // ---------------------------------------------------------------- asking

  let askController = null;
  let lastResponse = null;

  function setStatus(text, kind) {
    ui.status.textContent = text || "";
    ui.status.className = `status${kind ? ` ${kind}` : ""}`;
  }

  function updateCount() {
    const n = [...ui.question.value].length;
    ui.countN.textContent = String(n);
    ui.count.classList.toggle("over", n > MAX_QUESTION);
  }

  function skeleton() {
    return h("div", {class: "skeleton", "aria-hidden": "true"},
      h("div", {class: "bar w90"}), h("div", {class: "bar w70"}), h("div", {class: "bar w80"}),
      h("div", {class: "card-ghost"}), h("div", {class: "card-ghost"}));
  }

  async function ask() {
    const question = ui.question.value;
    if (!question.trim()) {
      setStatus("Type a question first.", "warn");
      ui.question.focus();
      return;
    }
    if (askController) askController.abort();
    const controller = new AbortController();
    askController = controller;
    const body = {question, top_k: Number(ui.topK.value) || 5};
    if (ui.backend.value) body.backend = ui.backend.value;

    rememberQuestion(question);
    resetPanel();  // the previous answer's document does not belong to this question
    ui.result.setAttribute("aria-busy", "true");
    setStatus("Searching the documents…", "busy");

    let streamed = null;
    ui.result.replaceChildren(skeleton());
    const onDelta = (text) => {
      if (controller.signal.aborted) return;
      if (!streamed) {
        setStatus("Writing the answer…", "busy");
        streamed = h("p", {class: "answer-text streaming"});
        ui.result.replaceChildren(
          h("article", {class: "answer"}, h("h2", {class: "answer-h"}, "Answer"), streamed, skeleton()));
      }
      streamed.append(text);
    };

    try {
      const data = await postAsk(body, controller.signal, onDelta);
      if (controller.signal.aborted) return;
      lastResponse = data;
      renderAnswer(data);
    } catch (err) {
      if (controller.signal.aborted || (err && err.name === "AbortError")) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        showError(explain(err));
        askForKey(storedKey()
          ? "That API key was refused. Enter a valid key; the question will be asked again."
          : "This server requires an API key. Enter it and press Save; the question will be asked again.",
        () => ask());
        return;
      }
      showError(explain(err), err);
    } finally {
      if (askController === controller) {
        askController = null;
        ui.result.setAttribute("aria-busy", "false");
      }
    }
  }

  function showError(message, err) {
    const title = err instanceof ApiError && err.status === 503 ? "Not available right now" : "Could not answer";
    setStatus("");
    ui.result.replaceChildren(h("div", {class: "error", role: "alert", id: "error"},
      h("h2", {}, title), h("p", {class: "error-msg"}, message)));
  }

  function titleOf(item) {
    return item.title && String(item.title).trim() ? item.title : item.source;
  }

  function offsets(item) {
    return `characters ${item.start}–${item.end}`;
  }

  /** The heading path of a span ("Guide › Install › Linux"), unless it is only the title already shown. */
  function sectionPath(item) {
    const path = (Array.isArray(item.section) ? item.section : []).map((p) => String(p).trim()).filter(Boolean);
    if (!path.length || (path.length === 1 && path[0] === String(item.title || "").trim())) return "";
    return path.join(" › ");
  }

  /** "Guide › Install · p. 4 · file.txt · characters a–b" under a quote or passage. */
  function sourceLine(item) {
    const bits = [];
    const section = sectionPath(item);
    if (section) bits.push(h("span", {class: "section-path"}, section), " · ");
    if (Number.isInteger(item.page)) bits.push(h("span", {class: "page nowrap"}, `p. ${item.page}`), " · ");
    return h("span", {class: "source"}, ...bits, h("code", {}, item.source), " · ",
      h("span", {class: "nowrap"}, offsets(item)));
  }

  /** Valid highlights of a citation, as code point offsets relative to its quote. */
  function relativeHighlights(item) {
    const list = Array.isArray(item.highlights) ? item.highlights : [];
    return list
      .filter((hl) => hl && Number.isInteger(hl.start) && Number.isInteger(hl.end) &&
        item.start <= hl.start && hl.start < hl.end && hl.end <= item.end)
      .map((hl) => ({start: hl.start - item.start, end: hl.end - item.start}))
      .sort((a, b) => a.start - b.start);
  }

  /** The quote's text with the asked-for values (highlights) in bold. */
  function quoteNodes(cite) {
    const quote = String(cite.quote || "");
    const at = codePointIndex(quote);
    const out = [];
    let pos = 0;
    for (const hl of relativeHighlights(cite)) {
      const s = Math.max(at(hl.start), pos);
      const e = at(hl.end);
      if (e <= s) continue;
      if (s > pos) out.push(quote.slice(pos, s));
      out.push(h("strong", {class: "value"}, quote.slice(s, e)));
      pos = e;
    }
    if (pos < quote.length) out.push(quote.slice(pos));
    return out;
  }

  /** "Showing results for Kazakhstan (you typed Kazakstan)". */
  function correctionsNote(corrections) {
    const list = (Array.isArray(corrections) ? corrections : [])
      .filter((c) => c && typeof c.from === "string" && typeof c.to === "string");
    if (!list.length) return null;
    const to = [];
    const from = [];
    list.forEach((c, i) => {
      if (i) { to.push(", "); from.push(", "); }
      to.push(h("strong", {}, c.to));
      from.push(h("span", {class: "typed"}, c.from));
    });
    return h("p", {class: "corrections", id: "corrections"}, "Showing results for ", ...to, " (you typed ", ...from, ")");
  }

  /** The answer text, with [n] markers turned into buttons that open citation n. */
  function answerText(answer, citations) {
    const byN = new Map(citations.map((c) => [Number(c.n), c]));
    const p = h("p", {class: "answer-text", id: "answer-text"});
    const parts = String(answer || "").split(/(\[\d+\])/);
    for (const part of parts) {
      const m = /^\[(\d+)\]$/.exec(part);
      const cite = m && byN.get(Number(m[1]));
      if (cite) {
        p.append(h("button", {
          type: "button", class: "ref", "aria-label": `Open quote ${cite.n} in context`,
          onclick: (e) => openCitation(cite, e.currentTarget),
        }, `[${cite.n}]`));
      } else if (part) {
        p.append(part);
      }
    }
    return p;
  }

  function renderAnswer(data) {
    const citations = Array.isArray(data.citations) ? data.citations : [];
    const passages = Array.isArray(data.passages) ? data.passages : [];
    const abstained = Boolean(data.abstained);
    const empty = !abstained && !citations.length && !passages.length;
    const hedged = !abstained && Boolean(data.hedged);
    const heading = h("h2", {class: "answer-h", id: "answer-heading", tabindex: "-1"},
      abstained ? "Not found in the documents" : empty ? "No answer" : "Answer",
      hedged ? h("span", {class: "badge hedged", id: "hedged"}, "may not be stated exactly") : null);

    const total = data.timings_ms && Number(data.timings_ms.total);
    const meta = h("p", {class: "meta"},
      data.backend ? `${data.backend} backend` : "",
      Number.isFinite(total) ? ` · ${Math.round(total)} ms` : "",
      citations.length ? ` · ${citations.length} quote${citations.length === 1 ? "" : "s"}` : "");

    const article = h("article", {
      class: `answer${abstained ? " abstained" : ""}${empty ? " empty" : ""}${hedged ? " is-hedged" : ""}`,
      id: "answer", "aria-labelledby": "answer-heading",
      dataset: {abstained: String(abstained), hedged: String(hedged)},
    }, correctionsNote(data.corrections), heading, answerText(data.answer, citations), meta);

    if (hedged) {
      article.append(h("p", {class: "note", role: "note", id: "hedged-note"},
        "The documents may not state this exactly: these are the closest quotes. Check them before relying on the answer."));
    }

    if (data.warning) {
      article.append(h("p", {class: "note", role: "note", id: "answer-warning"}, String(data.warning)));
    }

    if (empty) {
      article.append(h("p", {class: "hint", id: "empty-msg"},
        "No passages matched. The index may be empty, or still being built; see ",
        h("a", {href: "#browse"}, "Browse"), " for what is indexed."));
    }

    if (citations.length) {
      article.append(h("h3", {class: "section-h"}, "Quotes"));
      article.append(h("ol", {class: "quotes", id: "quotes"}, citations.map(renderCitation)));
    }

    if (passages.length) {
      const list = h("ol", {class: "passages", id: "passages"}, passages.map(renderPassage));
      if (abstained) {
        article.append(h("h3", {class: "section-h"}, "Closest passages"), list);
      } else {
        article.append(h("details", {class: "more"},
          h("summary", {}, `Retrieved passages (${passages.length})`), list));
      }
    } else if (abstained) {
      article.append(h("p", {class: "hint"}, "Nothing in the documents came close."));
    }

    ui.result.replaceChildren(article);
    setStatus(abstained ? "The documents do not answer this question."
      : empty ? "No matching passages." : `Answered with ${citations.length} quote${citations.length === 1 ? "" : "s"}.`);
    heading.focus({preventScroll: true});
  }

  function renderCitation(cite) {
    return h("li", {class: "quote", id: `cite-${cite.n}`, dataset: {n: cite.n}},
      h("span", {class: "num", "aria-hidden": "true"}, String(cite.n)),
      h("div", {class: "quote-body"},
        h("blockquote", {class: "quote-text"}, ...quoteNodes(cite)),
        h("p", {class: "cite"},
          h("button", {
            type: "button", class: "cite-open", dataset: {n: cite.n},
            "aria-label": `Quote ${cite.n}: open “${titleOf(cite)}” at the quoted words`,
            onclick: (e) => openCitation(cite, e.currentTarget),
          }, titleOf(cite)),
          sourceLine(cite))));
  }

  function renderPassage(passage) {
    return h("li", {class: "passage"},
      h("p", {class: "cite"},
        h("button", {
          type: "button", class: "cite-open",
          onclick: (e) => openDocument({
            source: passage.source, start: passage.start, end: passage.end, title: passage.title,
            expect: passage.text, kind: "passage", opener: e.currentTarget,
          }),
        }, titleOf(passage)),
        sourceLine(passage)),
      h("p", {class: "passage-text"}, passage.text));
  }

  function openCitation(cite, opener) {
    openDocument({
      source: cite.source, start: cite.start, end: cite.end, title: cite.title,
      expect: cite.quote, kind: "quote", highlights: cite.highlights, opener,
    });
  }

  // ---------------------------------------------------------------- the document panel

  const docCache = new Map();
  let panelSeq = 0;
  let panelOpener = null;

  // Below this width the panel covers the page: the page behind it is made inert while it is open.
  const overlayMedia = window.matchMedia("(max-width: 63.99rem)");
  const behindPanel = [document.querySelector("header.top"), document.getElementById("main")];

  function setPanelOpen(open) {
    document.body.classList.toggle("panel-open", open);
    ui.panelClose.hidden = !open;
    const modal = open && overlayMedia.matches;
    for (const node of behindPanel) node.inert = modal;
    if (modal) {
      ui.panel.setAttribute("role", "dialog");
      ui.panel.setAttribute("aria-modal", "true");
    } else {
      ui.panel.removeAttribute("role");
      ui.panel.removeAttribute("aria-modal");
    }
  }
  overlayMedia.addEventListener("change", () => setPanelOpen(document.body.classList.contains("panel-open")));

  /** Empty the panel (no document, no pending load); leaves focus where it is. */
  function resetPanel() {
    panelSeq += 1;
    setPanelOpen(false);
    ui.doc.hidden = true;
    ui.doc.replaceChildren();
    ui.panel.removeAttribute("aria-busy");
    ui.panelEmpty.hidden = false;
    ui.panelTitle.textContent = "Sources open here";
    ui.panelSub.textContent = "";
    if (parseDocRoute(location.hash)) {
      try { history.replaceState(history.state, "", "#ask"); } catch { /* file: URLs */ }
    }
  }

  function closePanel() {
    resetPanel();
    const opener = panelOpener;
    panelOpener = null;
    if (opener && opener.isConnected) opener.focus();
  }

  async function fetchDocument(source, start, end) {
    if (docCache.has(source)) return docCache.get(source);
    const doc = await getJSON(documentUrl(source, start, end));
    if (typeof doc.text !== "string") throw new ApiError(0, "The server sent a document without text.");
    docCache.set(source, doc);
    return doc;
  }

  /** Open `source` in the side panel; with start/end, scroll to that span and highlight it. */
  async function openDocument(opts) {
    const seq = ++panelSeq;
    panelOpener = opts.opener || document.activeElement;
    setPanelOpen(true);
    ui.panel.setAttribute("aria-busy", "true");
    ui.panelEmpty.hidden = true;
    ui.doc.hidden = false;
    ui.panelTitle.textContent = opts.title || opts.source;
    ui.panelSub.textContent = "Loading…";
    ui.doc.replaceChildren(h("div", {class: "skeleton"}, h("div", {class: "bar w90"}), h("div", {class: "bar w80"})));
    ui.panelTitle.focus({preventScroll: true});
    try {
      const doc = await fetchDocument(opts.source, opts.start, opts.end);
      if (seq !== panelSeq) return;
      renderDocument(doc, opts);
    } catch (err) {
      if (seq !== panelSeq) return;
      ui.panelSub.textContent = opts.source;
      ui.doc.replaceChildren(h("div", {class: "error", role: "alert"}, h("p", {}, explain(err))));
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        askForKey("This server requires an API key to open documents. Enter it and press Save.",
          () => openDocument(opts));
      }
    } finally {
      if (seq === panelSeq) ui.panel.removeAttribute("aria-busy");
    }
  }

  function isMarkdown(doc) {
    const format = String(doc.format || "").toLowerCase();
    return format === "markdown" || format === "md" ||
      ((!format || format === "text") && /\.(md|markdown|mdown|mkd)$/i.test(String(doc.source || "")));
  }

  function renderDocument(doc, opts) {
    const text = doc.text;
    const at = codePointIndex(text);
    const articles = (Array.isArray(doc.articles) ? doc.articles : [])
      .filter((a) => Number.isInteger(a.start) && Number.isInteger(a.end))
      .map((a) => ({...a, s: at(a.start), e: at(a.end)}))
      .sort((a, b) => a.s - b.s);
    const hasSpan = Number.isInteger(opts.start) && Number.isInteger(opts.end) && opts.end >= opts.start;
    const s = hasSpan ? at(opts.start) : 0;
    const e = hasSpan ? at(opts.end) : 0;
    const home = hasSpan ? articles.find((a) => a.s <= s && s < a.e) : null;

    // Layers of classes over UTF-16 ranges of the text; every character is rendered exactly once.
    const ranges = [];
    let outside = false;
    if (articles.length) {
      let pos = 0;
      for (const art of articles) {
        if (art.s > pos) { ranges.push({s: pos, e: art.s, cls: "outside"}); outside = true; }
        pos = Math.max(pos, art.e);
      }
      if (pos < text.length) { ranges.push({s: pos, e: text.length, cls: "outside"}); outside = true; }
    }
    const markdown = isMarkdown(doc);
    if (markdown) ranges.push(...markdownRanges(text));
    if (hasSpan) {
      for (const hl of relativeHighlights({start: opts.start, end: opts.end, highlights: opts.highlights})) {
        ranges.push({s: at(opts.start + hl.start), e: at(opts.start + hl.end), cls: "value"});
      }
    }
    // Pieces are cut at s and e, so each lies wholly before, inside or after the highlighted span.
    const pieces = paint(text, ranges, hasSpan ? [s, e] : []);
    let nodes;
    if (hasSpan) {
      const mark = h("mark", {id: "highlight", class: `hl hl-${opts.kind || "quote"}`, tabindex: "-1"},
        pieces.filter((p) => p.s >= s && p.e <= e).map((p) => pieceNode(text, p)));
      nodes = [
        ...pieces.filter((p) => p.e <= s && p.s < s).map((p) => pieceNode(text, p)),
        mark,
        ...pieces.filter((p) => p.s >= e && p.e > e).map((p) => pieceNode(text, p)),
      ];
    } else {
      nodes = pieces.map((p) => pieceNode(text, p));
    }
    ui.doc.classList.toggle("markdown", markdown);
    ui.doc.replaceChildren(...nodes);

    ui.panelTitle.textContent = (home && home.title) || opts.title || (articles[0] && articles[0].title) || doc.source;
    const source = doc.source || opts.source;
    const sub = [h("code", {}, source)];
    if (doc.format && doc.format !== "text") sub.push(` · ${doc.format}`);
    if (home && home.author) sub.push(` · ${home.author}`);
    if (hasSpan) {
      const section = sectionAt(doc, opts.start);
      const page = pageAt(doc, opts.start);
      if (section) sub.push(" · ", h("span", {class: "section-path"}, section));
      if (page !== null) sub.push(" · ", h("span", {class: "page nowrap"}, `p. ${page}`));
      sub.push(" · ", h("span", {class: "nowrap"}, offsets(opts)), " · ",
        h("a", {href: pageLink(source, opts.start, opts.end), class: "permalink", id: "permalink"}, "link"));
    }
    if (outside) sub.push(h("span", {class: "legend"}, " · greyed text was not indexed"));
    if (markdown) {
      sub.push(" · ", h("button", {
        type: "button", class: "link", id: "markup-toggle", "aria-pressed": "false",
        onclick: (ev) => {
          const on = ui.doc.classList.toggle("show-markup");
          ev.currentTarget.setAttribute("aria-pressed", String(on));
        },
      }, "show markup"));
    }
    ui.panelSub.replaceChildren(...sub);

    if (hasSpan && typeof opts.expect === "string" && text.slice(s, e) !== opts.expect) {
      ui.panelSub.append(h("span", {class: "mismatch", role: "note"},
        " · the document text at these offsets differs from the quote (the file may have changed since indexing)"));
    }

    const shown = document.getElementById("highlight");
    if (shown) scrollPanelTo(shown, opts.kind === "article"); else ui.panelBody.scrollTop = 0;
  }

  /** The innermost section (" › "-joined path) containing code point offset `cp`, if the document has sections. */
  function sectionAt(doc, cp) {
    let best = null;
    for (const sec of Array.isArray(doc.sections) ? doc.sections : []) {
      if (!Array.isArray(sec.path) || !(sec.start <= cp && cp < sec.end)) continue;
      if (!best || sec.path.length >= best.path.length) best = sec;
    }
    return best && best.path.length > 1 ? best.path.join(" › ") : "";
  }

  function pageAt(doc, cp) {
    const page = (Array.isArray(doc.pages) ? doc.pages : []).find((p) => p.start <= cp && cp < p.end);
    return page && Number.isInteger(page.page) ? page.page : null;
  }

  /**
   * Cut text[0..len) at every range boundary (and at `cuts`); each piece lists the classes covering it.
   * A sweep over sorted boundaries: linear in the number of ranges, whatever the document size.
   */
  function paint(text, ranges, cuts) {
    const events = [];
    for (const r of ranges) {
      if (r.e > r.s) events.push([r.s, 1, r.cls], [r.e, -1, r.cls]);
    }
    for (const c of cuts) events.push([c, 0, null]);
    events.sort((a, b) => a[0] - b[0]);
    const active = new Map();
    const pieces = [];
    let pos = 0;
    const classes = () => [...active].filter(([, n]) => n > 0).map(([c]) => c).join(" ");
    for (const [at, delta, cls] of events) {
      if (at > pos) { pieces.push({s: pos, e: at, cls: classes()}); pos = at; }
      if (cls) active.set(cls, (active.get(cls) || 0) + delta);
    }
    if (pos < text.length) pieces.push({s: pos, e: text.length, cls: classes()});
    return pieces;
  }

  function pieceNode(text, piece) {
    const content = text.slice(piece.s, piece.e);
    if (!piece.cls) return document.createTextNode(content);
    const words = piece.cls.split(" ");
    return h(words.includes("value") ? "strong" : "span", {class: piece.cls}, content);
  }

  /**
   * Markdown, line by line, as class ranges over the raw text: markup characters get "md-hide" (hidden
   * until "show markup") or "md-dim" (kept, greyed: list bullets, table pipes); headings, code, emphasis
   * and link text get styles. The text itself is never changed, so offsets stay exact.
   */
  function markdownRanges(text) {
    const out = [];
    const add = (s, e, cls) => { if (e > s) out.push({s, e, cls}); };
    let fence = null;
    let pos = 0;
    let prevBlank = true;
    let prev = null;
    while (pos < text.length) {
      let nl = text.indexOf("\n", pos);
      if (nl < 0) nl = text.length;
      const line = text.slice(pos, nl).replace(/\r$/, "");
      const s = pos;
      const e = pos + line.length;
      pos = nl + 1;
      const fenceMatch = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (fenceMatch && fenceMatch[1][0] === fence[0] && fenceMatch[1].length >= fence.length && !line.slice(fenceMatch[0].length).trim()) {
          add(s, e, "md-hide");
          fence = null;
        } else {
          add(s, e, "md-code md-block");
        }
        prev = null;
        continue;
      }
      if (fenceMatch) {
        fence = fenceMatch[1];
        add(s, e, "md-hide");
        prev = null;
        continue;
      }
      const blank = !line.trim();
      let m;
      if ((m = /^( {0,3})(#{1,6})([ \t]+|$)/.exec(line))) {
        add(s, e, `md-h md-h${m[2].length}`);
        add(s + m[1].length, s + m[0].length, "md-hide");
        const closing = /[ \t]+#+[ \t]*$/.exec(line);
        if (closing && closing.index >= m[0].length) add(s + closing.index, e, "md-hide");
        inline(line, s + m[0].length, add);
        prev = null;
      } else if (prev && !prevBlank && (m = /^ {0,3}(=+|-+)[ \t]*$/.exec(line))) {
        add(prev.s, prev.e, `md-h md-h${m[1][0] === "=" ? 1 : 2}`);
        add(s, e, "md-hide");
        prev = null;
      } else if (/^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$/.test(line)) {
        add(s, e, "md-dim");
        prev = null;
      } else if (/^ {0,3}\|?.*\|.*$/.test(line) && /^ {0,3}\|?[ \t]*:?-{2,}/.test(line)) {
        add(s, e, "md-dim");  // a table's separator row
        prev = null;
      } else if (!blank) {
        let body = 0;
        const quote = /^( {0,3}>[ \t]?)+/.exec(line);
        if (quote) { add(s, s + quote[0].length, "md-dim"); body = quote[0].length; }
        const bullet = /^([ \t]*)([-*+]|\d{1,9}[.)])([ \t]+)/.exec(line.slice(body));
        if (bullet) {
          add(s + body + bullet[1].length, s + body + bullet[1].length + bullet[2].length, "md-dim md-bullet");
          body += bullet[0].length;
        }
        if (/^ {0,3}<\/?[A-Za-z][^>]*>?\s*$/.test(line)) add(s, e, "md-hide");  // an HTML block line
        else inline(line.slice(body), s + body, add);
        prev = {s, e};
      } else {
        prev = null;
      }
      prevBlank = blank;
    }
    return out;
  }

  /** Inline Markdown of one line (offset `base` in the text): code, emphasis, links, images, HTML, escapes. */
  function inline(line, base, add) {
    const code = [];
    for (const m of line.matchAll(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g)) {
      const s = base + m.index;
      add(s, s + m[1].length, "md-hide");
      add(s + m[1].length, s + m[0].length - m[1].length, "md-code");
      add(s + m[0].length - m[1].length, s + m[0].length, "md-hide");
      code.push([m.index, m.index + m[0].length]);
    }
    const inCode = (i) => code.some(([a, b]) => a <= i && i < b);
    for (const m of line.matchAll(/(!?)\[([^\]\n]*)\]\(([^)\s]*)(?:\s+"[^"]*")?\)/g)) {
      if (inCode(m.index)) continue;
      const s = base + m.index;
      const textStart = s + m[1].length + 1;
      add(s, textStart, "md-hide");
      add(textStart, textStart + m[2].length, m[1] ? "md-alt" : "md-link");
      add(textStart + m[2].length, s + m[0].length, "md-hide");
    }
    for (const m of line.matchAll(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g)) {
      if (inCode(m.index)) continue;
      const s = base + m.index;
      add(s, s + 2, "md-hide");
      add(s + 2, s + m[0].length - 2, "md-strong");
      add(s + m[0].length - 2, s + m[0].length, "md-hide");
    }
    for (const m of line.matchAll(/(^|[^*\w])\*(?=[^\s*])([^*]*?[^\s*])\*(?![*\w])/g)) {
      const at = m.index + m[1].length;
      if (inCode(at)) continue;
      const s = base + at;
      const len = m[0].length - m[1].length;
      add(s, s + 1, "md-hide");
      add(s + 1, s + len - 1, "md-em");
      add(s + len - 1, s + len, "md-hide");
    }
    for (const m of line.matchAll(/<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?\/?>/g)) {
      if (!inCode(m.index)) add(base + m.index, base + m.index + m[0].length, "md-hide");
    }
    for (const m of line.matchAll(/\\[!-/:-@[-`{-~]/g)) {
      if (!inCode(m.index)) add(base + m.index, base + m.index + 1, "md-hide");
    }
    for (const m of line.matchAll(/\|/g)) {
      if (!inCode(m.index)) add(base + m.index, base + m.index + 1, "md-dim");
    }
  }

  /** Scroll only the panel (never the page) so `mark` is centred, or at the top for whole articles. */
  function scrollPanelTo(mark, top) {
    const body = ui.panelBody.getBoundingClientRect();
    const rect = mark.getBoundingClientRect();
    const margin = 16;
    const offset = top || rect.height > body.height - 2 * margin
      ? rect.top - body.top - margin
      : rect.top - body.top - (body.height - rect.height) / 2;
    ui.panelBody.scrollTop += offset;
  }

  ui.panelClose.addEventListener("click", closePanel);

  // ---------------------------------------------------------------- browse

  let browseLoaded = false;
  let browseController = null;

  /**
   * Load the document list (and the question placeholder drawn from it). With `probe`, the request goes
   * without a key: a 401 then tells that this server has API keys on, so the key control is shown.
   */
  async function loadBrowse(probe) {
    if (browseController) browseController.abort();
    const controller = new AbortController();
    browseController = controller;
    const anonymous = probe === true;
    ui.browseStatus.textContent = "Loading the document list…";
    ui.browseStatus.className = "status busy";
    ui.viewBrowse.setAttribute("aria-busy", "true");
    try {
      const response = await send("documents", {
        headers: anonymous ? {Accept: "application/json"} : requestHeaders(), signal: controller.signal,
      });
      if (!response.ok) throw await errorFrom(response);
      const data = await response.json();
      const documents = Array.isArray(data.documents) ? data.documents : [];
      docCache.clear();
      renderBrowse(documents);
      updatePlaceholder(documents);
      browseLoaded = true;
    } catch (err) {
      if (controller.signal.aborted || (err && err.name === "AbortError")) return;
      ui.browseStatus.textContent = "";
      const denied = err instanceof ApiError && (err.status === 401 || err.status === 403);
      if (denied && anonymous) {
        keysRequired = true;
        refreshKeyState();
        if (storedKey()) {
          browseController = null;
          loadBrowse();
          return;
        }
      }
      ui.docList.replaceChildren(h("li", {class: "error", role: "alert"}, explain(err)));
      if (denied && (!anonymous || currentView() === "browse")) {
        askForKey("This server requires an API key. Enter it and press Save; the list will reload.", loadBrowse);
      }
    } finally {
      if (browseController === controller) {
        browseController = null;
        ui.viewBrowse.removeAttribute("aria-busy");
      }
    }
  }

  function renderBrowse(documents) {
    const articleCount = documents.reduce((n, d) => n + (Array.isArray(d.articles) ? d.articles.length : 0), 0);
    ui.browseStatus.className = "status";
    ui.browseStatus.textContent = documents.length
      ? `${documents.length} document${documents.length === 1 ? "" : "s"}, ${articleCount} article${articleCount === 1 ? "" : "s"}.`
      : "";
    if (!documents.length) {
      ui.docList.replaceChildren(h("li", {class: "hint", id: "browse-empty"},
        "No documents are indexed yet. Add some above, or run “verbatim ingest” (or wait for the first start to finish) and reload."));
      return;
    }
    ui.docList.replaceChildren(...documents.map((doc) => {
      const articles = Array.isArray(doc.articles) ? doc.articles : [];
      const name = (articles[0] && articles[0].title) || doc.source;
      const search = [doc.source, ...articles.flatMap((a) => [a.title, a.author])].filter(Boolean).join(" ").toLowerCase();
      const facts = [];
      if (doc.format) facts.push(String(doc.format));
      const sections = Array.isArray(doc.sections) ? doc.sections.length
        : Number.isInteger(doc.sections) ? doc.sections : null;
      if (sections !== null) facts.push(`${sections} section${sections === 1 ? "" : "s"}`);
      facts.push(`${articles.length} article${articles.length === 1 ? "" : "s"}`);
      if (Number.isInteger(doc.pages)) facts.push(`${doc.pages} page${doc.pages === 1 ? "" : "s"}`);
      return h("li", {class: "doc-item", dataset: {search, source: doc.source}},
        h("div", {class: "doc-head"},
          h("h2", {class: "doc-name"}, name),
          h("div", {class: "doc-actions"},
            h("button", {
              type: "button", class: "link open-doc",
              onclick: (e) => openDocument({source: doc.source, title: name, opener: e.currentTarget}),
              "aria-label": `Open the whole document ${doc.source}`,
            }, "Open document"),
            h("button", {
              type: "button", class: "link danger delete",
              onclick: (e) => deleteDocument(doc.source, e.currentTarget),
              "aria-label": `Delete ${doc.source}`,
            }, "Delete"))),
        h("p", {class: "source"}, h("code", {}, doc.source), ` · ${facts.join(" · ")}`),
        articles.length ? h("ul", {class: "articles"}, articles.map((a) => h("li", {},
          h("button", {
            type: "button", class: "cite-open",
            onclick: (e) => openDocument({
              source: doc.source, start: a.start, end: a.end, title: a.title, kind: "article",
              opener: e.currentTarget,
            }),
          }, a.title || "(untitled article)"),
          h("span", {class: "byline"}, [a.author, a.date].filter(Boolean).join(" · "))))) : null);
    }));
    applyFilter();
  }

  function applyFilter() {
    const words = ui.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const item of ui.docList.querySelectorAll(".doc-item")) {
      const ok = words.every((w) => item.dataset.search.includes(w));
      item.hidden = !ok;
      if (ok) shown += 1;
    }
    if (words.length) ui.browseStatus.textContent = `${shown} matching document${shown === 1 ? "" : "s"}.`;
  }

  ui.filter.addEventListener("input", applyFilter);
  ui.browseReload.addEventListener("click", () => loadBrowse());

  // ---------------------------------------------------------------- placeholder questions

  const DEFAULT_PLACEHOLDER = ui.question.getAttribute("placeholder");

  /** A placeholder about what is actually indexed: a section or article title picked at random. */
  function updatePlaceholder(documents) {
    const titles = [];
    for (const doc of documents) {
      for (const a of Array.isArray(doc.articles) ? doc.articles : []) titles.push(a.title);
      for (const sec of Array.isArray(doc.sections) ? doc.sections : []) {
        if (sec && Array.isArray(sec.path) && sec.path.length) titles.push(sec.path[sec.path.length - 1]);
      }
    }
    const usable = [...new Set(titles.map((t) => String(t || "").replace(/\s+/g, " ").trim()))]
      .filter((t) => t.length >= 3 && t.length <= 90 && /\p{L}/u.test(t));
    if (!usable.length) {
      ui.question.setAttribute("placeholder", documents.length ? DEFAULT_PLACEHOLDER
        : "No documents yet: add some under Documents, then ask about them");
      return;
    }
    const pick = usable[Math.floor(Math.random() * usable.length)];
    ui.question.setAttribute("placeholder", `e.g. What do the documents say about “${pick}”?`);
  }

  // ---------------------------------------------------------------- delete

  async function deleteDocument(source, button) {
    if (!window.confirm(`Delete “${source}”? It is removed from the index, and its file too if it was uploaded here.`)) {
      return;
    }
    button.disabled = true;
    ui.browseStatus.className = "status busy";
    ui.browseStatus.textContent = `Deleting ${source}…`;
    try {
      const response = await send(`documents/${sourcePath(source)}`, {method: "DELETE", headers: requestHeaders()});
      if (!response.ok) throw await errorFrom(response);
      docCache.delete(source);
      await loadBrowse();
      ui.browseStatus.className = "status";
      ui.browseStatus.textContent = `Deleted ${source}.`;
    } catch (err) {
      button.disabled = false;
      ui.browseStatus.className = "status warn";
      ui.browseStatus.textContent = `Could not delete ${source}: ${explain(err)}`;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        askForKey("Deleting needs the admin API key. Enter it and press Save.", () => deleteDocument(source, button));
      }
    }
  }

  // ---------------------------------------------------------------- upload

  const OUTCOME_TEXT = {
    indexed: "Indexed",
    unchanged: "Unchanged (already indexed)",
    skipped: "Skipped",
    failed: "Failed",
  };
  let uploadQueue = Promise.resolve();

  function uploadFiles(fileList) {
    const files = [...fileList];
    if (!files.length) return;
    for (const file of files) {
      const bar = h("progress", {max: "100", value: "0", "aria-label": `Upload of ${file.name}`});
      const state = h("span", {class: "upload-state"}, "Waiting…");
      const item = h("li", {class: "upload-item", dataset: {name: file.name, outcome: "pending"}},
        h("span", {class: "upload-name"}, file.name), h("span", {class: "upload-size"}, sizeText(file.size)), bar, state);
      ui.uploadList.append(item);
      uploadQueue = uploadQueue.then(() => uploadOne(file, {item, bar, state}));
    }
    uploadQueue = uploadQueue.then(() => loadBrowse());
  }

  function sizeText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function settle(row, outcome, text) {
    row.item.dataset.outcome = outcome;
    row.state.textContent = text;
    row.bar.hidden = true;
  }

  /** One file, one request: its own byte progress, and a 413/415 that names this file alone. */
  function uploadOne(file, row) {
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("files", file, file.name);
      const folder = ui.uploadFolder.value.trim();
      if (folder) form.append("folder", folder);
      if (ui.uploadOverwrite.checked) form.append("overwrite", "true");
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "documents");
      for (const [name, value] of Object.entries(requestHeaders())) xhr.setRequestHeader(name, value);
      row.state.textContent = "Uploading…";
      xhr.upload.addEventListener("progress", (ev) => {
        if (!ev.lengthComputable) return;
        const pct = Math.round((100 * ev.loaded) / ev.total);
        row.bar.value = pct;
        row.state.textContent = `Uploading… ${pct} %`;
      });
      xhr.addEventListener("error", () => {
        settle(row, "failed", "Failed: could not reach the Verbatim server.");
        resolve();
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status < 200 || xhr.status >= 300) {
          const detail = formatDetail(body && typeof body === "object" && "detail" in body ? body.detail : xhr.responseText);
          const err = new ApiError(xhr.status, detail, xhr.getResponseHeader("retry-after"));
          if (xhr.status === 401 || xhr.status === 403) {
            settle(row, "failed", `Refused (${xhr.status}): ${detail || "an API key is needed"}`);
            askForKey("Uploading needs the admin API key. Enter it and press Save; the file will be sent again.",
              () => retryUpload(file, row));
          } else if (xhr.status === 413 || xhr.status === 415) {
            settle(row, "failed", `Refused (${xhr.status}): ${detail}`);
          } else {
            settle(row, "failed", `Failed: ${explain(err)}`);
          }
          resolve();
          return;
        }
        row.bar.value = 100;
        const job = body && body.job;
        const sent = body && Array.isArray(body.files) ? body.files : [];
        const source = sent.length && sent[0].source ? sent[0].source : null;
        if (source) row.item.dataset.source = source;
        if (!job) {
          settle(row, "indexed", OUTCOME_TEXT.indexed);
          resolve();
          return;
        }
        row.bar.removeAttribute("value");  // indeterminate while the server indexes
        row.state.textContent = "Indexing…";
        pollJob(job, source, row).then(resolve);
      });
      xhr.send(form);
    });
  }

  function retryUpload(file, row) {
    row.bar.hidden = false;
    row.bar.value = 0;
    row.item.dataset.outcome = "pending";
    uploadQueue = uploadQueue.then(() => uploadOne(file, row)).then(() => loadBrowse());
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** Poll GET jobs/{id} until it is done or failed; show this file's outcome and reason. */
  async function pollJob(job, source, row) {
    let wait = 250;
    for (;;) {
      let data;
      try {
        data = await getJSON(`jobs/${encodeURIComponent(job)}`);
      } catch (err) {
        settle(row, "failed", `Failed: ${explain(err)}`);
        return;
      }
      const files = Array.isArray(data.files) ? data.files : [];
      const mine = files.find((f) => f.source === source) || (files.length === 1 ? files[0] : null);
      if (data.state === "done" || data.state === "failed" || (mine && mine.outcome && data.state !== "running" && data.state !== "queued")) {
        const outcome = mine && OUTCOME_TEXT[mine.outcome] ? mine.outcome : data.state === "failed" ? "failed" : "indexed";
        const reason = (mine && mine.reason) || (outcome === "failed" && data.reason) || "";
        settle(row, outcome, reason ? `${OUTCOME_TEXT[outcome]}: ${reason}` : OUTCOME_TEXT[outcome]);
        return;
      }
      if (Number.isInteger(data.total) && data.total > 0) {
        row.state.textContent = `Indexing… ${data.done || 0}/${data.total}`;
      }
      await sleep(wait);
      wait = Math.min(wait * 1.5, 2000);
    }
  }

  ui.uploadInput.addEventListener("change", () => {
    uploadFiles(ui.uploadInput.files);
    ui.uploadInput.value = "";
  });
  for (const name of ["dragenter", "dragover"]) {
    ui.drop.addEventListener(name, (ev) => {
      ev.preventDefault();
      ui.drop.classList.add("over");
    });
  }
  ui.drop.addEventListener("dragleave", () => ui.drop.classList.remove("over"));
  ui.drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    ui.drop.classList.remove("over");
    if (ev.dataTransfer) uploadFiles(ev.dataTransfer.files);
  });
  // A file dropped beside the drop area must not replace the page with the file.
  window.addEventListener("dragover", (ev) => ev.preventDefault());
  window.addEventListener("drop", (ev) => ev.preventDefault());

  // ---------------------------------------------------------------- views, URL, keyboard

  function showView(name, moveFocus) {
    const browse = name === "browse";
    ui.viewAsk.hidden = browse;
    ui.viewBrowse.hidden = !browse;
    ui.tabAsk.toggleAttribute("aria-current", !browse);
    ui.tabBrowse.toggleAttribute("aria-current", browse);
    if (ui.tabAsk.hasAttribute("aria-current")) ui.tabAsk.setAttribute("aria-current", "page");
    if (ui.tabBrowse.hasAttribute("aria-current")) ui.tabBrowse.setAttribute("aria-current", "page");
    document.title = browse ? "Documents — Verbatim" : "Verbatim — answers quoted from your documents";
    if (browse && !browseLoaded && !browseController) loadBrowse();
    if (moveFocus) (browse ? document.getElementById("browse-heading") : ui.question).focus();
  }

  function currentView() {
    return location.hash === "#browse" ? "browse" : "ask";
  }

  /** A citation link (#/doc/{source}?start=&end=): the ask view with that span open in the panel. */
  function followDocRoute() {
    const route = parseDocRoute(location.hash);
    if (!route) return false;
    showView("ask", false);
    openDocument({
      source: route.source, start: route.start, end: route.end, title: route.source,
      kind: route.start === null ? "article" : "quote", opener: ui.question,
    });
    return true;
  }

  function rememberQuestion(question) {
    try {
      const url = new URL(location.href);
      url.searchParams.set("q", question);
      history.replaceState(history.state, "", url);
    } catch { /* file: URLs and the like */ }
  }

  window.addEventListener("hashchange", () => {
    if (location.hash === "#ask" || location.hash === "#browse" || location.hash === "") {
      showView(currentView(), true);
    } else {
      followDocRoute();
    }
  });

  ui.askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });

  ui.question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
      event.preventDefault();
      ask();
    }
  });
  ui.question.addEventListener("input", updateCount);

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      if (ui.keyBox.open) {
        ui.keyBox.open = false;
        ui.keyBox.querySelector("summary").focus();
      } else if (document.body.classList.contains("panel-open")) {
        event.preventDefault();
        closePanel();
      }
      return;
    }
    const target = event.target;
    const typing = target instanceof HTMLElement &&
      (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      if (currentView() !== "ask") location.hash = "#ask";
      ui.question.focus();
    }
  });

  // ---------------------------------------------------------------- start

  refreshKeyState();
  setPanelOpen(false);
  loadBrowse(true);  // the list, the placeholder, and whether this server wants a key
  const linked = parseDocRoute(location.hash) !== null;
  if (!linked) showView(currentView(), false);
  const initial = new URLSearchParams(location.search).get("q");
  if (initial && !linked) {
    ui.question.value = initial;
    updateCount();
    if (currentView() === "ask") ask();
  } else if (currentView() === "ask" && !linked) {
    ui.question.focus();
  }
  if (linked) followDocRoute();

  // For tests and debugging: the last answer received.
  window.verbatim = {lastResponse: () => lastResponse, codePointIndex, markdownRanges, parseDocRoute, pageLink};
})();
