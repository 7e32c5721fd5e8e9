"""The HTML report's style sheet and script: static text, inlined into every page so that it needs
nothing from the network (a ``file://`` URL or a CI artifact works as well as a server).

Neither holds anything from a report; :mod:`hubcheck.reporters.html` pins both by hash in the page's
Content-Security-Policy, so a script or style that reached the page some other way would not run.
"""

from __future__ import annotations

STYLE = """
:root {
  --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --panel: #f6f8fa; --link: #0b5cad;
  --pass-bg: #d6f0dc; --pass-fg: #116329; --warn-bg: #fff0b3; --warn-fg: #7a5200;
  --skip-bg: #eceef1; --skip-fg: #6e7781; --fail-bg: #ffd9d4; --fail-fg: #a40e26;
  --error-bg: #eadcff; --error-fg: #5b21b6; --root-fail: #c8102e; --root-error: #6d28d9;
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html { scroll-padding-top: 1rem; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.45;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
main { padding: 1.25rem 2rem 4rem; max-width: 1600px; }
a { color: var(--link); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-word; margin: .25rem 0; padding: .5rem .75rem;
  background: var(--panel); border: 1px solid var(--line); border-radius: 6px; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 0; }
h3 { font-size: .95rem; margin: 1rem 0 .35rem; }
.meta, .why, .muted { color: var(--muted); }
.why { font-size: 12.5px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* at a glance */
.glance { display: flex; flex-wrap: wrap; gap: .75rem; align-items: stretch; margin: 1rem 0; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .9rem; min-width: 8.5rem; background: var(--panel); }
.tile b { display: block; font-size: 1.6rem; line-height: 1.2; }
.tile.v-fail { border-color: var(--root-fail); background: var(--fail-bg); color: var(--fail-fg); }
.tile.v-pass { border-color: #2da44e; background: var(--pass-bg); color: var(--pass-fg); }
.tile.cells { min-width: 16rem; }
.tile.cells ul { list-style: none; margin: .2rem 0 0; padding: 0; display: grid; grid-template-columns: auto auto; gap: .05rem 1rem; }
.tile.causes { flex: 1 1 22rem; }
.tile.causes ol { margin: .2rem 0 0; padding-left: 1.6rem; columns: 2; column-gap: 2rem; }
.tile.causes details { margin-top: .2rem; }
.legend { display: flex; flex-wrap: wrap; gap: .35rem 1rem; align-items: center; margin: .25rem 0 .75rem; color: var(--muted); }
.legend .cell { display: inline-flex; }

/* filters */
#filters { display: flex; flex-wrap: wrap; gap: .6rem 1.4rem; align-items: center; padding: .6rem .8rem;
  background: var(--panel); border: 1px solid var(--line); border-radius: 8px; margin-bottom: .75rem;
  position: sticky; top: 0; z-index: 5; }
#filters fieldset { border: 0; margin: 0; padding: 0; display: flex; gap: .25rem; align-items: center; }
#filters legend, #filters .label { float: left; font-weight: 600; margin-right: .35rem; padding: 0; }
.chip { position: relative; }
.chip input { position: absolute; opacity: 0; inset: 0; margin: 0; cursor: pointer; }
.chip span { display: inline-block; padding: .12rem .55rem; border: 1px solid var(--line); border-radius: 999px;
  background: var(--bg); cursor: pointer; user-select: none; }
.chip input:checked + span { background: var(--fg); color: var(--bg); border-color: var(--fg); }
.chip input:focus-visible + span { outline: 2px solid var(--link); outline-offset: 1px; }
#filters select, #filters input[type=search] { font: inherit; padding: .15rem .4rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); }
#filters input[type=search] { width: 14rem; }
#filters select { max-width: 16rem; }
#filters button { font: inherit; padding: .15rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); cursor: pointer; }
#shown { color: var(--muted); margin-left: auto; }

/* the grid */
.folder { margin: .25rem 0 .4rem; color: var(--muted); font-size: 13px; }
.grid-wrap { overflow: auto; max-height: 78vh; border: 1px solid var(--line); border-radius: 8px; }
#grid { border-collapse: separate; border-spacing: 0; }
#grid th, #grid td { padding: 0; border-bottom: 1px solid #eef1f4; }
#grid thead th { position: sticky; top: 0; background: var(--bg); z-index: 2; vertical-align: bottom; border-bottom: 1px solid var(--line); }
#grid thead th.col { height: 9.5rem; width: 26px; min-width: 26px; }
#grid thead th.col a { display: block; writing-mode: vertical-rl; transform: rotate(180deg); white-space: nowrap;
  padding: .3rem 0; margin: 0 auto; font-weight: 500; font-size: 12px; color: var(--fg); }
#grid thead th.col a:hover { color: var(--link); }
#grid thead th.corner { left: 0; z-index: 3; text-align: left; padding: .4rem .6rem; font-weight: 600; }
#grid thead th.vhead { text-align: left; padding: .4rem .5rem; font-weight: 600; }
#grid tbody th { position: sticky; left: 0; z-index: 1; background: var(--bg); text-align: left; font-weight: 500;
  padding: .15rem .6rem; max-width: 22rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; border-right: 1px solid var(--line); }
#grid tbody tr:hover th, #grid tbody tr:hover td.verdict { background: #eaf2fb; }
#grid td.verdict { padding: .15rem .5rem; white-space: nowrap; font-weight: 600; font-size: 12.5px; }
td.verdict.v-fail, .badge.v-fail { color: var(--fail-fg); }
td.verdict.v-pass, .badge.v-pass { color: var(--pass-fg); }
.cell { text-align: center; }
.cell > a, .cell > span { display: flex; align-items: center; justify-content: center; width: 22px; height: 22px; margin: 2px;
  border-radius: 4px; font-weight: 700; font-size: 13px; line-height: 1; color: inherit; text-decoration: none; }
.cell.s-pass > * { background: var(--pass-bg); color: var(--pass-fg); }
.cell.s-warn > * { background: var(--warn-bg); color: var(--warn-fg); }
.cell.s-skip > * { background: var(--skip-bg); color: var(--skip-fg); font-weight: 400; }
.cell.s-fail > * { background: var(--fail-bg); color: var(--fail-fg); }
.cell.s-error > * { background: var(--error-bg); color: var(--error-fg); }
.cell.s-none > * { background: transparent; color: var(--line); }
.cell.root > * { box-shadow: inset 0 0 0 2px #111; color: #fff; }
.cell.root.s-fail > * { background: var(--root-fail); }
.cell.root.s-error > * { background: var(--root-error); }
.cell.dim > * { opacity: .18; }
.cell > a:hover { outline: 2px solid var(--link); }
#no-match { padding: 1rem; color: var(--muted); }
#grid th.finding { text-align: left; padding: .4rem .6rem; font-weight: 600; }
#grid td.finding { padding: .15rem .6rem; white-space: pre-line; font-size: 12.5px; max-width: 60rem; }

/* per model */
section.model { border: 1px solid var(--line); border-radius: 8px; margin: 1.25rem 0; padding: .9rem 1.1rem; scroll-margin-top: 7rem; }
section.model [id] { scroll-margin-top: 7rem; }
section.model:target { box-shadow: 0 0 0 3px #8cb8e8; }
section.model header { display: flex; gap: .75rem; align-items: baseline; flex-wrap: wrap; }
section.model header code { font-size: 1rem; word-break: break-all; }
section.model header .up { margin-left: auto; font-size: 12.5px; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-weight: 700; font-size: 12.5px; border: 1px solid currentColor; }
.summary { margin: .35rem 0 .6rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1.2rem; margin: .5rem 0; }
dl.facts > dt { font-weight: 600; }
dl.facts > dd { margin: 0; min-width: 0; }
dl.value { display: grid; grid-template-columns: max-content 1fr; gap: .1rem .9rem; margin: .1rem 0; }
dl.value > dt { color: var(--muted); }
dl.value > dd { margin: 0; min-width: 0; word-break: break-word; }
ol.items { margin: .1rem 0; padding-left: 1.4rem; }
ol.items > li { margin-bottom: .3rem; }
.null { color: var(--muted); }
details > summary { cursor: pointer; color: var(--link); }
details.more { margin: .4rem 0; }
table.checks, table.calls { border-collapse: collapse; width: 100%; margin: .3rem 0; }
table.checks th, table.checks td, table.calls th, table.calls td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-top: 1px solid var(--line); }
table.checks thead th, table.calls thead th { border-top: 0; color: var(--muted); font-weight: 600; font-size: 12.5px; }
table.checks td.status { white-space: nowrap; width: 7.5rem; }
table.checks td.id { width: 22rem; }
table.checks td.id .title { display: block; color: var(--muted); font-size: 12.5px; }
table.checks tr.focus { background: #fff8c5; }
table.checks tr:target { background: #eaf2fb; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.pill { display: inline-block; min-width: 4.6rem; padding: .05rem .45rem; border-radius: 4px; font-weight: 700; font-size: 12.5px; }
.pill.s-pass { background: var(--pass-bg); color: var(--pass-fg); }
.pill.s-warn { background: var(--warn-bg); color: var(--warn-fg); }
.pill.s-skip { background: var(--skip-bg); color: var(--skip-fg); }
.pill.s-fail { background: var(--fail-bg); color: var(--fail-fg); }
.pill.s-error { background: var(--error-bg); color: var(--error-fg); }
.pill.root.s-fail { background: var(--root-fail); color: #fff; }
.pill.root.s-error { background: var(--root-error); color: #fff; }
.cause { display: block; font-size: 12.5px; margin-top: .15rem; }
.fix { margin-top: .35rem; }
.fix pre { background: #fffbea; border-color: #f0d98c; }
.fix strong { color: #7a5200; }
#checks, #checks dt { scroll-margin-top: 7rem; }
#checks dt { font-weight: 600; margin-top: .8rem; }
#checks dd { margin: .2rem 0 0; }
footer { margin-top: 2rem; color: var(--muted); font-size: 12.5px; }
@media print { #filters { display: none; } .grid-wrap { max-height: none; overflow: visible; } }
"""

