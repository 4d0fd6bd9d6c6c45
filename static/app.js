// Tandem: small progressive enhancements; every page works without this file.
(function () {
  // A file input with data-fill="ID" loads the chosen text file into the textarea #ID.
  document.querySelectorAll('input[type=file][data-fill]').forEach(function (input) {
    input.addEventListener('change', function () {
      var target = document.getElementById(input.dataset.fill);
      var file = input.files && input.files[0];
      if (!target || !file) return;
      var reader = new FileReader();
      reader.onload = function () { target.value = reader.result; };
      reader.readAsText(file);
      // data-fill-name="ID" also puts the file's name into the input #ID.
      var name = input.dataset.fillName && document.getElementById(input.dataset.fillName);
      if (name) name.value = file.name;
    });
  });
  // Buttons with data-confirm ask before submitting their form.
  document.querySelectorAll('[data-confirm]').forEach(function (el) {
    el.addEventListener('click', function (e) {
      if (!window.confirm(el.dataset.confirm)) e.preventDefault();
    });
  });
  // A button with data-print prints the page (Print → Save as PDF for a PDF).
  document.querySelectorAll('[data-print]').forEach(function (el) {
    el.addEventListener('click', function () { window.print(); });
  });
  // The message after an action can be closed.
  document.querySelectorAll('.flash-toast').forEach(function (el) {
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'flash-close';
    close.setAttribute('aria-label', 'Close this message');
    close.textContent = '\u00d7';
    close.addEventListener('click', function () { el.remove(); });
    el.appendChild(close);
  });
  // A new account's time zone: this device's, when the list has it and none was chosen.
  document.querySelectorAll('[data-tz-detect] select').forEach(function (select) {
    if (select.value !== '') return;
    var zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { return; }
    if (!zone) return;
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === zone) { select.value = zone; return; }
    }
    // An old name of a zone (some browsers say Asia/Calcutta): the server takes it as its
    // current name.
    var option = document.createElement('option');
    option.value = zone;
    option.textContent = zone.replace(/_/g, ' ') + ' (this device)';
    select.insertBefore(option, select.options[1] || null);
    select.value = zone;
  });
  // Copy buttons: data-copy="text".
  document.querySelectorAll('[data-copy]').forEach(function (el) {
    el.addEventListener('click', function () {
      if (navigator.clipboard) navigator.clipboard.writeText(el.dataset.copy);
      el.textContent = 'Copied';
    });
  });
  // The payout schedule form: editing a field of one way of saying "when" chooses it.
  [['cron', 'custom'], ['weekday', 'weekly'], ['day', 'monthly']].forEach(function (pair) {
    var field = document.querySelector('form [name=' + pair[0] + ']');
    var radio = document.querySelector('input[name=every][value=' + pair[1] + ']');
    if (!field || !radio) return;
    ['input', 'change'].forEach(function (kind) {
      field.addEventListener(kind, function () { radio.checked = true; });
    });
  });
  // A live board (`data-events`): its figures arrive as server-sent events and replace the
  // board in place; EventSource reconnects by itself (with Last-Event-ID). An "end" event
  // (the stream ended, the session ended) reloads the page, which then says why.
  var board = document.getElementById('live-board');
  if (board && board.dataset.events && window.EventSource) {
    var note = document.getElementById('live-connection');
    var source = new EventSource(board.dataset.events);
    source.addEventListener('board', function (e) {
      if (!e.data) return;
      if (board.hasAttribute('data-upcoming')) { window.location.reload(); return; }
      board.innerHTML = e.data;
      if (note) note.textContent = 'Up to date: updates as clicks and orders arrive.';
    });
    source.addEventListener('end', function (e) {
      source.close();
      if (note) note.textContent = e.data;
      window.setTimeout(function () { window.location.reload(); }, 1500);
    });
    source.onerror = function () { if (note) note.textContent = 'Connection lost: reconnecting…'; };
  }
  // A range input with data-submit-on-change submits its form when moved (the replay).
  document.querySelectorAll('[data-submit-on-change]').forEach(function (el) {
    el.addEventListener('change', function () { if (el.form) el.form.submit(); });
  });
})();
