// Agent screen: one keystroke (N, or F2) opens the pre-filled order form for the ringing call.
document.addEventListener("keydown", function (event) {
  var target = event.target;
  var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
  if (event.key === "F2" || (!typing && (event.key === "n" || event.key === "N"))) {
    var form = document.getElementById("new-order");
    if (!form) return;
    event.preventDefault();
    form.scrollIntoView();
    var first = form.querySelector("select[name=order_type]");
    if (first) first.focus();
  }
});
