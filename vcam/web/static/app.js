// vcam's pages work without this; it asks before a delete, keeps the camera states fresh, and
// shows a camera's newest picture when its live view cannot play.
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
