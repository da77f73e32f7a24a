/* Reorder a board's items: drag one onto another, or with the keyboard "Move earlier" / "Move later";
   the new order goes to PUT /api/v1/boards/{id}/items/order at once. */
(function () {
  "use strict";
  const list = document.querySelector(".board-items[data-reorder-url]");
  if (!list) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let dragged = null;

  function items() {
    return Array.from(list.querySelectorAll(".board-item[data-item-id]"));
  }

  async function save(moved) {
    const order = items().map((item) => Number(item.dataset.itemId));
    const response = await fetch(list.dataset.reorderUrl, {
      method: "PUT",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ items: order }),
      credentials: "same-origin",
    });
    const position = items().indexOf(moved) + 1;
    if (typeof Studio !== "undefined" && Studio.announce) {
      Studio.announce(response.ok ? "Moved to place " + position + "." : "The new order was not saved.");
    }
  }

  items().forEach((item) => {
    item.draggable = true;
    item.querySelector(".board-move").hidden = false;
    item.addEventListener("dragstart", (event) => {
      dragged = item;
      item.classList.add("is-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.dataset.itemId);
    });
    item.addEventListener("dragend", () => {
      item.classList.remove("is-dragging");
      dragged = null;
    });
    item.addEventListener("dragover", (event) => {
      if (dragged && dragged !== item) event.preventDefault();
    });
    item.addEventListener("drop", (event) => {
      if (!dragged || dragged === item) return;
      event.preventDefault();
      const all = items();
      const before = all.indexOf(dragged) > all.indexOf(item);
      item.parentNode.insertBefore(dragged, before ? item : item.nextSibling);
      save(dragged);
    });
    item.querySelectorAll("[data-move]").forEach((button) => {
      button.addEventListener("click", () => {
        const sibling = button.dataset.move === "-1" ? item.previousElementSibling : item.nextElementSibling;
        if (!sibling) return;
        item.parentNode.insertBefore(item, button.dataset.move === "-1" ? sibling : sibling.nextSibling);
        button.focus();
        save(item);
      });
    });
  });
})();
