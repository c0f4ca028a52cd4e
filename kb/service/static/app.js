// medkb's page: asks /v1/chat/completions (streamed), shows the draft, then the verified answer with its evidence.
"use strict";

const LABELS = {
  en: {
    notice: "Answers come from the indexed literature, for information only: not medical advice. Check the cited sources.",
    question: "Ask a question about diagnosis, treatment or a drug", send: "Ask", new: "New conversation",
    patient: "Patient", age: "Age", sex: "Sex", pregnant: "Pregnant", breastfeeding: "Breastfeeding",
    allergies: "Allergies", medications: "Medications", conditions: "Conditions",
    draft: "Draft (being checked against the passages):", searched: "Searched as:", sources: "Sources",
    closest: "Not enough evidence to answer. Closest sources:", copy: "Copy as Markdown", copied: "Copied",
    warnings: "Drug warnings for this patient:", weak: "weakly supported by its source", busy: "Busy: try again in",
    chars: "chars", error: "Error", references: "References", thinking: "Searching and drafting...",
  },
  zh: {
    notice: "回答来自已收录的文献，仅供参考，不构成医疗建议。请核对引用来源。",
    question: "请输入关于诊断、治疗或药物的问题", send: "提问", new: "新对话",
    patient: "患者", age: "年龄", sex: "性别", pregnant: "怀孕", breastfeeding: "哺乳",
    allergies: "过敏", medications: "用药", conditions: "疾病",
    draft: "草稿（正在与文献核对）：", searched: "检索问题：", sources: "来源",
    closest: "证据不足，无法回答。最接近的来源：", copy: "复制为 Markdown", copied: "已复制",
    warnings: "该患者的药物警示：", weak: "来源支持较弱", busy: "服务繁忙，请稍后重试：",
    chars: "字符", error: "错误", references: "参考文献", thinking: "正在检索和起草……",
  },
};

const $ = (id) => document.getElementById(id);
const messages = [];
let lang = "en";

function isChinese(text) { return /[\u4e00-\u9fff]/.test(text); }

function setLanguage(next) {
  lang = next;
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-label]")) el.textContent = LABELS[lang][el.dataset.label];
  $("question").placeholder = LABELS[lang].question;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value; else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function list(value) { return value.split(",").map((s) => s.trim()).filter(Boolean); }

function patient() {
  const p = {
    age: $("p-age").value === "" ? null : Number($("p-age").value),
    sex: $("p-sex").value || null,
    pregnant: $("p-pregnant").checked ? true : null,
    breastfeeding: $("p-breastfeeding").checked ? true : null,
    allergies: list($("p-allergies").value), medications: list($("p-medications").value),
    conditions: list($("p-conditions").value),
  };
  const given = p.age !== null || p.sex || p.pregnant || p.breastfeeding || p.allergies.length
    || p.medications.length || p.conditions.length;
  return given ? p : null;
}

// Text with its [n] markers as buttons that open the cited passage.
function withMarkers(text, citations) {
  const span = el("span");
  let at = 0;
  for (const m of text.matchAll(/\[(\d+)\]/g)) {
    span.append(text.slice(at, m.index));
    const citation = citations.find((c) => c.marker === Number(m[1]));
    if (citation) {
      span.append(el("button", { class: "marker", type: "button", "data-marker": m[1],
        onclick: () => openSource(citation.doc_id, citation.start, citation.end, citation.title) }, `[${m[1]}]`));
    } else span.append(m[0]);
    at = m.index + m[0].length;
  }
  span.append(text.slice(at));
  return span;
}

function sourceLine(title, pmid, doi, url, section, start, end) {
  const ids = [["PMID", pmid], ["DOI", doi], ["URL", url]].filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
  return `${title}${ids.length ? ` (${ids.join(", ")})` : ""}, ${section || "text"}, ${LABELS[lang].chars} ${start}-${end}`;
}

async function openSource(docId, start, end, title) {
  const panel = $("source");
  const response = await fetch(`/v1/documents/${encodeURIComponent(docId)}`);
  const body = await response.json();
  if (!response.ok) { $("source-text").textContent = body.error ? body.error.message : response.statusText; return; }
  $("source-title").textContent = body.title || title || docId;
  const ids = ["pmid", "doi", "url"].map((k) => body.metadata[k] ? `${k.toUpperCase()} ${body.metadata[k]}` : "").filter(Boolean);
  $("source-meta").textContent = [body.source, ...ids].join(" · ");
  const text = $("source-text");
  text.replaceChildren(body.text.slice(0, start), el("mark", { id: "cited" }, body.text.slice(start, end)),
    body.text.slice(end));
  panel.hidden = false;
  $("cited").scrollIntoView({ block: "center" });
}

function markdown(question, medkb) {
  const refs = medkb.citations.map((c) => `[${c.marker}] ${sourceLine(c.title, c.pmid, c.doi, c.url, c.section, c.start, c.end)}`);
  const warnings = medkb.drug_warnings.map((w) => `> **${w.drug}**: ${w.message}`);
  return [`**Q:** ${question}`, "", ...(warnings.length ? [...warnings, ""] : []), medkb.answer,
    ...(refs.length ? ["", `**${LABELS[lang].references}**`, "", ...refs] : []), "", `_${medkb.notice}_`].join("\n");
}

