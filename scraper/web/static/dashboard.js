// Live dashboard: polls the JSON API every 1.5 s while the tab is visible.
// Everything from the server is inserted with textContent, never as HTML.
(function () {
  "use strict";

  var POLL_MS = 1500;
  var FINAL = ["completed", "failed", "cancelled"];

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function humanBytes(n) {
    var units = ["B", "KiB", "MiB", "GiB"];
    var size = Number(n) || 0;
    for (var i = 0; i < units.length; i++) {
      if (size < 1024 || i === units.length - 1) {
        return i === 0 ? size.toFixed(0) + " B" : size.toFixed(1) + " " + units[i];
      }
      size /= 1024;
    }
    return size.toFixed(1) + " GiB";
  }

  function when(iso) {
    return iso ? iso.slice(0, 19).replace("T", " ") + " UTC" : "\u2014";
  }

  function setText(root, selector, value) {
    var el = root.querySelector(selector);
    if (el) { el.textContent = value; }
  }

  // Fill one job row (dashboard list or job page) from a job document.
  function fillJob(root, job) {
    root.className = root.className.replace(/\bstatus-\w+/g, "").trim() + " status-" + job.status;
    setText(root, ".job-query", job.query);
    setText(root, ".job-status", job.status);
    setText(root, ".job-percent", job.progress + " %");
    setText(root, ".job-items", job.downloaded + " / " + job.max_content + (root.tagName === "TR" ? "" : " items"));
    setText(root, ".job-bytes", humanBytes(job.bytes));
    setText(root, ".job-message", job.message || "");
    var bar = root.querySelector(".job-bar");
    if (bar) { bar.value = job.progress; bar.textContent = job.progress + " %"; }
    var storage = root.querySelector(".job-storage");
    if (storage) { storage.hidden = job.storage !== "fallback"; }
    var db = root.querySelector(".job-storage-db");
    if (db) { db.hidden = job.storage === "fallback"; }
    var time = root.querySelector(".job-ago");
    if (time) {
      time.setAttribute("datetime", job.created_at || "");
      time.title = when(job.created_at);
      time.textContent = ago(job.created_at);
    }
    setText(root, ".job-error-summary", job.error_summary || "");
    setText(root, ".job-pace", pace(job));
  }

  // The same words as the `ago` template filter: "just now", "5 min ago", "3 h ago", "2 d ago".
  function ago(iso, now) {
    if (!iso) { return "\u2014"; }
    var seconds = ((now || Date.now()) - Date.parse(iso)) / 1000;
    if (seconds < 45) { return "just now"; }
    if (seconds < 90 * 60) { return Math.max(1, Math.round(seconds / 60)) + " min ago"; }
    if (seconds < 36 * 3600) { return Math.round(seconds / 3600) + " h ago"; }
    return Math.round(seconds / 86400) + " d ago";
  }

  function duration(s) {
    if (s === null || s === undefined) { return ""; }
    s = Math.floor(s);
    var m = Math.floor(s / 60), h = Math.floor(m / 60);
    if (h) { return h + " h " + (m % 60) + " min"; }
    return m ? m + " min " + (s % 60) + " s" : s + " s";
  }

  function pace(job) {
    var parts = [];
    if (job.rate_per_second) { parts.push(job.rate_per_second + " items/s"); }
    if (job.elapsed_seconds !== null && job.elapsed_seconds !== undefined) { parts.push(duration(job.elapsed_seconds) + " elapsed"); }
    if (job.eta_seconds !== null && job.eta_seconds !== undefined) { parts.push("ETA " + duration(job.eta_seconds)); }
    return parts.join(" \u00b7 ");
  }

  function poller(fn) {
    var timer = null;
    function tick() {
      timer = null;
      if (document.hidden) { return; }
      fn().catch(function () { /* keep polling through a blip */ }).then(schedule);
    }
    function schedule() {
      if (timer === null && !document.hidden) { timer = window.setTimeout(tick, POLL_MS); }
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { if (timer !== null) { window.clearTimeout(timer); timer = null; } tick(); }
    });
    schedule();
    return tick;
  }

  // A 503 carries {"error": "database_unavailable", "message"}: say so instead of going quiet.
  // A 503 "server_busy" (or a 429: too many reads of this user) is no outage: the next poll
  // tries again.
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 503) {
          return r.json().then(function (body) {
            if (body.error !== "server_busy") { showOutage(body.message); }
            throw new Error("503");
          });
        }
        if (!r.ok) { throw new Error(r.status); }
        showOutage(null);
        return r.json();
      });
  }

  function showOutage(message) {
    var el = document.getElementById("outage");
    if (!el && message) {
      el = document.createElement("div");
      el.id = "outage";
      el.className = "banner";
      el.setAttribute("role", "alert");
      document.querySelector("main").prepend(el);
    }
    if (el) {
      el.hidden = !message;
      el.textContent = "";
      if (message) { appendCode(el, "Database unavailable: " + message); }
    }
    if (message) { healthOutage(message); }
  }

  // Under the outage banner the Health panel must not stay green: its database line fails,
  // the others are marked as last known (they cannot be refreshed without the database).
  function healthOutage(message) {
    var ul = document.getElementById("health");
    if (!ul) { return; }
    Array.prototype.forEach.call(ul.children, function (li) {
      var name = li.querySelector("b");
      var out = li.lastElementChild;
      if (name && name.title === "database:connection") {
        li.className = "h-fail";
        out.textContent = "";
        appendCode(out, "The database cannot be reached: " + message);
      } else if (!li.classList.contains("h-stale")) {
        li.classList.add("h-stale");
        out.textContent = "Last known: " + out.textContent;
      }
    });
  }

  // Text with each `command` in backticks shown as code, as the server's code_spans filter does.
  function appendCode(el, text) {
    text.split("`").forEach(function (part, i) {
      if (i % 2 === 1) {
        var code = document.createElement("code");
        code.textContent = part;
        el.appendChild(code);
      } else if (part) {
        el.appendChild(document.createTextNode(part));
      }
    });
  }

  // "database:writes" -> "database writes", "worker:heartbeat" -> "worker": no two alike.
  function healthLabel(name) {
    var parts = name.split(":");
    if (parts[0] === "database" && parts[1] && parts[1] !== "connection") {
      return "database " + parts[1].replace(/_/g, " ");
    }
    return parts[0].replace(/_/g, "-");
  }

  // -- charts (vendored uPlot) ------------------------------------------------------------

  function charts(section) {
    if (!window.uPlot) { return; }
    var select = document.getElementById("stats-window");
    var plots = {};
    function draw(id, data, series, width) {
      var el = document.getElementById(id);
      if (plots[id]) { plots[id].destroy(); }
      var opts = { width: width, height: 180, series: [{}].concat(series),
                   scales: { x: { time: true } }, axes: [{}, { size: 40 }] };
      plots[id] = new window.uPlot(opts, data, el);
    }
    function render(stats) {
      var xs = stats.buckets.map(function (b) { return Date.parse(b.start) / 1000; });
      function col(key) { return stats.buckets.map(function (b) { return b[key]; }); }
      var width = Math.max(240, document.getElementById("chart-jobs").clientWidth || 300);
      draw("chart-jobs", [xs, col("created"), col("completed"), col("failed")], [
        { label: "created", stroke: "#2563eb" }, { label: "completed", stroke: "#16a34a" },
        { label: "failed", stroke: "#dc2626" }], width);
      draw("chart-files", [xs, col("files")], [{ label: "files", stroke: "#7c3aed" }], width);
      var body = document.querySelector("#source-stats tbody");
      body.textContent = "";
      Object.keys(stats.sources).forEach(function (name) {
        var src = stats.sources[name], tr = document.createElement("tr");
        var labels = section.querySelectorAll("#source-stats thead th");
        [name, src.found, src.stored, src.failed].forEach(function (v, i) {
          var td = document.createElement("td"); td.textContent = String(v);
          td.setAttribute("data-label", labels[i].textContent); tr.appendChild(td);
        });
        body.appendChild(tr);
      });
      section.setAttribute("data-drawn", String(stats.buckets.length));
    }
    function load() {
      return getJSON(section.getAttribute("data-endpoint") + "?window=" + select.value).then(render);
    }
    select.addEventListener("change", load);
    load().catch(function () {});
    window.setInterval(function () { if (!document.hidden) { load().catch(function () {}); } }, 15000);
  }

  // -- dashboard page ---------------------------------------------------------------------

  function dashboard(section) {
    var list = document.getElementById("active-list");
    var jobUrl = section.getAttribute("data-job-url");

    function newRow(templateId, job) {
      var row = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
      row.setAttribute("data-job-id", job.job_id);
      row.querySelector(".job-query").setAttribute("href", jobUrl.replace("JOB_ID", encodeURIComponent(job.job_id)));
      return row;
    }

    function rowFor(job) {
      var row = list.querySelector('[data-job-id="' + CSS.escape(job.job_id) + '"]');
      if (!row) {
        row = newRow("job-row-template", job);
        list.appendChild(row);
      }
      return row;
    }

    // On the unfiltered first page, jobs created since the page loaded join the table.
    function addRecent(jobs, total) {
      var table = document.getElementById("recent");
      if (!table || !table.hasAttribute("data-live")) { return; }
      setText(document, "#recent-total", String(total));
      var body = table.tBodies[0];
      jobs.slice().reverse().forEach(function (job) {
        if (body.querySelector('tr[data-job-id="' + CSS.escape(job.job_id) + '"]')) { return; }
        var tr = newRow("recent-row-template", job);
        fillJob(tr, job);
        body.insertBefore(tr, body.firstChild);
        var empty = body.querySelector(".no-jobs");
        if (empty) { empty.remove(); }
      });
      while (body.rows.length > Number(table.getAttribute("data-page-size"))) {
        body.deleteRow(body.rows.length - 1);
      }
    }

    function render(state) {
      var n = state.active_total;
      setText(document, "#active-count", n + " active download" + (n === 1 ? "" : "s"));
      var active = {};
      state.active.forEach(function (job) { active[job.job_id] = true; fillJob(rowFor(job), job); });
      var recent = {};
      state.recent.forEach(function (job) { recent[job.job_id] = job; });
      // A row whose job left the active list shows its final state until the page reloads.
      Array.prototype.forEach.call(list.children, function (row) {
        var id = row.getAttribute("data-job-id");
        if (!active[id] && recent[id]) { fillJob(row, recent[id]); row.classList.add("finished"); }
      });
      document.getElementById("active-empty").hidden = list.children.length > 0;
      var note = document.getElementById("finished-note");
      if (note) { note.hidden = !list.querySelector(".finished"); }
      Object.keys(state.counts || {}).forEach(function (status) {
        setText(document, '#state-counts [data-status="' + status + '"] .n', String(state.counts[status]));
      });
      addRecent(state.recent, state.recent_total);
      Array.prototype.forEach.call(document.querySelectorAll("#recent tr[data-job-id]"), function (tr) {
        var job = recent[tr.getAttribute("data-job-id")];
        if (job) { fillJob(tr, job); }
      });
      renderBanner(state.banner);
      renderHealth(state.health);
    }

    function renderBanner(lines) {
      var banner = document.getElementById("banner");
      var ul = document.getElementById("banner-lines");
      ul.textContent = "";
      lines.forEach(function (line) {
        var li = document.createElement("li");
        appendCode(li, line);
        ul.appendChild(li);
      });
      banner.hidden = lines.length === 0;
    }

    function renderHealth(items) {
      var ul = document.getElementById("health");
      ul.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        li.className = "h-" + item.status;
        var dot = document.createElement("span");
        dot.className = "dot";
        var name = document.createElement("b");
        name.textContent = healthLabel(item.name);
        name.title = item.name;
        var out = document.createElement("span");
        appendCode(out, item.output);
        if (item.fix && item.status !== "pass") {
          out.append(" Fix: ");
          appendCode(out, item.fix.indexOf("`") < 0 ? "`" + item.fix + "`" : item.fix);
        }
        li.append(dot, name, " ", out);
        ul.appendChild(li);
      });
    }

    var endpoint = section.getAttribute("data-endpoint");
    var refresh = poller(function () { return getJSON(endpoint).then(render); });
    searchForm(refresh);
  }

  // A 400 maps each field at fault to its sentence (`fields`): each shows beside its own field.
  // False when no field of this form is named (the message then shows above the button).
  function showFieldErrors(form, payload) {
    var fields = payload.fields || {};
    var shown = false;
    Object.keys(fields).forEach(function (name) {
      var slot = form.querySelector('[data-error-for="' + CSS.escape(name) + '"]');
      if (!slot) { return; }
      slot.textContent = fields[name];
      var input = form.querySelector('[name="' + CSS.escape(name) + '"]');
      if (input) { input.setAttribute("aria-invalid", "true"); }
      shown = true;
    });
    return shown;
  }

  function clearFieldErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(function (slot) { slot.textContent = ""; });
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (input) {
      input.removeAttribute("aria-invalid");
    });
  }

  // The search form posts JSON with the CSRF header; without JS it posts as a normal form.
  function searchForm(refresh) {
    var form = document.getElementById("search-form");
    if (!form) { return; }
    var result = document.getElementById("search-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearFieldErrors(form);
      var data = new FormData(form);
      var body = {
        query: data.get("query"),
        max_content: Number(data.get("max_content")),
        safe_search: data.get("safe_search") !== null,
        enabled_sources: data.getAll("enabled_sources")
      };
      fetch(form.getAttribute("data-endpoint"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify(body)
      }).then(function (r) {
        return r.json().then(function (payload) { return { ok: r.ok, payload: payload }; });
      }).then(function (res) {
        result.hidden = false;
        if (res.ok) {
          result.className = "flash flash-" + (res.payload.warning ? "error" : "info");
          result.textContent = "Job " + res.payload.job_id + " created" +
            (res.payload.warning ? ": " + res.payload.warning : ".");
          form.querySelector('input[name="query"]').value = "";
          refresh();
        } else if (!showFieldErrors(form, res.payload)) {
          result.className = "flash flash-error";
          result.textContent = res.payload.message || "The search was refused.";
        } else {
          result.hidden = true;
        }
      }).catch(function () {
        result.hidden = false;
        result.className = "flash flash-error";
        result.textContent = "The server did not answer; try again.";
      });
    });
  }

  // -- jobs list: the rows of this very page and the per-state tabs, live ----------------------

  function jobsPage(section) {
    var endpoint = section.getAttribute("data-endpoint");
    if (!endpoint) { return; }
    var body = document.querySelector("#jobs-table tbody");
    var jobUrl = section.getAttribute("data-job-url");

    function listRow(job) {
      var tr = body.querySelector('tr[data-job-id="' + CSS.escape(job.job_id) + '"]');
      if (!tr) {
        tr = document.getElementById("list-row-template").content.firstElementChild.cloneNode(true);
        tr.setAttribute("data-job-id", job.job_id);
        tr.querySelector(".job-query").setAttribute("href", jobUrl.replace("JOB_ID", encodeURIComponent(job.job_id)));
        var box = tr.querySelector('input[name="job_ids"]');
        box.value = job.job_id;
        box.setAttribute("aria-label", "select " + job.query);
      }
      fillJob(tr, job);
      setText(tr, ".job-sources", (job.enabled_sources || []).join(", "));
      tr.querySelector(".job-error-summary").title = job.error || "";
      return tr;
    }

    // The API's answer for this page is the page: rows are kept (ticks stay), added, reordered
    // or dropped to match it.
    function renderRows(listing) {
      var keep = listing.jobs.map(listRow);
      Array.prototype.forEach.call(body.querySelectorAll("tr"), function (tr) {
        if (keep.indexOf(tr) < 0 && !tr.classList.contains("no-jobs")) { tr.remove(); }
      });
      var empty = body.querySelector(".no-jobs");
      keep.forEach(function (tr) { body.insertBefore(tr, empty); });
      empty.hidden = keep.length > 0;
      setText(document, "#jobs-total", String(listing.total));
    }

    function renderCounts(state) {
      var all = 0;
      Object.keys(state.counts).forEach(function (status) {
        all += state.counts[status];
        setText(document, '#state-tabs [data-status="' + status + '"] .n', String(state.counts[status]));
      });
      setText(document, '#state-tabs [data-status=""] .n', String(all));
      setText(document, "#jobs-active", "(" + state.active + " active)");
    }

    poller(function () {
      return Promise.all([getJSON(endpoint), getJSON(section.getAttribute("data-counts"))])
        .then(function (answers) { renderRows(answers[0]); renderCounts(answers[1]); });
    });
  }

  // -- workers page: every worker's state, jobs and heartbeat, live ------------------------------

  function workersPage(section) {
    var body = document.querySelector("#workers-table tbody");
    var jobUrl = section.getAttribute("data-job-url");

    function setTime(el, iso) {
      el.setAttribute("datetime", iso || "");
      el.title = when(iso);
      el.textContent = ago(iso);
    }

    function workerRow(w) {
      var tr = document.getElementById("worker-row-template").content.firstElementChild.cloneNode(true);
      tr.setAttribute("data-worker", w.worker);
      tr.className = "worker-" + w.state;
      setText(tr, ".w-name", w.worker);
      var error = tr.querySelector(".w-error");
      error.textContent = w.last_error || "";
      error.hidden = !w.last_error;
      var state = tr.querySelector(".w-state");
      state.textContent = w.state;
      state.className = "badge w-state state-" + w.state;
      [["w-host", w.host], ["w-pid", w.pid], ["w-done", w.jobs_done]].forEach(function (pair) {
        setText(tr, "." + pair[0], String(pair[1]));
      });
      var jobs = tr.querySelector(".w-jobs");
      jobs.textContent = w.jobs.length ? "" : "\u2014";
      w.jobs.forEach(function (id) {
        var a = document.createElement("a"), code = document.createElement("code");
        a.href = jobUrl.replace("JOB_ID", encodeURIComponent(id));
        code.textContent = id.slice(0, 8);
        a.appendChild(code);
        jobs.append(a, " ");
      });
      setTime(tr.querySelector(".w-beat"), w.last_heartbeat_at);
      setTime(tr.querySelector(".w-started"), w.started_at);
      return tr;
    }

    poller(function () {
      return getJSON(section.getAttribute("data-endpoint")).then(function (answer) {
        body.replaceChildren.apply(body, answer.workers.map(workerRow));
        setText(document, "#workers-total", String(answer.workers.length));
        document.getElementById("workers-wrap").hidden = answer.workers.length === 0;
        document.getElementById("no-workers").hidden = answer.workers.length > 0;
      });
    });
  }

  // -- job page ---------------------------------------------------------------------------

  function jobPage(section) {
    if (!section.hasAttribute("data-live")) { return; }
    var endpoint = section.getAttribute("data-endpoint");
    poller(function () {
      return getJSON(endpoint).then(function (job) {
        fillJob(section, job);
        if (FINAL.indexOf(job.status) >= 0) { window.location.reload(); }
      });
    });
  }

  // A form that destroys something asks first (data-confirm holds the question).
  document.addEventListener("submit", function (event) {
    var asker = event.submitter && event.submitter.hasAttribute("data-confirm") ?
      event.submitter : event.target;
    var question = asker.getAttribute && asker.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var active = document.getElementById("active");
    if (active) { dashboard(active); }
    var activity = document.getElementById("activity");
    if (activity) { charts(activity); }
    var job = document.getElementById("job");
    if (job) { jobPage(job); }
    var list = document.getElementById("jobs-page");
    if (list) { jobsPage(list); }
    var workers = document.getElementById("workers");
    if (workers) { workersPage(workers); }
  });
})();
