// Library uploads: drag and drop anywhere, paste, or the file picker; one request per file, each with its own
// progress bar and its own error, and a way to start variations as soon as a file is in.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const section = document.getElementById("upload");
  if (!section) return;
  const url = section.dataset.uploadUrl;
  const maxBytes = Number(section.dataset.maxBytes);
  const input = document.getElementById("upload-input");
  const list = document.getElementById("upload-list");
  const rowTemplate = document.getElementById("upload-row");
  const dropzone = section.querySelector(".dropzone");
  const overlay = document.getElementById("drop-overlay");
  const grid = document.getElementById("source-grid");
  const ACCEPTED = ["image/jpeg", "image/png", "image/webp", "image/gif"];

  // The words of the server's size_text (variations/services/sources.py): 20 MB, 4.9 KB, 300 bytes.
  function sizeText(bytes) {
    for (const [unit, size] of [["MB", 2 ** 20], ["KB", 2 ** 10]]) {
      if (bytes >= size) return `${(bytes / size).toFixed(1).replace(/\.0$/, "")} ${unit}`;
    }
    return `${bytes} bytes`;
  }

  function addRow(file) {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.querySelector(".upload-name").textContent = file.name || "Pasted image";
    row.querySelector(".upload-message").textContent = `${sizeText(file.size)} · waiting…`;
    list.prepend(row);
    return row;
  }

  function fail(row, message) {
    row.classList.add("is-error");
    row.querySelector(".upload-message").textContent = message;
  }

  function succeed(row, result) {
    row.classList.add("is-done");
    const thumb = row.querySelector(".upload-thumb");
    thumb.src = result.thumbnail_url;
    thumb.alt = `Thumbnail of ${result.name}`;
    row.querySelector(".upload-message").textContent = result.created
      ? "Uploaded. Run a variation now, or choose parameters."
      : "Already in the library.";
    const actions = row.querySelector(".upload-actions");
    const run = actions.querySelector("form");
    run.action = result.run_url;
    run.querySelector('input[name="csrfmiddlewaretoken"]').value = Studio.csrfToken();
    actions.querySelector(".upload-open").href = result.url;
    actions.hidden = false;
    if (result.tile_html && grid) {
      grid.hidden = false;
      document.getElementById("empty-library")?.remove();
      grid.prepend(Studio.fragment(result.tile_html));
    }
  }

  function upload(file) {
    const row = addRow(file);
    // Checks the server repeats, made here first so a wrong file fails at once.
    if (file.type && !ACCEPTED.includes(file.type)) {
      return fail(row, "Not an image this app takes: use JPEG, PNG, WebP or GIF.");
    }
    if (file.size > maxBytes) {
      return fail(row, `Too large: ${sizeText(file.size)}; the limit is ${sizeText(maxBytes)}.`);
    }
    const body = new FormData();
    body.append("image", file, file.name || "pasted.png");
    const request = new XMLHttpRequest();
    const progress = row.querySelector("progress");
    request.open("POST", url);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", Studio.csrfToken());
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      progress.value = Math.round((event.loaded / event.total) * 100);
      row.querySelector(".upload-message").textContent =
        progress.value < 100 ? `Uploading… ${progress.value}%` : "Checking the image…";
    });
    request.addEventListener("load", () => {
      let reply = null;
      try {
        reply = JSON.parse(request.responseText);
      } catch {
        return fail(row, `Upload failed (HTTP ${request.status}).`);
      }
      const result = reply.results?.[0];
      if (request.status === 200 && result?.ok) succeed(row, result);
      else fail(row, result?.error || reply.error || `Upload failed (HTTP ${request.status}).`);
      Studio.announce(`${file.name}: ${row.querySelector(".upload-message").textContent}`);
    });
    request.addEventListener("error", () => fail(row, "The upload was interrupted. Check the connection and try again."));
    request.send(body);
  }

  const uploadAll = (files) => [...files].forEach(upload);

  input.addEventListener("change", () => {
    uploadAll(input.files);
    input.value = "";
  });

  // Drag and drop onto the whole page.
  let depth = 0;
  const hasFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.hidden = false;
    dropzone.classList.add("is-dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) {
      overlay.hidden = true;
      dropzone.classList.remove("is-dragging");
    }
  });
  document.addEventListener("dragover", (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.hidden = true;
    dropzone.classList.remove("is-dragging");
    uploadAll(event.dataTransfer.files);
  });

  // Paste from the clipboard (a screenshot, an image copied in another app).
  document.addEventListener("paste", (event) => {
    if (event.target.closest("input, textarea")) return;
    const files = [...(event.clipboardData?.files || [])];
    if (!files.length) return;
    event.preventDefault();
    uploadAll(files);
  });
});
