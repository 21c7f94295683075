// Ask before an action that cannot be undone: <form data-confirm="Abort this run?">.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
