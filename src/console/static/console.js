// The console's one script (served from the binary, no inline code). Pages work without
// it; it adds the live delivery progress, fed by server-sent events.
(function () {
  "use strict";

  function liveProgress() {
    var table = document.getElementById("progress");
    if (!table || !table.dataset.stream || !window.EventSource) return;
    var state = document.getElementById("progress-state");
    var source = new EventSource(table.dataset.stream);
    source.addEventListener("progress", function (event) {
      var data = JSON.parse(event.data);
      var body = table.tBodies[0];
      data.channels.forEach(function (c) {
        var row = body.querySelector('tr[data-channel="' + c.channel + '"]');
        if (!row) {
          row = document.createElement("tr");
          row.dataset.channel = c.channel;
          var head = document.createElement("th");
          head.scope = "row";
          head.textContent = c.label;
          row.appendChild(head);
          ["queued", "sending", "delivered", "failed", "dead"].forEach(function (s) {
            var cell = document.createElement("td");
            cell.className = "num";
            cell.dataset.status = s;
            row.appendChild(cell);
          });
          body.appendChild(row);
        }
        ["queued", "sending", "delivered", "failed", "dead"].forEach(function (s) {
          row.querySelector('[data-status="' + s + '"]').textContent = c[s];
        });
      });
      state.textContent = data.message;
      state.dataset.done = String(data.done);
      if (data.done) {
        source.close();
        var reload = document.querySelector(".reload");
        if (reload) reload.remove();
      }
    });
  }

  // The notice form: the server counts SMS segments and the push payload as one types.
  function liveNoticeSize() {
    var text = document.querySelector("textarea[data-count]");
    var out = document.getElementById("notice-size");
    if (!text || !out || !window.fetch) return;
    var timer = null;
    text.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(text.dataset.count + "?text=" + encodeURIComponent(text.value), {
          credentials: "same-origin"
        })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data) out.textContent = data.message; })
          .catch(function () {});
      }, 250);
    });
  }

  document.addEventListener("DOMContentLoaded", liveProgress);
  document.addEventListener("DOMContentLoaded", liveNoticeSize);
})();
