// @ts-check
// Opt-in browser notifications for new questions and approvals (off until the operator asks).

const KEY = "hive.notifications";

function enabled() {
  return localStorage.getItem(KEY) === "on" && "Notification" in window && Notification.permission === "granted";
}

function label() {
  const btn = document.getElementById("notify-toggle");
  btn.textContent = `notifications: ${enabled() ? "on" : "off"}`;
}

export function bindNotifications() {
  const btn = document.getElementById("notify-toggle");
  if (!("Notification" in window)) { btn.hidden = true; return; }
  btn.addEventListener("click", async () => {
    if (enabled()) localStorage.setItem(KEY, "off");
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(KEY, "on");
    label();
  });
  label();
}

/** @param {string} title @param {string} body */
export function notify(title, body) {
  if (enabled() && document.visibilityState !== "visible") new Notification(title, { body, tag: body });
}
