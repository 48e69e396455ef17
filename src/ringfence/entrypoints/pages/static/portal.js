"use strict";
// The portal's "verify my inclusion": the proof and the round record the page carries (or
// files the client chose) are checked by RingfenceVerifier (verifier.js, the very code of the
// offline page web/verify.html), and the round must be signed by the firm's pinned key.
(() => {
  const byId = (id) => document.getElementById(id);
  const form = byId("verify-form");
  if (!form) return;

  async function chosen(inputId, dataId) {
    const file = byId(inputId).files[0];
    return JSON.parse(file ? await file.text() : byId(dataId).textContent);
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
  }

  function render(outcome, pinned, record) {
    const verdict = byId("verdict");
    verdict.textContent = "";
    const keyPinned = record && record.public_key === pinned;
    const ok = outcome.ok && keyPinned;
    verdict.dataset.state = ok ? "verified" : "rejected";
    const summary = document.createElement("p");
    summary.className = ok ? "banner ok" : "banner short";
    const words = ok ? "Verified: you are included in this round."
      : "NOT verified: " + (keyPinned ? "a proof does not check." : "the round is not signed by the pinned key.");
    summary.textContent = words + " Round signature: " + (outcome.signature === "unsupported"
      ? "not checked (this browser has no Ed25519)" : outcome.signature) + ".";
    verdict.appendChild(summary);
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const title of ["Asset", "Result", "Proof units or reason"]) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = title;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const result of outcome.results) {
      const row = body.insertRow();
      cell(row, result.asset === null ? "—" : String(result.asset));
      cell(row, result.ok ? "OK" : "REJECTED", result.ok ? "verdict-ok" : "verdict-bad");
      cell(row, result.ok ? result.proof_units : result.reason + ": " + result.detail);
    }
    const box = document.createElement("div");
    box.className = "table-box";
    box.appendChild(table);
    verdict.appendChild(box);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const verdict = byId("verdict");
    verdict.dataset.state = "checking";
    verdict.textContent = "Checking…";
    let bundle, record;
    try {
      bundle = await chosen("proof-file", "proof-data");
      record = await chosen("round-file", "round-data");
    } catch (error) {
      verdict.dataset.state = "rejected";
      verdict.textContent = "Could not read the files: " + error.message;
      return;
    }
    const outcome = await RingfenceVerifier.verifyAll(bundle, record, "", {});
    render(outcome, byId("pinned-key").dataset.key, record);
  });
})();