function renderAnswer(turn, question, medkb) {
  const L = LABELS[lang];
  turn.querySelector(".draft")?.remove();
  if (medkb.standalone_question) turn.querySelector(".searched").textContent = `${L.searched} ${medkb.standalone_question}`;
  if (medkb.drug_warnings.length) {
    turn.append(el("div", { class: "warnings" }, el("strong", {}, L.warnings),
      el("ul", {}, ...medkb.drug_warnings.map((w) => el("li", { class: w.kind === "not checked" ? "not-checked" : "" },
        w.message)))));
  }
  const answer = el("div", { class: "answer" + (medkb.abstained ? " abstained" : "") });
  if (medkb.sentences.length && !medkb.abstained) {
    for (const sentence of medkb.sentences) {
      const weak = sentence.support < medkb.weak_support_below;
      const node = el("span", { class: weak ? "sentence weak" : "sentence" }, withMarkers(sentence.text, medkb.citations));
      if (weak) node.title = `${L.weak} (${sentence.support.toFixed(2)})`;
      answer.append(node, " ");
    }
  } else answer.append(withMarkers(medkb.answer, medkb.citations));
  turn.append(answer);
  if (medkb.citations.length) {
    turn.append(el("ol", { class: "sources" }, ...medkb.citations.map((c) => el("li", { value: c.marker },
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); openSource(c.doc_id, c.start, c.end, c.title); } },
        sourceLine(c.title, c.pmid, c.doi, c.url, c.section, c.start, c.end))))));
  } else if (medkb.abstained && medkb.evidence.length) {
    turn.append(el("p", { class: "closest" }, L.closest), el("ul", { class: "sources closest-sources" },
      ...medkb.evidence.slice(0, 3).map((h) => el("li", {}, el("a", { href: "#",
        onclick: (e) => { e.preventDefault(); openSource(h.doc_id, h.start, h.end, h.title); } },
        sourceLine(h.title || h.source, h.pmid, h.doi, h.url, h.section, h.start, h.end))))));
  }
  const text = markdown(question, medkb);
  const copy = el("button", { type: "button", class: "copy", onclick: async () => {
    try { await navigator.clipboard.writeText(text); } catch (_) {
      const area = el("textarea"); area.value = text; document.body.append(area); area.select();
      document.execCommand("copy"); area.remove();
    }
    copy.textContent = L.copied;
  } }, L.copy);
  copy.dataset.markdown = text;
  turn.append(el("div", { class: "actions" }, copy));
  turn.medkb = medkb;  // the answer's evidence, for scripts and tests reading the page
  turn.dataset.state = medkb.abstained ? "abstained" : "answered";
}

async function ask(question) {
  setLanguage(isChinese(question) ? "zh" : "en");
  const L = LABELS[lang];
  const draft = el("div", { class: "draft", "data-heading": L.draft }, L.thinking);
  const turn = el("div", { class: "turn", "data-state": "drafting" }, el("div", { class: "q" }, question),
    el("div", { class: "searched" }), draft);
  $("conversation").append(turn);
  turn.scrollIntoView({ block: "end" });
  const body = { model: "medkb", stream: true, messages: [...messages, { role: "user", content: question }] };
  const p = patient();
  if (p) body.medkb = { patient: p };
  let content = "";
  let started = false;
  try {
    const response = await fetch("/v1/chat/completions", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) {
      const error = await response.json().catch(() => ({}));
      const message = error.error ? error.error.message : response.statusText;
      const retry = response.headers.get("Retry-After");
      throw new Error(response.status === 503 ? `${L.busy} ${retry} s` : message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, cut).replace(/^data: /, "");
        buffer = buffer.slice(cut + 2);
        if (line === "[DONE]") continue;
        const chunk = JSON.parse(line);
        if (chunk.error) throw new Error(chunk.error.message);
        const delta = chunk.choices[0].delta;
        if (chunk.medkb && chunk.medkb.draft !== undefined) {
          if (!started) { draft.textContent = ""; started = true; turn.dataset.drafted = "yes"; }
          draft.textContent += chunk.medkb.draft;
        }
        if (delta.content) content += delta.content;
        if (chunk.choices[0].finish_reason === "stop" && chunk.medkb) renderAnswer(turn, question, chunk.medkb);
      }
    }
    messages.push({ role: "user", content: question }, { role: "assistant", content });
  } catch (error) {
    draft.remove();
    turn.append(el("p", { class: "error" }, `${L.error}: ${error.message}`));
    turn.dataset.state = "error";
  }
}

$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("question").value = "";
  ask(question);
});
$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("ask").requestSubmit(); }
});
$("new").addEventListener("click", () => { messages.length = 0; $("conversation").replaceChildren(); $("source").hidden = true; });
$("source-close").addEventListener("click", () => { $("source").hidden = true; });
