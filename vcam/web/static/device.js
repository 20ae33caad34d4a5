// A browser camera: this device's camera, encoded by the browser itself (MediaRecorder: H.264
// where it can), sent to vcam over a WebSocket in quarter-second chunks. Reconnects by itself;
// keeps the screen awake where the browser allows (Wake Lock API).
"use strict";

const TYPES = ["video/webm;codecs=h264", "video/mp4;codecs=avc1", "video/webm;codecs=avc1", "video/webm;codecs=vp8"];
const CHUNK_MS = 250;
const RETRY_MS = 3000;

const root = document.getElementById("device");
const status = document.getElementById("status");
const preview = document.getElementById("preview");
const source = document.getElementById("source");
const size = document.getElementById("size");
const rate = document.getElementById("rate");
const startButton = document.getElementById("start");
const stopButton = document.getElementById("stop");

let stream = null, recorder = null, socket = null, wakeLock = null, wanted = false, sent = 0, refusal = "";

function say(text) { status.textContent = text; }

function constraints() {
  const [width, height] = size.value.split("x").map(Number);
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: Number(rate.value), max: 30 } };
  if (source.value === "user" || source.value === "environment") video.facingMode = source.value;
  else video.deviceId = { exact: source.value };
  return { video, audio: false };
}

async function listCameras() {
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
  if (!devices.length) return;
  const current = stream && stream.getVideoTracks()[0].getSettings().deviceId;
  source.replaceChildren(...devices.map((d, i) => {
    const option = new Option(d.label || `camera ${i + 1}`, d.deviceId);
    option.selected = d.deviceId === current;
    return option;
  }));
}

async function keepAwake() {
  try {
    if ("wakeLock" in navigator && document.visibilityState === "visible") wakeLock = await navigator.wakeLock.request("screen");
  } catch (e) { /* not allowed here: the screen may lock, and streaming then stops */ }
}

function send() {
  const type = TYPES.find((t) => MediaRecorder.isTypeSupported(t));
  if (!type) { say("This browser cannot encode video for vcam."); return; }
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}${root.dataset.feed}`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => socket.send(JSON.stringify({ type }));
  socket.onmessage = (event) => {
    const said = JSON.parse(event.data);
    if (said.error) { refusal = said.error; say(`vcam says: ${said.error}`); return; }
    refusal = "";
    const settings = stream.getVideoTracks()[0].getSettings();
    recorder = new MediaRecorder(stream, { mimeType: type, videoBitsPerSecond: settings.width > 800 ? 2500000 : 1200000,
                                           videoKeyFrameIntervalDuration: 1000 });
    recorder.ondataavailable = async (e) => {
      if (e.data.size && socket && socket.readyState === WebSocket.OPEN) {
        socket.send(await e.data.arrayBuffer());
        sent += e.data.size;
        say(`Streaming to ${root.dataset.camera}: ${settings.width}x${settings.height}, ${Math.round(settings.frameRate)} pictures a second, ${(sent / 1e6).toFixed(1)} MB sent.`);
      }
    };
    recorder.start(CHUNK_MS);
    document.body.classList.add("streaming");
  };
  socket.onclose = () => {
    if (recorder && recorder.state !== "inactive") recorder.stop();
    recorder = null;
    document.body.classList.remove("streaming");
    if (!wanted) return;
    say(refusal ? `vcam says: ${refusal}. Trying again…` : "Connection to vcam lost: trying again…");
    setTimeout(() => wanted && send(), RETRY_MS);
  };
}

async function start() {
  if (!window.isSecureContext || !navigator.mediaDevices) { document.getElementById("secure").hidden = false; return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia(constraints());
  } catch (e) { say(`No camera: ${e.message}`); return; }
  preview.srcObject = stream;
  await listCameras();
  wanted = true;
  startButton.hidden = true; stopButton.hidden = false;
  await keepAwake();
  send();
}

function stop() {
  wanted = false;
  if (socket) socket.close();
  if (stream) stream.getTracks().forEach((t) => t.stop());
  if (wakeLock) wakeLock.release();
  startButton.hidden = false; stopButton.hidden = true;
  say("Not streaming.");
}

startButton.addEventListener("click", start);
stopButton.addEventListener("click", stop);
document.addEventListener("visibilitychange", () => { if (wanted) keepAwake(); });
if (!window.isSecureContext || !navigator.mediaDevices) document.getElementById("secure").hidden = false;
else if (new URLSearchParams(location.search).has("start")) start();
