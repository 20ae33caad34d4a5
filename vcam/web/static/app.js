// vcam's pages work without this; it asks before a delete, keeps the camera states fresh, shows a
// camera's newest picture when its live view cannot play, and plays the timeline from any second.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

for (const img of document.querySelectorAll("img.live")) {
  img.addEventListener("error", () => {
    // the live view ended (camera gone, daemon restarted): the newest picture, then try again
    setTimeout(() => { img.src = img.dataset.still + "?t=" + Date.now(); }, 2000);
    setTimeout(() => { img.src = img.src.replace(/latest\.jpg.*$/, "live.mjpeg"); }, 10000);
  }, { once: false });
}

async function refreshStates() {
  const states = document.querySelectorAll(".state[data-camera]");
  if (!states.length) return;
  try {
    const answer = await fetch("/api/cameras", { credentials: "same-origin" });
    if (!answer.ok) return;
    const cameras = new Map((await answer.json()).map((c) => [c.name, c]));
    for (const el of states) {
      const camera = cameras.get(el.dataset.camera);
      if (camera) el.textContent = camera.summary;
    }
  } catch (e) {
    // offline for a moment: the next round tries again
  }
}
setInterval(refreshStates, 5000);

// The timeline: a click on an hour's bar plays from the second clicked; the player shows the
// clock of what it plays and goes on into the next segment when one ends.
for (const bar of document.querySelectorAll("svg.hour")) {
  bar.addEventListener("click", (event) => {
    event.preventDefault();
    const box = bar.getBoundingClientRect();
    const at = Number(bar.dataset.start) + 3600 * (event.clientX - box.left) / box.width;
    const query = new URLSearchParams({ day: bar.dataset.day, at: at.toFixed(1) });
    window.location.assign(bar.dataset.link + "?" + query.toString());
  });
}

const footage = document.getElementById("footage");
if (footage) {
  const clockOf = (epoch) => new Date((epoch + Number(footage.dataset.zone)) * 1000).toISOString().slice(11, 19);
  const shown = document.getElementById("clock");
  // the moment asked for: Chromium does not follow the #t= of the address (others do)
  footage.addEventListener("loadedmetadata", () => {
    const offset = Number(footage.dataset.offset || 0);
    footage.dataset.offset = "0";
    if (offset > 0 && Math.abs(footage.currentTime - offset) > 0.5) footage.currentTime = offset;
  });
  footage.addEventListener("timeupdate", () => {
    shown.textContent = clockOf(Number(footage.dataset.start) + footage.currentTime);
  });
  footage.addEventListener("ended", async () => {
    const start = Number(footage.dataset.start);
    const query = new URLSearchParams({ since: String(start), until: String(Number(footage.dataset.end) + 3600) });
    try {
      const answer = await fetch(`/api/cameras/${encodeURIComponent(footage.dataset.camera)}/segments?${query}`,
        { credentials: "same-origin" });
      if (!answer.ok) return;
      // the one after this: starts are arrival times, so segments that meet may overlap a little
      const next = (await answer.json()).segments.find((s) => s.start > start + 0.001);
      if (!next) {
        shown.textContent += " (the end of what is recorded)";
        return;
      }
      footage.dataset.start = String(next.start);
      footage.dataset.end = String(next.end);
      footage.src = "/files/" + next.path.split("/").map(encodeURIComponent).join("/");
      document.getElementById("file").textContent = next.path.split("/").pop();
      await footage.play();
    } catch (e) {
      // offline for a moment: the controls are still there
    }
  });
}
