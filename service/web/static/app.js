/* Verbatim web page: ask, read the quotes in context, browse the documents.
 * Plain JavaScript, no build step, no dependencies. Talks only to its own origin:
 *   POST ask             -> JSON answer, or server-sent events (delta..., final) when a model streams
 *   GET  documents       -> {"documents": [{source, articles: [{title, author, date, start, end}]}]}
 *   GET  documents/{src} -> {source, articles, text}
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

  function documentUrl(source, start, end) {
    const path = String(source).split("/").map(encodeURIComponent).join("/");
    const query = Number.isInteger(start) && Number.isInteger(end) ? `?start=${start}&end=${end}` : "";
    return `documents/${path}${query}`;
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

  function refreshKeyState() {
    ui.keyState.textContent = storedKey() ? "API key ✓" : "API key";
  }

  function askForKey(message, retry) {
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

  /** "file.txt · characters a–b" under a quote or passage. */
  function sourceLine(item) {
    return h("span", {class: "source"}, h("code", {}, item.source), " · ", h("span", {class: "nowrap"}, offsets(item)));
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
    const heading = h("h2", {class: "answer-h", id: "answer-heading", tabindex: "-1"},
      abstained ? "Not found in the documents" : empty ? "No answer" : "Answer");

    const total = data.timings_ms && Number(data.timings_ms.total);
    const meta = h("p", {class: "meta"},
      data.backend ? `${data.backend} backend` : "",
      Number.isFinite(total) ? ` · ${Math.round(total)} ms` : "",
      citations.length ? ` · ${citations.length} quote${citations.length === 1 ? "" : "s"}` : "");

    const article = h("article", {
      class: `answer${abstained ? " abstained" : ""}${empty ? " empty" : ""}`,
      id: "answer", "aria-labelledby": "answer-heading",
      dataset: {abstained: String(abstained)},
    }, heading, answerText(data.answer, citations), meta);

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
        h("blockquote", {class: "quote-text"}, cite.quote),
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
      expect: cite.quote, kind: "quote", opener,
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

  function closePanel() {
    panelSeq += 1;
    setPanelOpen(false);
    ui.doc.hidden = true;
    ui.doc.replaceChildren();
    ui.panelEmpty.hidden = false;
    ui.panelTitle.textContent = "Sources open here";
    ui.panelSub.textContent = "";
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
    const outside = {any: false};

    const nodes = [];
    if (hasSpan) {
      nodes.push(...segments(text, 0, s, articles, outside));
      const mark = h("mark", {id: "highlight", class: `hl hl-${opts.kind || "quote"}`, tabindex: "-1"}, text.slice(s, e));
      nodes.push(mark, ...segments(text, e, text.length, articles, outside));
    } else {
      nodes.push(...segments(text, 0, text.length, articles, outside));
    }
    ui.doc.replaceChildren(...nodes);

    ui.panelTitle.textContent = (home && home.title) || opts.title || (articles[0] && articles[0].title) || doc.source;
    const sub = [h("code", {}, doc.source || opts.source)];
    if (home && home.author) sub.push(` · ${home.author}`);
    if (hasSpan) sub.push(" · ", h("span", {class: "nowrap"}, offsets(opts)));
    if (outside.any) sub.push(h("span", {class: "legend"}, " · greyed text was not indexed"));
    ui.panelSub.replaceChildren(...sub);

    if (hasSpan && typeof opts.expect === "string" && text.slice(s, e) !== opts.expect) {
      ui.panelSub.append(h("span", {class: "mismatch", role: "note"},
        " · the document text at these offsets differs from the quote (the file may have changed since indexing)"));
    }

    const mark = document.getElementById("highlight");
    if (mark) scrollPanelTo(mark, opts.kind === "article"); else ui.panelBody.scrollTop = 0;
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

  /** Text between UTF-16 indices a..b, with spans outside every article wrapped (they were not indexed). */
  function segments(text, a, b, articles, outside) {
    if (a >= b) return [];
    if (!articles.length) return [text.slice(a, b)];
    const out = [];
    let pos = a;
    for (const art of articles) {
      if (art.e <= pos) continue;
      if (art.s >= b) break;
      if (art.s > pos) {
        out.push(h("span", {class: "outside"}, text.slice(pos, art.s)));
        outside.any = true;
        pos = art.s;
      }
      const stop = Math.min(art.e, b);
      if (stop > pos) { out.push(text.slice(pos, stop)); pos = stop; }
      if (pos >= b) break;
    }
    if (pos < b) {
      out.push(h("span", {class: "outside"}, text.slice(pos, b)));
      outside.any = true;
    }
    return out;
  }

  ui.panelClose.addEventListener("click", closePanel);

  // ---------------------------------------------------------------- browse

  let browseLoaded = false;
  let browseController = null;

  async function loadBrowse() {
    if (browseController) browseController.abort();
    const controller = new AbortController();
    browseController = controller;
    ui.browseStatus.textContent = "Loading the document list…";
    ui.browseStatus.className = "status busy";
    ui.viewBrowse.setAttribute("aria-busy", "true");
    try {
      const data = await getJSON("documents", controller.signal);
      const documents = Array.isArray(data.documents) ? data.documents : [];
      docCache.clear();
      renderBrowse(documents);
      browseLoaded = true;
    } catch (err) {
      if (controller.signal.aborted || (err && err.name === "AbortError")) return;
      ui.browseStatus.textContent = "";
      ui.docList.replaceChildren(h("li", {class: "error", role: "alert"}, explain(err)));
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
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
        "No documents are indexed yet. Run “verbatim ingest” (or wait for the first start to finish) and reload."));
      return;
    }
    ui.docList.replaceChildren(...documents.map((doc) => {
      const articles = Array.isArray(doc.articles) ? doc.articles : [];
      const name = (articles[0] && articles[0].title) || doc.source;
      const search = [doc.source, ...articles.flatMap((a) => [a.title, a.author])].filter(Boolean).join(" ").toLowerCase();
      return h("li", {class: "doc-item", dataset: {search, source: doc.source}},
        h("div", {class: "doc-head"},
          h("h2", {class: "doc-name"}, name),
          h("button", {
            type: "button", class: "link",
            onclick: (e) => openDocument({source: doc.source, title: name, opener: e.currentTarget}),
            "aria-label": `Open the whole document ${doc.source}`,
          }, "Open document")),
        h("p", {class: "source"}, h("code", {}, doc.source),
          ` · ${articles.length} article${articles.length === 1 ? "" : "s"}`),
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
  ui.browseReload.addEventListener("click", loadBrowse);

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
  showView(currentView(), false);
  const initial = new URLSearchParams(location.search).get("q");
  if (initial) {
    ui.question.value = initial;
    updateCount();
    if (currentView() === "ask") ask();
  } else if (currentView() === "ask") {
    ui.question.focus();
  }

  // For tests and debugging: the last answer received.
  window.verbatim = {lastResponse: () => lastResponse, codePointIndex};
})();
