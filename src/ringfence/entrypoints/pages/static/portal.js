"use strict";
// The portal's "verify my inclusion": the proof and the round record the page carries (or
// files the client chose) are checked by RingfenceVerifier (verifier.js, the very code of the
// offline page web/verify.html) as the signed-in client, and the round must be signed by the
// firm's pinned key.
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

  function render(outcome) {
    const verdict = byId("verdict");
    verdict.textContent = "";
    // Every proof checks (the round's reserves are reported apart, as the page above does).
    const ok = outcome.verdict !== "rejected";
    verdict.dataset.state = ok ? "verified" : "rejected";
    const summary = document.createElement("p");
    summary.className = ok && outcome.verdict === "accepted" ? "banner ok" : "banner short";
    const pinnedRefused = outcome.results.some((r) => r.reason === "signing_key_not_pinned");
    const words = ok ? "Verified: you are included in this round."
      + (outcome.verdict === "not_covered" ? " But the round's reserves do not cover what the "
         + "firm owes." : "")
      : "NOT verified: " + (pinnedRefused ? "the round is not signed by the pinned key."
                            : "a proof does not check.");
    const signature = outcome.round ? outcome.round.signature : "not valid";
    summary.textContent = words + " Round signature: " + (signature === "not_checked"
      ? "not checked (this browser has no Ed25519)" : signature) + ".";
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
    let outcome;
    try {
      outcome = await RingfenceVerifier.verifyBundle(bundle, record, {
        clientId: form.dataset.client,
        pinnedKey: RingfenceVerifier.hexBytes(byId("pinned-key").dataset.key, 32),
      });
    } catch (error) {
      verdict.dataset.state = "rejected";
      verdict.textContent = "Could not check the files: " + (error.reason || "") + " "
        + error.message;
      return;
    }
    render(outcome);
  });
})();
