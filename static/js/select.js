/* Select many: every tile with data-select-kind ("source" | "output") and data-select-id gets a checkbox
   (shown on hover or focus, and always once something is selected). Shift-click selects a range,
   Ctrl/Cmd-A all shown, Esc clears; tiles dragged show boards to drop them on. The bar (includes/selection_bar.html) acts through the JSON API:
   /api/v1/boards/{id}/items, /api/v1/selection/{zip,star,delete}, /api/v1/shares. */
(function () {
  "use strict";
  const bar = document.getElementById("selection-bar");
  const main = document.getElementById("main");
  if (!bar || !main) return;
  const tiles = () => Array.from(main.querySelectorAll("[data-select-kind][data-select-id]"));
  const api = bar.dataset.api;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const count = bar.querySelector("[data-selection-count]");
  const status = bar.querySelector("[data-selection-status]");
  const boardSelect = bar.querySelector("[data-selection-board]");
  const selected = new Set();
  let lastIndex = null;

  function say(text) {
    status.textContent = text;
  }

  function key(tile) {
    return tile.dataset.selectKind + ":" + tile.dataset.selectId;
  }

  function refresh() {
    tiles().forEach((tile) => {
      const on = selected.has(key(tile));
      tile.classList.toggle("is-selected", on);
      tile.querySelector(".select-box").checked = on;
    });
    count.textContent = String(selected.size);
    bar.hidden = selected.size === 0;
    document.body.classList.toggle("is-selecting", selected.size > 0);
  }

  function body() {
    const picked = { sources: [], outputs: [] };
    selected.forEach((entry) => {
      const [kind, id] = entry.split(":");
      picked[kind + "s"].push(id);
    });
    return picked;
  }

  async function call(method, path, data) {
    const response = await fetch(api + path, {
      method: method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: data === undefined ? undefined : JSON.stringify(data),
      credentials: "same-origin",
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      const errors = answer.errors ? Object.values(answer.errors).flat().join(" ") : "";
      throw new Error(answer.detail || errors || "That did not work (" + response.status + ").");
    }
    return response;
  }

  let fillDropList = () => Promise.resolve(); // set below for those who curate
  let boardsChanged = () => {}; // the drop list reloads after a new board

  function enhance(tile) {
    if (tile.querySelector(":scope > .select-box")) return;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "select-box";
    box.setAttribute("aria-label", "Select this " + tile.dataset.selectKind);
    box.checked = selected.has(key(tile));
    box.addEventListener("click", (event) => {
      const all = tiles();
      const index = all.indexOf(tile);
      const on = box.checked;
      const range = event.shiftKey && lastIndex !== null && lastIndex < all.length;
      const from = range ? Math.min(lastIndex, index) : index;
      const to = range ? Math.max(lastIndex, index) : index;
      for (let i = from; i <= to; i += 1) {
        if (on) selected.add(key(all[i]));
        else selected.delete(key(all[i]));
      }
      lastIndex = index;
      refresh();
    });
    tile.classList.add("selectable");
    tile.prepend(box);
    tile.addEventListener("pointerdown", () => fillDropList().catch((error) => say(error.message)));
  }

  // Tiles that arrive later (a job finishing while the page is open) get their checkbox too.
  tiles().forEach(enhance);
  new MutationObserver(() => tiles().forEach(enhance)).observe(main, { childList: true, subtree: true });

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input:not(.select-box), textarea, select, [contenteditable]");
    if (typing) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "a") {
      event.preventDefault();
      const all = tiles();
      all.forEach((tile) => selected.add(key(tile)));
      refresh();
      say("All " + all.length + " shown are selected.");
    } else if (event.key === "Escape" && selected.size) {
      selected.clear();
      refresh();
      say("Selection cleared.");
    }
  });

  async function addToBoard(boardId) {
    const response = await call("POST", "/boards/" + boardId + "/items", body());
    const answer = await response.json();
    say(answer.added + " added to “" + answer.board.name + "”.");
    return answer.board;
  }

  async function newBoard(name) {
    const response = await call("POST", "/boards", { name: name });
    boardsChanged();
    return (await response.json()).id;
  }

  async function download() {
    const response = await call("POST", "/selection/zip", body());
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "selection.zip";
    document.body.append(link);
    link.click();
    link.remove();
    say("Zip of " + selected.size + " downloaded.");
  }

  const actions = {
    clear: async () => {
      selected.clear();
      refresh();
    },
    zip: download,
    star: async () => {
      const answer = await (await call("POST", "/selection/star", body())).json();
      say(answer.count + " starred.");
    },
    delete: async () => {
      if (!window.confirm("Delete these " + selected.size + " items for good? A source goes with its whole gallery.")) return;
      const answer = await (await call("POST", "/selection/delete", body())).json();
      say(answer.deleted + " deleted.");
      window.location.reload();
    },
    share: async () => {
      const name = window.prompt("Name of the new board to share", "Selection " + new Date().toISOString().slice(0, 10));
      if (!name) return;
      const id = await newBoard(name);
      await addToBoard(id);
      window.location.href = "/shares/new?board=" + id;
    },
  };

  bar.querySelectorAll("[data-selection-action]").forEach((button) => {
    button.addEventListener("click", () => {
      actions[button.dataset.selectionAction]().catch((error) => say(error.message));
    });
  });

  // Drag tiles (the one dragged, or the whole selection when it is part of it) onto a board in a side list.
  if (bar.dataset.mayCurate) {
    let dragging = null;
    const drop = document.createElement("aside");
    drop.className = "board-drop";
    drop.hidden = true;
    drop.setAttribute("aria-label", "Drop on a board");
    document.body.append(drop);
    let filled = null;
    boardsChanged = () => {
      filled = null;
    };
    fillDropList = () => { // as a drag may begin (pointerdown), so the targets are there when it does
      filled = filled || call("GET", "/boards").then((response) => response.json()).then((boards) => {
        const heading = document.createElement("h2");
        heading.textContent = "Drop on a board";
        drop.replaceChildren(heading, ...boards.map(dropTarget));
      });
      return filled;
    };
    function dropTarget(board) {
      const target = document.createElement("div");
      target.className = "board-drop-target";
      target.textContent = board.name;
      target.addEventListener("dragover", (event) => event.preventDefault());
      target.addEventListener("dragenter", () => target.classList.add("is-over"));
      target.addEventListener("dragleave", () => target.classList.remove("is-over"));
      target.addEventListener("drop", async (event) => {
        event.preventDefault();
        target.classList.remove("is-over");
        try {
          const answer = await (await call("POST", "/boards/" + board.id + "/items", dragging)).json();
          say(answer.added + " added to “" + board.name + "”.");
        } catch (error) {
          say(error.message);
        }
        bar.hidden = false;
      });
      return target;
    }
    main.addEventListener("dragstart", (event) => {
      const tile = event.target.closest && event.target.closest("[data-select-kind][data-select-id]");
      if (!tile || tile.closest(".board-items[data-reorder-url]")) return; // there, dragging reorders (board.js)
      dragging = selected.has(key(tile)) ? body() : { sources: [], outputs: [] };
      if (!selected.has(key(tile))) dragging[tile.dataset.selectKind + "s"].push(tile.dataset.selectId);
      drop.hidden = false;
    });
    main.addEventListener("dragend", () => {
      drop.hidden = true;
    });
  }

  if (boardSelect) {
    let loaded = false;
    boardSelect.addEventListener("focus", async () => {
      if (loaded) return;
      loaded = true;
      const boards = await (await call("GET", "/boards")).json();
      boards.forEach((board) => boardSelect.add(new Option(board.name + " (" + board.item_count + ")", board.id)));
    });
    boardSelect.addEventListener("change", async () => {
      const choice = boardSelect.value;
      boardSelect.value = "";
      if (!choice) return;
      try {
        let id = choice;
        if (choice === "new") {
          const name = window.prompt("Name of the new board");
          if (!name) return;
          id = await newBoard(name);
          boardSelect.add(new Option(name, id));
        }
        await addToBoard(id);
      } catch (error) {
        say(error.message);
      }
    });
  }
})();
