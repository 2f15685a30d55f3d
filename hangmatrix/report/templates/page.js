(function(){
"use strict";
var D = JSON.parse(document.getElementById("hm-data").textContent);
var AX = ["case","config","start"];
var sel = {}; ["case","config","start","python","gevent"].forEach(function(a){ sel[a] = new Set(D.axes[a]); });
var state = {order:[0,1,2], onlyProblems:false, selected:-1};
function el(tag, attrs){
  var n = document.createElement(tag), i;
  for (var k in (attrs||{})) { if (k === "text") n.textContent = attrs[k]; else if (k === "cls") n.className = attrs[k];
    else n.setAttribute(k, attrs[k]); }
  for (i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c == null) continue;
    n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
  return n;
}
function controls(){
  var box = document.getElementById("controls");
  ["case","config","start","python","gevent"].forEach(function(a){
    var fs = el("fieldset", {"data-axis":a}, el("legend", {text:a}));
    var all = el("label", {}, el("input", {type:"checkbox", checked:"", "data-all":a}), " all");
    fs.appendChild(all);
    D.axes[a].forEach(function(v){
      var info = (D.info[a]||{})[v];
      var lab = el("label", info ? {title:info} : {}, el("input", {type:"checkbox", checked:"", "data-axis":a, value:v}), " " + v);
      fs.appendChild(lab);
    });
    box.appendChild(fs);
  });
  var opts = el("fieldset", {}, el("legend", {text:"view"}));
  var grp = el("select", {id:"grouping"});
  [["case / config / start",[0,1,2]],["config / case / start",[1,0,2]],["start / config / case",[2,1,0]],
   ["config / start / case",[1,2,0]]].forEach(function(o, i){ grp.appendChild(el("option", {value:String(i)}, o[0])); grp["o"+i] = o[1]; });
  opts.appendChild(el("label", {}, "group columns by ", grp));
  opts.appendChild(el("label", {}, el("input", {type:"checkbox", id:"only-problems"}), " only columns with a hang or failure"));
  box.appendChild(opts);
  box.addEventListener("change", function(ev){
    var t = ev.target;
    if (t.id === "grouping") state.order = grp["o"+t.value];
    else if (t.id === "only-problems") state.onlyProblems = t.checked;
    else if (t.hasAttribute("data-all")) {
      var a = t.getAttribute("data-all");
      box.querySelectorAll('input[data-axis="'+a+'"]').forEach(function(i){ i.checked = t.checked; });
      sel[a] = new Set(t.checked ? D.axes[a] : []);
    } else if (t.hasAttribute("data-axis")) {
      var ax = t.getAttribute("data-axis");
      if (t.checked) sel[ax].add(t.value); else sel[ax].delete(t.value);
    }
    render();
  });
}
function T(x){ return Array.isArray(x) ? x.map(function(i){ return D.lines[i]; }).join("\n") : (x || ""); }
function O(i){ return D.objects[i]; }  // an object the page pools (see html._Pool)
function verdictOf(i){ return i < 0 ? null : D.details[i].verdict; }
function render(){
  var rows = [], cols = [], r, c;
  for (r = 0; r < D.rows.length; r++) if (sel.python.has(D.rows[r][0]) && sel.gevent.has(D.rows[r][1])) rows.push(r);
  for (c = 0; c < D.cols.length; c++) {
    var k = D.cols[c];
    if (!(sel.case.has(k[0]) && sel.config.has(k[1]) && sel.start.has(k[2]))) continue;
    if (state.onlyProblems && !rows.some(function(r){ return D.problem.indexOf(verdictOf(D.grid[r][c])) >= 0; })) continue;
    cols.push(c);
  }
  var o = state.order;
  cols.sort(function(a, b){
    for (var i = 0; i < 3; i++) { var ax = AX[o[i]], x = D.axes[ax].indexOf(D.cols[a][o[i]]), y = D.axes[ax].indexOf(D.cols[b][o[i]]);
      if (x !== y) return x - y; }
    return 0;
  });
  var rows_ = rows.filter(function(r){ return cols.some(function(c){ return D.grid[r][c] >= 0; }); });
  var table = document.getElementById("grid");
  table.textContent = "";
  var thead = el("thead");
  for (var level = 0; level < 3; level++) {
    var tr = el("tr");
    if (level === 0) {
      tr.appendChild(el("th", {cls:"rh py", rowspan:"3"}, "Python"));
      tr.appendChild(el("th", {cls:"rh gv", rowspan:"3"}, "gevent"));
    }
    var i = 0;
    while (i < cols.length) {
      var j = i + 1;
      var key = function(c){ return o.slice(0, level + 1).map(function(x){ return D.cols[c][x]; }).join("\u0000"); };
      while (j < cols.length && key(cols[j]) === key(cols[i])) j++;
      var val = D.cols[cols[i]][o[level]];
      var first = i === 0 || D.cols[cols[i-1]][o[0]] !== D.cols[cols[i]][o[0]];
      var info = (D.info[AX[o[level]]]||{})[val];
      var th = el("th", {colspan:String(j - i), cls: first ? "g" : "", title: AX[o[level]] + ": " + val + (info ? " — " + info : "")},
                  level === 2 && j - i === 1 ? (D.short[val] || val) : val);
      tr.appendChild(th);
      i = j;
    }
    thead.appendChild(tr);
  }
  table.appendChild(thead);
  var tbody = el("tbody");
  rows_.forEach(function(r){
    var tr = el("tr", {}, el("th", {cls:"rh py"}, D.rows[r][0]), el("th", {cls:"rh gv"}, D.rows[r][1]));
    cols.forEach(function(c, n){
      var i = D.grid[r][c], td;
      var g = n === 0 || D.cols[cols[n-1]][o[0]] !== D.cols[c][o[0]];
      if (i < 0) { td = el("td", {cls:"c v-none" + (g ? " g" : "")}); }
      else {
        var d = D.details[i], v = D.verdicts[d.verdict] || {glyph:"?"};
        td = el("td", {cls:"c v-" + d.verdict + (g ? " g" : "") + (d.verdicts.length > 1 ? " flaky" : "") + (i === state.selected ? " sel" : ""),
                       "data-i":String(i), "data-id":d.id, "data-verdict":d.verdict, tabindex:"0",
                       title:d.id + ": " + d.verdict + (d.verdicts.length > 1 ? " (runs: " + d.verdicts.join(", ") + ")" : "") + (d.signature ? "\n" + d.signature : "")},
                v.glyph);
      }
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
  });
  table.appendChild(tbody);
  document.getElementById("shown").textContent = rows_.length + " rows × " + cols.length + " columns shown";
}
function kv(dl, k, v){ if (v === undefined || v === null || v === "") return; dl.appendChild(el("dt", {}, k)); dl.appendChild(el("dd", {}, String(v))); }
var SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs, text){
  var e = document.createElementNS(SVG, tag);
  Object.keys(attrs).forEach(function(k){ e.setAttribute(k, attrs[k]); });
  if (text !== undefined) e.textContent = text;
  return e;
}
function drawCause(body, c){
  // Why it hangs: the cause, then its chain drawn as boxes, one a row, each arrow labelled with what it waits
  // on (its evidence on hover); a cycle's closing arrow runs back up the right side. Drawn here: no network.
  body.appendChild(el("h3", {}, "Why it hangs: " + c.kind + (c.where ? " at " + c.where : "")));
  body.appendChild(el("p", {id:"detail-cause"}, c.text));
  if (!c.steps.length) return;
  var W = 560, BOX = 26, GAP = 34, x = 10, w = 470;
  var svg = svgEl("svg", {id:"detail-graph", width:String(W), height:String(c.steps.length * (BOX + GAP)), role:"img",
                          "aria-label":"wait-for chain"});
  var defs = svgEl("defs", {}), marker = svgEl("marker", {id:"arrow", markerWidth:"8", markerHeight:"8", refX:"7", refY:"4", orient:"auto"});
  marker.appendChild(svgEl("path", {d:"M0,0 L8,4 L0,8 z", fill:"#c62828"})); defs.appendChild(marker); svg.appendChild(defs);
  c.steps.forEach(function(label, n){
    var y = n * (BOX + GAP);
    svg.appendChild(svgEl("rect", {x:String(x), y:String(y), width:String(w), height:String(BOX), rx:"4", fill:"#fff", stroke:"#555"}));
    svg.appendChild(svgEl("text", {x:String(x + 6), y:String(y + 17), "font-size":"11"}, label.length > 80 ? label.slice(0, 79) + "…" : label));
    if (n < c.edges.length) {
      var line = svgEl("line", {x1:String(x + 30), y1:String(y + BOX), x2:String(x + 30), y2:String(y + BOX + GAP - 2),
                                stroke:"#c62828", "stroke-width":"2", "marker-end":"url(#arrow)"});
      line.appendChild(svgEl("title", {}, c.edges[n].evidence));
      svg.appendChild(line);
      svg.appendChild(svgEl("text", {x:String(x + 40), y:String(y + BOX + GAP / 2 + 4), "font-size":"10", fill:"#c62828"},
                            "waits for, on " + (c.edges[n].on.length > 70 ? c.edges[n].on.slice(0, 69) + "…" : c.edges[n].on)));
    }
  });
  if (c.closes >= 0) {  // the last step is one met before: the cycle closes
    var last = (c.steps.length - 1) * (BOX + GAP) + BOX / 2, first = c.closes * (BOX + GAP) + BOX / 2;
    svg.appendChild(svgEl("path", {d:"M" + (x + w) + "," + last + " C" + (x + w + 60) + "," + last + " " + (x + w + 60) + "," + first + " " + (x + w + 4) + "," + first,
                                   fill:"none", stroke:"#c62828", "stroke-width":"2", "stroke-dasharray":"4 3", "marker-end":"url(#arrow)"}));
  }
  body.appendChild(svg);
}
function openDetail(i){
  var d = D.details[i], body = document.getElementById("detail-body"), v = D.verdicts[d.verdict] || {};
  state.selected = i;
  document.querySelectorAll("#grid td.sel").forEach(function(t){ t.classList.remove("sel"); });
  var td = document.querySelector('#grid td[data-i="' + i + '"]'); if (td) td.classList.add("sel");
  body.textContent = "";
  body.appendChild(el("h2", {}, d.id + " "));
  body.firstChild.appendChild(el("span", {cls:"badge v-" + d.verdict, id:"detail-verdict"}, (v.glyph || "") + " " + d.verdict));
  if (d.signature) body.appendChild(el("p", {cls:"sig", id:"detail-signature"}, d.signature));
  if (d.cause) drawCause(body, d.cause);
  var dl = el("dl");
  kv(dl, "case", d.case); kv(dl, "configuration", d.config + ((D.info.config||{})[d.config] ? " — " + D.info.config[d.config] : ""));
  kv(dl, "patched", O(d.patched).join("; "));
  var su = O(d.start_used);
  kv(dl, "start method", "requested " + d.start + "; reported " + (su.reported || "?") + "; seen in tree " + (su.seen_in_tree || "?") + (su.refused ? "; set_start_method refused: " + su.refused : ""));
  kv(dl, "Python", d.python); kv(dl, "gevent", d.gevent); kv(dl, "greenlet", d.greenlet);
  kv(dl, "elapsed", d.elapsed_s + " s" + (d.quiescent_at_s != null ? " (still from " + d.quiescent_at_s + " s)" : ""));
  kv(dl, "recorded", d.recorded_at);
  if (d.verdicts.length > 1) kv(dl, "runs disagree", d.runs + " runs: " + d.verdicts.join(", "));
  kv(dl, "proof", JSON.stringify(O(d.proof)));
  body.appendChild(dl);
  if (d.processes.length) {
    body.appendChild(el("h3", {}, "Process tree: blocked calls and pipes"));
    var box = el("div", {id:"detail-processes"});
    d.processes.forEach(function(p){
      var div = el("div", {cls:"proc"}, el("b", {}, p.pid + " " + p.role), " (parent " + p.ppid + ") ", el("code", {}, T(p.cmdline)));
      p.threads.forEach(function(t){
        div.appendChild(el("div", {cls:"th"}, "thread " + t.tid + " " + (t.name || "") + " [" + (t.state || "?") + "] " + (t.call || "") + "  (" + (t.wchan || "-") + (t.wait ? ", " + t.wait + " wait" : "") + ")"));
        if (t.pipe) {
          var holders = t.pipe.holders.map(function(h){ return h.role + " " + h.pid + " (fd " + h.fd + ") in " + h.blocked_in; }).join("; ") || "nobody";
          div.appendChild(el("div", {cls:"th pipe"}, t.pipe.target + ": " + t.pipe.other_end + " end held by " + holders + (t.pipe.outside_holders.length ? "; also outside the tree: " + JSON.stringify(t.pipe.outside_holders) : "")));
        }
      });
      var fds = T(p.fds);
      if (fds) {
        var det = el("details", {}, el("summary", {}, fds.split("\n").length + " open fds"));
        det.appendChild(el("pre", {}, fds));
        div.appendChild(det);
      }
      box.appendChild(div);
    });
    body.appendChild(box);
  }
  [["python_stacks", "Python stacks (faulthandler)", true], ["greenlets", "Greenlets", false]].forEach(function(x){
    var blocks = d[x[0]] || {}, pids = Object.keys(blocks);
    if (!pids.length) return;
    body.appendChild(el("h3", {}, x[1]));
    pids.forEach(function(pid){
      var role = (d.processes.filter(function(p){ return String(p.pid) === pid; })[0] || {}).role || "";
      var det = el("details", x[2] ? {open:""} : {}, el("summary", {}, pid + " " + role));
      det.appendChild(el("pre", {cls:x[0]}, T(blocks[pid])));
      body.appendChild(det);
    });
  });
  if (d.stacks_as_in) {
    var link = el("a", {href:"#" + d.stacks_as_in, id:"detail-stacks-link"}, d.stacks_as_in);
    body.appendChild(el("p", {}, "Python stacks, greenlets and fd tables: as in the same situation's ", link,
                        " (the records file has this cell's own)."));
  }
  [["stderr_tail", "stderr (end)"], ["stdout_tail", "stdout (end)"]].forEach(function(x){
    var text = T(d[x[0]]);
    if (text.trim()) { body.appendChild(el("h3", {}, x[1])); body.appendChild(el("pre", {}, text)); }
  });
  var prov = el("details", {}, el("summary", {}, "Provenance and cleanup"));
  prov.appendChild(el("pre", {}, JSON.stringify({provenance:O(d.provenance), cleanup:O(d.cleanup)}, null, 1)));
  body.appendChild(prov);
  var panel = document.getElementById("detail");
  panel.hidden = false;
  panel.scrollTop = 0;
  if (location.hash !== "#" + d.id) history.replaceState(null, "", "#" + d.id);
}
function closeDetail(){
  document.getElementById("detail").hidden = true; state.selected = -1;
  document.querySelectorAll("#grid td.sel").forEach(function(t){ t.classList.remove("sel"); });
  history.replaceState(null, "", location.pathname + location.search);
}
controls();
render();
var grid = document.getElementById("grid");
grid.addEventListener("click", function(ev){ var td = ev.target.closest("td[data-i]"); if (td) openDetail(+td.getAttribute("data-i")); });
grid.addEventListener("keydown", function(ev){ var td = ev.target.closest("td[data-i]"); if (td && (ev.key === "Enter" || ev.key === " ")) { ev.preventDefault(); openDetail(+td.getAttribute("data-i")); } });
var glance = document.getElementById("glance");
if (glance) glance.addEventListener("click", function(ev){ var sq = ev.target.closest("[data-i]"); if (sq) openDetail(+sq.getAttribute("data-i")); });
document.getElementById("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", function(ev){ if (ev.key === "Escape") closeDetail(); });
function fromHash(){
  var id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  for (var i = 0; i < D.details.length; i++) if (D.details[i].id === id) { openDetail(i); return; }
}
window.addEventListener("hashchange", fromHash);
fromHash();
document.body.setAttribute("data-ready", "1");
})();
