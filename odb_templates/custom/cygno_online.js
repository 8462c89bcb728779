// CYGNO online monitor (cygno_online.html), on MIDAS's own JavaScript API (midas.js,
// mhttpd.js).  Statistics are modbvalue elements refreshed by mhttpd.js; this file adds what
// mhttpd.js has no element for: triggered alarms (ODB /Alarms/Alarms), the analyzer's last
// runs and cluster boxes (JSON-RPC "jrpc" to the analyzer's client, answered by
// analyzers/online/jrpc.py) and the latest picture (a file mhttpd serves under /Custom).
// Settings: ODB /Analyzer/Monitor (Analyzer client, Grafana URL, Runs shown, Refresh s).
"use strict";

const CYGNO_DASHBOARDS = [
   ["cygno-online-reco", "Online reconstruction"],
   ["cygno-detector-quality", "Detector quality"],
   ["cygno-slow-control", "Slow control"],
   ["cygno-daq-cloud", "DAQ and cloud"],
];
const cygno = {
   analyzer: "Online Analyzer", grafana: "http://localhost:3000", runs: 10, refreshMs: 5000,
   display: {}, camera: null, polls: 0,
};

function cygnoInit() {
   mhttpd_init("CYGNO online", 1000);
   mhistory_init();  // the mjshistory plot: /History/Display/CYGNO/Analyzer rate
   mjsonrpc_db_get_values(["/Analyzer/Monitor"]).then(function (rpc) {
      const s = rpc.result.data[0] || {};
      if (s["analyzer client"]) cygno.analyzer = s["analyzer client"];
      if (s["grafana url"]) cygno.grafana = s["grafana url"].replace(/\/+$/, "");
      if (s["runs shown"] > 0) cygno.runs = s["runs shown"];
      if (s["refresh s"] > 0) cygno.refreshMs = 1000 * s["refresh s"];
   }).catch(function () {}).then(function () {
      cygnoGrafanaLinks();
      cygnoPoll();
   });
}

// replaced only when it changed: no flicker, and a reader never sees a half-new table
function cygnoSetHtml(element, html) {
   if (element.dataset.html !== html) {
      element.innerHTML = html;
      element.dataset.html = html;
   }
}

function cygnoText(text) {
   return mhttpd_escape(String(text === null || text === undefined ? "" : text));
}

// one JSON-RPC command to the analyzer; resolves to its decoded JSON answer
function cygnoAsk(cmd, args) {
   return mjsonrpc_call("jrpc", {
      client_name: cygno.analyzer, cmd: cmd, args: JSON.stringify(args || {}),
      max_reply_length: 1000000,
   }).then(function (rpc) {
      const result = rpc.result;
      if (result.status !== 1 || !result.reply)
         throw new Error(cygno.analyzer + " is not answering (status " + result.status + ")");
      const reply = JSON.parse(result.reply);
      if (reply.error) throw new Error(reply.error);
      return reply;
   });
}

function cygnoPoll() {
   Promise.all([cygnoAlarms(), cygnoRuns(), cygnoDisplay()]).finally(function () {
      cygno.polls++;
      document.body.dataset.polls = cygno.polls;  // for tests: one full refresh done
      window.setTimeout(cygnoPoll, cygno.refreshMs);
   });
}

function cygnoAlarms() {
   return mjsonrpc_db_get_values(["/Alarms/Alarms", "/Alarms/Alarm system active"])
      .then(function (rpc) {
         const alarms = rpc.result.data[0] || {};
         const active = rpc.result.data[1];
         let html = "";
         for (const key in alarms) {
            const a = alarms[key];
            if (key.indexOf("/") >= 0 || typeof a !== "object" || !(a.triggered > 0)) continue;
            html += "<div class='cygno-alarm' data-alarm='" + cygnoText(alarms[key + "/name"]) +
               "'>" + cygnoText(alarms[key + "/name"]) + ": " + cygnoText(a["alarm message"]) +
               "</div>";
         }
         if (!html)
            html = active ? "<span class='cygno-ok'>none triggered</span>"
               : "<span class='cygno-error'>alarm system off</span>";
         cygnoSetHtml(document.getElementById("alarms"), html);
      }).catch(function (error) {
         document.getElementById("alarms").textContent = String(error);
      });
}

