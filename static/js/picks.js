/* Visitor picks on a share link (sharing/views/picks.py): pick or unpick an image (its button, or P in the
   share lightbox), comment on it, confirm.
   The visitor's name and a random key stay in this browser (localStorage); the key tells the server which
   visitor is back. Everything shown comes back as text (textContent), never as HTML. */
(function () {
  "use strict";
  const bar = document.querySelector(".pick-bar[data-picks-url]");
  if (!bar || !document.getElementById("pick-name")) return; // picking closed: nothing to do
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const nameInput = document.getElementById("pick-name");
  const status = bar.querySelector("[data-pick-status]");
  const count = bar.querySelector("[data-pick-count]");
  const confirmButton = bar.querySelector("[data-pick-confirm]");
  const controls = Array.from(document.querySelectorAll("[data-pick-output]"));
  let locked = false;

  function pickKey() {
    let key = localStorage.getItem("fluxsite-pick-key");
    if (!key) {
      const bytes = new Uint8Array(24);
      crypto.getRandomValues(bytes);
      key = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem("fluxsite-pick-key", key);
    }
    return key;
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  async function send(url, body) {
    const response = await fetch(url, {
      method: body === undefined ? "GET" : "POST",
      headers: { "X-Pick-Key": pickKey(), "X-CSRFToken": csrf, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const errors = data.errors ? Object.values(data.errors).flat().join(" ") : "";
      throw new Error(data.detail || errors || "That did not work; try again.");
    }
    return data;
  }

  function show(state) {
    locked = state.confirmed || !state.open;
    if (state.name && !nameInput.value) nameInput.value = state.name;
    let picked = 0;
    controls.forEach((box) => {
      const mine = state.picks[box.dataset.pickOutput] || { picked: false, comment: "" };
      const toggle = box.querySelector("[data-pick-toggle]");
      toggle.setAttribute("aria-pressed", String(mine.picked));
      toggle.textContent = mine.picked ? "★ Picked" : "☆ Pick";
      toggle.disabled = locked;
      const comment = box.querySelector("[data-pick-comment]");
      if (document.activeElement !== comment) comment.value = mine.comment;
      comment.disabled = locked;
      box.querySelector("[data-pick-comment-save]").disabled = locked;
      box.closest(".board-item, .pick-item").classList.toggle("is-picked", mine.picked);
      box.hidden = false;
      if (mine.picked) picked += 1;
    });
    count.textContent = String(picked);
    if (confirmButton) confirmButton.disabled = locked;
    if (state.confirmed) say("Your selection is confirmed. Thank you!");
  }

  function signedName() {
    const name = nameInput.value.trim();
    if (!name) {
      say("Type your name first, so they know who picked.");
      nameInput.focus();
      return null;
    }
    localStorage.setItem("fluxsite-pick-name", name);
    return name;
  }

  async function change(output, fields) {
    const name = signedName();
    if (!name) return;
    try {
      show(await send(bar.dataset.picksUrl, Object.assign({ name: name, output: output }, fields)));
      say("Saved.");
    } catch (error) {
      say(error.message);
    }
  }

  controls.forEach((box) => {
    const output = box.dataset.pickOutput;
    box.querySelector("[data-pick-toggle]").addEventListener("click", (event) => {
      change(output, { picked: event.currentTarget.getAttribute("aria-pressed") !== "true" });
    });
    box.querySelector("[data-pick-comment-save]").addEventListener("click", () => {
      change(output, { comment: box.querySelector("[data-pick-comment]").value });
    });
  });

  if (confirmButton) {
    confirmButton.addEventListener("click", async () => {
      if (!signedName()) return;
      try {
        show(await send(bar.dataset.confirmUrl, {}));
      } catch (error) {
        say(error.message);
      }
    });
  }

  // P picks or unpicks the image the share lightbox shows (its address is #view-output-<id>).
  document.addEventListener("keydown", (event) => {
    if (event.key.toLowerCase() !== "p" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    const shown = window.location.hash.match(/^#view-output-([0-9a-f-]{36})$/);
    const box = shown && controls.find((candidate) => candidate.dataset.pickOutput === shown[1]);
    if (!box || locked) return;
    event.preventDefault();
    box.querySelector("[data-pick-toggle]").click();
  });

  nameInput.value = localStorage.getItem("fluxsite-pick-name") || "";
  send(bar.dataset.picksUrl).then(show).catch((error) => say(error.message));
})();
