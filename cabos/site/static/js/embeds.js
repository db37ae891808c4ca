/* cabos embeds: a frame from another site (a YouTube or Vimeo player, a map) loads only when
   the reader asks. The content loader renamed its src to data-embed-src; here each one gets a
   button naming the site, and a note on what loading it means. Texts come from this script
   tag's data-* attributes, in the site's language. No dependencies, no build step. */
(function () {
  "use strict";
  var d = document, me = d.currentScript;
  if (!me) return;
  var frames = d.querySelectorAll("iframe[data-embed-src]");
  Array.prototype.forEach.call(frames, function (frame) {
    var src = frame.getAttribute("data-embed-src"), host;
    try { host = new URL(src, location.href).host; } catch (e) { return; }
    var box = d.createElement("div"), note = d.createElement("p"), button = d.createElement("button");
    box.className = "embed-ask";
    note.textContent = me.dataset.note.replace("HOST", host);
    button.type = "button";
    button.className = "button";
    button.textContent = me.dataset.label.replace("HOST", host);
    button.addEventListener("click", function () {
      frame.src = src;
      frame.hidden = false;
      box.parentNode.removeChild(box);
      frame.focus();
    });
    box.appendChild(button);
    box.appendChild(note);
    frame.hidden = true;
    frame.parentNode.insertBefore(box, frame);
  });
})();
