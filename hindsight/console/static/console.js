// The console's small behaviours: timelines (vis-timeline), the host's time slider, Ctrl+Enter.
(function () {
  "use strict";
  function dataOf(el) {
    var script = el.parentElement.querySelector("script.timeline-data");
    return script ? JSON.parse(script.textContent) : null;
  }
  function whenDrawn(chart, el, started, shows) {  // marks the element once its items are on screen
    function drawn() {
      var root = el.querySelector(".vis-timeline");
      return root && getComputedStyle(root).visibility !== "hidden" && (!shows || el.querySelector(shows));
    }
    (function poll() {
      if (drawn()) {
        el.dataset.drawMs = String(Math.round(performance.now() - started));
        el.dataset.drawn = "1";
      } else if (performance.now() - started < 20000) {
        requestAnimationFrame(poll);
      }
    })();
  }
  // an error fragment (400 bad input, 403, 429 too many at once) is shown where the answer goes
  if (window.htmx) htmx.config.responseHandling = [
    { code: "204", swap: false }, { code: "[23]..", swap: true },
    { code: "(400|403|429)", swap: true }, { code: "[45]..", swap: false, error: true }];
  function iso(ms) { return new Date(ms).toISOString().replace(".000Z", "Z"); }

  function answerTimeline(el) {
    var started = performance.now();
    var d = dataOf(el);
    if (!d) return;
    var groups = d.groups.length ? new vis.DataSet(d.groups) : null;
    // no start/end option: vis-timeline then shows the chart at its first draw instead of after
    // its first range change; the window is set once drawn
    var options = { stack: false, zoomKey: "ctrlKey", orientation: "top", maxHeight: 640,
                    showCurrentTime: false, selectable: true, tooltip: { followMouse: true },
                    onInitialDrawComplete: function () { tl.setWindow(d.start, d.end, { animation: false }); } };
    var tl = groups ? new vis.Timeline(el, new vis.DataSet(d.items), groups, options)
                    : new vis.Timeline(el, new vis.DataSet(d.items), options);
    tl.addCustomTime(d.at, "asked");
    tl.setCustomTimeTitle("asked: " + iso(d.at), "asked");
    var el2 = el.querySelector(".vis-custom-time"); if (el2) el2.classList.add("asked");
    tl.on("select", function (props) {
      var item = props.items.length ? d.items.find(function (i) { return i.id === props.items[0]; }) : null;
      if (item && item.href) window.location.href = item.href;
    });
    whenDrawn(tl, el, started, d.items.length ? ".vis-item" : null);
    el.dataset.ready = "1";
  }

  function stripTimeline(el) {
    var started = performance.now();
    var d = dataOf(el);
    if (!d || !d.items.length) return;
    var tl = new vis.Timeline(el, new vis.DataSet(d.items), new vis.DataSet(d.groups),
      { stack: false, zoomKey: "ctrlKey", showCurrentTime: false, selectable: true,
        onInitialDrawComplete: function () { tl.setWindow(d.start, d.end, { animation: false }); } });
    tl.on("select", function (props) {
      var item = props.items.length ? d.items.find(function (i) { return i.id === props.items[0]; }) : null;
      var base = el.dataset.url, sep = base.indexOf("?") < 0 ? "?" : "&";
      if (item) window.location.href = base + sep + "query=" + encodeURIComponent(item.query) + "&at=" + item.at;
    });
    whenDrawn(tl, el, started, ".vis-item");
    el.dataset.ready = "1";
  }

  function rateChart(el) {
    var d = dataOf(el);
    if (!d || !d.length) return;
    var chart = new vis.Graph2d(el, new vis.DataSet(d), { style: "bar", barChart: { width: 40, align: "left" },
      drawPoints: false, height: "180px", showCurrentTime: false });
    whenDrawn(chart, el, performance.now(), "rect");
    el.dataset.ready = "1";
  }

  function slider(box) {
    var points = JSON.parse(box.dataset.points), input = box.querySelector("input"),
        label = box.querySelector(".slider-label"), target = document.getElementById("state");
    if (!points.length) return;
    var shown = target.querySelector("[data-at]"), at = shown ? Number(shown.dataset.at) : points[points.length - 1];
    var index = 0;
    for (var i = 0; i < points.length; i++) if (points[i] <= at) index = i;
    input.value = index;
    label.textContent = iso(points[index] * 1000);
    input.addEventListener("input", function () { label.textContent = iso(points[input.value] * 1000); });
    input.addEventListener("change", function () {
      htmx.ajax("GET", box.dataset.url + "&at=" + points[input.value], { target: "#state" });
      var t2 = document.querySelector("form.diff input[name=t2]"); if (t2) t2.value = iso(points[input.value] * 1000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-timeline]").forEach(answerTimeline);
    document.querySelectorAll("[data-strip]").forEach(stripTimeline);
    document.querySelectorAll("[data-rate]").forEach(rateChart);
    document.querySelectorAll(".slider[data-points]").forEach(slider);
    document.querySelectorAll("input[data-picks]").forEach(function (picker) {  // UTC picker -> text
      var field = picker.form.querySelector("input[name=" + picker.dataset.picks + "]");
      picker.addEventListener("change", function () {
        if (picker.value) field.value = (picker.value.length === 16 ? picker.value + ":00" : picker.value) + "Z";
      });
    });
    var editor = document.querySelector("textarea[name=sql]");
    if (editor) editor.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); htmx.trigger(editor.form, "submit"); }
    });
    document.body.dataset.ready = "1";
  });
})();
