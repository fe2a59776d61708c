// The web UI's only script: live updates over server-sent events, the enrolment reader, and small
// conveniences. Pages work without it (forms post, pages reload); with it they stay current.
"use strict";

(function () {
  const wide = window.matchMedia("(min-width: 900px)");
  function openMenu() { document.querySelectorAll("details.menu").forEach(d => { d.open = wide.matches; }); }

  // Regions marked data-live-src="URL" data-live-on="kind[:charger] ..." are fetched again (at most
  // every 700 ms) when an event of such a kind (for such a charger) arrives.
  const regions = [];
  function registerRegions() {
    document.querySelectorAll("[data-live-src]").forEach(el => {
      // kind:charger, split at the first colon only: a charger's id may itself hold colons.
      const on = (el.dataset.liveOn || "*").split(/\s+/).filter(Boolean).map(s => {
        const i = s.indexOf(":");
        return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
      });
      regions.push({ el, on, timer: null, busy: false, again: false });
    });
  }
  function matches(region, line) {
    return region.on.some(([kind, identity]) =>
      (kind === "*" || kind === line.kind) && (!identity || identity === line.identity));
  }
  async function refresh(region) {
    if (region.busy) { region.again = true; return; }
    region.busy = true;
    try {
      const response = await fetch(region.el.dataset.liveSrc, { credentials: "same-origin", headers: { "X-Requested-With": "live" } });
      if (response.redirected && response.url.includes("/login")) { window.location.reload(); return; }
      if (response.ok) {
        const html = await response.text();
        if (!region.el.contains(document.activeElement) || document.activeElement === document.body) {
          region.el.innerHTML = html;
          region.el.dataset.refreshed = String(Date.now());
        }
      }
    } catch (e) { /* the stream's state shows the connection; the next event tries again */ }
    region.busy = false;
    if (region.again) { region.again = false; schedule(region); }
  }
  function schedule(region) {
    if (region.timer) return;
    region.timer = setTimeout(() => { region.timer = null; refresh(region); }, 700);
  }

  function feedLine(line) {
    const feed = document.getElementById("live-feed");
    if (!feed || !line.text) return;
    const identityFilter = feed.dataset.identity;
    if (identityFilter && line.identity !== identityFilter) return;
    const li = document.createElement("li");
    li.className = line.severity;
    const time = document.createElement("time");
    time.dateTime = line.at;
    time.textContent = line.time;
    li.appendChild(time);
    li.appendChild(document.createTextNode(line.text));
    feed.prepend(li);
    const empty = feed.querySelector(".empty");
    if (empty) empty.remove();
    while (feed.children.length > 100) feed.lastElementChild.remove();
  }

  function connectLive() {
    const state = document.getElementById("live-state");
    if (!state || (!regions.length && !document.getElementById("live-feed"))) return;
    const source = new EventSource("/ui/events");
    source.onopen = () => { state.className = "live-state on"; document.body.dataset.live = "on"; };
    source.onerror = () => { state.className = "live-state off"; document.body.dataset.live = "off"; };
    source.onmessage = (message) => {
      let line;
      try { line = JSON.parse(message.data); } catch (e) { return; }
      feedLine(line);
      regions.forEach(region => { if (matches(region, line)) schedule(region); });
    };
    window.addEventListener("pagehide", () => source.close());
  }

  // Enrolment: <input data-enrol> is filled with the id of the card tapped on the box's reader.
  function connectReader() {
    const target = document.querySelector("input[data-enrol]");
    if (!target) return;
    const status = document.getElementById("reader-status");
    const source = new EventSource("/ui/readers/events");
    source.addEventListener("tap", (message) => {
      const event = JSON.parse(message.data);
      target.value = event.id;
      target.dispatchEvent(new Event("input"));
      if (status) {
        status.classList.add("got");
        status.textContent = event.enrolled
          ? `Card ${event.id} tapped: it is already enrolled (${event.enrolled.driver || event.enrolled.vehicle || event.enrolled.company || "no owner"}).`
          : `Card ${event.id} tapped on ${event.reader}: ready to enrol.`;
      }
    });
    source.addEventListener("state", (message) => {
      const event = JSON.parse(message.data);
      if (status && !status.classList.contains("got")) {
        status.textContent = `Reader ${event.reader}: ${event.state}${event.detail ? " (" + event.detail + ")" : ""}. Tap a card on it.`;
      }
    });
    window.addEventListener("pagehide", () => source.close());
  }

  document.addEventListener("DOMContentLoaded", () => {
    openMenu();
    wide.addEventListener("change", openMenu);
    registerRegions();
    connectLive();
    connectReader();
    document.querySelectorAll("[data-back]").forEach(a => a.addEventListener("click", (e) => {
      if (history.length > 1) { e.preventDefault(); history.back(); }
    }));
    document.addEventListener("submit", (e) => {
      const message = e.target.dataset && e.target.dataset.confirm;
      if (message && !window.confirm(message)) e.preventDefault();
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(s => s.addEventListener("change", () => s.form.submit()));
  });
})();
