// The admin's periodic task form: show what the chosen crontab means (django-celery-beat's own
// inline script, moved here so the Content Security Policy can refuse inline scripts).
(function () {
  var $ = django.jQuery;
  var readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  var originalCrontabHelp = document.getElementById("periodic-task-overrides").dataset.crontabHelp;

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    $(".field-crontab .help").text(originalCrontabHelp).append("<br/>")
      .append(document.createTextNode("Translation: " + readableCrontabs[$("#id_crontab").val()]));
  });
})();
