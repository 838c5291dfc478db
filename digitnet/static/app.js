// digitnet draw: a pad to draw a digit (or a number) on; the server says what it reads.
//
// Strokes are drawn white on black (MNIST's look) with Pointer Events, so mouse,
// finger and pen all work.  While drawing, the pad is sent at most every
// UPDATE_MS; when a stroke ends it is sent at once.  At most one request is in
// flight: a drawing that changes meanwhile is sent when the answer arrives, so the
// page always ends showing the prediction for what is on the pad.
"use strict";

(() => {
  const PREDICT_URL = "api/predict";
  const HEALTH_URL = "api/health";
  const UPDATE_MS = 150;
  const BRUSH_FRACTION = 0.075; // stroke width / pad height: MNIST strokes are ~10% of a digit's height
  const PAD_WIDTH = { digit: 400, number: 1000 }; // the number pad is as tall, and wide enough for several digits
  const HINT = {
    digit: "Draw one digit, 0–9, large and centred.",
    number: "Write a number, digits side by side, left to right.",
  };
  const INK = "#ffffff";
  const PAPER = "#000000";

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true }); // a copy is read at each stroke
  const clearButton = document.getElementById("clear");
  const digitEl = document.getElementById("digit");
  const confidenceEl = document.getElementById("confidence");
  const statusEl = document.getElementById("status");
  const barsEl = document.getElementById("bars");
  const previewEl = document.getElementById("preview");
  const previewEmptyEl = document.getElementById("preview-empty");
  const modelInfoEl = document.getElementById("model-info");
  const modeButton = document.getElementById("mode");
  const hintEl = document.getElementById("hint");
  const digitsEl = document.getElementById("digits");

  let activePointer = null; // the one pointer drawing now (a second finger is ignored)
  let strokePoints = []; // the points of the stroke being drawn, in pad pixels
  let strokeBase = null; // the pad as it was before that stroke began
  let hasInk = false;
  let updateTimer = null;
  let inFlight = false;
  let resendWhenDone = false;
  let generation = 0; // bumped by Clear, so a late answer for an old drawing is dropped

  // ------------------------------------------------------------------ bars

  const bars = [];
  for (let d = 0; d < 10; d++) {
    const row = document.createElement("div");
    row.className = "bar";
    row.setAttribute("role", "listitem");
    row.dataset.digit = String(d);
    row.innerHTML = '<span class="name"></span><div class="track"><div class="fill"></div></div><span class="value"></span>';
    row.querySelector(".name").textContent = String(d);
    barsEl.appendChild(row);
    bars.push({ row, fill: row.querySelector(".fill"), value: row.querySelector(".value") });
  }

  // ------------------------------------------------------------------ drawing

  function clearPad() {
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
  }

  function padPoint(event) {
    // The canvas buffer is pad.width px wide whatever size CSS shows it at.
    const rect = pad.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * pad.width) / rect.width,
      y: ((event.clientY - rect.top) * pad.height) / rect.height,
    };
  }

  function setBrush() {
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = pad.height * BRUSH_FRACTION;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  // The stroke being drawn is redrawn whole on each move, over a copy of the pad taken
  // when it began: one path has clean edges where many short segments would show seams.
  function renderStroke() {
    ctx.putImageData(strokeBase, 0, 0);
    ctx.beginPath();
    if (strokePoints.length === 1) {
      const p = strokePoints[0];
      ctx.arc(p.x, p.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.moveTo(strokePoints[0].x, strokePoints[0].y);
    // Curves through the midpoints between samples round off the corners of a fast stroke.
    for (let i = 1; i < strokePoints.length - 1; i++) {
      const p = strokePoints[i];
      const next = strokePoints[i + 1];
      ctx.quadraticCurveTo(p.x, p.y, (p.x + next.x) / 2, (p.y + next.y) / 2);
    }
    const last = strokePoints[strokePoints.length - 1];
    ctx.lineTo(last.x, last.y);
    ctx.stroke();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (activePointer !== null) return;
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    activePointer = event.pointerId;
    try {
      pad.setPointerCapture(event.pointerId); // keep the stroke when it leaves the pad
    } catch (_) {
      /* synthetic events may have no capturable pointer */
    }
    setBrush();
    strokeBase = ctx.getImageData(0, 0, pad.width, pad.height);
    strokePoints = [padPoint(event)];
    renderStroke();
    hasInk = true;
    scheduleUpdate();
  });

  pad.addEventListener("pointermove", (event) => {
    if (event.pointerId !== activePointer) return;
    event.preventDefault();
    // Coalesced events are the points the browser merged into this one: a smoother line.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      strokePoints.push(padPoint(e));
    }
    renderStroke();
    scheduleUpdate();
  });

  function endStroke(event) {
    if (event.pointerId !== activePointer) return;
    activePointer = null;
    strokePoints = [];
    strokeBase = null;
    updateNow();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("contextmenu", (event) => event.preventDefault());

  // ------------------------------------------------------------------ asking the server

  function scheduleUpdate() {
    if (updateTimer === null) {
      updateTimer = setTimeout(updateNow, UPDATE_MS);
    }
  }

  function updateNow() {
    if (updateTimer !== null) {
      clearTimeout(updateTimer);
      updateTimer = null;
    }
    if (!hasInk) return;
    if (inFlight) {
      resendWhenDone = true;
      return;
    }
    send();
  }

  function setBusy(busy) {
    inFlight = busy;
    pad.dataset.state = busy ? "busy" : hasInk ? "done" : "empty";
  }

  function padBlob() {
    return new Promise((resolve, reject) =>
      pad.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the pad could not be encoded"))), "image/png"),
    );
  }

  async function send() {
    const sentGeneration = generation;
    setBusy(true);
    resendWhenDone = false;
    try {
      const blob = await padBlob();
      const response = await fetch(PREDICT_URL, {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body: blob,
      });
      const answer = await response.json().catch(() => ({ error: `server answered ${response.status}` }));
      if (sentGeneration === generation) {
        if (response.ok) showPrediction(answer);
        else showProblem(answer.error || `server answered ${response.status}`);
      }
    } catch (error) {
      if (sentGeneration === generation) showProblem("cannot reach the digitnet server — is `digitnet draw` still running?");
    } finally {
      setBusy(false);
      if (resendWhenDone && hasInk) send();
    }
  }

  // ------------------------------------------------------------------ showing the answer

  function percent(p) {
    return p >= 0.9995 ? "100%" : p < 0.0005 ? "0%" : `${(p * 100).toFixed(1)}%`;
  }

  function showPrediction(answer) {
    const digits = answer.digits || [];
    if (digits.length > 1) {
      showNumber(answer, digits);
      return;
    }
    digitsEl.hidden = true;
    digitsEl.replaceChildren();
    digitEl.classList.remove("number");
    digitEl.textContent = String(answer.digit);
    confidenceEl.textContent = percent(answer.confidence);
    statusEl.textContent = answer.confidence < 0.5 ? "not sure — try drawing it bigger or clearer" : "";
    statusEl.classList.remove("error");
    answer.probabilities.forEach((p, d) => {
      bars[d].fill.style.width = `${(p * 100).toFixed(2)}%`;
      bars[d].value.textContent = percent(p);
      bars[d].row.classList.toggle("top", d === answer.digit);
    });
    barsEl.hidden = false;
    previewEl.src = answer.preprocessed;
    previewEl.hidden = false;
    previewEmptyEl.hidden = true;
  }

  // A number: the digits read, the least sure one's probability, and each digit's guess
  // beside the 28×28 image the network saw for it.
  function showNumber(answer, digits) {
    digitEl.classList.add("number");
    digitEl.textContent = answer.number;
    confidenceEl.textContent = percent(answer.confidence);
    const unsure = digits.filter((d) => d.confidence < 0.5).length;
    statusEl.textContent = unsure ? `not sure of ${unsure} digit${unsure > 1 ? "s" : ""} — try writing bigger or clearer` : "";
    statusEl.classList.remove("error");
    barsEl.hidden = true;
    previewEl.hidden = true;
    previewEmptyEl.hidden = false;
    digitsEl.replaceChildren(
      ...digits.map((d) => {
        const item = document.createElement("figure");
        item.className = "read-digit";
        item.setAttribute("role", "listitem");
        const image = document.createElement("img");
        image.src = d.preprocessed;
        image.alt = `digit ${d.digit} as the network saw it`;
        image.width = 56;
        image.height = 56;
        const caption = document.createElement("figcaption");
        caption.innerHTML = '<span class="guess"></span> <span class="muted"></span>';
        caption.querySelector(".guess").textContent = String(d.digit);
        caption.querySelector(".muted").textContent = percent(d.confidence);
        item.append(image, caption);
        return item;
      }),
    );
    digitsEl.hidden = false;
  }

  function showProblem(message) {
    statusEl.textContent = message;
    statusEl.classList.add("error");
  }

  function resetResult() {
    digitEl.textContent = "";
    digitEl.classList.remove("number");
    digitsEl.hidden = true;
    digitsEl.replaceChildren();
    barsEl.hidden = false;
    confidenceEl.textContent = "";
    statusEl.textContent = pad.dataset.mode === "number" ? "Write a number on the pad." : "Draw a digit on the pad.";
    statusEl.classList.remove("error");
    for (const bar of bars) {
      bar.fill.style.width = "0%";
      bar.value.textContent = "";
      bar.row.classList.remove("top");
    }
    previewEl.hidden = true;
    previewEl.removeAttribute("src");
    previewEmptyEl.hidden = false;
  }

  function clearAll() {
    generation += 1;
    activePointer = null; // a stroke in progress ends here too
    strokePoints = [];
    strokeBase = null;
    if (updateTimer !== null) {
      clearTimeout(updateTimer);
      updateTimer = null;
    }
    resendWhenDone = false;
    clearPad();
    resetResult();
    pad.dataset.state = inFlight ? "busy" : "empty";
  }

  // One digit on a square pad, or a number on a wide one; switching starts a new drawing.
  function setMode(mode) {
    pad.dataset.mode = mode;
    pad.width = PAD_WIDTH[mode];
    modeButton.setAttribute("aria-pressed", String(mode === "number"));
    modeButton.textContent = mode === "number" ? "Draw one digit" : "Write a number";
    hintEl.textContent = HINT[mode];
    clearAll();
  }

  clearButton.addEventListener("click", clearAll);
  modeButton.addEventListener("click", () => setMode(pad.dataset.mode === "number" ? "digit" : "number"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      clearAll();
    }
  });

  // ------------------------------------------------------------------ which model

  async function showModelInfo() {
    try {
      const health = await (await fetch(HEALTH_URL)).json();
      const meta = health.metadata || {};
      const parts = [health.model.split(/[\\/]/).pop()];
      if (meta.architecture) parts.push(meta.architecture);
      if (typeof meta.test_accuracy === "number") parts.push(`test accuracy ${(meta.test_accuracy * 100).toFixed(2)}%`);
      modelInfoEl.textContent = parts.join(" · ");
      modelInfoEl.title = health.model;
    } catch (_) {
      modelInfoEl.textContent = "cannot reach the digitnet server";
    }
  }

  clearPad();
  resetResult();
  showModelInfo();
})();
