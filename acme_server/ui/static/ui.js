// Progressive enhancement only: every page works without this file.
"use strict";

function localTimes(root) {
  // Dates are printed in UTC; hovering shows the reader's local time.
  for (const t of root.querySelectorAll("time[datetime]")) {
    const when = new Date(t.getAttribute("datetime"));
    if (!isNaN(when)) t.title = when.toLocaleString() + " (local time)";
  }
}

function rowLinks(root) {
  // A click anywhere on a table row opens its details page.
  for (const row of root.querySelectorAll("tr[data-href]")) {
    row.addEventListener("click", (event) => {
      if (event.target.closest("a, button, input, select, textarea")) return;
      window.location.assign(row.dataset.href);
    });
  }
}

function dialogs(root) {
  // Menu entries open their dialog as a modal instead of reloading the page with ?dialog=….
  for (const link of root.querySelectorAll("[data-dialog]")) {
    link.addEventListener("click", (event) => {
      const dialog = document.getElementById(link.dataset.dialog);
      if (!dialog) return;
      event.preventDefault();
      link.closest("details")?.removeAttribute("open");
      dialog.showModal();
    });
  }
  for (const close of root.querySelectorAll("[data-close]")) {
    close.addEventListener("click", (event) => {
      const dialog = close.closest("dialog");
      if (!dialog) return;
      event.preventDefault();
      dialog.close();
    });
  }
  // A dialog the server rendered open (after a form error, or the PEM export) becomes modal.
  for (const dialog of root.querySelectorAll("dialog[data-modal][open]")) {
    dialog.removeAttribute("open");
    dialog.showModal();
  }
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function copyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = button.dataset.copy.split(",")
        .map((selector) => document.querySelector(selector))
        .filter(Boolean)
        .map((field) => field.value)
        .join("");
      const label = button.textContent;
      try {
        await copyText(text);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  }
}

function addRows(root) {
  for (const button of root.querySelectorAll("button[data-add-row]")) {
    button.addEventListener("click", () => {
      const body = document.querySelector(button.dataset.addRow);
      const last = body.lastElementChild;
      const row = last.cloneNode(true);
      for (const input of row.querySelectorAll("input")) input.value = "";
      body.append(row);
      row.querySelector("input").focus();
    });
  }
}

function requestMethod(root) {
  // The Request dialog shows the fields of the chosen method only.
  const form = root.querySelector("form[data-request-form]");
  if (!form) return;
  const update = () => {
    const method = form.querySelector("input[name=method]:checked")?.value;
    for (const set of form.querySelectorAll("fieldset[data-method]")) {
      set.hidden = set.dataset.method !== method;
      set.disabled = set.dataset.method !== method;
    }
  };
  form.addEventListener("change", update);
  update();
}

function menus(root) {
  // An open Options menu closes on a click elsewhere or on Escape.
  const closeAll = (except) => {
    for (const menu of root.querySelectorAll("details.menu[open]")) {
      if (menu !== except) menu.removeAttribute("open");
    }
  };
  document.addEventListener("click", (event) => closeAll(event.target.closest("details.menu")));
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeAll(null); });
}

document.addEventListener("DOMContentLoaded", () => {
  menus(document);
  localTimes(document);
  rowLinks(document);
  dialogs(document);
  copyButtons(document);
  addRows(document);
  requestMethod(document);
});

function syncTypes(root) {
  // The Add a sync form shows the fields of the chosen destination type only (all show without JS;
  // the server reads the chosen type's fields only).
  const form = root.querySelector("form[data-sync-form]");
  if (!form) return;
  const select = form.querySelector("select[name=destination_type]");
  const update = () => {
    for (const set of form.querySelectorAll("fieldset[data-sync-type]")) {
      set.hidden = set.dataset.syncType !== select.value;
      set.disabled = set.dataset.syncType !== select.value;
    }
  };
  select.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => syncTypes(document));
