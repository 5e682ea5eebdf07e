// The shop's one script, which nothing needs: without it every page and
// form works the same.
//
// First, the message a page loads with (a form's refusal, #code-error, or
// the news a redirect left, #flash) gets the focus, so that a screen
// reader reads it out: a live region or role="alert" already in the page
// as it loads is not always announced. Both have tabindex="-1", so that
// they take the focus without being in the Tab order, and Tab goes on
// from there.
//
// Then the code field's live check. As the shopper types, what is typed so
// far is posted (never put in a URL) to /giftcards/check with the form's
// CSRF token; the answer says which character looks wrong and what it
// probably is, in a region screen readers announce, and offers the code
// meant when one character is wrong. Without it the server checks the
// code when it is sent.
(() => {
  "use strict";
  const message = document.getElementById("code-error") || document.getElementById("flash");
  if (message) {
    message.focus();
  }

  const input = document.getElementById("code");
  if (!input) {
    return;
  }
  const hint = document.getElementById("code-hint");
  const fix = document.getElementById("code-fix");
  const use = document.getElementById("use-suggestion");
  const error = document.getElementById("code-error");
  const csrf = input.form.elements.namedItem("csrf").value;
  let timer = 0;
  let latest = 0;

  function show(check) {
    hint.textContent = check.message || "";
    hint.dataset.state = check.state;
    if (check.state === "invalid") {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
    if (check.suggestion) {
      use.dataset.code = check.suggestion;
      use.textContent = use.dataset.label.replace("%s", check.suggestion);
      fix.hidden = false;
    } else {
      fix.hidden = true;
    }
  }

  async function check() {
    const mine = ++latest;
    try {
      const res = await fetch("/giftcards/check", {
        method: "POST",
        body: new URLSearchParams({ csrf: csrf, code: input.value }),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (res.ok && mine === latest) {
        show(await res.json());
      }
    } catch (e) {
      // Offline or stopped: the server checks the code when it is sent.
    }
  }

  input.addEventListener("input", () => {
    if (error) {
      error.hidden = true; // the last refusal was about what was typed before
    }
    clearTimeout(timer);
    timer = setTimeout(check, 150);
  });
  use.addEventListener("click", () => {
    input.value = use.dataset.code;
    input.focus();
    check();
  });
})();
