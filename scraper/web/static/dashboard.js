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
    setText(root, ".job-created", when(job.created_at));
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

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
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
        li.textContent = line;
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
        name.textContent = item.name.split(":")[0];
        name.title = item.name;
        var out = document.createElement("span");
        out.textContent = item.output;
        if (item.fix && item.status !== "pass") {
          var fix = document.createElement("code");
          fix.textContent = item.fix;
          out.append(" Fix: ", fix);
        }
        li.append(dot, name, " ", out);
        ul.appendChild(li);
      });
    }

    var endpoint = section.getAttribute("data-endpoint");
    var refresh = poller(function () { return getJSON(endpoint).then(render); });
    searchForm(refresh);
  }

  // The search form posts JSON with the CSRF header; without JS it posts as a normal form.
  function searchForm(refresh) {
    var form = document.getElementById("search-form");
    if (!form) { return; }
    var result = document.getElementById("search-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
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
        } else {
          result.className = "flash flash-error";
          result.textContent = res.payload.message || "The search was refused.";
        }
      }).catch(function () {
        result.hidden = false;
        result.className = "flash flash-error";
        result.textContent = "The server did not answer; try again.";
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

  document.addEventListener("DOMContentLoaded", function () {
    var active = document.getElementById("active");
    if (active) { dashboard(active); }
    var job = document.getElementById("job");
    if (job) { jobPage(job); }
  });
})();