SCRIPT = """
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var grid = document.getElementById("grid");
  if (!form || !grid) { return; }
  form.hidden = false;
  var rows = Array.prototype.slice.call(grid.tBodies[0].rows);
  var heads = Array.prototype.slice.call(grid.querySelectorAll("thead th.col"));
  var shown = document.getElementById("shown");
  var none = document.getElementById("no-match");
  var defaults = {verdict: "all", status: "any", check: "", q: ""};

  function radio(name) {
    var picked = form.querySelector("input[name='" + name + "']:checked");
    return picked ? picked.value : defaults[name];
  }
  function setRadio(name, value) {
    var inputs = form.querySelectorAll("input[name='" + name + "']");
    var found = false;
    inputs.forEach(function (input) { if (input.value === value) { input.checked = true; found = true; } });
    if (!found) { inputs.forEach(function (input) { input.checked = input.value === defaults[name]; }); }
  }
  function read() {
    return {verdict: radio("verdict"), status: radio("status"), check: form.elements.check.value, q: form.elements.q.value};
  }

  function apply(keepHash) {
    var state = read();
    var needle = state.q.trim().toLowerCase();
    var count = 0;
    heads.forEach(function (th) { th.hidden = state.check !== "" && th.dataset.check !== state.check; });
    grid.querySelector("thead th.finding").hidden = state.check === "";
    rows.forEach(function (row) {
      var match = state.verdict === "all" || row.dataset.verdict === state.verdict;
      if (match && needle) { match = row.dataset.name.toLowerCase().indexOf(needle) !== -1; }
      var hit = state.status === "any";
      Array.prototype.forEach.call(row.querySelectorAll("td.cell"), function (cell) {
        var considered = state.check === "" || cell.dataset.check === state.check;
        var same = state.status === "any" || cell.dataset.status === state.status;
        cell.hidden = !considered;
        cell.classList.toggle("dim", !same);
        if (considered && same) { hit = true; }
      });
      match = match && hit;
      row.hidden = !match;
      // With one check picked, its finding (the cell's tooltip: status and message) shows beside the cell.
      var finding = row.querySelector("td.finding");
      var picked = state.check === "" ? null : row.querySelector("td.cell[data-check='" + CSS.escape(state.check) + "']");
      finding.hidden = state.check === "";
      finding.textContent = picked ? picked.title : "";
      var section = document.getElementById(row.dataset.model);
      if (section) {
        section.hidden = !match;
        Array.prototype.forEach.call(section.querySelectorAll("tr[data-check]"), function (tr) {
          tr.classList.toggle("focus", state.check !== "" && tr.dataset.check === state.check);
        });
      }
      if (match) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " models shown";
    none.hidden = count !== 0;
    var text = encode(state);
    document.documentElement.dataset.filters = text;  // what is applied, for tests and scripts to read
    if (!keepHash) { writeHash(text); }
  }

  function encode(state) {
    var params = new URLSearchParams();
    Object.keys(defaults).forEach(function (key) {
      var value = key === "q" ? state.q.trim() : state[key];
      if (value !== defaults[key]) { params.set(key, value); }
    });
    return params.toString();
  }

  function writeHash(text) {
    var url = text ? "#" + text : location.pathname + location.search;
    try { history.replaceState(null, "", url); } catch (ignored) { /* some file:// contexts refuse; the filter still works */ }
  }

  // Filter state lives in the fragment (#status=fail&check=logits&q=resnet), so a filtered view can be
  // linked; a fragment without "=" is an ordinary anchor (a model's section) and leaves the filters alone.
  function readHash() {
    var text = location.hash.slice(1);
    if (text.indexOf("=") === -1) { return false; }
    var params = new URLSearchParams(text);
    setRadio("verdict", params.get("verdict") || defaults.verdict);
    setRadio("status", params.get("status") || defaults.status);
    var check = params.get("check") || "";
    form.elements.check.value = check;
    if (form.elements.check.value !== check) { form.elements.check.value = ""; }
    form.elements.q.value = params.get("q") || "";
    return true;
  }

  form.addEventListener("input", function () { apply(false); });
  form.addEventListener("change", function () { apply(false); });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  // Clear resets and filters in one go (a "reset" event comes before the fields change).
  document.getElementById("clear").addEventListener("click", function () { form.reset(); apply(false); });
  window.addEventListener("hashchange", function () { if (readHash()) { apply(true); } });
  readHash();
  apply(true);
  document.documentElement.dataset.ready = "1";
})();
"""
