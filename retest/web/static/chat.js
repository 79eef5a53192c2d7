// retest chat page: post a message, stream its progress over server-sent events, show the reply.
// User and paper text is only ever set with textContent; reply HTML comes from the server's
// autoescaped templates.
(function () {
  "use strict";
  const log = document.getElementById("log");
  const form = document.getElementById("chat");
  const input = document.getElementById("message");
  const send = document.getElementById("send");

  function add(cls, text) {
    const div = document.createElement("div");
    div.className = "msg " + cls;
    if (text !== undefined) {
      const pre = document.createElement("pre");
      pre.className = "text";
      pre.textContent = text;
      div.appendChild(pre);
    }
    log.appendChild(div);
    div.scrollIntoView({ block: "end" });
    return div;
  }

  function busy(on) {
    send.disabled = on;
    input.disabled = on;
    if (!on) input.focus();
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    add("user", message);
    input.value = "";
    busy(true);
    let resp;
    try {
      resp = await fetch("/api/chat", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ message: message }),
      });
    } catch (err) {
      add("assistant error", "could not reach the server: " + err);
      busy(false);
      return;
    }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      add("assistant error", body.error || body.detail || ("error " + resp.status));
      busy(false);
      return;
    }
    const box = add("progress");
    const title = document.createElement("div");
    title.className = "progress-title";
    title.textContent = "working…";
    box.appendChild(title);
    const list = document.createElement("ol");
    box.appendChild(list);
    const es = new EventSource(body.events);
    es.addEventListener("progress", function (ev) {
      const d = JSON.parse(ev.data);
      const li = document.createElement("li");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = d.claim || "run";
      const step = document.createElement("span");
      step.className = "step step-" + String(d.step).replace(/[^a-z]/gi, "");
      step.textContent = d.step;
      const detail = document.createElement("span");
      detail.className = "detail";
      detail.textContent = d.detail;
      li.append(who, " ", step, " ", detail);
      list.appendChild(li);
      title.textContent = "re-testing… " + d.step;
      li.scrollIntoView({ block: "end" });
    });
    es.addEventListener("reply", function (ev) {
      const d = JSON.parse(ev.data);
      const div = add("assistant reply kind-" + String(d.kind).replace(/[^a-z]/gi, ""));
      div.innerHTML = d.html; // rendered by the server with autoescape on
      title.textContent = list.children.length ? "done (" + list.children.length + " steps)" : "done";
      if (!list.children.length) box.remove();
    });
    es.addEventListener("failed", function (ev) {
      const d = JSON.parse(ev.data);
      add("assistant error", d.error);
      title.textContent = "failed";
    });
    es.addEventListener("done", function () {
      es.close();
      busy(false);
    });
  });
})();
