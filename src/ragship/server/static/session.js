// What this tab holds: the API key, the collection every page reads, the key's role.
// The key lives in sessionStorage: it ends with the tab, where localStorage would keep it for every script of the
// origin forever. Older versions kept it there: drop that copy.
localStorage.removeItem("ragship-key");

export const session = {
  key: sessionStorage.getItem("ragship-key") || "",
  collection: sessionStorage.getItem("ragship-collection") || "",  // "" is the default collection
  role: null,  // GET /v1/me's, set by app.js; null while unknown
};

export function setKey(key) {
  session.key = key;
  sessionStorage.setItem("ragship-key", key);
}

export function setCollection(name) {
  session.collection = name;
  sessionStorage.setItem("ragship-collection", name);
}

// What the key's role may use: what it cannot is not shown (the server refuses it anyway).
const ROLES = ["reader", "editor", "admin"];
export const can = (role) => session.role != null && ROLES.indexOf(session.role) >= ROLES.indexOf(role);