function cygnoRuns() {
   const table = document.getElementById("runs");
   return cygnoAsk("cygno_runs", {limit: cygno.runs}).then(function (answer) {
      let html = "<tr><th>Run</th><th>Start</th><th>Stop</th><th>Events</th>" +
         "<th>Reconstructed</th><th>Reco</th></tr>";
      for (const r of answer.runs) {
         html += "<tr data-run='" + r.run + "'><td>" + r.run + "</td><td>" +
            cygnoText((r.start_time || "").replace("T", " ").slice(0, 19)) + "</td><td>" +
            cygnoText((r.stop_time || "").replace("T", " ").slice(0, 19)) + "</td><td>" +
            cygnoText(r.number_of_events) + "</td><td>" + cygnoText(r.reco_events) +
            "</td><td class='reco-" + cygnoText(r.reco_status) + "'>" +
            cygnoText(r.reco_status) + "</td></tr>";
      }
      cygnoSetHtml(table, html);
      document.getElementById("runs-source").textContent = answer.stale ?
         "analyzer database, not answering: last known" : "analyzer database";
   }).catch(function (error) {
      table.innerHTML = "<tr><td class='cygno-error'>" + cygnoText(error.message) + "</td></tr>";
   });
}

function cygnoDisplay() {
   return cygnoAsk("cygno_display").then(function (answer) {
      cygno.display = answer.cameras || {};
      const select = document.getElementById("camera-select");
      const cameras = Object.keys(cygno.display);
      if (select.options.length !== cameras.length) {
         select.innerHTML = cameras.map(function (c) {
            return "<option value='" + c + "'>camera " + c + "</option>";
         }).join("");
      }
      if (cygno.camera === null || !(cygno.camera in cygno.display))
         cygno.camera = cameras.length ? cameras[0] : null;
      select.value = cygno.camera;
      cygnoShowDisplay();
   }).catch(function (error) {
      document.getElementById("display-caption").innerHTML =
         "<span class='cygno-error'>" + cygnoText(error.message) + "</span>";
   });
}

function cygnoShowDisplay() {
   const select = document.getElementById("camera-select");
   if (select.value) cygno.camera = select.value;
   const d = cygno.display[cygno.camera];
   if (!d) return;
   const img = document.getElementById("display-img");
   const src = d.url + "?run=" + d.run + "&event=" + d.event;
   if (img.getAttribute("src") !== src) img.setAttribute("src", src);
   document.getElementById("display-caption").textContent =
      "run " + d.run + ", event " + d.event + ", " + d.clusters.length +
      (d.clusters.length === 1 ? " cluster" : " clusters");
   const svg = document.getElementById("display-boxes");
   svg.setAttribute("viewBox", "0 0 " + d.width + " " + d.height);
   let boxes = "";
   let rows = "<tr><th>#</th><th>x</th><th>y</th><th>width</th><th>height</th><th>light</th></tr>";
   d.clusters.forEach(function (c, i) {
      const x = c.xmin / d.block, y = c.ymin / d.block;
      const w = Math.max(1, (c.xmax - c.xmin) / d.block), h = Math.max(1, (c.ymax - c.ymin) / d.block);
      boxes += "<rect x='" + x + "' y='" + y + "' width='" + w + "' height='" + h + "'></rect>";
      rows += "<tr class='cluster'><td>" + i + "</td><td>" + c.xmin.toFixed(0) + "</td><td>" +
         c.ymin.toFixed(0) + "</td><td>" + (c.xmax - c.xmin).toFixed(0) + "</td><td>" +
         (c.ymax - c.ymin).toFixed(0) + "</td><td>" + c.integral.toFixed(0) + "</td></tr>";
   });
   cygnoSetHtml(svg, boxes);
   cygnoSetHtml(document.getElementById("clusters"), rows);
}

function cygnoGrafanaLinks() {
   document.getElementById("grafana-links").innerHTML = CYGNO_DASHBOARDS.map(function (d) {
      return "<a target='_blank' href='" + cygnoText(cygno.grafana) + "/d/" + d[0] + "'>" +
         d[1] + "</a>";
   }).join(" · ");
}
