/* wml docs: search and upstream/downstream focus on the lineage, table filters.
   No library and no fetch(): the data comes from data.js, loaded by a <script> tag,
   so the site works opened from disk. State lives in the URL hash: #focus=ID&search=TEXT. */
(function () {
  "use strict";
  var DATA = window.WML_DOCS || { nodes: {} };
  var NODES = DATA.nodes;

  function parseHash() {
    var out = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      var key = i < 0 ? part : part.slice(0, i);
      out[key] = i < 0 ? "" : decodeURIComponent(part.slice(i + 1).replace(/\+/g, " "));
    });
    return out;
  }

  function writeHash(state) {
    var parts = [];
    if (state.focus) parts.push("focus=" + encodeURIComponent(state.focus));
    if (state.search) parts.push("search=" + encodeURIComponent(state.search));
    history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
  }

  function matches(node, terms) {
    var hay = [node.name, node.kind, node.path, node.description, (node.tags || []).join(" "),
               (node.columns || []).join(" ")].join(" ").toLowerCase();
    return terms.every(function (t) { return hay.indexOf(t) >= 0; });
  }

  function reach(start, key) {
    var seen = {}, stack = [start];
    while (stack.length) {
      var id = stack.pop();
      (NODES[id] ? NODES[id][key] : []).forEach(function (next) {
        if (!seen[next]) { seen[next] = true; stack.push(next); }
      });
    }
    return seen;
  }

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function initLineage(svg) {
    var graph = document.getElementById("graph");
    var panel = document.getElementById("panel");
    var search = document.getElementById("search");
    var list = document.getElementById("matches");
    var groups = {};
    svg.querySelectorAll("g.node").forEach(function (g) { groups[g.getAttribute("data-id")] = g; });
    var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));
    var state = parseHash();
    var scale = 1;
    var baseW = parseFloat(svg.getAttribute("width")), baseH = parseFloat(svg.getAttribute("height"));

    function apply() {
      var focus = state.focus && NODES[state.focus] ? state.focus : null;
      var up = focus ? reach(focus, "parents") : {}, down = focus ? reach(focus, "children") : {};
      var terms = (state.search || "").toLowerCase().split(/\s+/).filter(Boolean);
      var found = [];
      Object.keys(groups).forEach(function (id) {
        var g = groups[id], node = NODES[id] || {};
        var hit = terms.length > 0 && matches(node, terms);
        if (hit) found.push(id);
        var lit = focus ? (id === focus || up[id] || down[id]) : true;
        g.classList.toggle("focus", id === focus);
        g.classList.toggle("up", !!up[id]);
        g.classList.toggle("down", !!down[id]);
        g.classList.toggle("match", hit);
        g.classList.toggle("dim", !lit || (terms.length > 0 && !hit && !focus));
      });
      edges.forEach(function (e) {
        var a = e.getAttribute("data-from"), b = e.getAttribute("data-to");
        var on = focus && ((a === focus || up[a]) && (b === focus || up[b]) ||
                           (a === focus || down[a]) && (b === focus || down[b]));
        e.classList.toggle("lit", !!on);
        e.classList.toggle("dim", !!focus && !on);
      });
      graph.setAttribute("data-focus", focus || "");
      graph.setAttribute("data-upstream", Object.keys(up).length);
      graph.setAttribute("data-downstream", Object.keys(down).length);
      graph.setAttribute("data-matches", terms.length ? found.length : "");
      if (search.value !== (state.search || "")) search.value = state.search || "";
      list.innerHTML = terms.length ? "<h2>" + found.length + " match" + (found.length === 1 ? "" : "es") +
        " for “" + esc(state.search) + "”</h2><ul>" + found.map(function (id) {
          return '<li><a class="match-link" href="#focus=' + encodeURIComponent(id) + '" data-id="' + esc(id) + '">' +
            esc(NODES[id].name) + "</a> <span class='muted'>" + esc(NODES[id].kind) + "</span></li>";
        }).join("") + "</ul>" : "";
      if (focus) {
        var n = NODES[focus];
        panel.innerHTML = "<h2>" + esc(n.name) + "</h2><p class='muted'>" + esc(n.kind) +
          (n.status ? " · last result: " + esc(n.status) : "") + "</p><p>" + esc(n.description || "No description.") +
          "</p><p>" + Object.keys(up).length + " upstream · " + Object.keys(down).length + " downstream</p>" +
          '<p><a class="open" href="' + esc(n.href) + '">Open the page →</a></p>';
      }
      var target = focus ? groups[focus] : (found.length ? groups[found[0]] : null);
      if (target) {  // scroll the graph box only, never the page
        var box = graph.getBoundingClientRect(), at = target.getBoundingClientRect();
        graph.scrollLeft += at.left - box.left - (box.width - at.width) / 2;
        graph.scrollTop += at.top - box.top - (box.height - at.height) / 2;
      }
      writeHash(state);
    }

    svg.addEventListener("click", function (ev) {
      var g = ev.target.closest ? ev.target.closest("g.node") : null;
      if (!g) return;
      var id = g.getAttribute("data-id");
      state.focus = state.focus === id ? "" : id;
      apply();
    });
    svg.addEventListener("dblclick", function (ev) {
      var g = ev.target.closest ? ev.target.closest("g.node") : null;
      if (g) location.href = g.getAttribute("data-href");
    });
    svg.addEventListener("keydown", function (ev) {
      var g = ev.target.closest ? ev.target.closest("g.node") : null;
      if (g && ev.key === "Enter") location.href = g.getAttribute("data-href");
    });
    list.addEventListener("click", function (ev) {
      var a = ev.target.closest ? ev.target.closest("a.match-link") : null;
      if (!a) return;
      ev.preventDefault();
      state.focus = a.getAttribute("data-id");
      apply();
    });
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { state.search = search.value.trim(); apply(); }, 120);
    });
    document.getElementById("clear").addEventListener("click", function () {
      state = {}; search.value = ""; panel.innerHTML = ""; apply();
    });
    function zoom(factor) {
      scale = factor === 0 ? Math.min(1, (graph.clientWidth - 8) / baseW) : Math.max(0.1, Math.min(4, scale * factor));
      svg.setAttribute("width", (baseW * scale).toFixed(0));
      svg.setAttribute("height", (baseH * scale).toFixed(0));
    }
    document.getElementById("zoom-in").addEventListener("click", function () { zoom(1.25); });
    document.getElementById("zoom-out").addEventListener("click", function () { zoom(0.8); });
    document.getElementById("zoom-fit").addEventListener("click", function () { zoom(0); });
    document.querySelectorAll("input[data-kind]").forEach(function (box) {
      box.addEventListener("change", function () {
        var kind = box.getAttribute("data-kind"), hidden = !box.checked;
        Object.keys(groups).forEach(function (id) {
          if ((NODES[id] || {}).kind === kind) groups[id].classList.toggle("hidden", hidden);
        });
        edges.forEach(function (e) {
          var a = NODES[e.getAttribute("data-from")] || {}, b = NODES[e.getAttribute("data-to")] || {};
          var off = [a.kind, b.kind].some(function (k) {
            var other = document.querySelector('input[data-kind="' + k + '"]');
            return other && !other.checked;
          });
          e.classList.toggle("hidden", off);
        });
      });
    });
    window.addEventListener("hashchange", function () { state = parseHash(); apply(); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "/" && document.activeElement !== search) { ev.preventDefault(); search.focus(); }
      if (ev.key === "Escape") { state.focus = ""; apply(); }
    });
    apply();
  }

  function initFilter(input) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("table.filterable tbody tr"));
    input.addEventListener("input", function () {
      var terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      rows.forEach(function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !terms.every(function (t) { return text.indexOf(t) >= 0; });
      });
    });
  }

  var svg = document.getElementById("lineage");
  if (svg) initLineage(svg);
  var filter = document.getElementById("filter");
  if (filter) initFilter(filter);
  document.body.setAttribute("data-ready", "1");
})();
